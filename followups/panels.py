"""Registers the lead admin page's Emails panel (runs and emails of the lead) with ``leads.panels``."""

from followups.selectors.lead_panels import lead_sequence_panel
from leads.panels import register_lead_panel

register_lead_panel("emails", lead_sequence_panel)
