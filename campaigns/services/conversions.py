"""Conversions API for CRM (protocol §1.12): lead status and deal stage changes of campaign leads go to Meta.

Meta optimises campaigns on leads that turned out well when it learns what became of them. Each
change of a campaign lead becomes one outbox row (``ConversionEvent``, unique ``event_key``, so a
repeated signal is a no-op); a task sends the pending rows in batches of up to 1,000 events
(``POST /{dataset_id}/events``), claimed under ``CONVERSION_LEASE`` so two workers never send the
same row, and retried with backoff on failure. Payloads carry Meta's own lead id, no personal data.
Off while ``META_DATASET_ID`` is empty.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import override

from campaigns.models import CONVERSION_LEASE, AdCampaignLead, ConversionEvent
from core.leases import lease_claim_batch, lease_owner
from deals.models import PartnerDeal
from integrations.meta.graph import GraphClient, GraphError
from leads.models import Lead

logger = logging.getLogger(__name__)

#: ``custom_data.lead_event_source``: the name of our CRM as Meta shows it.
LEAD_EVENT_SOURCE = "Lead-Plattform"
BATCH_SIZE = 1000
MAX_ATTEMPTS = 8
#: Meta drops events older than 7 days; a row that waited that long is given up.
MAX_EVENT_AGE = dt.timedelta(days=7)
BACKOFF_BASE = dt.timedelta(minutes=2)
BACKOFF_MAX = dt.timedelta(hours=6)
#: A send of one batch takes seconds; after this a crashed sender's rows are taken over.
SEND_LEASE = dt.timedelta(minutes=10)


def conversions_enabled() -> bool:
    return bool(settings.META_DATASET_ID)


def _event_name(choices: Any, value: str) -> str:
    """The English label of a status or stage ("Qualified", "Won"): stable whatever the user's language."""
    with override("en"):
        try:
            return str(choices(value).label)
        except ValueError:
            return value


def conversion_payload(*, event_name: str, event_time: dt.datetime, meta_lead_id: str) -> dict[str, Any]:
    """One CRM event: ``system_generated`` with Meta's lead id as the only identifier."""
    return {
        "event_name": event_name,
        "event_time": int(event_time.timestamp()),
        "action_source": "system_generated",
        "user_data": {"lead_id": meta_lead_id},
        "custom_data": {"event_source": "crm", "lead_event_source": LEAD_EVENT_SOURCE},
    }


def conversion_event_record(
    *, lead_id: Any, event_key: str, event_name: str, at: dt.datetime | None = None
) -> ConversionEvent | None:
    """Queue one event of a campaign lead (once per key); None when off, not a campaign lead or no Meta id."""
    if not conversions_enabled():
        return None
    link = (
        AdCampaignLead.objects.filter(lead_id=lead_id, lead__is_test=False)
        .values("campaign_id", "lead__facebook_lead_id")
        .first()
    )
    if link is None or not link["lead__facebook_lead_id"]:
        return None
    at = at or timezone.now()
    event, created = ConversionEvent.objects.get_or_create(
        event_key=event_key[:160],
        defaults={
            "campaign_id": link["campaign_id"],
            "lead_id": lead_id,
            "event_name": event_name[:64],
            "event_time": at,
            "payload": conversion_payload(
                event_name=event_name, event_time=at, meta_lead_id=link["lead__facebook_lead_id"]
            ),
        },
    )
    return event if created else None


def lead_status_conversion_record(*, lead: Lead, to_status: str, at: dt.datetime | None = None) -> Any:
    return conversion_event_record(
        lead_id=lead.pk,
        event_key=f"lead:{lead.pk}:status:{to_status}",
        event_name=_event_name(Lead.Status, to_status),
        at=at,
    )


def deal_stage_conversion_record(*, deal: PartnerDeal, to_stage: str, at: dt.datetime | None = None) -> Any:
    return conversion_event_record(
        lead_id=deal.lead_id,
        event_key=f"deal:{deal.pk}:stage:{to_stage}",
        event_name=_event_name(PartnerDeal.Stage, to_stage),
        at=at,
    )


def _backoff(attempts: int) -> dt.timedelta:
    return min(BACKOFF_MAX, BACKOFF_BASE * (2 ** max(0, attempts - 1)))


def _send_batch(client: GraphClient, pks: list[int], *, owner: str, now: dt.datetime) -> tuple[int, int]:
    """POST one claimed batch; returns (sent, failed). Rows too old for Meta are given up before sending."""
    held = ConversionEvent.objects.filter(CONVERSION_LEASE.held_by(owner), pk__in=pks)
    too_old = held.filter(event_time__lt=now - MAX_EVENT_AGE).update(
        status=ConversionEvent.Status.FAILED, lease_expires_at=None, last_error="Older than 7 days: Meta drops it."
    )
    rows = list(held.order_by("event_time", "id").values_list("pk", "payload"))
    if not rows:
        return 0, too_old
    try:
        client.request("POST", f"{settings.META_DATASET_ID}/events", json_body={"data": [p for _pk, p in rows]})
    except GraphError as exc:
        # One bad event discards the whole batch at Meta: all go back, each with its backoff.
        error = exc.summary()
        give_up = held.filter(attempts__gte=MAX_ATTEMPTS).update(
            status=ConversionEvent.Status.FAILED, lease_expires_at=None, last_error=error
        )
        for attempts in set(held.values_list("attempts", flat=True)):
            held.filter(attempts=attempts).update(
                status=ConversionEvent.Status.PENDING,
                lease_expires_at=None,
                next_attempt_at=now + _backoff(attempts),
                last_error=error,
            )
        logger.warning("Conversions API batch failed", extra={"events": len(rows), "error": error})
        return 0, too_old + give_up
    sent = held.update(status=ConversionEvent.Status.SENT, lease_expires_at=None, sent_at=now, last_error="")
    return sent, too_old


def conversion_events_send(*, now: dt.datetime | None = None, max_batches: int = 20) -> dict[str, int]:
    """Send the due outbox rows in batches of ``BATCH_SIZE``; stop at the first failing batch."""
    counts = {"sent": 0, "failed": 0, "batches": 0}
    if not conversions_enabled() or not settings.META_ADS_ACCESS_TOKEN:
        return counts
    now = now or timezone.now()
    client = GraphClient(settings.META_ADS_ACCESS_TOKEN)
    due = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    for _batch in range(max_batches):
        owner = lease_owner()
        pks = lease_claim_batch(
            CONVERSION_LEASE,
            owner=owner,
            duration=SEND_LEASE,
            limit=BATCH_SIZE,
            where=due,
            order_by=("event_time", "id"),
            now=now,
            attempts=F("attempts") + 1,
        )
        if not pks:
            break
        counts["batches"] += 1
        sent, failed = _send_batch(client, pks, owner=owner, now=now)
        counts["sent"] += sent
        counts["failed"] += failed
        if not sent:
            break
    return counts
