"""Builders for partner work: own leads, accepted pool leads and deals in a given stage."""

from __future__ import annotations

from accounts.models import User
from deals.models import PartnerDeal
from deals.services import deal_move_stage, lead_convert
from leads.models import Lead
from leads.services import lead_qualify, offer_accept, offer_create
from tests.accounts.factories import UserFactory
from tests.leads.factories import LeadFactory

STAGE_PATH = ["lead", "qualified", "proposal", "negotiation", "closing"]


def own_lead(partner: User, **fields) -> Lead:
    """A lead the partner brought in (source manual): theirs, no split."""
    fields.setdefault("channel", Lead.Channel.MANUAL)
    fields.setdefault("source", Lead.Source.MANUAL)
    return LeadFactory(tenant=partner.organization, assigned_partner=partner, **fields)


def accepted_pool_lead(partner: User, *, admin: User | None = None, **fields) -> Lead:
    """A pool lead offered to and accepted by the partner (frozen 1/3 : 2/3 split)."""
    lead = LeadFactory(**fields)
    admin = admin or UserFactory(role=User.Role.PLATFORM_ADMIN)
    offer = offer_create(lead=lead, partner=partner, actor=admin)
    offer_accept(offer=offer, actor=partner)
    return Lead.objects.get(pk=lead.pk)


def deal_for(partner: User, *, stage: str = "lead", lead: Lead | None = None, value=1000) -> PartnerDeal:
    """A converted lead's deal, walked forward to ``stage`` through the services."""
    lead = lead or own_lead(partner)
    lead_qualify(lead=lead, actor=partner)
    deal = lead_convert(lead=lead, actor=partner, deal_value=value)
    if stage == "lost":
        return deal_move_stage(deal=deal, to="lost", actor=partner, reason="zu teuer")
    for step in [*STAGE_PATH[1:], "won"][: ([*STAGE_PATH, "won"].index(stage))]:
        deal = deal_move_stage(deal=deal, to=step, actor=partner)
    return deal
