"""A partner working a lead: log contacts, notes and the next follow-up, qualify, mark lost (SPEC §4.8).

Everything a partner does lands on the lead's activity timeline; status moves go through
``lead_status_transition`` so the transition table and the audit trail apply.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.db.models import TextChoices
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.models import User
from core.exceptions import DomainError
from leads.models import Lead, LeadActivity
from leads.services.core import lead_activity_add, lead_status_transition

NOTE_MAX = 4000

#: Activity types the partner's work writes (the timeline and the reports read them).
CONTACT_ACTIVITY = "contact_logged"
NOTE_ACTIVITY = "note_added"
FOLLOW_UP_ACTIVITY = "follow_up_planned"
STATUS_ACTIVITY = "status_changed"


class ContactChannel(TextChoices):
    PHONE = "phone", gettext_lazy("Phone")
    EMAIL = "email", gettext_lazy("Email")
    WHATSAPP = "whatsapp", gettext_lazy("WhatsApp")
    MEETING = "meeting", gettext_lazy("Meeting")
    VIDEO = "video", gettext_lazy("Video call")
    SOCIAL = "social", gettext_lazy("Social media message")


class ContactOutcome(TextChoices):
    REACHED = "reached", gettext_lazy("Reached")
    NO_ANSWER = "no_answer", gettext_lazy("No answer")
    VOICEMAIL = "voicemail", gettext_lazy("Voicemail left")
    CALLBACK = "callback", gettext_lazy("Callback requested")
    APPOINTMENT = "appointment", gettext_lazy("Appointment booked")
    NOT_INTERESTED = "not_interested", gettext_lazy("Not interested")
    WRONG_CONTACT = "wrong_contact", gettext_lazy("Wrong contact data")


def _check_open(lead: Lead) -> None:
    if lead.merged_into_id is not None:
        raise DomainError(_("This lead was merged into another lead."), code="lead_merged")


def _clean_follow_up(value: dt.date | None) -> dt.date | None:
    if value is not None and value < timezone.localdate():
        raise DomainError(
            _("The next follow-up cannot lie in the past."),
            code="invalid_follow_up",
            fields={"next_follow_up": [_("Pick today or a later day.")]},
        )
    return value


def _status_activity(lead: Lead, to: str, actor: User | None, reason: str = "") -> None:
    detail: dict[str, Any] = {"to": to}
    if reason:
        detail["reason"] = reason[:500]
    lead_activity_add(lead=lead, activity_type=STATUS_ACTIVITY, actor=actor, detail=detail)


@transaction.atomic
def lead_contact_log(
    *,
    lead: Lead,
    actor: User | None,
    channel: str,
    outcome: str,
    note: str = "",
    next_follow_up: dt.date | None = None,
) -> LeadActivity:
    """Record a contact attempt; the first one moves a new lead to ``contacted``."""
    _check_open(lead)
    if channel not in ContactChannel.values:
        raise DomainError(_("Unknown contact channel."), code="invalid_channel", fields={"channel": [_("Invalid.")]})
    if outcome not in ContactOutcome.values:
        raise DomainError(_("Unknown contact outcome."), code="invalid_outcome", fields={"outcome": [_("Invalid.")]})
    next_follow_up = _clean_follow_up(next_follow_up)
    detail: dict[str, Any] = {"channel": channel, "outcome": outcome}
    if note.strip():
        detail["note"] = note.strip()[:NOTE_MAX]
    if next_follow_up is not None:
        detail["next_follow_up"] = next_follow_up.isoformat()
    activity = lead_activity_add(lead=lead, activity_type=CONTACT_ACTIVITY, actor=actor, channel=channel, detail=detail)
    current = Lead.objects.only("status").get(pk=lead.pk).status
    if current == Lead.Status.NEW:
        lead_status_transition(lead=lead, to=Lead.Status.CONTACTED, actor=actor)
        _status_activity(lead, Lead.Status.CONTACTED, actor)
    return activity


@transaction.atomic
def lead_note_add(*, lead: Lead, actor: User | None, note: str) -> LeadActivity:
    """Keep a free-text note on the lead's timeline."""
    _check_open(lead)
    note = (note or "").strip()
    if not note:
        raise DomainError(_("The note is empty."), code="note_empty", fields={"note": [_("Required.")]})
    return lead_activity_add(lead=lead, activity_type=NOTE_ACTIVITY, actor=actor, detail={"note": note[:NOTE_MAX]})


@transaction.atomic
def lead_follow_up_set(*, lead: Lead, actor: User | None, next_follow_up: dt.date | None) -> LeadActivity:
    """Plan (or clear, with None) the next follow-up; the latest plan on the timeline counts."""
    _check_open(lead)
    next_follow_up = _clean_follow_up(next_follow_up)
    return lead_activity_add(
        lead=lead,
        activity_type=FOLLOW_UP_ACTIVITY,
        actor=actor,
        detail={"next_follow_up": next_follow_up.isoformat() if next_follow_up else None},
    )


@transaction.atomic
def lead_qualify(*, lead: Lead, actor: User | None, note: str = "") -> Lead:
    """Mark a lead qualified (``lead.qualified``); qualifying a qualified lead is a no-op."""
    _check_open(lead)
    before = Lead.objects.only("status").get(pk=lead.pk).status
    lead = lead_status_transition(lead=lead, to=Lead.Status.QUALIFIED, actor=actor)
    if before != Lead.Status.QUALIFIED:
        _status_activity(lead, Lead.Status.QUALIFIED, actor, note)
    return lead


@transaction.atomic
def lead_mark_lost(*, lead: Lead, actor: User | None, reason: str) -> Lead:
    """Give a lead up with a reason (``lead.lost``); the status is final."""
    _check_open(lead)
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(_("Please give a reason."), code="reason_required", fields={"reason": [_("Required.")]})
    before = Lead.objects.only("status").get(pk=lead.pk).status
    lead = lead_status_transition(lead=lead, to=Lead.Status.LOST, actor=actor, reason=reason)
    if before != Lead.Status.LOST:
        _status_activity(lead, Lead.Status.LOST, actor, reason)
    return lead
