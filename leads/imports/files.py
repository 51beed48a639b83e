"""Whole lead files (``import_leads``): batches, worker processes, the run's summary and audit event.

Big files run in worker processes that each write disjoint batches on their own connection. The
same person in two concurrent batches collides on the identity key; the loser is deferred and
imported again after every other batch, so the person still ends as one lead.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import operator
import os
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor

from django.db import connection, connections
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Organization, User
from compliance.services import audit_record
from core.exceptions import DomainError
from leads.imports.batch import lead_import_batch
from leads.imports.columns import ColumnMap
from leads.imports.plan import DEFAULT_BATCH_SIZE, BatchResult, ImportPlan, ImportSummary, RowError
from leads.imports.readers import LeadFileReader, Row
from leads.models import Lead

#: Below this size a file is imported in-process: starting workers would cost more than it saves.
PARALLEL_MIN_BYTES = 2 * 1024 * 1024


_worker_plan: ImportPlan | None = None


#: Collector thresholds while importing: young collections every 50,000 allocations, not 700.
IMPORT_GC_THRESHOLD = (50_000, 20, 20)


@contextlib.contextmanager
def _import_gc() -> Iterator[None]:
    """Less garbage collection while importing: 8-12 % of a worker's time in measurements.

    A batch allocates hundreds of thousands of short-lived, acyclic containers (rows, dicts) that
    reference counting frees anyway; with the default thresholds the collector still ran every 700
    allocations and kept re-scanning Django's long-lived objects. ``gc.freeze()`` moves those out
    of its sight, higher thresholds make it run less often. Restored afterwards.
    """
    threshold = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(*IMPORT_GC_THRESHOLD)
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()


def _worker_init(plan: ImportPlan) -> None:
    global _worker_plan
    _worker_plan = plan
    connections.close_all()  # never share the parent's sockets (closed before the fork anyway)
    gc.freeze()  # a forked worker inherits the parent's settings; what it inherited stays frozen
    gc.set_threshold(*IMPORT_GC_THRESHOLD)


def _worker_batch(rows: list[tuple[int, Row]]) -> BatchResult:
    assert _worker_plan is not None
    return lead_import_batch(rows=rows, plan=_worker_plan, defer=True)


def _batches(rows: Iterator[tuple[int, Row]], size: int) -> Iterator[list[tuple[int, Row]]]:
    batch: list[tuple[int, Row]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def default_workers(size_bytes: int) -> int:
    """Worker processes for a file: one per core for big files on PostgreSQL, none for small ones."""
    if connection.vendor != "postgresql" or size_bytes < PARALLEL_MIN_BYTES:
        return 1
    return max(1, min(os.cpu_count() or 1, 8))


def lead_import_file(
    *,
    reader: LeadFileReader,
    columns: ColumnMap,
    tenant: Organization | None = None,
    channel: str = Lead.Channel.IMPORT,
    source: str | None = None,
    actor: User | None = None,
    dry_run: bool = False,
    batch_size: int = DEFAULT_BATCH_SIZE,
    workers: int | None = None,
    on_batch: Callable[[ImportSummary, list[RowError]], None] | None = None,
) -> ImportSummary:
    """Import a lead file with ``lead_ingest``'s rules at bulk speed; refused rows go to ``on_batch``."""
    if channel not in Lead.Channel.values:
        raise DomainError(_("Unknown channel '%(value)s'.") % {"value": channel}, code="invalid_channel")
    if source is not None and source not in Lead.Source.values:
        raise DomainError(_("Unknown source '%(value)s'.") % {"value": source}, code="invalid_source")
    tenant = tenant or Organization.platform()
    if workers is None:
        workers = default_workers(reader.path.stat().st_size)
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        workers = 1  # a caller's open transaction cannot be shared with other processes
    plan = ImportPlan(
        tenant_id=tenant.pk,
        channel=channel,
        source=source or Lead.Source.ZONE1_POOL,
        actor_id=getattr(actor, "pk", None),
        columns=columns,
        dry_run=dry_run,
        started_at=timezone.now(),
        label=reader.path.name,
    )
    summary = ImportSummary(workers=workers, dry_run=dry_run)
    seen: set[int] = set()
    deferred: list[tuple[int, Row]] = []
    started = time.perf_counter()

    def collect(result: BatchResult) -> None:
        deferred.extend(result.deferred)
        if dry_run:
            for fingerprints in result.fingerprints:
                if seen.intersection(fingerprints):
                    result.counts.created -= 1
                    result.counts.duplicates += 1
                seen.update(fingerprints)
        summary.add(result.counts)
        summary.batches += 1
        summary.fallbacks += result.fallbacks
        summary.retries += result.retries
        summary.queued += result.queued
        summary.queued_batches += bool(result.queued)
        summary.seconds = time.perf_counter() - started
        if on_batch is not None:
            on_batch(summary, result.errors)

    batches = _batches(reader.rows(), max(1, batch_size))
    with _import_gc():
        if workers <= 1:
            for batch in batches:
                collect(lead_import_batch(rows=batch, plan=plan, defer=True))
        else:
            _run_parallel(batches, plan, workers, collect)
        # Every other batch has committed now: the contended rows find their leads and merge.
        for batch in _batches(iter(sorted(deferred, key=operator.itemgetter(0))), max(1, batch_size)):
            collect(lead_import_batch(rows=batch, plan=plan))
    summary.seconds = time.perf_counter() - started
    if not dry_run:
        audit_record(
            event_type="leads.imported",
            actor=actor,
            tenant=tenant,
            payload={
                "file": plan.label,
                "format": reader.format,
                "channel": plan.channel,
                "source": plan.source,
                "read": summary.read,
                "created": summary.created,
                "merged": summary.merged,
                "duplicates": summary.duplicates,
                "refused": summary.refused,
            },
        )
    return summary


def _run_parallel(
    batches: Iterator[list[tuple[int, Row]]],
    plan: ImportPlan,
    workers: int,
    collect: Callable[[BatchResult], None],
) -> None:
    """Workers import batches on their own connections; at most two batches per worker are in flight."""
    connections.close_all()  # forked children must open their own connections
    context = multiprocessing.get_context("fork")
    pending: deque[Future[BatchResult]] = deque()
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=_worker_init, initargs=(plan,)
    ) as pool:
        try:
            for batch in batches:
                pending.append(pool.submit(_worker_batch, batch))
                while len(pending) >= 2 * workers:
                    collect(pending.popleft().result())
            while pending:
                collect(pending.popleft().result())
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
