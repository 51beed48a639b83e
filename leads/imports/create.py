"""New people of an import batch: their leads as ``lead_ingest`` builds them, written with ``COPY``.

Each new lead comes from ``lead_rows_build`` (the builder ``lead_ingest`` uses), unscored: its
score, enrichment row and analysis follow in a queued ``lead_score_batch``. Its identities are
claimed first, in one statement for the batch; a lead whose claims all succeeded is written with
its check, its ``lead.created`` audit event and its company link, one ``COPY`` per table.
"""

from __future__ import annotations

import os
import time
import uuid
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from core.bulk import copy_insert, insert_sql, instance_factory
from core.transactions import on_commit, send_after_commit
from leads.imports import graph
from leads.imports.plan import ImportContext, ImportRow
from leads.models import Company, Lead
from leads.services.erasure import lead_rows_flag_erased
from leads.services.lead_rows import COMPANY_UPSERT_TOUCH, LeadRows, lead_rows_build
from leads.signals import leads_imported


class _Entropy:
    """``os.urandom`` read 64 KiB at a time: one system call per thousands of ids, not one per lead.

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


def time_ordered_uuid() -> uuid.UUID:
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


def prepare(ctx: ImportContext, row: ImportRow) -> LeadRows:
    """The row's new lead and its rows as ``lead_ingest`` builds them, waiting for their scoring batch."""
    plan = ctx.plan
    norm = row.norm
    row.lead_id = time_ordered_uuid()
    built = lead_rows_build(
        norm=norm,
        tenant=ctx.tenant,
        channel=plan.channel,
        source=plan.source,
        occurred_at=norm.captured_at or timezone.now(),
        actor=ctx.actor,
        lead_id=row.lead_id,
        audit_payload={"import": plan.label},
        consent=ctx.consent,
    )
    built.lead.score_pending = True
    return built


def companies_upsert(ctx: ImportContext, leaders: list[ImportRow]) -> None:
    """Create the batch's companies up front in their own short transaction (no long-held row locks)."""
    companies: dict[str, Company] = {}
    for row in leaders:
        built = row.prepared
        domain = built.company_domain() if built is not None else ""
        if domain and domain not in companies:
            companies[domain] = built.company()
    ctx.company_ids = {}
    if not companies:
        return
    sql, params = insert_sql([companies[domain] for domain in sorted(companies)])
    sql += f" ON CONFLICT (tenant_id, domain) DO UPDATE SET {COMPANY_UPSERT_TOUCH} RETURNING id, domain"
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL synchronous_commit = off")  # as the batch's own transaction (see batch)
        cursor.execute(sql, params)
        ctx.company_ids = {domain: pk for pk, domain in cursor}


def create(
    ctx: ImportContext,
    new_groups: list[list[ImportRow]],
    owned: dict[tuple[str, str], Any],
    to_merge: list[tuple[ImportRow, Any]],
    fallback: list[ImportRow],
) -> list[ImportRow]:
    """Claim the new people's identities, then COPY each lead whose claims all succeeded and its rows.

    The other rows of a new person's group merge into the new lead (``to_merge``); a group that
    lost a claim to another writer goes to ``fallback``.
    """
    claims = [(identity, group[0].lead_id) for group in new_groups for identity in group[0].norm.identities]
    claimed = graph.claim(ctx.tenant.pk, claims)
    created: list[ImportRow] = []
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
    graph.unclaim(lost)
    if not created:
        return created
    # Persons erased before arrive flagged: one tombstone query for the batch.
    lead_rows_flag_erased(row.prepared for row in created if row.prepared is not None)
    leads, verifications, events, links, consents = [], [], [], [], []
    new_link = instance_factory(Company.leads.through)
    for row in created:
        built = row.prepared
        assert built is not None
        leads.append(built.lead)
        if built.verification is not None:
            verifications.append(built.verification)
        events.append(built.audit_event)
        # The file's consent columns as ledger records, COPY like the rest; audited in ``lead.created``
        # (its ``consents``): a ``consent.granted`` event per row would cost the import a third more.
        consents += built.consents
        company_id = ctx.company_ids.get(built.company_domain())
        if company_id is not None:
            links.append(new_link(company_id=company_id, lead_id=row.lead_id))
    for objs in (leads, verifications, events, links, consents):
        copy_insert(objs)
    return created


def scoring_queue(created: list[ImportRow]) -> int:
    """Queue the batch's new leads for scoring: one task per batch, which then queues the rest.

    Returns how many went to the broker (0 with Celery eager: the task runs at the commit)."""
    from leads.tasks import lead_score_batch_task

    if not created:
        return 0
    on_commit(lead_score_batch_task.delay, [str(row.lead_id) for row in created])
    return 0 if lead_score_batch_task.app.conf.task_always_eager else len(created)


def created_announce(ctx: ImportContext, created: list[ImportRow]) -> None:
    """Tell the floors above which leads the batch created, once it commits: one ``leads_imported``
    per batch, since ``lead_created`` per lead would be a million signals for a million rows."""
    if not created or ctx.plan.dry_run:
        return
    send_after_commit(
        leads_imported,
        sender=Lead,
        lead_ids=[str(row.lead_id) for row in created],
        tenant_id=ctx.tenant.pk,
        channel=ctx.plan.channel,
        source=ctx.plan.source,
        actor=ctx.actor,
    )
