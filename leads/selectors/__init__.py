"""Read queries on leads, tenant-scoped: one module per concern, re-exported here."""

from leads.selectors.capacity import PartnerCapacity, partner_capacities
from leads.selectors.core import lead_get_for, lead_list_live, lead_queryset_for, lead_search_q
from leads.selectors.offers import offer_get_for_partner, partner_open_offers

__all__ = [
    "PartnerCapacity",
    "lead_get_for",
    "lead_list_live",
    "lead_queryset_for",
    "lead_search_q",
    "offer_get_for_partner",
    "partner_capacities",
    "partner_open_offers",
]
