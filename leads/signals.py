"""Domain events of leads: how the floors above learn what happened to a lead (SPEC §2).

Leads never import deals, campaigns, follow-ups or the portal; they connect receivers here. Each
signal is sent once, after the transaction that made the change commits (never on a rollback),
with these keyword arguments:

``lead_created`` (sender ``Lead``)
    ``lead``: the new lead; ``channel``: its capture channel (a ``Lead.Channel`` value);
    ``actor``: who created it: a user, the label of the channel or API key that delivered it, or None.

``leads_imported`` (sender ``Lead``)
    Sent instead of ``lead_created`` for the leads an import (``import_leads``) creates, once per
    committed batch of up to a few thousand: ``lead_ids`` (ids as strings), ``tenant_id``, ``channel``,
    ``source``, ``actor``. Their scores follow from a queued scoring batch (``score_pending``).

``lead_status_changed`` (sender ``Lead``)
    ``lead``: the lead after the move; ``from_status``, ``to_status``: ``Lead.Status`` values;
    ``actor``: the user who moved it, or None for the system.

``offer_accepted`` (sender ``LeadAssignment``)
    ``offer``: the accepted pool offer; ``lead``: its lead, now owned by the partner's organization;
    ``partner``: the partner who accepted; ``actor``: who accepted it (the partner).

``activity_recorded`` (sender ``LeadActivity``)
    ``activity``: the new activity; ``lead``: its lead; ``activity_type``: its type (for example
    ``lead_magnet_downloaded``, ``calculator_used``, ``meeting_booked``, ``email_replied``,
    ``message_received``); ``actor``: who recorded it, or None.

``lead_partner_changed`` (sender ``Lead``)
    ``lead``: the lead after the move; ``from_partner_id``, ``to_partner_id``: the assigned partner
    before and after (either may be None); ``actor``: who moved it, or None.

``lead_routed`` (sender ``LeadFormRoute``)
    ``route``: the form route that sent a new lead to its partner; ``lead``: that lead. Sent after
    ``lead_created``; the owner of the route (``route.ref``) links the lead to what it booked.

Receivers run in the process that made the change, after its commit: a receiver that fails is
logged and undoes nothing, so work that must not get lost belongs in a task the receiver queues.
"""

from __future__ import annotations

from django.dispatch import Signal

lead_created = Signal()
leads_imported = Signal()
lead_status_changed = Signal()
offer_accepted = Signal()
activity_recorded = Signal()
lead_partner_changed = Signal()
lead_routed = Signal()
