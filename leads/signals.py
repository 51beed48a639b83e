"""Domain events of leads: how the floors above learn what happened to a lead (SPEC §2).

Leads never import deals, campaigns, follow-ups or the portal; they connect receivers here. Each
signal is sent once, after the transaction that made the change commits (never on a rollback),
with these keyword arguments:

``lead_created`` (sender ``Lead``)
    ``lead``: the new lead; ``channel``: its capture channel (a ``Lead.Channel`` value);
    ``actor``: who created it: a user, the label of the channel or API key that delivered it, or None.

``lead_status_changed`` (sender ``Lead``)
    ``lead``: the lead after the move; ``from_status``, ``to_status``: ``Lead.Status`` values;
    ``actor``: the user who moved it, or None for the system.

``offer_accepted`` (sender ``LeadAssignment``)
    ``offer``: the accepted pool offer; ``lead``: its lead, now owned by the partner's organization;
    ``partner``: the partner who accepted; ``actor``: who accepted it (the partner).

Receivers run in the process that made the change, after its commit: a receiver that fails is
logged and undoes nothing, so work that must not get lost belongs in a task the receiver queues.
"""

from __future__ import annotations

from typing import Any

from django.dispatch import Signal

from core.transactions import on_commit

lead_created = Signal()
lead_status_changed = Signal()
offer_accepted = Signal()


def send_after_commit(signal: Signal, *, sender: type, **kwargs: Any) -> None:
    """Send ``signal`` once the current transaction commits (at once outside one); each receiver on its own."""
    on_commit(signal.send_robust, sender=sender, **kwargs)
