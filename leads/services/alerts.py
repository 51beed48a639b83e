"""Hot-lead alerts: a lead crossing into ``burning`` notifies once per crossing (SPEC §4.5).

The alert row is created with the score change in the same transaction; the sending task runs
after commit, claims the alert with a conditional update and hands the in-app notices, the email
and the Slack message to ``notify`` in the same transaction, so a redelivered task sends nothing
twice. The email and the Slack post go out after that commit and are retried on their own.
"""

from __future__ import annotations

from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_noop

from accounts.models import Notification, User
from accounts.selectors import staff_list_active
from accounts.services import notify
from core.transactions import on_commit
from integrations.slack import slack_configured
from leads.models import Lead, LeadAlert, LeadScoreHistory

SLACK_TEXT = ":fire: %(title)s\n%(body)s\n<%(url)s|%(public_id)s>"


def burning_alert_create(*, lead: Lead, history: LeadScoreHistory) -> LeadAlert:
    """Record the crossing and send the alert after commit."""
    from leads.tasks import lead_burning_alert_task

    alert = LeadAlert.objects.create(lead=lead, score_change=history, score=lead.score)
    on_commit(lead_burning_alert_task.delay, alert.pk)
    return alert


def _recipients(lead: Lead) -> list[User]:
    """The lead's partner; for a pool lead every active platform admin and ops user."""
    if lead.assigned_partner_id and lead.assigned_partner.is_active:
        return [lead.assigned_partner]
    return list(staff_list_active())


def _lead_path(lead: Lead, for_partner: bool) -> str:
    if for_partner:
        return reverse("portal:lead_detail", args=[lead.pk])
    return reverse("admin:leads_lead_change", args=[lead.pk])


def lead_burning_alert_send(*, alert_id: int) -> None:
    """Send the in-app notices, the email and the Slack message of one alert, each at most once."""
    alert = LeadAlert.objects.select_related("lead", "lead__assigned_partner").get(pk=alert_id)
    lead = alert.lead
    recipients = _recipients(lead)
    slack = slack_configured()
    with transaction.atomic():
        now = timezone.now()
        claimed = LeadAlert.objects.filter(pk=alert.pk, notified_at__isnull=True).update(
            notified_at=now, email_sent_at=now if recipients else None, slack_sent_at=now if slack else None
        )
        if not claimed:
            return  # a redelivered task: this alert went out already
        # No PII in alerts that leave the database: public id, score and company only.
        notify(
            users=recipients,
            kind=Notification.Kind.HOT_LEAD,
            title=gettext_noop("Burning lead %(public_id)s (score %(score)s)"),
            body=gettext_noop("Call now: %(company)s, channel %(channel)s."),
            context={
                "public_id": lead.public_id,
                "score": alert.score,
                "company": lead.company_name or "–",
                "channel": lead.get_channel_display(),
            },
            url=_lead_path(lead, for_partner=bool(lead.assigned_partner_id)),
            dedup_key=f"burning:{alert.pk}",
            email=True,
            slack=SLACK_TEXT,
        )
