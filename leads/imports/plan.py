"""What an import run is asked to do, what each batch works with, and what it reports."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.db import connection

from accounts.models import Organization, User
from leads.imports.columns import ColumnMap
from leads.imports.graph import ANALYZE_MIN_ROWS
from leads.imports.readers import Row
from leads.normalize import NormalizedLead
from leads.services.consent import ConsentContext
from leads.services.lead_rows import LeadRows

DEFAULT_BATCH_SIZE = 1000


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


# --- results ----------------------------------------------------------------------------------------


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


# --- per process, per row ---------------------------------------------------------------------------


class ImportContext:
    """Objects every batch of a run uses, loaded once per process."""

    def __init__(self, plan: ImportPlan):
        self.plan = plan
        self.tenant = Organization.objects.get(pk=plan.tenant_id)
        self.actor = User.objects.filter(pk=plan.actor_id).first() if plan.actor_id is not None else None
        self.postgres = connection.vendor == "postgresql"
        #: The batch's companies by domain, as upserted before its transaction.
        self.company_ids: dict[str, int] = {}
        #: New leads this process wrote, and when to refresh the planner statistics next.
        self.created = 0
        self.next_analyze = ANALYZE_MIN_ROWS
        #: How the file's consent columns are recorded in the ledger (source ``import``, wording unknown).
        self.consent = ConsentContext(source="import", evidence={"import": plan.label}).resolve()
        self.headers_by_target: dict[str, list[str]] = defaultdict(list)
        for header in plan.columns.fixed:
            self.headers_by_target[plan.columns.target(header)].append(header)


_contexts: dict[int, ImportContext] = {}


def import_context(plan: ImportPlan) -> ImportContext:
    """The process's context for ``plan`` (a new plan replaces the last one)."""
    key = id(plan)
    ctx = _contexts.get(key)
    if ctx is None or ctx.plan is not plan:
        _contexts.clear()
        ctx = _contexts[key] = ImportContext(plan)
    return ctx


@dataclass(eq=False)
class ImportRow:
    """A usable file row on its way through a batch."""

    number: int
    raw: Row
    payload: dict[str, Any]
    norm: NormalizedLead
    #: The id of the lead the row creates, if it does (see ``leads.imports.create``).
    lead_id: uuid.UUID | None = None
    #: The new lead and its rows, built once the row turned out to create one.
    prepared: LeadRows | None = None
    claimed: list[int] = field(default_factory=list)
    #: An identity of the row was claimed by a writer whose transaction may still be open.
    contended: bool = False
