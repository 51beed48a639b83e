"""What the Facebook and LinkedIn backfills share: their counters and how one fetched lead goes into the ledger.

A backfilled lead is recorded under the same dedup key a webhook would use, so leads that came by
webhook, or in an earlier run, are counted as known and left alone; new ones are processed at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from webhooks.models import WebhookEvent
from webhooks.registry import EventItem
from webhooks.services.ledger import webhook_event_process, webhook_event_record


@dataclass
class BackfillStats:
    pages: int = 0
    seen: int = 0
    new: int = 0
    known: int = 0
    failed: int = 0
    statuses: dict[str, int] = field(default_factory=dict)


def backfill_item_process(*, provider: str, item: EventItem, stats: BackfillStats) -> None:
    """Record one fetched lead in the ledger and, when it is new, process it now; count the outcome."""
    event, created = webhook_event_record(provider=provider, item=item)
    if not created:
        stats.known += 1
        return
    stats.new += 1
    status = webhook_event_process(event_id=event.pk) or event.status
    stats.statuses[status] = stats.statuses.get(status, 0) + 1
    if status == WebhookEvent.Status.FAILED:
        stats.failed += 1
