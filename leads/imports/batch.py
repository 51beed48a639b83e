"""One batch of an import: ``lead_ingest``'s rules in set-based form (SPEC §5 Imports).

Per batch of rows: map and normalize (``normalize_payload``), look up every identity of the batch
with one query and group the batch's rows by shared identities, then

- new people: built as ``lead_ingest`` builds them and written with ``COPY`` (``create``), scored
  in a queued batch;
- rows matching exactly one live lead: merged in bulk (``merge``);
- everything unusual (an identity another writer claimed meanwhile, rows bridging two leads, a
  lead merged meanwhile): ``lead_ingest`` row by row after the batch committed, which settles it
  exactly as it settles two webhook deliveries of the same person.
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, OperationalError, connection, reset_queries, transaction
from django.utils.translation import gettext as _

from core.exceptions import DomainError, TransientError
from leads.imports import create, graph, merge
from leads.imports.plan import BatchResult, ImportContext, ImportCounts, ImportPlan, ImportRow, RowError, import_context
from leads.imports.readers import ROW_ERROR, Row
from leads.normalize import INVALID_REASONS, NormalizedLead, normalize_payload
from leads.services.ingest import IngestResult, lead_ingest

MAX_WRITE_ATTEMPTS = 4


class _Retry(Exception):
    """The batch's transaction hit a deadlock or a public id collision: run it again."""


def _refusal(ctx: ImportContext, number: int, raw: Row, column: str, reason: str) -> RowError:
    return RowError(row=number, column=column, reason=reason, values=ctx.plan.columns.as_dict(raw))


def _identity_problem(ctx: ImportContext, norm: NormalizedLead) -> tuple[str, str]:
    """Which column made the row unusable, and why, for the error report."""
    invalid = norm.attributes.get("_invalid", {})
    columns, reasons = [], []
    for target, label in (("email", _("email")), ("phone", _("phone"))):
        if target in invalid:
            columns += ctx.headers_by_target.get(target, [target])
            reasons.append(f"{label}: {INVALID_REASONS.get(invalid[target].get('code', ''), _('invalid'))}")
    if not reasons:
        return "", _("no email address or phone number")
    return ", ".join(columns), _("no valid email address or phone number") + " (" + "; ".join(reasons) + ")"


def lead_import_batch(*, rows: list[tuple[int, Row]], plan: ImportPlan, defer: bool = False) -> BatchResult:
    """Import one batch of file rows: set-based create and merge, ``lead_ingest`` for the rest.

    ``defer``: rows whose identity another writer claimed (most often the other import worker, its
    batch not committed yet) come back in ``deferred`` instead of going through ``lead_ingest`` at
    once, which would wait for that writer's commit; imported again at the end, they merge in bulk.
    """
    ctx = import_context(plan)
    reset_queries()  # with DEBUG on, Django would keep every batch's SQL in memory
    result = BatchResult()
    usable: list[ImportRow] = []
    for number, raw in rows:
        result.counts.read += 1
        payload, problems = plan.columns.payload(raw)
        if problems:
            if not (isinstance(raw, dict) and ROW_ERROR in raw):  # a line that was no JSON object has no rest
                # The rest of the row is checked too, so that one report line names every problem.
                rest = normalize_payload(payload, channel=plan.channel)
                if not rest.identities:
                    problems.append(_identity_problem(ctx, rest))
            columns = ", ".join(dict.fromkeys(c for p in problems for c in p[0].split(", ") if c))
            result.counts.refused += 1
            result.errors.append(_refusal(ctx, number, raw, columns, "; ".join(p[1] for p in problems)))
            continue
        norm = normalize_payload(payload, channel=plan.channel)
        if not norm.identities:
            column, reason = _identity_problem(ctx, norm)
            result.counts.refused += 1
            result.errors.append(_refusal(ctx, number, raw, column, reason))
            continue
        usable.append(ImportRow(number=number, raw=raw, payload=payload, norm=norm))
    if not usable:
        return result
    groups = _group(usable)
    if plan.dry_run:
        _dry_run(ctx, groups, result)
        return result
    if not ctx.postgres:
        # The embedded SQLite default has no COPY and no data-modifying CTEs: one lead at a time.
        _fallback(ctx, usable, result)
        return result
    for attempt in range(MAX_WRITE_ATTEMPTS):
        try:
            counts, fallback, result.queued = _write(ctx, groups)
            break
        except _Retry:
            result.retries += 1
            for row in usable:  # new ids and public ids for the new leads
                row.lead_id, row.prepared, row.claimed, row.contended = None, None, [], False
            if attempt == MAX_WRITE_ATTEMPTS - 1:
                counts, fallback = ImportCounts(), usable
    result.counts.add(counts)
    if defer:
        result.deferred = [(row.number, row.raw) for row in fallback if row.contended]
        result.counts.read -= len(result.deferred)  # counted when they come back
        fallback = [row for row in fallback if not row.contended]
    _fallback(ctx, fallback, result)
    graph.statistics_keep(ctx, result.counts.created)
    return result


def _group(rows: list[ImportRow]) -> list[list[ImportRow]]:
    """Rows sharing any identity are one person (union-find); groups and rows keep file order."""
    parent = list(range(len(rows)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first_row: dict[tuple[str, str], int] = {}
    for index, row in enumerate(rows):
        for identity in row.norm.identities:
            other = first_row.setdefault(identity, index)
            if other != index:
                a, b = find(index), find(other)
                if a != b:
                    parent[max(a, b)] = min(a, b)
    groups: dict[int, list[ImportRow]] = {}
    for index, row in enumerate(rows):
        groups.setdefault(find(index), []).append(row)
    return list(groups.values())


def _dry_run(ctx: ImportContext, groups: list[list[ImportRow]], result: BatchResult) -> None:
    """Classify without writing: would create, would merge into an existing lead, duplicate in the file."""
    existing = graph.lookup(ctx.tenant.pk, (i for g in groups for r in g for i in r.norm.identities))
    for group in groups:
        if any(i in existing for r in group for i in r.norm.identities):
            result.counts.merged += len(group)
            continue
        result.counts.created += 1
        result.counts.duplicates += len(group) - 1
        result.fingerprints.append(sorted({int(h[:16], 16) for r in group for _k, h in r.norm.identities}))


def _write(ctx: ImportContext, groups: list[list[ImportRow]]) -> tuple[ImportCounts, list[ImportRow], int]:
    """Create new people and merge known ones for one batch: the counts, the rows left over and how
    many new leads were queued for scoring."""
    counts = ImportCounts()
    fallback: list[ImportRow] = []
    tenant_id = ctx.tenant.pk
    existing = graph.lookup(tenant_id, (i for g in groups for r in g for i in r.norm.identities))
    new_groups: list[list[ImportRow]] = []
    to_merge: list[tuple[ImportRow, Any]] = []
    for group in groups:
        matched = {existing[i] for r in group for i in r.norm.identities if i in existing}
        leads = {m[0] for m in matched}
        if not matched:
            new_groups.append(group)
        elif len(leads) == 1 and all(m[1] is None for m in matched):
            to_merge += [(row, next(iter(leads))) for row in group]
        else:
            fallback += group
    leaders = [group[0] for group in new_groups]
    for row in leaders:
        if row.prepared is None:
            row.prepared = create.prepare(ctx, row)
    create.companies_upsert(ctx, leaders)
    try:
        with transaction.atomic():
            # Asynchronous commit for import batches: a crash can lose the last few committed
            # batches (not corrupt anything), and running the file again brings them back.
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit = off")
            owned = {identity: value[0] for identity, value in existing.items()}
            created = create.create(ctx, new_groups, owned, to_merge, fallback)
            counts.created += len(created)
            merge.merge(ctx, to_merge, owned, counts, fallback)
            queued = create.scoring_queue(created)
            create.created_announce(ctx, created)
    except IntegrityError as exc:
        if "public_id" in str(exc):
            raise _Retry from exc
        raise
    except OperationalError as exc:
        if "deadlock" in str(exc).lower():
            raise _Retry from exc
        raise
    fallback.sort(key=lambda r: r.number)
    return counts, fallback, queued


def _fallback(ctx: ImportContext, rows: list[ImportRow], result: BatchResult) -> None:
    """Settle rows the set-based path left over through ``lead_ingest``, one transaction each."""
    plan = ctx.plan
    for row in rows:
        result.fallbacks += 1
        try:
            outcome: IngestResult = lead_ingest(
                payload=row.payload,
                channel=plan.channel,
                source=plan.source,
                tenant=ctx.tenant,
                actor=ctx.actor,
                activity=None,
                consent=ctx.consent,
            )
        except DomainError as exc:
            result.counts.refused += 1
            result.errors.append(_refusal(ctx, row.number, row.raw, "", exc.message))
            continue
        except TransientError:
            result.counts.refused += 1
            reason = _("changed concurrently by another writer; import the file again to pick the row up")
            result.errors.append(_refusal(ctx, row.number, row.raw, "", reason))
            continue
        if outcome.created:
            result.counts.created += 1
        elif outcome.lead.created_at >= plan.started_at:
            result.counts.duplicates += 1
        else:
            result.counts.merged += 1
            result.counts.unchanged += not outcome.changed
