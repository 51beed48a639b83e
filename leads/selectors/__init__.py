"""Read queries on leads, tenant-scoped: one module per concern, re-exported here."""

from leads.selectors.capacity import PartnerCapacity, partner_capacities
from leads.selectors.core import lead_get_for, lead_list_live, lead_queryset_for, lead_search_q
from leads.selectors.export import lead_export_queryset

__all__ = [
    "PartnerCapacity",
    "lead_export_queryset",
    "lead_get_for",
    "lead_list_live",
    "lead_queryset_for",
    "lead_search_q",
    "partner_capacities",
]
