"""Write operations on deals: converting a lead, moving a deal through the pipeline, winning and losing it.

Lock order (as in the offer services): the lead row, then the deal row.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from compliance.models import ConsentRecord
from compliance.selectors import consent_state
from compliance.services import audit_record
from core.exceptions import ConflictError, DomainError, TransitionNotAllowed
from core.transactions import send_after_commit
from deals.models import DealStageChange, PartnerDeal
from deals.signals import deal_stage_changed
from leads.models import Lead
from leads.services import lead_activity_add, lead_status_transition
from leads.services.work import STATUS_ACTIVITY

Stage = PartnerDeal.Stage

#: Deal stage transitions (SPEC §4.8): sales people skip stages and go back, so any open stage moves to any other
#: open stage and closes as won or lost; won and lost are final (only a platform admin reopens, ``deal_reopen``).
DEAL_TRANSITIONS: dict[str, set[str]] = {
    **{stage: set(Stage.values) - {stage} for stage in PartnerDeal.OPEN_STAGES},
    Stage.WON: set(),
    Stage.LOST: set(),
}
#: Stages a converted lead's deal may start in (SPEC §4.8).
START_STAGES = (Stage.LEAD, Stage.QUALIFIED)
START_STAGE_CHOICES = [(str(stage), str(stage)) for stage in START_STAGES]
#: The split of a partner's own lead: everything to the partner.
OWN_SPLIT = {"platform": "0", "partner": "1"}
POOL_SPLIT = {"platform": "0.3333", "partner": "0.6667"}
REASON_MAX = 500


def next_stage(stage: str) -> str | None:
    """The next stage of the board's order (the usual step forward), or None for won and lost."""
    if stage not in PartnerDeal.OPEN_STAGES:
        return None
    order = [*PartnerDeal.OPEN_STAGES, Stage.WON]
    return order[order.index(stage) + 1]


def deal_move_targets(stage: str) -> list[str]:
    """The stages a deal in ``stage`` may move to, in board order (the kanban's and the deal page's choices)."""
    allowed = DEAL_TRANSITIONS.get(stage, set())
    return [value for value in Stage.values if value in allowed]


def deal_split_for_lead(*, lead: Lead) -> dict[str, str]:
    """The commission split a deal of this lead carries: the frozen pool agreement, else 100 % partner."""
    agreement = consent_state(lead, ConsentRecord.Code.LEAD_SPLIT_AGREEMENT)
    split = (agreement.record.evidence or {}).get("split") if agreement.granted else None
    if isinstance(split, dict) and {"platform", "partner"} <= set(split):
        return {"platform": str(Decimal(str(split["platform"]))), "partner": str(Decimal(str(split["partner"])))}
    if lead.source == Lead.Source.ZONE1_POOL:
        # A pool lead without its agreement row (legacy data): the pool split still applies.
        return dict(POOL_SPLIT)
    return dict(OWN_SPLIT)


def _clean_value(value: Any) -> Decimal:
    try:
        amount = Decimal(str(value if value not in (None, "") else "0"))
    except (InvalidOperation, ValueError):
        raise DomainError(
            _("Enter a valid amount."), code="invalid_value", fields={"deal_value": [_("Invalid.")]}
        ) from None
    if not amount.is_finite() or amount < 0 or amount >= Decimal("1e12"):
        raise DomainError(
            _("The deal value must be between 0 and 999,999,999,999.99."),
            code="invalid_value",
            fields={"deal_value": [_("Out of range.")]},
        )
    return amount.quantize(Decimal("0.01"))


def _clean_reason(reason: str, *, required: bool) -> str:
    reason = (reason or "").strip()
    if required and not reason:
        raise DomainError(_("Please give a reason."), code="reason_required", fields={"reason": [_("Required.")]})
    return reason[:REASON_MAX]


@transaction.atomic
def deal_create(
    *,
    lead: Lead,
    actor: User | None,
    stage: str = Stage.LEAD,
    deal_value: Any = 0,
    expected_close_date: date | None = None,
    listing_id: str = "",
) -> PartnerDeal:
    """Open the deal of a converted lead with its contact data and split; the lead must be converted already."""
    if stage not in START_STAGES:
        raise DomainError(
            _("A new deal starts as lead or qualified."), code="invalid_stage", fields={"stage": [_("Invalid.")]}
        )
    if lead.status != Lead.Status.CONVERTED:
        raise ConflictError(_("Only a converted lead becomes a deal."), code="lead_not_converted")
    if PartnerDeal.objects.filter(lead=lead).exists():
        raise ConflictError(_("This lead already has a deal."), code="deal_exists")
    owner = lead.assigned_partner
    if owner is None and actor is not None and getattr(actor, "is_partner", False):
        owner = actor
    deal = PartnerDeal.objects.create(
        tenant_id=lead.tenant_id,
        owner=owner,
        lead=lead,
        title=(lead.company_name or lead.full_name or lead.public_id)[:200],
        contact_name=lead.full_name,
        contact_email=lead.email,
        contact_phone=lead.phone,
        company_name=lead.company_name,
        listing_id=(listing_id or "")[:64],
        stage=stage,
        deal_value=_clean_value(deal_value),
        commission_split=deal_split_for_lead(lead=lead),
        expected_close_date=expected_close_date,
    )
    DealStageChange.objects.create(deal=deal, from_stage="", to_stage=stage, actor=_user(actor))
    audit_record(
        event_type="deal.created",
        actor=actor,
        obj=deal,
        payload={"lead_id": str(lead.pk), "stage": stage, "split": deal.commission_split},
    )
    return deal


@transaction.atomic
def lead_convert(
    *,
    lead: Lead,
    actor: User | None,
    stage: str = Stage.LEAD,
    deal_value: Any = 0,
    expected_close_date: date | None = None,
    listing_id: str = "",
) -> PartnerDeal:
    """Convert a qualified lead into a deal (``lead.converted``); converting again returns the same deal."""
    lead = Lead.objects.select_for_update().get(pk=lead.pk)
    existing = PartnerDeal.objects.filter(lead=lead).first()
    if existing is not None:
        return existing
    if lead.merged_into_id is not None:
        raise ConflictError(_("This lead was merged into another lead."), code="lead_merged")
    if stage not in START_STAGES:
        raise DomainError(
            _("A new deal starts as lead or qualified."), code="invalid_stage", fields={"stage": [_("Invalid.")]}
        )
    value = _clean_value(deal_value)
    lead = lead_status_transition(lead=lead, to=Lead.Status.CONVERTED, actor=actor)
    lead_activity_add(
        lead=lead,
        activity_type=STATUS_ACTIVITY,
        actor=_user(actor),
        detail={"to": Lead.Status.CONVERTED},
    )
    return deal_create(
        lead=lead,
        actor=actor,
        stage=stage,
        deal_value=value,
        expected_close_date=expected_close_date,
        listing_id=listing_id,
    )


def _user(actor: Any) -> User | None:
    return actor if isinstance(actor, User) else None


_STAGE_EVENTS = {Stage.WON: "deal.won", Stage.LOST: "deal.lost"}


@transaction.atomic
def deal_move_stage(*, deal: PartnerDeal, to: str, actor: User | None, reason: str = "") -> PartnerDeal:
    """Move a deal along the transition table; a move to the current stage is a no-op, lost needs a reason.

    After commit, ``deals.signals.deal_stage_changed`` tells the higher floors (once per move, win and lose included).
    """
    if to not in Stage.values:
        raise DomainError(_("Unknown stage '%(value)s'.") % {"value": to}, code="invalid_stage")
    deal = PartnerDeal.objects.select_for_update().get(pk=deal.pk)
    if deal.stage == to:
        return deal
    if to not in DEAL_TRANSITIONS[deal.stage]:
        raise TransitionNotAllowed(deal.stage, to)
    reason = _clean_reason(reason, required=to == Stage.LOST)
    return _stage_write(deal=deal, to=to, actor=actor, reason=reason, event_type=_STAGE_EVENTS.get(to))


@transaction.atomic
def deal_reopen(*, deal: PartnerDeal, to: str, actor: User | None, reason: str = "") -> PartnerDeal:
    """Reopen a won or lost deal to an open stage: a platform admin's correction, audited as ``deal.reopened``.

    Won and lost are final for partners (a closed deal keeps its figures); a mistaken close is undone here
    and nowhere else. The closing date and the lost reason go (the stage history keeps them).
    """
    if not (isinstance(actor, User) and actor.is_platform_admin):
        raise PermissionDenied(_("Only a platform admin can reopen a closed deal."))
    if to not in PartnerDeal.OPEN_STAGES:
        raise DomainError(
            _("A deal is reopened to an open stage."), code="invalid_stage", fields={"stage": [_("Invalid.")]}
        )
    deal = PartnerDeal.objects.select_for_update().get(pk=deal.pk)
    if deal.is_open:
        raise ConflictError(_("Only a won or lost deal can be reopened."), code="deal_open")
    return _stage_write(
        deal=deal, to=to, actor=actor, reason=_clean_reason(reason, required=False), event_type="deal.reopened"
    )


def _stage_write(*, deal: PartnerDeal, to: str, actor: User | None, reason: str, event_type: str | None) -> PartnerDeal:
    """Record one stage change of a locked deal: history row, closing fields, audit event, signal after commit."""
    old = deal.stage
    DealStageChange.objects.create(deal=deal, from_stage=old, to_stage=to, actor=_user(actor), reason=reason)
    deal.stage = to
    fields = ["stage", "updated_at"]
    if to in PartnerDeal.CLOSED_STAGES:
        deal.closed_at = timezone.now()
        fields.append("closed_at")
    elif deal.closed_at is not None:
        deal.closed_at = None  # reopened
        fields.append("closed_at")
    if to == Stage.LOST or deal.lost_reason:
        deal.lost_reason = reason if to == Stage.LOST else ""
        fields.append("lost_reason")
    deal.save(update_fields=fields)
    payload: dict[str, Any] = {"from": old, "to": to}
    if to == Stage.WON:
        payload["deal_value"] = str(deal.deal_value)
    if to == Stage.LOST or event_type == "deal.reopened":
        payload["reason_given"] = bool(reason)  # the text may name the person: kept encrypted on the deal
    audit_record(event_type=event_type or "deal.stage_changed", actor=actor, obj=deal, payload=payload)
    send_after_commit(
        deal_stage_changed,
        sender=PartnerDeal,
        deal=deal,
        from_stage=old,
        to_stage=to,
        actor=_user(actor),
    )
    return deal


@transaction.atomic
def deal_win(*, deal: PartnerDeal, actor: User | None, deal_value: Any = None) -> PartnerDeal:
    """Close an open deal as won (from any open stage), optionally with its final value."""
    deal = PartnerDeal.objects.select_for_update().get(pk=deal.pk)
    if deal.stage == Stage.WON:
        return deal
    if Stage.WON not in DEAL_TRANSITIONS[deal.stage]:
        raise TransitionNotAllowed(deal.stage, Stage.WON)
    if deal_value not in (None, ""):
        deal.deal_value = _clean_value(deal_value)
        deal.save(update_fields=["deal_value", "updated_at"])
    return deal_move_stage(deal=deal, to=Stage.WON, actor=actor)


@transaction.atomic
def deal_lose(*, deal: PartnerDeal, actor: User | None, reason: str) -> PartnerDeal:
    """Close an open deal as lost; the reason is required and kept."""
    _clean_reason(reason, required=True)
    return deal_move_stage(deal=deal, to=Stage.LOST, actor=actor, reason=reason)


@transaction.atomic
def deal_update(
    *,
    deal: PartnerDeal,
    actor: User | None,
    deal_value: Any = None,
    expected_close_date: date | str | None = "",
    listing_id: str | None = None,
) -> PartnerDeal:
    """Change a deal's value, expected close date or listing; a closed deal keeps its figures."""
    deal = PartnerDeal.objects.select_for_update().get(pk=deal.pk)
    if not deal.is_open:
        raise ConflictError(_("A closed deal cannot be changed."), code="deal_closed")
    changed: list[str] = []
    if deal_value is not None:
        value = _clean_value(deal_value)
        if value != deal.deal_value:
            deal.deal_value = value
            changed.append("deal_value")
    if expected_close_date != "" and expected_close_date != deal.expected_close_date:
        deal.expected_close_date = expected_close_date or None
        changed.append("expected_close_date")
    if listing_id is not None and listing_id[:64] != deal.listing_id:
        deal.listing_id = listing_id[:64]
        changed.append("listing_id")
    if changed:
        deal.save(update_fields=[*changed, "updated_at"])
        audit_record(event_type="deal.updated", actor=actor, obj=deal, payload={"fields": changed})
    return deal
