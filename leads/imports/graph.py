"""The identity graph in bulk: a batch's lookups and claims in one statement each, and the planner
statistics those statements depend on while an import fills the tables."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from core.db import bound_cursor
from leads.models import Lead, LeadIdentity

if TYPE_CHECKING:
    from leads.imports.plan import ImportContext

logger = logging.getLogger(__name__)

#: Refresh planner statistics after this many new leads at the earliest (see ``statistics_keep``).
ANALYZE_MIN_ROWS = 2000
#: Advisory lock key (any constant): one import worker refreshes the statistics at a time.
ANALYZE_LOCK = 0x1EAD_A7A1


def lookup(tenant_id: Any, identities: Iterable[tuple[str, str]]) -> dict[tuple[str, str], tuple[Any, Any, Any]]:
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


def claim(tenant_id: Any, claims: list[tuple[tuple[str, str], Any]]) -> dict[tuple[str, str], int]:
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


def unclaim(ids: list[int]) -> None:
    if ids:
        with bound_cursor(binary=True) as cursor:
            cursor.execute(f"DELETE FROM {LeadIdentity._meta.db_table} WHERE id = ANY(%s)", [ids])  # noqa: S608


def statistics_keep(ctx: ImportContext, created: int) -> None:
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
