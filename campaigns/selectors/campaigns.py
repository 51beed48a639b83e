"""Reads of campaigns for a principal: a partner sees their own (another partner's is a 404), staff see all.

The figures (spend, leads, CPL, daily stats) live in ``campaigns.selectors.stats``.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _

from accounts.models import User
from campaigns.models import AdCampaign, CampaignStatusChange, CampaignTemplate
from core.exceptions import NotFoundError


def _is_staff(principal: Any) -> bool:
    return getattr(principal, "role", None) in User.STAFF_ROLES and getattr(principal, "is_active", False)


def campaign_queryset_for(principal: Any) -> QuerySet[AdCampaign]:
    """Campaigns a principal may reach: staff all, a partner their organization's and their own."""
    qs = AdCampaign.objects.select_related("template", "partner", "tenant")
    if _is_staff(principal):
        return qs
    if getattr(principal, "is_partner", False) and getattr(principal, "is_authenticated", False):
        return qs.filter(Q(tenant_id=principal.organization_id) | Q(partner_id=principal.pk))
    return qs.none()


def campaign_list_for(principal: Any, *, status: str = "", partner: str | int = "") -> QuerySet[AdCampaign]:
    """API-540 and the portal list, newest first; ``partner`` (a user id) filters for staff only."""
    qs = campaign_queryset_for(principal)
    if status:
        qs = qs.filter(status=status)
    if partner and _is_staff(principal):
        qs = qs.filter(partner_id=partner)
    return qs.order_by("-created_at", "-id")


def campaign_get_for(principal: Any, campaign_id: Any) -> AdCampaign:
    """One reachable campaign by its id; anything else (another partner's too) is a 404."""
    try:
        pk = int(str(campaign_id))
    except (TypeError, ValueError):
        pk = None
    campaign = None
    if pk is not None and 0 < pk < 2**63:
        campaign = campaign_queryset_for(principal).filter(pk=pk).first()
    if campaign is None:
        raise NotFoundError(_("Campaign not found."))
    return campaign


def campaign_history(*, campaign: AdCampaign) -> list[CampaignStatusChange]:
    """The status history, oldest first, with who made each move."""
    return list(campaign.status_changes.select_related("actor").order_by("at", "id"))


def campaign_template_list_active() -> QuerySet[CampaignTemplate]:
    """The templates a partner may book (API-549, the new-campaign form)."""
    return CampaignTemplate.objects.filter(is_active=True).order_by("sort_order", "name")


def campaign_template_get_active(code: str) -> CampaignTemplate | None:
    return campaign_template_list_active().filter(code=str(code or "")[:80]).first()
