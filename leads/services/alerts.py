"""Hot-lead alerts: a lead crossing into ``burning`` notifies once per crossing (SPEC §4.5).

The alert row is created with the score change in the same transaction; the sending task runs
after commit and marks each channel (email, Slack, in-app) with a conditional update before it
sends, so a retried task never sends a channel twice.
"""

from __future__ import annotations

import logging

import requests
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Notification, User
from accounts.services import notification_create
from core.exceptions import TransientError
from core.transactions import on_commit
from leads.models import Lead, LeadAlert, LeadScoreHistory

logger = logging.getLogger(__name__)


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
    return list(User.objects.filter(is_active=True, role__in=User.STAFF_ROLES).order_by("pk"))


def _lead_url(lead: Lead, for_partner: bool) -> str:
    if for_partner:
        return f"{settings.SITE_URL}/portal/leads/meine-leads/{lead.pk}/"
    return f"{settings.SITE_URL}/admin/leads/lead/{lead.pk}/change/"


def _claim(alert_id: int, field: str) -> bool:
    return bool(LeadAlert.objects.filter(pk=alert_id, **{f"{field}__isnull": True}).update(**{field: timezone.now()}))


def _release(alert_id: int, field: str) -> None:
    LeadAlert.objects.filter(pk=alert_id).update(**{field: None})


def lead_burning_alert_send(*, alert_id: int) -> None:
    """Send the in-app notices, the email and the Slack message of one alert, each at most once."""
    alert = LeadAlert.objects.select_related("lead", "lead__assigned_partner").get(pk=alert_id)
    lead = alert.lead
    recipients = _recipients(lead)
    for_partner = bool(lead.assigned_partner_id)
    url = _lead_url(lead, for_partner)
    # No PII in alerts that leave the database: public id, score and company only.
    title = _("Burning lead %(public_id)s (score %(score)s)") % {"public_id": lead.public_id, "score": alert.score}
    body = _("Call now: %(company)s, channel %(channel)s.") % {
        "company": lead.company_name or "–",
        "channel": lead.get_channel_display(),
    }
    if _claim(alert.pk, "notified_at"):
        with transaction.atomic():
            for user in recipients:
                notification_create(
                    recipient=user,
                    title=title,
                    body=body,
                    url=url,
                    kind=Notification.Kind.HOT_LEAD,
                    dedup_key=f"burning:{alert.pk}",
                )
    if recipients and _claim(alert.pk, "email_sent_at"):
        try:
            send_mail(
                subject=title,
                message=f"{body}\n\n{url}",
                from_email=settings.DEFAULT_FROM_EMAIL,
                recipient_list=[u.email for u in recipients],
            )
        except Exception as exc:
            _release(alert.pk, "email_sent_at")
            raise TransientError(f"alert email failed: {exc.__class__.__name__}") from exc
    if settings.SLACK_WEBHOOK_URL and _claim(alert.pk, "slack_sent_at"):
        try:
            response = requests.post(
                settings.SLACK_WEBHOOK_URL,
                json={"text": f":fire: {title}\n{body}\n<{url}|{lead.public_id}>"},
                timeout=settings.HTTP_TIMEOUT,
            )
            response.raise_for_status()
        except requests.RequestException as exc:
            _release(alert.pk, "slack_sent_at")
            logger.warning("slack alert failed", extra={"alert_id": alert.pk, "error": exc.__class__.__name__})
            raise TransientError("slack alert failed") from exc
