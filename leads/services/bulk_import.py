"""Lead files in bulk (SPEC §5 Imports): ``lead_ingest``'s rules in set-based form, and the export.

Per batch of rows: map and normalize (``normalize_payload``), look up every identity of the batch
with one query and group the batch's rows by shared identities, then

- new people: score, enrich offline and encrypt in Python, claim their identities with one
  ``INSERT … ON CONFLICT DO NOTHING`` and write the lead and its rows (verification, enrichment,
  analysis, score history, ``lead.created`` audit event, company link) with ``COPY``;
- rows matching exactly one live lead: the survivorship rules (``Survivorship``), journaled in
  ``LeadMerge`` and audited as ``lead.merged`` like a merged delivery, written in bulk; a row that
  brings nothing new leaves the lead untouched (re-running a file creates and changes nothing);
- everything unusual (an identity another writer claimed meanwhile, rows bridging two leads, a
  lead merged meanwhile): ``lead_ingest`` row by row after the batch committed, which settles it
  exactly as it settles two webhook deliveries of the same person.

Big files run in worker processes that each write disjoint batches on their own connection. The
same person in two concurrent batches collides on the identity key; the loser falls back to
``lead_ingest`` and merges, so the person still ends as one lead.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import gc
import json
import logging
import multiprocessing
import operator
import os
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import (
    DatabaseError,
    IntegrityError,
    OperationalError,
    connection,
    connections,
    models,
    reset_queries,
    transaction,
)
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Organization, User
from compliance import crypto
from compliance.fields import EncryptedTextField
from compliance.models import AuditEvent
from compliance.services import audit_event_build, audit_record
from core.db import bound_cursor
from core.exceptions import DomainError, TransientError
from core.transactions import on_commit
from leads.bulk import COMPANY_UPSERT_TOUCH, bulk_update_sql, insert_sql
from leads.importers import ROW_ERROR, ColumnMap, LeadFileReader, LeadFileWriter, Row
from leads.models import (
    ATTRIBUTION_FIELDS,
    PUBLIC_ID_PREFIX,
    Company,
    Lead,
    LeadEnrichment,
    LeadIdentity,
    LeadIntent,
    LeadMerge,
    LeadScoreHistory,
    LeadVerification,
)
from leads.normalize import INVALID_REASONS, NormalizedLead, Verification, is_free_mail, normalize_payload
from leads.services.alerts import burning_alert_create
from leads.services.config import TenantConfig, tenant_config
from leads.services.core import burning_crossed, score_history_build
from leads.services.enrichment import OfflineProvider, offline_analysis, remote_enrichment_configured
from leads.services.ingest import (
    IngestResult,
    _apply_enrichment,
    _creation_reason,
    _journal_payload,
    _verification_row,
    lead_ingest,
)
from leads.services.merge import Survivorship
from leads.services.scoring import (
    SCORE_FIELDS,
    ScoreInput,
    compute_score,
    icp_match,
    score_apply,
    score_reason,
)

logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 1000
#: Below this size a file is imported in-process: starting workers would cost more than it saves.
PARALLEL_MIN_BYTES = 2 * 1024 * 1024
MAX_WRITE_ATTEMPTS = 4
#: Refresh planner statistics after this many new leads at the earliest (see ``_keep_statistics``).
ANALYZE_MIN_ROWS = 2000
#: Advisory lock key (any constant): one import worker refreshes the statistics at a time.
ANALYZE_LOCK = 0x1EAD_A7A1
_JSON = DjangoJSONEncoder()


# --- plan, results ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportPlan:
    """What every batch needs to know; picklable, so worker processes receive it once."""

    tenant_id: Any
    channel: str
    source: str
    actor_id: Any | None
    columns: ColumnMap
    dry_run: bool
    started_at: dt.datetime
    label: str = ""


@dataclass
class RowError:
    row: int
    column: str
    reason: str
    values: dict[str, Any]


@dataclass
class ImportCounts:
    read: int = 0
    created: int = 0
    merged: int = 0
    unchanged: int = 0
    duplicates: int = 0
    refused: int = 0

    def add(self, other: ImportCounts) -> None:
        for name in ("read", "created", "merged", "unchanged", "duplicates", "refused"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class BatchResult:
    counts: ImportCounts = field(default_factory=ImportCounts)
    errors: list[RowError] = field(default_factory=list)
    #: Dry run only: identity fingerprints of each row that would create a lead (cross-batch dedup).
    fingerprints: list[list[int]] = field(default_factory=list)
    fallbacks: int = 0
    retries: int = 0
    #: New leads whose scoring went to the broker (not run in-process, as with Celery eager).
    queued: int = 0
    #: Rows that lost an identity to a concurrent writer: imported again after every other batch.
    deferred: list[tuple[int, Row]] = field(default_factory=list)


@dataclass
class ImportSummary(ImportCounts):
    """Totals of one run. ``merged`` counts rows matching a lead from before the import
    (``unchanged`` of them brought nothing new); ``duplicates`` rows matching a lead this file created."""

    seconds: float = 0.0
    workers: int = 1
    batches: int = 0
    fallbacks: int = 0
    retries: int = 0
    dry_run: bool = False
    queued: int = 0
    queued_batches: int = 0

    @property
    def rate(self) -> float:
        return self.read / self.seconds if self.seconds else 0.0


# --- per-process context --------------------------------------------------------------------------


class _Table:
    """COPY layout of one model: every concrete column, defaults taken from a blank instance."""

    def __init__(self, model: type[models.Model], skip_pk: bool = True):
        meta = model._meta
        blank = model()
        self.model = model
        self.fields = [f for f in meta.local_concrete_fields if not (skip_pk and f is meta.auto_field)]
        quote = connection.ops.quote_name
        self.sql = f"COPY {quote(meta.db_table)} ({', '.join(quote(f.column) for f in self.fields)}) FROM STDIN"
        self.convert: list[Callable[[Any], Any] | None] = []
        for f in self.fields:
            if isinstance(f, EncryptedTextField):
                converter: Callable[[Any], Any] | None = _encrypt
            elif f.get_internal_type() == "JSONField":
                converter = _json
            else:
                converter = None
            self.convert.append(converter)
        self.names = [f.attname for f in self.fields]
        self.timestamps = [
            f.attname for f in self.fields if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)
        ]
        self.blank = {f.attname: getattr(blank, f.attname) for f in self.fields}
        self.getter = operator.itemgetter(*self.names)
        self.converters = [(i, c) for i, c in enumerate(self.convert) if c is not None]

    def row(self, values: dict[str, Any], now: dt.datetime, *, complete: bool = False) -> list[Any]:
        """One COPY row: given values over the blank instance's defaults, converted for the database.

        ``complete``: ``values`` already holds every column (a lead from ``_prepare``)."""
        for name in self.timestamps:
            if values.get(name) is None:
                values[name] = now
        out = list(self.getter(values if complete else {**self.blank, **values}))
        for index, converter in self.converters:
            out[index] = converter(out[index])
        return out


class _Encoded(str):
    """JSON text already encoded once (the score breakdown goes into the lead and its history)."""


def _json(value: Any) -> Any:
    if value is None or isinstance(value, _Encoded):
        return value
    if not value and isinstance(value, dict | list):
        return "{}" if isinstance(value, dict) else "[]"  # most JSON columns of a new row are empty
    return _JSON.encode(value)


def _encrypt(value: Any) -> Any:
    if value is None or value == "":
        return value
    return crypto.encrypt(str(value))


class _Entropy:
    """``os.urandom`` read 64 KiB at a time: one system call per thousands of ids, not two per lead.

    Reset in a forked child, so worker processes never hand out the parent's (or each other's) bytes.
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.buffer, self.offset = b"", 0

    def take(self, count: int) -> bytes:
        if self.offset + count > len(self.buffer):
            self.buffer, self.offset = os.urandom(1 << 16), 0
        start = self.offset
        self.offset += count
        return self.buffer[start : self.offset]


_entropy = _Entropy()
os.register_at_fork(after_in_child=_entropy.reset)


def _time_ordered_uuid() -> uuid.UUID:
    """A version-7 UUID (millisecond time, then randomness) for imported leads.

    Random version-4 ids scatter a million inserts over the whole primary key index and the lead_id
    indexes of every child table; time-ordered ids append at their right edge, which keeps a big
    import's index pages in memory. Still a UUID, still unguessable enough (74 random bits).
    """
    millis = time.time_ns() // 1_000_000
    value = (millis & ((1 << 48) - 1)) << 80 | int.from_bytes(_entropy.take(10), "big")
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 4122 variant
    return uuid.UUID(int=value)


def _public_id() -> str:
    """``SOT-LEAD-`` + 8 base32 characters, as ``generate_public_id`` (5 random bytes are 8 characters)."""
    return PUBLIC_ID_PREFIX + base64.b32encode(_entropy.take(5)).decode("ascii")


class _Context:
    """Objects every batch of a run uses, loaded once per process."""

    def __init__(self, plan: ImportPlan):
        self.plan = plan
        self.tenant = Organization.objects.get(pk=plan.tenant_id)
        self.actor = User.objects.filter(pk=plan.actor_id).first() if plan.actor_id is not None else None
        self.postgres = connection.vendor == "postgresql"
        self.blank = {f.attname: getattr(Lead(), f.attname) for f in Lead._meta.concrete_fields}
        self.tables = _tables()
        template = audit_event_build(event_type="lead.created", actor=self.actor, tenant=self.tenant)
        self.actor_label = template.actor_label
        #: The ``lead.created`` payload without its per-lead keys, "{" dropped (see ``_create``).
        self.audit_payload = _JSON.encode({"channel": plan.channel, "source": plan.source, "import": plan.label})[1:]
        self.company_ids: dict[str, int] = {}
        self.created = 0
        self.next_analyze = ANALYZE_MIN_ROWS
        self.headers_by_target: dict[str, list[str]] = defaultdict(list)
        for header in plan.columns.fixed:
            self.headers_by_target[plan.columns.target(header)].append(header)

    def refresh(self) -> None:
        """Read the tenant's scoring configuration once per batch (it is versioned in the shared cache)."""
        self.config: TenantConfig = tenant_config(self.tenant.pk)


@lru_cache(maxsize=1)
def _tables() -> dict[Any, _Table]:
    """COPY layouts of every table an import or a scoring batch writes, built once per process."""
    models_ = (Lead, LeadVerification, LeadEnrichment, LeadIntent, LeadScoreHistory, AuditEvent)
    return {model: _Table(model) for model in (*models_, Company.leads.through)}


_contexts: dict[int, _Context] = {}


def _context(plan: ImportPlan) -> _Context:
    key = id(plan)
    ctx = _contexts.get(key)
    if ctx is None or ctx.plan is not plan:
        _contexts.clear()
        ctx = _contexts[key] = _Context(plan)
    return ctx


# --- one batch -------------------------------------------------------------------------------------


@dataclass(eq=False)
class _Row:
    number: int
    raw: Row
    payload: dict[str, Any]
    norm: NormalizedLead
    lead_id: uuid.UUID = field(default_factory=lambda: _time_ordered_uuid())
    prepared: dict[Any, Any] | None = None
    claimed: list[int] = field(default_factory=list)
    #: An identity of the row was claimed by a writer whose transaction may still be open.
    contended: bool = False


class _LeadView:
    """A not-yet-saved lead as the offline enrichment reads it (no model instance)."""

    def __init__(self, values: dict[str, Any]):
        self.__dict__.update(values)


class _Retry(Exception):
    """The batch's transaction hit a deadlock or a public id collision: run it again."""


def _refusal(ctx: _Context, number: int, raw: Row, column: str, reason: str) -> RowError:
    return RowError(row=number, column=column, reason=reason, values=ctx.plan.columns.as_dict(raw))


def _identity_problem(ctx: _Context, norm: NormalizedLead) -> tuple[str, str]:
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
    ctx = _context(plan)
    ctx.refresh()
    reset_queries()  # with DEBUG on, Django would keep every batch's SQL in memory
    result = BatchResult()
    prepared: list[_Row] = []
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
        prepared.append(_Row(number=number, raw=raw, payload=payload, norm=norm))
    if not prepared:
        return result
    groups = _group(prepared)
    if plan.dry_run:
        _dry_run(ctx, groups, result)
        return result
    if not ctx.postgres:
        # The embedded SQLite default has no COPY and no data-modifying CTEs: one lead at a time.
        _fallback(ctx, prepared, result)
        return result
    for attempt in range(MAX_WRITE_ATTEMPTS):
        try:
            counts, fallback, result.queued = _write(ctx, groups)
            break
        except _Retry:
            result.retries += 1
            for row in prepared:
                row.lead_id, row.claimed, row.contended = _time_ordered_uuid(), [], False
                if row.prepared is not None:
                    row.prepared["lead"]["id"] = row.lead_id
                    row.prepared["lead"]["public_id"] = _public_id()
            if attempt == MAX_WRITE_ATTEMPTS - 1:
                counts, fallback = ImportCounts(), prepared
    result.counts.add(counts)
    if defer:
        result.deferred = [(row.number, row.raw) for row in fallback if row.contended]
        result.counts.read -= len(result.deferred)  # counted when they come back
        fallback = [row for row in fallback if not row.contended]
    _fallback(ctx, fallback, result)
    _keep_statistics(ctx, result.counts.created)
    return result


def _keep_statistics(ctx: _Context, created: int) -> None:
    """ANALYZE the lead and identity tables whenever they roughly doubled since the last time.

    A table filled from empty by the import has no statistics until autovacuum gets to it, and with
    "1 row" estimates PostgreSQL plans the batch's joins on the lead id (the merges' UPDATE, the
    scoring batches) as scans of the whole table. Only the id columns: a full ANALYZE of the wide
    lead table took 0.9 s against 0.14 s. The table's own counters decide, and an advisory lock
    lets one of the import's workers do it while the others go on.
    """
    ctx.created += created
    if ctx.created < ctx.next_analyze:
        return
    ctx.next_analyze = ctx.created + ANALYZE_MIN_ROWS
    lead_table, identity_table = Lead._meta.db_table, LeadIdentity._meta.db_table
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [ANALYZE_LOCK])
            if not cursor.fetchone()[0]:
                return
            # reltuples: rows at the last ANALYZE (-1 before the first); n_live_tup: rows now.
            cursor.execute(
                "SELECT greatest(c.reltuples, 0), s.n_live_tup FROM pg_class c "
                "JOIN pg_stat_user_tables s ON s.relid = c.oid WHERE c.oid = %s::regclass",
                [lead_table],
            )
            analysed, live = cursor.fetchone()
            if live >= 2 * max(analysed, ANALYZE_MIN_ROWS / 2):
                cursor.execute(f"ANALYZE {lead_table} (id), {identity_table} (lead_id)")
    except DatabaseError:
        logger.warning("ANALYZE during the import failed; continuing with the old statistics")


def _group(rows: list[_Row]) -> list[list[_Row]]:
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
    groups: dict[int, list[_Row]] = {}
    for index, row in enumerate(rows):
        groups.setdefault(find(index), []).append(row)
    return list(groups.values())


def _lookup(tenant_id: Any, identities: Iterable[tuple[str, str]]) -> dict[tuple[str, str], tuple[Any, Any, Any]]:
    """Every identity of the batch already in the graph, with its lead's merge state and age (one query)."""
    kinds, hashes = [], []
    for kind, value_hash in set(identities):
        kinds.append(str(kind))
        hashes.append(value_hash)
    if not kinds:
        return {}
    if connection.vendor != "postgresql":  # the embedded SQLite default (dry runs): the portable way
        wanted = set(zip(kinds, hashes, strict=True))
        found = LeadIdentity.objects.filter(tenant_id=tenant_id, value_hash__in=hashes).values_list(
            "kind", "value_hash", "lead_id", "lead__merged_into_id", "lead__created_at"
        )
        return {(k, h): (lead, merged, created) for k, h, lead, merged, created in found if (k, h) in wanted}
    # LATERAL: one unique-index probe per identity whatever the statistics say; a table that grew
    # from empty during the import has none yet, and the planner then picks absurd hash joins.
    identity_table, lead_table = LeadIdentity._meta.db_table, Lead._meta.db_table
    sql = (
        "SELECT t.k, t.h, x.lead_id, l.merged_into_id, l.created_at "  # noqa: S608 - our table names
        "FROM unnest(%b::text[], %b::text[]) AS t(k, h) CROSS JOIN LATERAL ("
        f"SELECT i.lead_id FROM {identity_table} i WHERE i.tenant_id = %s AND i.kind = t.k AND i.value_hash = t.h "
        f"LIMIT 1) x CROSS JOIN LATERAL (SELECT merged_into_id, created_at FROM {lead_table} WHERE id = x.lead_id "
        "LIMIT 1) l"
    )
    with bound_cursor(prepare=True, binary=True) as cursor:
        cursor.execute(sql, [kinds, hashes, tenant_id])
        return {(kind, value_hash): (lead_id, merged, created) for kind, value_hash, lead_id, merged, created in cursor}


def _claim(tenant_id: Any, claims: list[tuple[tuple[str, str], Any]]) -> dict[tuple[str, str], int]:
    """Insert identities in one statement (sorted, so concurrent writers lock in the same order)."""
    if not claims:
        return {}
    claims = sorted(claims, key=lambda c: c[0])
    sql = (
        f"INSERT INTO {LeadIdentity._meta.db_table} (tenant_id, kind, value_hash, lead_id, created_at) "  # noqa: S608
        "SELECT %s, k, h, l, %s FROM unnest(%b::text[], %b::text[], %b::uuid[]) WITH ORDINALITY AS t(k, h, l, n) "
        "ORDER BY n ON CONFLICT (tenant_id, kind, value_hash) DO NOTHING RETURNING kind, value_hash, id"
    )
    params = [
        tenant_id,
        timezone.now(),
        [str(c[0][0]) for c in claims],
        [c[0][1] for c in claims],
        [c[1] for c in claims],
    ]
    with bound_cursor(prepare=True, binary=True) as cursor:
        cursor.execute(sql, params)
        return {(kind, value_hash): pk for kind, value_hash, pk in cursor}


def _unclaim(ids: list[int]) -> None:
    if ids:
        with bound_cursor(binary=True) as cursor:
            cursor.execute(f"DELETE FROM {LeadIdentity._meta.db_table} WHERE id = ANY(%s)", [ids])  # noqa: S608


def _dry_run(ctx: _Context, groups: list[list[_Row]], result: BatchResult) -> None:
    """Classify without writing: would create, would merge into an existing lead, duplicate in the file."""
    existing = _lookup(ctx.tenant.pk, (i for g in groups for r in g for i in r.norm.identities))
    for group in groups:
        if any(i in existing for r in group for i in r.norm.identities):
            result.counts.merged += len(group)
            continue
        result.counts.created += 1
        result.counts.duplicates += len(group) - 1
        result.fingerprints.append(sorted({int(h[:16], 16) for r in group for _k, h in r.norm.identities}))


def _write(ctx: _Context, groups: list[list[_Row]]) -> tuple[ImportCounts, list[_Row], int]:
    """Create new people and merge known ones for one batch: the counts, the rows left over and how
    many new leads were queued for scoring."""
    counts = ImportCounts()
    fallback: list[_Row] = []
    tenant_id = ctx.tenant.pk
    existing = _lookup(tenant_id, (i for g in groups for r in g for i in r.norm.identities))
    new_groups: list[list[_Row]] = []
    to_merge: list[tuple[_Row, Any]] = []
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
            row.prepared = _prepare(ctx, row)
    _companies_upsert(ctx, leaders)
    try:
        with transaction.atomic():
            # Asynchronous commit for import batches: a crash can lose the last few committed
            # batches (not corrupt anything), and running the file again brings them back.
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit = off")
            owned = {identity: value[0] for identity, value in existing.items()}
            created = _create(ctx, new_groups, owned, to_merge, fallback)
            counts.created += len(created)
            _merge(ctx, to_merge, owned, counts, fallback)
            queued = _after_commit(ctx, created)
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


def _prepare(ctx: _Context, row: _Row) -> dict[Any, Any]:
    """A new lead and its verification as ``_create`` in ingest would build them, without model instances.

    Scoring, the enrichment row and the analysis follow in a queued batch (``lead_score_batch``);
    the offline company guess is applied here, because the company link and dedup read it.
    """
    norm = row.norm
    now = timezone.now()
    occurred_at = norm.captured_at or now
    plan = ctx.plan
    values = {
        **ctx.blank,
        **norm.fields,
        "id": row.lead_id,
        "public_id": _public_id(),
        "tenant_id": ctx.tenant.pk,
        "channel": plan.channel,
        "source": plan.source,
        "attributes": norm.attributes,
        "assigned_partner_id": None,
        "last_activity_at": None,
        "score_pending": True,
        "created_at": now,
        "updated_at": now,
    }
    if norm.opted_out:
        values["opted_out_at"], values["consent_marketing"] = occurred_at, False
    view = _LeadView(values)
    verification = norm.verification
    _apply_enrichment(view, OfflineProvider().company(view, verification)[0])
    identities = dict(norm.identities)
    view.email_hash = identities.get(LeadIdentity.Kind.EMAIL, "") if view.email else ""
    view.phone_hash = identities.get(LeadIdentity.Kind.PHONE, "") if view.phone else ""
    out: dict[Any, Any] = {"lead": view.__dict__, "now": now}
    if verification.checked:
        out[LeadVerification] = {
            "email_valid": verification.email_valid,
            "email_reason": verification.email_reason,
            "email_domain": verification.email_domain,
            "email_disposable": verification.email_disposable,
            "email_free": verification.email_free,
            "phone_valid": verification.phone_valid,
            "phone_type": verification.phone_type,
            "phone_region": verification.phone_region,
            "method": "offline",
            "checked_at": now,
        }
    return out


def _companies_upsert(ctx: _Context, leaders: list[_Row]) -> None:
    """Create the batch's companies up front in their own short transaction (no long-held row locks)."""
    companies: dict[str, dict[str, Any]] = {}
    for row in leaders:
        lead = row.prepared["lead"] if row.prepared else {}
        domain = (lead.get("company_domain") or "").lower()
        if domain and domain not in companies and not is_free_mail(domain):
            companies[domain] = {
                "tenant_id": ctx.tenant.pk,
                "domain": domain,
                "name": (lead.get("company_name") or "")[:255],
                "industry": lead.get("industry") or "",
                "size_band": lead.get("company_size_band") or "",
                "employees": lead.get("employees"),
                "country": lead.get("country") or "",
            }
    ctx.company_ids = {}
    if not companies:
        return
    objs = [Company(**companies[domain]) for domain in sorted(companies)]
    sql, params = insert_sql(objs)
    sql += f" ON CONFLICT (tenant_id, domain) DO UPDATE SET {COMPANY_UPSERT_TOUCH} RETURNING id, domain"
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL synchronous_commit = off")  # as the batch's own transaction (see _write)
        cursor.execute(sql, params)
        ctx.company_ids = {domain: pk for pk, domain in cursor}


def _copy(table: _Table, rows: list[list[Any]]) -> None:
    if not rows:
        return
    # The raw psycopg cursor: Django's cursor has no COPY; errors still become Django's exceptions.
    with connection.wrap_database_errors, connection.cursor() as cursor, cursor.cursor.copy(table.sql) as copy:
        for row in rows:
            copy.write_row(row)


def _create(
    ctx: _Context,
    new_groups: list[list[_Row]],
    owned: dict[tuple[str, str], Any],
    to_merge: list[tuple[_Row, Any]],
    fallback: list[_Row],
) -> list[_Row]:
    """Claim the new people's identities, then COPY each lead whose claims all succeeded and its rows."""
    claims = [(identity, group[0].lead_id) for group in new_groups for identity in group[0].norm.identities]
    claimed = _claim(ctx.tenant.pk, claims)
    created: list[_Row] = []
    lost: list[int] = []
    for group in new_groups:
        leader = group[0]
        ids = [claimed[i] for i in leader.norm.identities if i in claimed]
        if len(ids) != len(leader.norm.identities):
            # Another writer holds one of these identities: lead_ingest merges the rows into that lead.
            lost += ids
            fallback += group
            for row in group:
                row.contended = True
            continue
        leader.claimed = ids
        created.append(leader)
        for identity in leader.norm.identities:
            owned[identity] = leader.lead_id
        to_merge += [(row, leader.lead_id) for row in group[1:]]
    _unclaim(lost)
    if not created:
        return created
    tables = ctx.tables
    rows: dict[Any, list[list[Any]]] = defaultdict(list)
    links = []
    for row in created:
        prepared = row.prepared
        assert prepared is not None
        now, lead = prepared["now"], prepared["lead"]
        rows[Lead].append(tables[Lead].row(lead, now, complete=True))
        if LeadVerification in prepared:
            rows[LeadVerification].append(
                tables[LeadVerification].row({**prepared[LeadVerification], "lead_id": row.lead_id}, now)
            )
        event = {
            "event_type": "lead.created",
            "actor_id": getattr(ctx.actor, "pk", None),
            "actor_label": ctx.actor_label,
            "tenant_id": ctx.tenant.pk,
            "object_type": Lead._meta.label_lower,
            "object_id": str(row.lead_id),
            # The run's part encoded once; a public id is base32, safe in JSON as it is.
            "payload": _Encoded(
                f'{{"public_id": "{lead["public_id"]}", "is_test": {"true" if lead.get("is_test") else "false"}, '
                + ctx.audit_payload
            ),
            "created_at": now,
        }
        rows[AuditEvent].append(tables[AuditEvent].row(event, now))
        company_id = ctx.company_ids.get((lead.get("company_domain") or "").lower())
        if company_id is not None:
            links.append(tables[Company.leads.through].row({"company_id": company_id, "lead_id": row.lead_id}, now))
    for model in (Lead, LeadVerification, AuditEvent):
        _copy(tables[model], rows[model])
    _copy(tables[Company.leads.through], links)
    return created


@dataclass(eq=False)
class _Change:
    row: _Row
    lead: Lead
    survivorship: Survivorship
    claimed: list[int]
    verification: LeadVerification | None


def _merge(
    ctx: _Context,
    items: list[tuple[_Row, Any]],
    owned: dict[tuple[str, str], Any],
    counts: ImportCounts,
    fallback: list[_Row],
) -> None:
    """Apply rows to the one live lead each matches: survivorship, journal, rescore; all in bulk."""
    if not items:
        return
    items.sort(key=lambda item: item[0].number)
    ids = sorted({lead_id for _row, lead_id in items}, key=str)
    leads = {lead.pk: lead for lead in Lead.objects.select_for_update().filter(pk__in=ids).order_by("pk")}
    wanted: list[tuple[tuple[str, str], Any]] = []
    usable: list[tuple[_Row, Lead, list[tuple[str, str]]]] = []
    for row, lead_id in items:
        lead = leads.get(lead_id)
        if lead is None or lead.merged_into_id is not None:
            fallback.append(row)
            continue
        if any(owned.get(i, lead_id) != lead_id for i in row.norm.identities):
            fallback.append(row)  # bridges to another lead: lead_ingest merges the two
            continue
        new = [i for i in row.norm.identities if i not in owned]
        for identity in new:
            owned[identity] = lead_id
            wanted.append((identity, lead_id))
        usable.append((row, lead, new))
    claimed = _claim(ctx.tenant.pk, wanted)
    conflicted = {identity for identity, _lead in wanted if identity not in claimed}
    changes: list[_Change] = []
    lost: list[int] = []
    now = timezone.now()
    plan = ctx.plan
    for row, lead, new in usable:
        if conflicted.intersection(row.norm.identities):
            lost += [claimed[i] for i in new if i in claimed]
            row.contended = True
            fallback.append(row)
            continue
        norm = row.norm
        survivorship = Survivorship(lead, channel=plan.channel)
        survivorship.fill(norm.fields)
        survivorship.merge_attributes(norm.attributes)
        survivorship.consent(
            consent_marketing=norm.fields.get("consent_marketing"),
            consent_at=norm.fields.get("consent_at"),
            opted_out_at=(norm.captured_at or now) if norm.opted_out else None,
        )
        survivorship.real_data(norm.is_test)
        row_claims = sorted(claimed[i] for i in new)
        if lead.created_at >= plan.started_at:
            counts.duplicates += 1
        else:
            counts.merged += 1
        if not survivorship.fields and not row_claims:
            counts.unchanged += lead.created_at < plan.started_at
            continue
        verification = None
        if any(kind in (LeadIdentity.Kind.EMAIL, LeadIdentity.Kind.PHONE) for kind, _h in new):
            verification = _verification_row(lead, norm)
        changes.append(_Change(row, lead, survivorship, row_claims, verification))
    _unclaim(lost)
    if changes:
        _merge_write(ctx, changes, now)


def _score_inputs(leads: list[Lead]) -> dict[Any, tuple[ScoreInput, Verification]]:
    """``score_input_for`` for many leads in one query (latest check, activity counts, latest intent),
    with the latest check's email domain verdict, which the offline enrichment reads."""
    if not leads:
        return {}
    sql = """
    SELECT l.id,
      (SELECT json_build_array(email_valid, email_disposable, phone_valid, email_free, email_domain)
        FROM leads_leadverification v WHERE v.lead_id = l.id ORDER BY checked_at DESC, id DESC LIMIT 1),
      (SELECT json_object_agg(activity_type, n) FROM
        (SELECT activity_type, count(*) AS n FROM leads_leadactivity a WHERE a.lead_id = l.id
         GROUP BY activity_type) c),
      (SELECT json_build_array(intent_level, sentiment) FROM leads_leadintent t
        WHERE t.lead_id = l.id AND source_type <> 'ai_analysis' ORDER BY created_at DESC, id DESC LIMIT 1)
    FROM unnest(%b::uuid[]) AS l(id)
    """
    by_id = {lead.pk: lead for lead in leads}
    out: dict[Any, tuple[ScoreInput, Verification]] = {}
    with bound_cursor(prepare=True, binary=True) as cursor:
        cursor.execute(sql, [list(by_id)])
        for lead_id, verification, activity_counts, intent in cursor:
            email_valid, email_disposable, phone_valid, email_free, email_domain = verification or (
                None,
                False,
                None,
                False,
                "",
            )
            intent_level, sentiment = intent or ("", "")
            data = ScoreInput(
                lead=by_id[lead_id],
                email_valid=bool(email_valid),
                email_disposable=bool(email_disposable),
                phone_valid=bool(phone_valid),
                activity_counts=activity_counts or {},
                intent_level=intent_level,
                intent_sentiment=sentiment,
            )
            checked = Verification(
                email_valid=email_valid,
                email_domain=email_domain or "",
                email_disposable=bool(email_disposable),
                email_free=bool(email_free),
                phone_valid=phone_valid,
            )
            out[lead_id] = (data, checked)
    return out


def _merge_write(ctx: _Context, changes: list[_Change], now: dt.datetime) -> None:
    """Store the merged leads, their journal entries, audit events and score histories in bulk."""
    plan = ctx.plan
    by_lead: dict[Any, list[_Change]] = defaultdict(list)
    for change in changes:
        by_lead[change.lead.pk].append(change)
    leads = [group[0].lead for group in by_lead.values()]
    # A lead still waiting for its scoring batch is scored there, from what the merges made of it.
    inputs = _score_inputs([lead for lead in leads if not lead.score_pending])
    histories: list[tuple[Lead, LeadScoreHistory]] = []
    fields: set[str] = set()
    for lead in leads:
        data = inputs[lead.pk][0] if lead.pk in inputs else None
        for change in by_lead[lead.pk]:
            changed = change.survivorship.fields
            fields.update(Lead._meta.get_field(name).name for name in changed)
            if change.verification is not None and data is not None:
                data.email_valid |= bool(change.verification.email_valid) and "email" in changed
                data.phone_valid |= bool(change.verification.phone_valid) and "phone" in changed
        if data is not None:
            history = score_apply(lead, reason=f"Erneuter Kontakt über {plan.channel}", data=data)
            if history is not None:
                histories.append((lead, history))
        lead.refresh_blind_indexes()
        lead.updated_at = now
    fields.update({"email_hash"} if "email" in fields else set())
    fields.update({"phone_hash"} if "phone" in fields else set())
    if any(not lead.score_pending for lead in leads):
        fields.update(SCORE_FIELDS)
    with bound_cursor(binary=True) as cursor:
        cursor.execute(*bulk_update_sql(leads, sorted(fields | {"updated_at"})))

    verifications = [c.verification for c in changes if c.verification is not None]
    LeadVerification.objects.bulk_create(verifications)
    entries = []
    for change in changes:
        moved: dict[str, list[Any]] = {}
        if change.verification is not None:
            moved[LeadVerification._meta.label_lower] = [change.verification.pk]
        if change.claimed:
            moved[LeadIdentity._meta.label_lower] = change.claimed
        entries.append(
            LeadMerge(
                survivor=change.lead,
                merged_lead=None,
                kind=LeadMerge.Kind.INGEST,
                channel=plan.channel,
                changes=change.survivorship.journal(payload=_journal_payload(change.row.norm)),
                moved_rows=moved,
                identities=change.claimed,
                actor=ctx.actor,
            )
        )
    LeadMerge.objects.bulk_create(entries)
    events = [
        audit_event_build(
            event_type="lead.merged",
            actor=ctx.actor,
            obj=change.lead,
            tenant=ctx.tenant,
            payload={
                "merge_id": entry.pk,
                "kind": "ingest",
                "channel": plan.channel,
                "fields": sorted({Lead._meta.get_field(n).name for n in change.survivorship.fields}),
                "import": plan.label,
            },
        )
        for change, entry in zip(changes, entries, strict=True)
    ]
    AuditEvent.objects.bulk_create(events)
    LeadScoreHistory.objects.bulk_create([history for _lead, history in histories])
    for lead, history in histories:
        if burning_crossed(history, lead):
            burning_alert_create(lead=lead, history=history)


def _after_commit(ctx: _Context, created: list[_Row]) -> int:
    """Queue the batch's new leads for scoring: one task per batch, which then queues the rest.

    Returns how many went to the broker (0 with Celery eager: the task runs at the commit)."""
    from leads.tasks import lead_score_batch_task

    if not created:
        return 0
    on_commit(lead_score_batch_task.delay, [str(row.lead_id) for row in created])
    return 0 if lead_score_batch_task.app.conf.task_always_eager else len(created)


def _fallback(ctx: _Context, rows: list[_Row], result: BatchResult) -> None:
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


# --- queued batch scoring -------------------------------------------------------------------------

#: A pending lead older than this has lost its scoring task (Redis was down at enqueue, say).
SCORE_PENDING_GRACE = dt.timedelta(minutes=10)


def lead_score_batch(*, lead_ids: Iterable[Any]) -> int:
    """Score, enrich offline and analyse imported leads still waiting for it, set-based; idempotent.

    What ``lead_ingest`` does at creation, for a whole import batch: the offline enrichment row with
    the ICP match, the score with its creation history, the offline analysis. Rows go in with COPY,
    the scores with one UPDATE; the leads stay locked meanwhile, so a task delivered twice (or a
    sweep racing the queue) finds nothing pending the second time. Then remote enrichment and
    auto-assignment are queued for the batch. Returns how many leads were scored.
    """
    ids = sorted({str(lead_id) for lead_id in lead_ids})
    if not ids:
        return 0
    with transaction.atomic():
        leads = list(Lead.objects.select_for_update().filter(pk__in=ids, score_pending=True).order_by("pk"))
        if not leads:
            return 0
        merged = [lead.pk for lead in leads if lead.merged_into_id is not None]  # the survivor was rescored
        live = [lead for lead in leads if lead.merged_into_id is None]
        now = timezone.now()
        written = _score_write(live, now)
        if merged:
            Lead.objects.filter(pk__in=merged).update(score_pending=False)
    by_tenant: dict[Any, list[Lead]] = defaultdict(list)
    for lead in live:
        by_tenant[lead.tenant_id].append(lead)
    from leads.tasks import lead_auto_assign_batch_task, lead_enrich_batch_task

    if live and remote_enrichment_configured():
        on_commit(lead_enrich_batch_task.delay, [str(lead.pk) for lead in live])
    for tenant_id, tenant_leads in by_tenant.items():
        real = [str(lead.pk) for lead in tenant_leads if not lead.is_test]
        if real and tenant_config(tenant_id).auto_assign_enabled:
            on_commit(lead_auto_assign_batch_task.delay, real)
    return written


def _score_write(leads: list[Lead], now: dt.datetime) -> int:
    """The scoring batch's computation and writes, inside its transaction."""
    if not leads:
        return 0
    tables = _tables()
    inputs = _score_inputs(leads)
    rows: dict[Any, list[list[Any]]] = defaultdict(list)
    columns: list[list[Any]] = [[] for _ in range(7)]
    burning: list[Lead] = []
    configs: dict[Any, TenantConfig] = {}
    for lead in leads:
        if lead.tenant_id not in configs:
            configs[lead.tenant_id] = tenant_config(lead.tenant_id)
        config = configs[lead.tenant_id]
        data, checked = inputs[lead.pk]
        enrichment = OfflineProvider().enrich(lead, verification=checked)
        icp_score, icp_reasons, _matched = icp_match(lead, config.icp)
        result = compute_score(data, config)
        old_score, old_stage, old_breakdown = lead.score, lead.stage, lead.score_breakdown
        lead.p_score, lead.i_score, lead.e_score, lead.score = result.p, result.i, result.e, result.total
        lead.stage = Lead.Stage.for_score(result.total)
        lead.score_breakdown = result.breakdown
        intent = offline_analysis(lead, list(data.activity_counts))  # the row lead_ingest writes
        if not old_breakdown:  # nothing scored the lead since the import: its creation history
            reason = _creation_reason(result.breakdown)
        else:
            reason = score_reason(old_breakdown, result.breakdown, "Neu berechnet")
        history = score_history_build(lead=lead, old_score=old_score, old_stage=old_stage, reason=reason)
        breakdown = _Encoded(_json(result.breakdown))
        rows[LeadEnrichment].append(
            tables[LeadEnrichment].row(
                {
                    "lead_id": lead.pk,
                    "provider": enrichment.provider,
                    "company_data": enrichment.company_data,
                    "icp_match_score": icp_score,
                    "icp_reasons": icp_reasons,
                    "raw_response": enrichment.raw,
                },
                now,
            )
        )
        rows[LeadIntent].append(
            tables[LeadIntent].row({name: getattr(intent, name) for name in tables[LeadIntent].names}, now)
        )
        if history is not None:
            values = {name: getattr(history, name) for name in tables[LeadScoreHistory].names}
            rows[LeadScoreHistory].append(tables[LeadScoreHistory].row({**values, "breakdown": breakdown}, now))
            if burning_crossed(history, lead):
                burning.append(lead)
        for column, value in zip(
            columns, (lead.pk, lead.p_score, lead.i_score, lead.e_score, lead.score, lead.stage, breakdown), strict=True
        ):
            column.append(value)
    for model in (LeadEnrichment, LeadIntent, LeadScoreHistory):
        _copy(tables[model], rows[model])
    sql = (
        f"UPDATE {Lead._meta.db_table} AS l SET p_score = t.p, i_score = t.i, e_score = t.e, score = t.s, "  # noqa: S608
        "stage = t.st, score_breakdown = t.b::jsonb, score_pending = false, updated_at = %s "
        "FROM unnest(%b::uuid[], %b::int[], %b::int[], %b::int[], %b::int[], %b::text[], %b::text[]) "
        "AS t(id, p, i, e, s, st, b) WHERE l.id = t.id"
    )
    with bound_cursor(prepare=True, binary=True) as cursor:
        cursor.execute(sql, [now, *columns])
    for lead in burning:
        history = LeadScoreHistory.objects.filter(lead=lead).order_by("-id").first()
        if history is not None:
            burning_alert_create(lead=lead, history=history)
    return len(leads)


def lead_score_pending_sweep(*, grace: dt.timedelta = SCORE_PENDING_GRACE, limit: int = 50_000) -> int:
    """Queue scoring batches for imported leads whose task got lost; returns how many were queued.

    Leads younger than ``grace`` are most likely still in the queue behind a big import.
    """
    from leads.tasks import lead_score_batch_task

    cutoff = timezone.now() - grace
    ids = [
        str(pk)
        for pk in Lead.objects.filter(score_pending=True, created_at__lt=cutoff)
        .order_by("created_at")
        .values_list("pk", flat=True)[:limit]
    ]
    for start in range(0, len(ids), DEFAULT_BATCH_SIZE):
        on_commit(lead_score_batch_task.delay, ids[start : start + DEFAULT_BATCH_SIZE])
    return len(ids)


# --- whole files --------------------------------------------------------------------------------------

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


# --- export ------------------------------------------------------------------------------------------

EXPORT_COLUMNS = (
    "public_id",
    "email",
    "phone",
    "first_name",
    "last_name",
    "company_name",
    "company_domain",
    "job_title",
    "industry",
    "employees",
    "company_size_band",
    "revenue_band",
    "interest_type",
    "postcode",
    "city",
    "region",
    "country",
    "consent_marketing",
    "consent_at",
    "opted_out_at",
    "is_test",
    *ATTRIBUTION_FIELDS,
    "channel",
    "source",
    "status",
    "stage",
    "score",
    "created_at",
    "attributes",
)


def _export_value(lead: Lead, name: str) -> Any:
    value = getattr(lead, name)
    if name == "attributes":
        return json.dumps(value or {}, ensure_ascii=False, cls=DjangoJSONEncoder) if value else ""
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return "" if value is None else value


def lead_export_file(
    *,
    path: str | os.PathLike[str],
    fmt: str,
    queryset: models.QuerySet[Lead],
    actor: User | None,
    filters: dict[str, Any],
    tenant: Organization | None = None,
) -> int:
    """Write leads decrypted to CSV/XLSX in the import's column names (round trips); audited."""
    writer = LeadFileWriter(path, fmt=fmt, headers=list(EXPORT_COLUMNS))
    try:
        for lead in queryset.order_by("created_at", "pk").iterator(chunk_size=2000):
            writer.write([_export_value(lead, name) for name in EXPORT_COLUMNS])
    finally:
        writer.close()
    # Exporting decrypted PII is itself a processing step worth an audit entry (DSGVO Art. 30).
    audit_record(
        event_type="leads.exported",
        actor=actor,
        tenant=tenant,
        payload={"format": fmt, "count": writer.count, "filters": filters, "file": os.fspath(path).rsplit("/", 1)[-1]},
    )
    return writer.count
