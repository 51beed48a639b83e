"""Write operations on leads: status transitions, score updates and activities.

Leads are created by the ingest pipeline only (``lead_ingest``: normalization, identity-graph dedup,
enrichment, scoring rules), which builds on these; every state change of a lead goes through a
function here.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from compliance.services import audit_record
from core.exceptions import DomainError, TransitionNotAllowed
from core.transactions import send_after_commit
from leads.models import Lead, LeadActivity, LeadScoreHistory
from leads.signals import activity_recorded, lead_status_changed

DEFAULT_SCORE_WEIGHTS = {"p": Decimal("0.40"), "i": Decimal("0.35"), "e": Decimal("0.25")}

#: Lead status transitions (SPEC §4.8): forward only, terminal states are final.
STATUS_TRANSITIONS: dict[str, set[str]] = {
    Lead.Status.NEW: {Lead.Status.CONTACTED, Lead.Status.QUALIFIED, Lead.Status.LOST},
    Lead.Status.CONTACTED: {Lead.Status.QUALIFIED, Lead.Status.LOST},
    Lead.Status.QUALIFIED: {Lead.Status.CONVERTED, Lead.Status.LOST},
    Lead.Status.CONVERTED: set(),
    Lead.Status.LOST: set(),
}
STATUS_AUDIT_EVENTS = {
    Lead.Status.CONTACTED: "lead.contacted",
    Lead.Status.QUALIFIED: "lead.qualified",
    Lead.Status.CONVERTED: "lead.converted",
    Lead.Status.LOST: "lead.lost",
}


@transaction.atomic
def lead_status_transition(*, lead: Lead, to: str, actor: User | None, reason: str = "") -> Lead:
    """Move a lead along the status table; a move to the current status is a no-op."""
    if to not in Lead.Status.values:
        raise DomainError(_("Unknown status '%(value)s'.") % {"value": to}, code="invalid_status")
    lead = Lead.objects.select_for_update().get(pk=lead.pk)
    if lead.status == to:
        return lead
    if to not in STATUS_TRANSITIONS[lead.status]:
        raise TransitionNotAllowed(lead.status, to)
    old = lead.status
    lead.status = to
    fields = ["status", "updated_at"]
    if to == Lead.Status.LOST:
        lead.lost_reason = reason[:255]
        fields.append("lost_reason")
    lead.save(update_fields=fields)
    # The reason is free text (it may name the person): kept encrypted on the lead and its activity.
    audit_record(
        event_type=STATUS_AUDIT_EVENTS[to],
        actor=actor,
        obj=lead,
        payload={"from": old, "to": to, "reason_given": bool(reason)},
    )
    send_after_commit(lead_status_changed, sender=Lead, lead=lead, from_status=old, to_status=to, actor=actor)
    return lead


def weighted_score(p: int, i: int, e: int, weights: dict[str, Decimal] | None = None) -> int:
    """``clamp(0, 100, round(wP·P + wI·I + wE·E))`` with half-up rounding (SPEC §7)."""
    w = weights or DEFAULT_SCORE_WEIGHTS
    total = w["p"] * p + w["i"] * i + w["e"] * e
    return max(0, min(100, int(total.quantize(Decimal("1"), rounding=ROUND_HALF_UP))))


def score_history_build(*, lead: Lead, old_score: int, old_stage: str, reason: str) -> LeadScoreHistory | None:
    """The (unsaved) history row for a score move, or None when nothing moved."""
    if lead.score == old_score and lead.stage == old_stage:
        return None
    return LeadScoreHistory(
        lead=lead,
        old_score=old_score,
        new_score=lead.score,
        delta=lead.score - old_score,
        old_stage=old_stage,
        new_stage=lead.stage,
        reason=reason[:500],
        breakdown=lead.score_breakdown,
    )


def burning_crossed(history: LeadScoreHistory | None, lead: Lead) -> bool:
    return bool(history and history.new_stage == Lead.Stage.BURNING and history.old_stage != Lead.Stage.BURNING) and (
        not lead.is_test
    )


def record_score_change(*, lead: Lead, old_score: int, old_stage: str, reason: str) -> LeadScoreHistory | None:
    """Write the history row for a score move and raise a hot-lead alert on a crossing into burning."""
    history = score_history_build(lead=lead, old_score=old_score, old_stage=old_stage, reason=reason)
    if history is None:
        return None
    history.save()
    if burning_crossed(history, lead):
        # One alert per crossing: the alert is tied 1:1 to the history row of the crossing.
        from leads.services.alerts import burning_alert_create

        burning_alert_create(lead=lead, history=history)
    return history


@transaction.atomic
def lead_score_set(
    *,
    lead: Lead,
    p: int,
    i: int,
    e: int,
    reason: str,
    breakdown: dict[str, Any] | None = None,
    weights: dict[str, Decimal] | None = None,
) -> Lead:
    """Store new sub-scores, the weighted total and stage; write history when the score moves."""
    for name, value in (("p", p), ("i", i), ("e", e)):
        if not 0 <= value <= 100:
            raise DomainError(_("Sub-score %(name)s must be between 0 and 100.") % {"name": name}, code="invalid_score")
    lead = Lead.objects.select_for_update().get(pk=lead.pk)
    new_score = weighted_score(p, i, e, weights)
    old_score, old_stage = lead.score, lead.stage
    lead.p_score, lead.i_score, lead.e_score = p, i, e
    lead.score = new_score
    lead.stage = Lead.Stage.for_score(new_score)
    if breakdown is not None:
        lead.score_breakdown = breakdown
    lead.save(update_fields=["p_score", "i_score", "e_score", "score", "stage", "score_breakdown", "updated_at"])
    record_score_change(lead=lead, old_score=old_score, old_stage=old_stage, reason=reason)
    return lead


def _planned_date(detail: dict[str, Any] | None) -> dt.date | None:
    """The detail's ``next_follow_up`` as a date for the clear column (``detail`` itself is encrypted)."""
    value = (detail or {}).get("next_follow_up")
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(value[:10]) if isinstance(value, str) else None
    except ValueError:
        return None


@transaction.atomic
def lead_activity_add(
    *,
    lead: Lead,
    activity_type: str,
    actor: User | None,
    channel: str = "",
    score_delta: int = 0,
    detail: dict[str, Any] | None = None,
    occurred_at=None,
) -> LeadActivity:
    """Record an activity and move ``last_activity_at`` forward (never back, for late deliveries)."""
    if not activity_type:
        raise DomainError(_("An activity needs a type."), code="invalid_activity")
    occurred_at = occurred_at or timezone.now()
    activity = LeadActivity.objects.create(
        lead=lead,
        activity_type=activity_type,
        channel=channel,
        score_delta=score_delta,
        detail=detail or {},
        next_follow_up=_planned_date(detail),
        actor=actor if getattr(actor, "pk", None) is not None else None,
        occurred_at=occurred_at,
    )
    # A newer activity also ends any inactivity decay (the sweeper claims it again after 7 days).
    Lead.objects.filter(pk=lead.pk).filter(
        Q(last_activity_at__isnull=True) | Q(last_activity_at__lt=occurred_at)
    ).update(last_activity_at=occurred_at, decay_level=0)
    send_after_commit(
        activity_recorded, sender=LeadActivity, activity=activity, lead=lead, activity_type=activity_type, actor=actor
    )
    return activity
