"""Hot-lead alerts through notify: who hears of a burning lead, with which link, and retries per channel."""

from __future__ import annotations

import json

import pytest
import responses
from django.core import mail

from accounts.models import Notification
from config.celery import RETRYABLE_ERRORS
from integrations.slack import SlackError
from leads.models import Lead, LeadAlert, LeadScoreHistory
from leads.services.alerts import burning_alert_create, lead_burning_alert_send
from tests.accounts.factories import PartnerFactory
from tests.leads.factories import LeadFactory

pytestmark = pytest.mark.django_db

SLACK = "http://127.0.0.1:9/slack"


def _alert(lead: Lead) -> LeadAlert:
    Lead.objects.filter(pk=lead.pk).update(score=88, stage=Lead.Stage.BURNING)
    lead.refresh_from_db()
    history = LeadScoreHistory.objects.create(
        lead=lead, old_score=75, new_score=88, delta=13, old_stage="hot", new_stage="burning", reason="test"
    )
    return burning_alert_create(lead=lead, history=history)


def test_a_pool_lead_alerts_every_staff_user_with_a_link_to_the_admin(
    settings, platform_org, admin_user, ops_user, django_capture_on_commit_callbacks
):
    settings.SITE_URL, settings.SLACK_WEBHOOK_URL = "https://leads.example.org", ""
    lead = LeadFactory(company_name="Muster GmbH")
    with django_capture_on_commit_callbacks(execute=True):
        alert = _alert(lead)
    url = f"https://leads.example.org/admin/leads/lead/{lead.pk}/change/"
    notices = Notification.objects.filter(kind=Notification.Kind.HOT_LEAD).order_by("recipient_id")
    assert [(n.recipient_id, n.url, n.dedup_key) for n in notices] == [
        (admin_user.pk, url, f"burning:{alert.pk}"),
        (ops_user.pk, url, f"burning:{alert.pk}"),
    ]
    (message,) = mail.outbox
    assert message.to == [admin_user.email, ops_user.email] and message.body.endswith(url)
    alert.refresh_from_db()
    assert alert.notified_at and alert.email_sent_at and alert.slack_sent_at is None


@responses.activate
def test_a_failed_slack_post_is_left_to_its_task_retry_and_a_redelivered_alert_sends_nothing(
    settings, platform_org, django_capture_on_commit_callbacks
):
    settings.SITE_URL, settings.SLACK_WEBHOOK_URL = "https://leads.example.org", SLACK
    slack = responses.post(SLACK, status=503)
    partner = PartnerFactory()
    lead = LeadFactory(tenant=partner.organization, assigned_partner=partner)
    with django_capture_on_commit_callbacks(execute=True):
        alert = _alert(lead)
    assert slack.call_count == 1 and issubclass(SlackError, RETRYABLE_ERRORS)  # a worker retries the post
    text = json.loads(slack.calls[0].request.body)["text"]
    assert text.startswith(":fire: ") and f"/portal/leads/meine-leads/{lead.pk}/|{lead.public_id}>" in text
    (message,) = mail.outbox  # the email is its own task and went out
    assert message.to == [partner.email] and lead.email not in message.body

    with django_capture_on_commit_callbacks(execute=True):
        lead_burning_alert_send(alert_id=alert.pk)  # a redelivered alert task
    assert slack.call_count == 1 and len(mail.outbox) == 1
    assert Notification.objects.filter(recipient=partner).count() == 1
