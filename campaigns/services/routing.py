"""Routing a booked form's leads to the booking partner through ``leads.LeadFormRoute`` (a lower floor).

Ingest reads the route by form id; it never imports campaigns. ``lead_routed`` (leads.signals) tells
us about each routed lead, and we link it to the campaign (``AdCampaignLead``).
"""

from __future__ import annotations

from django.conf import settings
from django.db import transaction

from campaigns.models import AdCampaign, AdCampaignLead
from leads.models import Lead, LeadFormRoute

ROUTE_PREFIX = "campaign:"


def campaign_route_ref(campaign: AdCampaign) -> str:
    return f"{ROUTE_PREFIX}{campaign.pk}"


def campaign_id_of_route(ref: str) -> int | None:
    """The campaign id a route was registered for, or None for another owner's route."""
    if not ref.startswith(ROUTE_PREFIX):
        return None
    try:
        return int(ref.removeprefix(ROUTE_PREFIX))
    except ValueError:
        return None


@transaction.atomic
def campaign_route_register(*, campaign: AdCampaign) -> LeadFormRoute | None:
    """Route the campaign's lead form to its partner (idempotent; a no-op without a form id)."""
    if not campaign.meta_form_id:
        return None
    route, _created = LeadFormRoute.objects.update_or_create(
        form_id=campaign.meta_form_id,
        defaults={
            "page_id": settings.META_ADS_PAGE_ID,
            "partner_id": campaign.partner_id,
            "tenant_id": campaign.tenant_id,
            "source": Lead.Source.META_SELF,
            "ref": campaign_route_ref(campaign),
            "is_active": True,
        },
    )
    return route


def routed_lead_link(*, route: LeadFormRoute, lead: Lead) -> AdCampaignLead | None:
    """Link a lead that a campaign's form route delivered; None for another owner's route or a link that
    exists already (Meta delivers webhooks more than once)."""
    campaign_id = campaign_id_of_route(route.ref)
    if campaign_id is None or not AdCampaign.objects.filter(pk=campaign_id).exists():
        return None
    link, created = AdCampaignLead.objects.get_or_create(lead_id=lead.pk, defaults={"campaign_id": campaign_id})
    return link if created else None
