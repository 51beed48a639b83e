"""Reads about data subjects: tombstones of erased persons, erasure requests, compliance's own export sections."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import Min, Q

from compliance.models import AuditEvent, ConsentRecord, ErasureTombstone, SubjectErasure
from compliance.registry import Subject
from core.db import bound_cursor

#: Audit events about a lead carry this object type (``leads.Lead._meta.label_lower``).
LEAD_OBJECT_TYPE = "leads.lead"
#: Rows of these export sections name objects whose audit events belong in the ``audit`` section too.
RELATED_AUDIT_OBJECT_TYPES = {"deals": "deals.partnerdeal", "offers": "leads.leadassignment"}


# --- Tombstones -------------------------------------------------------------------------------


def _tombstone_q(pairs: Iterable[tuple[str, str]]) -> Q | None:
    by_kind: dict[str, set[str]] = defaultdict(set)
    for kind, value_hash in pairs:
        if kind and value_hash:
            by_kind[kind].add(value_hash)
    if not by_kind:
        return None
    q = Q()
    for kind, hashes in by_kind.items():
        # (value_hash, kind) is the unique index: one index scan per kind.
        q |= Q(kind=kind, value_hash__in=sorted(hashes))
    return q


def tombstones_matching(pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], datetime]:
    """``(kind, blind-index hash) → erased_at`` for every pair that belongs to an erased person.

    One query however many pairs (ingest and imports ask per batch); empty hashes are ignored.
    """
    wanted = sorted({(str(kind), value_hash) for kind, value_hash in pairs if kind and value_hash})
    if not wanted:
        return {}
    if connection.vendor == "postgresql":
        # An import batch asks for ~2,000 pairs: as two arrays bound on the server (one prepared
        # statement, one unique-index probe per pair) this costs ~5 ms, as an IN list ~30 ms.
        table = ErasureTombstone._meta.db_table
        sql = (
            "SELECT t.kind, t.value_hash, t.erased_at FROM unnest(%b::text[], %b::text[]) AS w(k, h) "  # noqa: S608
            f"CROSS JOIN LATERAL (SELECT kind, value_hash, erased_at FROM {table} "
            "WHERE value_hash = w.h AND kind = w.k LIMIT 1) t"
        )
        cursor = bound_cursor(prepare=True, binary=True)
        if connection.queries_logged:  # DEBUG or a query-counting test: recorded like Django's own cursors
            cursor = connection.make_debug_cursor(cursor.cursor)
        with cursor:
            cursor.execute(sql, [[kind for kind, _h in wanted], [value_hash for _k, value_hash in wanted]])
            return {(kind, value_hash): erased_at for kind, value_hash, erased_at in cursor}
    rows = ErasureTombstone.objects.filter(_tombstone_q(wanted)).values_list("kind", "value_hash", "erased_at")
    return {(kind, value_hash): erased_at for kind, value_hash, erased_at in rows}


def tombstone_erased_at(pairs: Iterable[tuple[str, str]]) -> datetime | None:
    """When the person behind any of these identities was first erased; None: never."""
    q = _tombstone_q(pairs)
    if q is None:
        return None
    return ErasureTombstone.objects.filter(q).aggregate(first=Min("erased_at"))["first"]


def tombstone_for(kind: str, value_hash: str) -> ErasureTombstone | None:
    if not kind or not value_hash:
        return None
    return ErasureTombstone.objects.filter(kind=kind, value_hash=value_hash).select_related("erasure").first()


# --- Erasure requests -------------------------------------------------------------------------


def erasure_running_for(*, kind: str, query_hash: str) -> SubjectErasure | None:
    """The unfinished erasure of this person, found by how it was asked for or by what it holds.

    First the exact (kind, hash) of the request (the partial unique index); then the few running
    requests whose stored leads or identity hashes contain it, so that a crashed erasure asked for by
    lead id is continued when the same person is asked for by email, and the other way round.
    """
    running = SubjectErasure.objects.filter(status=SubjectErasure.Status.RUNNING)
    exact = running.filter(query_kind=kind, query_hash=query_hash).first()
    if exact is not None:
        return exact
    # Running requests are few (one per person being erased right now): compared here, on every backend.
    for erasure in running.defer("reason").order_by("created_at"):
        held = erasure.lead_ids if kind == SubjectErasure.QueryKind.LEAD else (erasure.hashes or {}).get(kind, [])
        if query_hash in (held or []):
            return erasure
    return None


def erasures_covering(lead_ids: Iterable[str]) -> list[SubjectErasure]:
    """Completed erasures that hold any of these leads, newest first."""
    ids = {str(lead_id) for lead_id in lead_ids}
    if not ids:
        return []
    completed = SubjectErasure.objects.filter(status=SubjectErasure.Status.COMPLETED).defer("reason")
    completed = completed.order_by("-completed_at")
    if connection.vendor == "postgresql":
        q = Q()
        for lead_id in sorted(ids):
            q |= Q(lead_ids__contains=[lead_id])  # jsonb @>
        return list(completed.filter(q))
    # SQLite (the embedded default) has no JSON containment: its few erasures are compared here.
    return [erasure for erasure in completed if ids.intersection(erasure.lead_ids or [])]


def erasure_steps_in_order(erasure: SubjectErasure) -> list[tuple[str, dict[str, Any]]]:
    """The recorded steps in the order they finished (a jsonb object keeps no key order)."""
    steps = erasure.steps or {}
    return sorted(steps.items(), key=lambda item: str((item[1] or {}).get("finished_at") or ""))


# --- compliance's own export sections (registered in ComplianceConfig.ready) -------------------


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def consent_rows(lead_ids: Iterable[str]) -> list[dict[str, Any]]:
    """Every consent decision of these leads (the ledger's records), evidence decrypted, oldest first."""
    ids = [str(lead_id) for lead_id in lead_ids]
    if not ids:
        return []
    records = ConsentRecord.objects.filter(subject_lead_id__in=ids).order_by("recorded_at", "pk")
    return [
        {
            "id": record.pk,
            "lead": str(record.subject_lead_id),
            "code": record.code,
            "action": record.action,
            "lawful_basis": record.lawful_basis,
            "source": record.source,
            "version": record.version,
            "text": record.text,
            "evidence": record.evidence or {},
            "confirms": record.confirms_id,
            "expires_at": _iso(record.expires_at),
            "recorded_at": _iso(record.recorded_at),
            "created_at": _iso(record.created_at),
        }
        for record in records
    ]


def _audit_row(event: AuditEvent) -> dict[str, Any]:
    return {
        "id": event.pk,
        "event_type": event.event_type,
        "at": _iso(event.created_at),
        "actor": event.actor_label,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "payload": event.payload,
    }


def audit_rows(refs: dict[str, Iterable[str]]) -> list[dict[str, Any]]:
    """Audit events about these objects (object type → ids), oldest first; one index-backed query."""
    q = Q()
    for object_type, object_ids in refs.items():
        ids = sorted({str(object_id) for object_id in object_ids if object_id not in (None, "")})
        if ids:
            # (object_type, object_id, -created_at) is indexed: one index scan per object type.
            q |= Q(object_type=object_type, object_id__in=ids)
    if not q:
        return []
    events = AuditEvent.objects.filter(q).order_by("created_at", "id")
    return [_audit_row(event) for event in events]


def subject_compliance_export(subject: Subject) -> dict[str, list[Any]]:
    """compliance's sections of an export: the consent records and the audit events about the person's leads."""
    return {"consents": consent_rows(subject.lead_ids), "audit": audit_rows({LEAD_OBJECT_TYPE: subject.lead_ids})}


def related_audit_rows(document: dict[str, Any], *, seen: Iterable[int]) -> list[dict[str, Any]]:
    """Audit events about the deals and offers other apps exported (their rows' ``id``), not yet in ``seen``."""
    refs = {
        object_type: [row.get("id") for row in document.get(section) or [] if isinstance(row, dict)]
        for section, object_type in RELATED_AUDIT_OBJECT_TYPES.items()
    }
    known = set(seen)
    return [row for row in audit_rows(refs) if row["id"] not in known]
