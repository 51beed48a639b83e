"""The webhook ledger: store deliveries as events, claim and finish them, retry, replay and sweep.

Every provider goes through these functions; providers only contribute splitting and handlers
(``webhooks.registry``). Retries are durable: a transient failure puts the event back to
``received`` with ``next_attempt_at`` (exponential backoff, or what Graph's usage headers ask for),
and the beat sweeper enqueues due events. That survives worker restarts and a Redis outage.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from django.db import DatabaseError, IntegrityError, connection, models, transaction
from django.db.models import F, Q
from django.utils import timezone

from compliance.services import audit_record
from compliance.services.retention import retention_batch_size, retention_cutoff, retention_days
from core.celery import publish_lean
from core.db import bound_cursor
from core.exceptions import DomainError, TransientError
from core.leases import current_task_id, lease_claim, lease_finish, lease_owner, lease_release, task_lease_duration
from core.ratelimit import RateLimitHit
from core.transactions import on_commit
from webhooks.models import EVENT_LEASE, WebhookDelivery, WebhookEvent
from webhooks.registry import EventItem, HandlerResult, PermanentEventError, get_provider
from webhooks.selectors import webhook_events_lease_expired

logger = logging.getLogger(__name__)

Status = WebhookEvent.Status

#: A received event nobody picked up within this time is enqueued again by the sweeper.
PICKUP_GRACE = timedelta(minutes=2)
#: After the sweeper enqueues an event it waits this long before enqueueing it again.
REENQUEUE_AFTER = timedelta(minutes=5)
RETRY_BASE = timedelta(minutes=1)
RETRY_MAX = timedelta(hours=1)
MAX_ATTEMPTS = 12
SWEEP_BATCH = 500
#: Raw bodies and finished events' payloads are kept for debugging and replay, then blanked (DM text):
#: after ``settings.RETENTION_WEBHOOK_BODY_DAYS`` (the retention policy ``webhook_bodies``).
RETENTION_SETTING = "RETENTION_WEBHOOK_BODY_DAYS"
RETENTION_DEFAULT_DAYS = 30


@dataclass(frozen=True)
class StoreResult:
    new: list[int]
    duplicates: int
    ignored: int


def enqueue_events(event_ids: Iterable[int], rate_hit: RateLimitHit | None = None) -> int:
    """Queue processing for each id; returns how many were queued (the sweeper takes the rest).

    One attempt and no publish retries: with Redis down a webhook must still answer in
    milliseconds, not after a retry loop per item. The delivery's rate-limit hit, if given, is
    counted in the same Redis round trip.
    """
    from webhooks.tasks import webhook_event_process_task

    return publish_lean(webhook_event_process_task, [(event_id,) for event_id in event_ids], piggyback=rate_hit)


def _handled(provider: str, event_type: str) -> bool:
    spec = get_provider(provider)
    return spec is not None and event_type in spec.handlers


def webhook_delivery_store(
    *,
    provider: str,
    body: bytes,
    headers: dict[str, str],
    items: list[EventItem],
    signature_valid: bool = True,
    rate_hit: RateLimitHit | None = None,
) -> StoreResult:
    """Store a verified delivery and one event per item; duplicates are counted, not stored again.

    The insert relies on the unique ``(provider, dedup_key)`` constraint (``ON CONFLICT DO NOTHING``),
    so two simultaneous deliveries of the same item end as one event. Processing is enqueued only
    after the commit.
    """
    now = timezone.now()
    delivery = {
        "provider": provider,
        "received_at": now,
        "headers": headers,
        "raw_body": body.decode("utf-8", errors="replace"),
        "body_size": len(body),
        "signature_valid": signature_valid,
        "item_count": len(items),
    }
    events = _event_rows(provider=provider, items=items, now=now)
    if _one_statement_insert_supported():
        stored = _insert_in_one_statement(delivery, events)
    else:
        stored = _insert_with_the_orm(WebhookDelivery(**delivery), [WebhookEvent(**row) for row in events])
    duplicate_keys = {event["dedup_key"] for event in events} - set(stored)
    if duplicate_keys:
        WebhookEvent.objects.filter(provider=provider, dedup_key__in=duplicate_keys).update(
            duplicates=F("duplicates") + 1, last_duplicate_at=now
        )
    new = [pk for pk, status in stored.values() if status == Status.RECEIVED]
    if new:
        on_commit(enqueue_events, sorted(new), rate_hit)
    ignored = sum(1 for _pk, status in stored.values() if status == Status.IGNORED)
    return StoreResult(new=sorted(new), duplicates=len(duplicate_keys), ignored=ignored)


def _one_statement_insert_supported() -> bool:
    return connection.vendor == "postgresql"


_DELIVERY_COLUMNS = ("provider", "received_at", "headers", "raw_body", "body_size", "signature_valid", "item_count")
_EVENT_COLUMNS = (
    "provider",
    "event_type",
    "dedup_key",
    "object_id",
    "payload",
    "status",
    "attempts",
    "error_code",
    "last_error",
    "received_at",
    "next_attempt_at",
    "processed_at",
    "duplicates",
)


@lru_cache(maxsize=8)
def _fields(model, names: tuple[str, ...]) -> list:
    return [model._meta.get_field(name) for name in names]


#: Field classes whose ``get_db_prep_save`` returns our (already typed) values unchanged on PostgreSQL.
_PLAIN_FIELDS = (
    models.CharField,
    models.TextField,
    models.BooleanField,
    models.IntegerField,
    models.PositiveIntegerField,
    models.PositiveSmallIntegerField,
    models.DateTimeField,
)


@lru_cache(maxsize=8)
def _column_preps(model, names: tuple[str, ...]) -> list[tuple[str, Any]]:
    """(attname, prep or None) per column: only JSON, encrypted and other special fields need a prep call."""
    return [(f.attname, None if type(f) in _PLAIN_FIELDS else f.get_db_prep_save) for f in _fields(model, names)]


@lru_cache(maxsize=64)
def _insert_sql(event_count: int) -> str:
    """The insert statement for a delivery with ``event_count`` events (built once per count)."""
    qn = connection.ops.quote_name

    def columns_and_row(model, names):
        fields = _fields(model, names)
        return (
            ", ".join(qn(f.column) for f in fields),
            "(" + ", ".join(f"%s::{f.db_type(connection)}" for f in fields) + ")",
        )

    d_columns, d_row = columns_and_row(WebhookDelivery, _DELIVERY_COLUMNS)
    table = qn(WebhookDelivery._meta.db_table)
    insert_delivery = f"INSERT INTO {table} ({d_columns}) VALUES {d_row} RETURNING id"  # noqa: S608
    if not event_count:
        return insert_delivery
    e_columns, e_row = columns_and_row(WebhookEvent, _EVENT_COLUMNS)
    aliases = ", ".join(f"c{i}" for i in range(len(_EVENT_COLUMNS)))
    # Identifiers come from model metadata; every value is a parameter.
    return (
        f"WITH d AS ({insert_delivery}) "  # noqa: S608
        f"INSERT INTO {qn(WebhookEvent._meta.db_table)} ({e_columns}, {qn('delivery_id')}) "
        f"SELECT v.*, d.id FROM d, (VALUES {', '.join([e_row] * event_count)}) AS v({aliases}) "
        f"ON CONFLICT ({qn('provider')}, {qn('dedup_key')}) DO NOTHING "
        f"RETURNING id, dedup_key, status"
    )


def _insert_in_one_statement(delivery: dict[str, Any], events: list[dict[str, Any]]) -> dict[str, tuple[int, str]]:
    """Insert the delivery and its events with one statement (PostgreSQL); returns the new events by key.

    This is the webhook's hot path: one round trip and one commit, like a bare insert, instead of a
    transaction with three statements. ``RETURNING`` names exactly the rows this delivery created;
    rows that hit the unique key are the duplicates. Rows are plain dicts (no model instances); values
    of special fields go through their ``get_db_prep_save`` (encryption, JSON) as the ORM would.
    """
    d_preps, e_preps = _column_preps(WebhookDelivery, _DELIVERY_COLUMNS), _column_preps(WebhookEvent, _EVENT_COLUMNS)
    params = [delivery[name] if prep is None else prep(delivery[name], connection) for name, prep in d_preps]
    for event in events:
        params += [event[name] if prep is None else prep(event[name], connection) for name, prep in e_preps]
    with bound_cursor(prepare=True) as cursor:
        cursor.execute(_insert_sql(len(events)), params)
        if not events:
            return {}
        return {dedup_key: (pk, status) for pk, dedup_key, status in cursor.fetchall()}


def _insert_with_the_orm(delivery: WebhookDelivery, events: list[WebhookEvent]) -> dict[str, tuple[int, str]]:
    """The same for other databases (the embedded SQLite default): one transaction, three statements."""
    with transaction.atomic():
        delivery.save()
        for event in events:
            event.delivery = delivery
        WebhookEvent.objects.bulk_create(events, ignore_conflicts=True)
        return {
            key: (pk, status)
            for key, pk, status in WebhookEvent.objects.filter(delivery=delivery).values_list(
                "dedup_key", "pk", "status"
            )
        }


def _event_rows(*, provider: str, items: list[EventItem], now: datetime) -> list[dict[str, Any]]:
    """One row (every column of ``_EVENT_COLUMNS``) per distinct item of a delivery."""
    rows, seen = [], set()
    for item in items:
        if item.dedup_key in seen:  # the same item twice in one batch
            continue
        seen.add(item.dedup_key)
        handled = _handled(provider, item.event_type)
        rows.append(
            {
                "provider": provider,
                "event_type": item.event_type[:40],
                "dedup_key": item.dedup_key[:255],
                "object_id": item.object_id[:64],
                "payload": json.dumps(item.payload, ensure_ascii=False, separators=(",", ":")),
                "status": Status.RECEIVED if handled else Status.IGNORED,
                "attempts": 0,
                "error_code": "" if handled else "unhandled_type",
                "last_error": "",
                "received_at": now,
                "next_attempt_at": now + PICKUP_GRACE if handled else None,
                "processed_at": None if handled else now,
                "duplicates": 0,
            }
        )
    return rows


def webhook_event_record(*, provider: str, item: EventItem) -> tuple[WebhookEvent, bool]:
    """Record one event that did not come in as a webhook (a backfill); returns (event, created)."""
    (row,) = _event_rows(provider=provider, items=[item], now=timezone.now())
    event = WebhookEvent(**row)
    try:
        with transaction.atomic():
            event.save()
    except IntegrityError:
        return WebhookEvent.objects.get(provider=provider, dedup_key=event.dedup_key), False
    return event, True


def event_lease_duration() -> timedelta:
    """How long a processing claim lasts: the processing task's hard time limit plus a margin.

    Past it Celery has killed the task, so a redelivered task or the sweeper may take the event over.
    """
    from webhooks.tasks import webhook_event_process_task

    return task_lease_duration(webhook_event_process_task)


def webhook_event_claim(
    *, event_id: int, owner: str | None = None, task_id: str | None = None, now: datetime | None = None
) -> WebhookEvent | None:
    """Lease an event for processing; ``None`` when someone else holds an unexpired lease or it is done.

    A received event is taken, and so is one whose lease expired (its claimant died or hangs) or one
    held by an earlier run of this very task (the message Celery redelivers after a worker kill, or
    a task retried after a database error: that run has ended). Each claim counts an attempt; an
    event that used its last attempt is left to the sweeper, which fails it.
    """
    now = now or timezone.now()
    task_id = current_task_id() if task_id is None else task_id
    claimed = lease_claim(
        EVENT_LEASE,
        pk=event_id,
        owner=owner or lease_owner(task_id),
        duration=event_lease_duration(),
        now=now,
        where=Q(attempts__lt=MAX_ATTEMPTS),
        task_id=task_id,
        attempts=F("attempts") + 1,
        claimed_at=now,
    )
    if not claimed:
        return None
    return WebhookEvent.objects.get(pk=event_id)


def webhook_event_finish(*, event: WebhookEvent, status: str, lead=None, error_code: str = "", error: str = "") -> bool:
    """Record the outcome of a claimed event, only while this claim still holds its lease.

    A late finisher whose expired lease was taken over (or reset by the sweeper) changes nothing, so
    it cannot overwrite the new claimant's outcome.
    """
    return lease_finish(
        EVENT_LEASE,
        pk=event.pk,
        owner=event.claimed_by,
        status=status,
        lead=lead,
        error_code=error_code[:40],
        last_error=error[:2000],
        processed_at=timezone.now(),
        next_attempt_at=None,
    )


def retry_delay(attempts: int, retry_after: float | None = None) -> timedelta:
    """Exponential backoff with jitter (1, 2, 4 … 60 minutes), never earlier than the provider asked."""
    backoff = min(RETRY_BASE * (2 ** max(0, attempts - 1)), RETRY_MAX)
    backoff *= 1 + random.random() / 4  # noqa: S311 (jitter, not cryptography)
    if retry_after:
        backoff = max(backoff, timedelta(seconds=retry_after))
    return backoff


def webhook_event_defer(*, event: WebhookEvent, error: str, retry_after: float | None = None) -> str:
    """Put a claimed event back for a later attempt, or fail it once it has used up its attempts."""
    if event.attempts >= MAX_ATTEMPTS:
        webhook_event_finish(
            event=event, status=Status.FAILED, error_code="gave_up", error=f"{MAX_ATTEMPTS} attempts: {error}"
        )
        return Status.FAILED
    lease_release(
        EVENT_LEASE,
        pk=event.pk,
        owner=event.claimed_by,
        error_code="retrying",
        last_error=error[:2000],
        next_attempt_at=timezone.now() + retry_delay(event.attempts, retry_after),
    )
    return Status.RECEIVED


def webhook_event_process(*, event_id: int) -> str | None:
    """Claim an event and run its provider's handler for its type; returns the resulting status.

    Domain errors (no identity, no connection, a permanent Graph error) fail the event with their
    reason; transient ones defer it. Database errors propagate: the task retries and takes the event
    over once its lease has expired (or the sweeper re-queues it then).
    """
    event = webhook_event_claim(event_id=event_id)
    if event is None:
        return None
    provider = get_provider(event.provider)
    handler = provider.handlers.get(event.event_type) if provider else None
    if handler is None:
        webhook_event_finish(event=event, status=Status.IGNORED, error_code="unhandled_type")
        return Status.IGNORED
    try:
        result: HandlerResult = handler(event)
    except TransientError as exc:
        message = exc.summary() if hasattr(exc, "summary") else str(exc) or type(exc).__name__
        status = webhook_event_defer(event=event, error=message, retry_after=getattr(exc, "retry_after", None))
        logger.info("Webhook event deferred", extra={"event_id": event.pk, "status": status})
        return status
    except PermanentEventError as exc:
        webhook_event_finish(event=event, status=Status.FAILED, error_code=exc.code, error=exc.message)
        logger.warning("Webhook event failed", extra={"event_id": event.pk, "reason": exc.code})
        return Status.FAILED
    except DomainError as exc:
        webhook_event_finish(event=event, status=Status.FAILED, error_code=exc.code, error=exc.message)
        logger.warning("Webhook event failed", extra={"event_id": event.pk, "reason": exc.code})
        return Status.FAILED
    except DatabaseError:
        raise
    except Exception as exc:
        # A bug, not the provider's fault: keep the event visible (failed, replayable) instead of looping.
        logger.exception("Webhook handler crashed", extra={"event_id": event.pk, "event_type": event.event_type})
        webhook_event_finish(event=event, status=Status.FAILED, error_code="error", error=type(exc).__name__)
        return Status.FAILED
    webhook_event_finish(
        event=event, status=result.status, lead=result.lead, error_code=result.error_code, error=result.message
    )
    return result.status


@transaction.atomic
def webhook_event_replay(*, event_ids: Iterable[int], actor) -> int:
    """Put failed or ignored events back into the queue (admin "replay"); returns how many."""
    replayable = list(
        WebhookEvent.objects.select_for_update()
        .filter(pk__in=list(event_ids), status__in=[Status.FAILED, Status.IGNORED])
        .values_list("pk", flat=True)
    )
    if not replayable:
        return 0
    WebhookEvent.objects.filter(pk__in=replayable).update(
        status=Status.RECEIVED,
        attempts=0,
        error_code="",
        last_error="",
        claimed_at=None,
        processed_at=None,
        next_attempt_at=timezone.now() + PICKUP_GRACE,
    )
    audit_record(
        event_type="webhook.replayed", actor=actor, payload={"count": len(replayable), "events": replayable[:100]}
    )
    on_commit(enqueue_events, replayable)
    return len(replayable)


def webhook_events_replay_failed(*, provider: str, object_id: str, error_codes: Iterable[str], actor) -> int:
    """Replay the failed events of one page/account that failed for one of ``error_codes`` (after a reconnect)."""
    ids = WebhookEvent.objects.filter(
        provider=provider, object_id=object_id, status=Status.FAILED, error_code__in=list(error_codes)
    ).values_list("pk", flat=True)
    return webhook_event_replay(event_ids=list(ids), actor=actor)


def webhook_payloads_purge(
    *,
    cutoff: datetime | None = None,
    now: datetime | None = None,
    dry_run: bool = False,
) -> dict[str, int]:
    """Blank raw bodies and finished events' payloads past the retention period (policy ``webhook_bodies``).

    DM text is personal data. Two partial indexes hold only the rows that still carry a body or a
    finished payload, so the job stays cheap as the ledger grows and still reaches every row past
    the cutoff (missed runs, a lowered period); rows are blanked a batch per transaction.
    ``cutoff`` defaults to ``now`` minus ``RETENTION_WEBHOOK_BODY_DAYS`` (0 or less keeps them
    forever); ``dry_run`` only counts.
    """
    if cutoff is None:
        days = retention_days(RETENTION_SETTING, RETENTION_DEFAULT_DAYS)
        cutoff = retention_cutoff(days, now=now or timezone.now())
        if cutoff is None:
            return {"bodies": 0, "payloads": 0}
    span = Q(received_at__lt=cutoff)
    bodies = WebhookDelivery.objects.filter(span, raw_body__isnull=False)
    payloads = WebhookEvent.objects.filter(span, payload__isnull=False).exclude(
        status__in=[Status.RECEIVED, Status.PROCESSING]
    )
    if dry_run:
        return {"bodies": bodies.count(), "payloads": payloads.count()}
    return {"bodies": _blank_in_batches(bodies, "raw_body"), "payloads": _blank_in_batches(payloads, "payload")}


def _blank_in_batches(queryset: models.QuerySet, field_name: str) -> int:
    """Set ``field_name`` to NULL on every row of ``queryset``, oldest first, one short transaction per batch.

    Each batch continues at the last ``received_at`` seen (rows already blanked drop out of the
    queryset), so the index range is walked once.
    """
    batch = retention_batch_size()
    total = 0
    since: datetime | None = None
    while True:
        page = queryset if since is None else queryset.filter(received_at__gte=since)
        rows = list(page.order_by("received_at", "pk").values_list("pk", "received_at")[:batch])
        if not rows:
            return total
        with transaction.atomic():
            total += queryset.filter(pk__in=[pk for pk, _received in rows]).update(**{field_name: None})
        if len(rows) < batch:
            return total
        since = rows[-1][1]


def webhook_events_sweep(*, now: datetime | None = None, limit: int = SWEEP_BATCH) -> dict[str, int]:
    """Re-enqueue received events that are due and events whose lease expired (beat, every minute).

    An expired lease means its claimant died (or hangs past the task's hard time limit): the event
    goes back to received and is queued on this tick, or fails once it has used its last attempt.
    Both updates repeat the expiry condition, so a claim that takes the event over meanwhile wins.
    """
    now = now or timezone.now()
    stuck = webhook_events_lease_expired(now=now)
    gave_up = stuck.filter(attempts__gte=MAX_ATTEMPTS).update(
        status=Status.FAILED,
        error_code="gave_up",
        last_error=f"Still processing after {MAX_ATTEMPTS} attempts.",
        processed_at=now,
        lease_expires_at=None,
    )
    reset = stuck.update(status=Status.RECEIVED, next_attempt_at=now, lease_expires_at=None)
    due = list(
        WebhookEvent.objects.filter(status=Status.RECEIVED)
        .filter(Q(next_attempt_at__lte=now) | Q(next_attempt_at__isnull=True))
        .order_by(F("next_attempt_at").asc(nulls_first=True))
        .values_list("pk", flat=True)[:limit]
    )
    if due:
        WebhookEvent.objects.filter(pk__in=due, status=Status.RECEIVED).update(next_attempt_at=now + REENQUEUE_AFTER)
    enqueued = enqueue_events(due)

    if reset or gave_up or enqueued:
        logger.info("Webhook sweep", extra={"reset": reset, "gave_up": gave_up, "enqueued": enqueued, "due": len(due)})
    return {"reset": reset, "gave_up": gave_up, "enqueued": enqueued, "due": len(due)}
