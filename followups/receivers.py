"""Domain events of the lower floors → the sequence engine: enrolment triggers and exits (SPEC §11).

Receivers run after the change committed, in the process that made it. Enrolments are queued as
tasks with ids (an import batch becomes chunks of ids); exits are a few conditional updates and run
at once, so a reply stops the next email even when the queue is slow. Each receiver first asks the
partial index ``seq_active_trigger`` whether any sequence listens, so a lead event costs one small
query when no sequence does.
"""

from __future__ import annotations

import logging
from typing import Any

from django.dispatch import receiver

from compliance.models import ConsentRecord
from compliance.signals import consent_recorded
from core.transactions import on_commit
from deals.signals import deal_stage_changed
from followups.models import Sequence, SequenceRun
from followups.services.engine import OPEN, due_steps_consent_wake, runs_exit, runs_follow_partner
from followups.tasks import sequences_trigger_enqueue
from leads.models import Lead, LeadActivity, LeadAssignment
from leads.signals import (
    activity_recorded,
    lead_created,
    lead_partner_changed,
    lead_status_changed,
    leads_imported,
    offer_accepted,
)

logger = logging.getLogger(__name__)

Trigger = Sequence.Trigger
Exit = SequenceRun.ExitReason

#: Activities that start sequences. The product records ``budget_calculator_used`` for the calculator
#: (scoring rule of SPEC §7); ``calculator_used`` is accepted too.
ACTIVITY_TRIGGERS = {
    "lead_magnet_downloaded": Trigger.LEAD_MAGNET_DOWNLOADED,
    "budget_calculator_used": Trigger.CALCULATOR_USED,
    "calculator_used": Trigger.CALCULATOR_USED,
}
#: Activities that end runs: a reply by email or an inbound message (Instagram DMs arrive as
#: ``instagram_message``), a booked meeting.
ACTIVITY_EXITS = {
    "email_replied": Exit.REPLIED,
    "message_received": Exit.REPLIED,
    "instagram_message": Exit.REPLIED,
    "linkedin_message": Exit.REPLIED,
    "whatsapp_message": Exit.REPLIED,
    "meeting_booked": Exit.MEETING_BOOKED,
}
STATUS_EXITS = {Lead.Status.LOST: Exit.LEAD_LOST, Lead.Status.CONVERTED: Exit.LEAD_CONVERTED}
DEAL_LOST = "lost"
MARKETING = ConsentRecord.Code.MARKETING_EMAIL


def _listening(trigger: str) -> bool:
    return Sequence.objects.filter(trigger=trigger, is_active=True, paused_at__isnull=True).exists()


def _trigger(trigger: str, lead_ids: list[Any], **kwargs: Any) -> None:
    if lead_ids and _listening(trigger):
        sequences_trigger_enqueue(trigger, lead_ids, **kwargs)


def _has_open_runs(lead_id: Any) -> bool:
    return SequenceRun.objects.filter(lead_id=lead_id, status__in=OPEN).exists()


@receiver(lead_created, sender=Lead, dispatch_uid="followups.lead_created")
def lead_created_receiver(sender: Any, lead: Lead, **kwargs: Any) -> None:
    _trigger(Trigger.LEAD_CREATED, [lead.pk])


@receiver(leads_imported, sender=Lead, dispatch_uid="followups.leads_imported")
def leads_imported_receiver(sender: Any, lead_ids: list[str], **kwargs: Any) -> None:
    _trigger(Trigger.LEAD_CREATED, list(lead_ids))


@receiver(offer_accepted, sender=LeadAssignment, dispatch_uid="followups.offer_accepted")
def offer_accepted_receiver(sender: Any, lead: Lead, **kwargs: Any) -> None:
    _trigger(Trigger.OFFER_ACCEPTED, [lead.pk])


@receiver(lead_status_changed, sender=Lead, dispatch_uid="followups.lead_status_changed")
def lead_status_changed_receiver(sender: Any, lead: Lead, to_status: str, actor: Any = None, **kwargs: Any) -> None:
    reason = STATUS_EXITS.get(to_status)
    if reason is not None:
        runs_exit(lead_ids=[lead.pk], reason=reason, actor=actor)
        return
    _trigger(Trigger.STATUS_CHANGED, [lead.pk], to_status=to_status)


@receiver(activity_recorded, sender=LeadActivity, dispatch_uid="followups.activity_recorded")
def activity_recorded_receiver(
    sender: Any, activity: LeadActivity, lead: Lead, activity_type: str, actor: Any = None, **kwargs: Any
) -> None:
    reason = ACTIVITY_EXITS.get(activity_type)
    if reason is not None and _has_open_runs(lead.pk):
        runs_exit(lead_ids=[lead.pk], reason=reason, actor=actor)
    trigger = ACTIVITY_TRIGGERS.get(activity_type)
    if trigger is not None:
        _trigger(trigger, [lead.pk], activity_id=activity.pk)


@receiver(lead_partner_changed, sender=Lead, dispatch_uid="followups.lead_partner_changed")
def lead_partner_changed_receiver(
    sender: Any, lead: Lead, to_partner_id: Any = None, actor: Any = None, **kwargs: Any
) -> None:
    runs_follow_partner(lead=lead, to_partner_id=to_partner_id, actor=actor)


@receiver(deal_stage_changed, dispatch_uid="followups.deal_stage_changed")
def deal_stage_changed_receiver(sender: Any, deal: Any, to_stage: str, actor: Any = None, **kwargs: Any) -> None:
    if to_stage == DEAL_LOST and getattr(deal, "lead_id", None):
        runs_exit(lead_ids=[deal.lead_id], reason=Exit.DEAL_LOST, actor=actor)


def _consent_withdrawn(lead_id: Any) -> None:
    runs_exit(lead_ids=[lead_id], reason=Exit.UNSUBSCRIBED)


@receiver(consent_recorded, sender=ConsentRecord, dispatch_uid="followups.consent_recorded")
def consent_recorded_receiver(sender: Any, record: ConsentRecord, **kwargs: Any) -> None:
    """Sent inside the ledger's transaction: the follow-up work waits for its commit."""
    if record.subject_lead_id is None or record.code != MARKETING:
        return
    if record.action == ConsentRecord.Action.CONFIRMED:
        on_commit(due_steps_consent_wake, lead_id=record.subject_lead_id)
    elif record.action == ConsentRecord.Action.REVOKED:
        on_commit(_consent_withdrawn, record.subject_lead_id)
