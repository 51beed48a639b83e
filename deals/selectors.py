"""Read queries on deals, tenant-scoped like the leads: another partner's deal does not exist (404)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Count, F, Q, QuerySet, Sum, Window
from django.db.models.functions import RowNumber
from django.utils.translation import gettext as _

from accounts.models import User
from core.exceptions import NotFoundError
from deals.models import DealStageChange, PartnerDeal
from leads.models import Lead

Stage = PartnerDeal.Stage


def deal_queryset_for(principal) -> QuerySet[PartnerDeal]:
    """Deals a principal may reach: staff all, partners their organization's and their own."""
    qs = PartnerDeal.objects.select_related("lead", "owner")
    role = getattr(principal, "role", None)
    if role in User.STAFF_ROLES and getattr(principal, "is_active", False):
        return qs
    if getattr(principal, "is_partner", False) and getattr(principal, "is_authenticated", False):
        return qs.filter(Q(tenant_id=principal.organization_id) | Q(owner_id=principal.pk))
    return qs.none()


def deal_get_for(principal, deal_ref) -> PartnerDeal:
    """One reachable deal by uuid; anything else (another tenant's too) is a 404."""
    try:
        pk = uuid.UUID(str(deal_ref))
    except ValueError:
        pk = None
    deal = deal_queryset_for(principal).filter(pk=pk).first() if pk else None
    if deal is None:
        raise NotFoundError(_("Deal not found."))
    return deal


def deal_list_for(
    principal, *, stage: str = "", lead: str = "", ordering: str = "-updated_at"
) -> QuerySet[PartnerDeal]:
    """The API's deal list with its filters (API-520)."""
    qs = deal_queryset_for(principal)
    if stage:
        qs = qs.filter(stage=stage)
    if lead:
        try:
            qs = qs.filter(lead_id=uuid.UUID(lead))
        except ValueError:
            qs = qs.filter(lead__public_id=lead.upper())
    return qs.order_by(ordering, "-id")


def deal_for_lead(*, lead: Lead) -> PartnerDeal | None:
    """The deal of a converted lead with what the lead page shows of it, or None before conversion."""
    return PartnerDeal.objects.filter(lead=lead).only("id", "stage", "title", "deal_value", "commission_split").first()


def deal_history(*, deal: PartnerDeal) -> QuerySet[DealStageChange]:
    """The deal's stage changes, newest first, with who moved it."""
    return DealStageChange.objects.filter(deal=deal).select_related("actor").order_by("-created_at", "-id")


@dataclass
class BoardColumn:
    stage: str
    label: str
    count: int = 0
    value: Decimal = Decimal("0")
    deals: list[PartnerDeal] = field(default_factory=list)

    @property
    def hidden(self) -> int:
        return max(self.count - len(self.deals), 0)


def deal_stage_summary(principal) -> dict[str, dict[str, Decimal | int]]:
    """Count and value of the principal's deals per stage, in one grouped query."""
    rows = (
        deal_queryset_for(principal)
        .order_by()
        .values("stage")
        .annotate(count=Count("id"), value=Sum("deal_value"))
        .values_list("stage", "count", "value")
    )
    summary = {stage: {"count": 0, "value": Decimal("0")} for stage in Stage.values}
    for stage, count, value in rows:
        summary[stage] = {"count": count, "value": value or Decimal("0")}
    return summary


def deal_board(principal, *, per_column: int = 25) -> list[BoardColumn]:
    """The kanban: every stage with its count, value and its most recently touched deals (two queries)."""
    summary = deal_stage_summary(principal)
    columns = {
        stage: BoardColumn(stage=stage, label=str(label), count=summary[stage]["count"], value=summary[stage]["value"])
        for stage, label in Stage.choices
    }
    ranked = (
        deal_queryset_for(principal)
        .select_related(None)
        .select_related("lead")
        # A card needs no contact data: skip loading (and decrypting) the PII of deal and lead.
        .only("id", "title", "stage", "deal_value", "expected_close_date", "updated_at", "lead__id", "lead__score")
        .annotate(
            rank=Window(
                expression=RowNumber(), partition_by=[F("stage")], order_by=[F("updated_at").desc(), F("id").desc()]
            )
        )
        .filter(rank__lte=per_column)
        .order_by("stage", "rank")
    )
    for deal in ranked:
        columns[deal.stage].deals.append(deal)
    return list(columns.values())
