"""A planned follow-up date becomes the lead's reminder (SPEC §11).

When a partner logs a contact with a next follow-up date, or plans one (``LeadActivity.next_follow_up``,
set by ``leads.services.core.lead_activity_add`` from the detail), the lead's open reminder of the
assigned partner moves to that date (09:00 in the partner's time zone), or one is created. The clear
column stays (the lead lists sort by it); reminders are what the follow-up features read.

A lead that moves to another partner takes its open reminders along (no partner: they are dismissed);
a lost lead's open reminders are dismissed.
"""

from __future__ import annotations

import logging
from typing import Any

from django.dispatch import receiver

from accounts.models import User
from followups.services.reminders import (
    reminder_plan_from_activity,
    reminders_dismiss_for_lead,
    reminders_follow_partner,
)
from leads.models import Lead
from leads.signals import activity_recorded, lead_partner_changed, lead_status_changed

logger = logging.getLogger(__name__)


@receiver(activity_recorded, dispatch_uid="followups.reminders.activity_recorded")
def on_activity_planned(sender: Any, *, activity: Any, lead: Lead, actor: Any = None, **kwargs: Any) -> None:
    date = getattr(activity, "next_follow_up", None)
    if date is None:
        return
    partner_id = Lead.objects.filter(pk=lead.pk).values_list("assigned_partner_id", flat=True).first()
    if partner_id is None:
        return
    partner = User.objects.filter(pk=partner_id, is_active=True).first()
    if partner is None:
        return
    try:
        reminder_plan_from_activity(
            lead=lead, user=partner, date=date, actor=actor if getattr(actor, "pk", None) else None
        )
    except Exception:
        logger.exception("Follow-up reminder not planned", extra={"lead": str(lead.pk), "activity": activity.pk})


@receiver(lead_partner_changed, dispatch_uid="followups.reminders.lead_partner_changed")
def on_partner_changed(
    sender: Any, *, lead: Lead, from_partner_id: Any = None, to_partner_id: Any = None, **kwargs: Any
) -> None:
    reminders_follow_partner(lead=lead, from_partner_id=from_partner_id, to_partner_id=to_partner_id)


@receiver(lead_status_changed, dispatch_uid="followups.reminders.lead_status_changed")
def on_status_changed(sender: Any, *, lead: Lead, to_status: str = "", **kwargs: Any) -> None:
    if to_status == Lead.Status.LOST:
        reminders_dismiss_for_lead(lead=lead)
