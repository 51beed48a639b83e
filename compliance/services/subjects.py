"""Data-subject rights (SPEC §12): access/portability (Art. 15/20) and erasure (Art. 17) across every app.

``compliance`` may not import the apps above it, so the person is found and their data collected and
destroyed through ``compliance.registry``: ``leads`` registers the resolver, every app that holds
personal data an exporter and an eraser. This module orchestrates them:

- ``subject_export`` builds the one JSON document and audits ``subject.exported``;
- ``subject_erase`` is crash-safe and idempotent: the person is resolved once and stored on a
  ``SubjectErasure`` together with the tombstones, then each app's eraser runs in its own transaction
  with the record of its step, so a re-run after a crash continues with the first unfinished app.

Neither audit payload holds an email, phone or name: the query is recorded by its kind only.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, models, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from compliance import crypto, registry
from compliance.blind_index import (
    blind_index_of_normalized,
    normalize_email,
    normalize_phone,
    normalize_text,
)
from compliance.models import ConsentRecord, ErasureTombstone, SubjectErasure
from compliance.registry import ErasureContext, Subject, SubjectQuery
from compliance.selectors.subjects import (
    LEAD_OBJECT_TYPE,
    erasure_running_for,
    erasure_steps_in_order,
    erasures_covering,
    related_audit_rows,
    tombstone_for,
)
from compliance.services.audit import audit_event_build, audit_record
from core.exceptions import DomainError

QUERY_KINDS = tuple(SubjectErasure.QueryKind.values)
DEFAULT_EXPORT_REASON = "Auskunftsersuchen (Art. 15 DSGVO)"
MAX_EMAIL_LENGTH = 254
MAX_REASON_IN_AUDIT = 255
#: Consent evidence that is no personal data and survives an erasure: a split agreement's terms.
KEPT_EVIDENCE = frozenset({"split"})


class InvalidSubjectQuery(DomainError):
    """The query cannot name anybody (not a lead id, not an email address, …): a 400, nothing happens."""

    status_code = 400
    code = "validation_error"

    def __init__(self, message: str, *, field_name: str):
        super().__init__(message, fields={field_name: [message]})


@dataclass
class ErasureOutcome:
    """What ``subject_erase`` did: the request (None when nobody matched), and what each app destroyed."""

    erasure: SubjectErasure | None
    already_erased: bool
    lead_count: int
    counts: dict[str, dict[str, int]] = field(default_factory=dict)


# --- The query ---------------------------------------------------------------------------------


def subject_query_normalize(query: SubjectQuery) -> SubjectQuery:
    """The query in the form the blind indexes use; raises ``InvalidSubjectQuery`` for what names nobody."""
    kind = (query.kind or "").strip()
    raw = query.value if isinstance(query.value, str) else ("" if query.value is None else str(query.value))
    if kind not in QUERY_KINDS:
        raise InvalidSubjectQuery(
            _("Unknown query kind %(kind)s; use one of: %(kinds)s.") % {"kind": kind, "kinds": ", ".join(QUERY_KINDS)},
            field_name="kind",
        )
    if kind == SubjectErasure.QueryKind.LEAD:
        try:
            value = str(uuid.UUID(raw.strip()))
        except ValueError:
            raise InvalidSubjectQuery(_("This is not a lead id (a UUID)."), field_name="lead") from None
    elif kind == SubjectErasure.QueryKind.EMAIL:
        value = normalize_email(raw)
        local, at, domain = value.rpartition("@")
        if not (at and local and domain) or len(value) > MAX_EMAIL_LENGTH or any(ch.isspace() for ch in value):
            raise InvalidSubjectQuery(_("Enter a valid email address."), field_name="email")
    elif kind == SubjectErasure.QueryKind.PHONE:
        value = normalize_phone(raw)
        if sum(ch.isdigit() for ch in value) < 3:
            raise InvalidSubjectQuery(_("Enter a valid phone number."), field_name="phone")
    else:
        value = normalize_text(raw)
        if not value:
            raise InvalidSubjectQuery(_("This field may not be blank."), field_name=kind)
    return SubjectQuery(kind=kind, value=value)


def subject_query_hash(query: SubjectQuery) -> str:
    """How a request is stored and deduplicated: the lead id, or the blind index of the (normalized) value."""
    if query.kind == SubjectErasure.QueryKind.LEAD:
        return query.value
    return blind_index_of_normalized(query.kind, query.value)


def subject_resolve(query: SubjectQuery) -> Subject:
    """The person behind a query, through the registered resolver (raises ``SubjectNotFound`` for an unknown lead)."""
    return _resolve_normalized(subject_query_normalize(query))


def _resolve_normalized(query: SubjectQuery) -> Subject:
    subject = registry.subject_resolver()(query)
    subject.lead_ids = [str(lead_id) for lead_id in subject.lead_ids]
    subject.hashes = {kind: [h for h in hashes if h] for kind, hashes in (subject.hashes or {}).items()}
    return subject


# --- Export (Art. 15/20) -----------------------------------------------------------------------


def _json_safe(value: Any) -> Any:
    """Datetimes, decimals and UUIDs as the API renders them, so the command writes the same document."""
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder, ensure_ascii=False))


def subject_export(query: SubjectQuery, *, actor: Any | None, reason: str) -> dict[str, Any]:
    """One JSON-able document with everything every app holds about the person, audited as ``subject.exported``.

    Every standard section is present (an empty list when nothing is registered or found), so a reader
    can rely on the shape; an email or phone that matches nobody gives the document with empty lists.
    """
    query = subject_query_normalize(query)
    subject = _resolve_normalized(query)
    sections: dict[str, list[Any]] = {name: [] for name in registry.STANDARD_SECTIONS}
    for entry in registry.subject_data():
        for name in entry.sections:
            sections.setdefault(name, [])
        if subject.is_empty:
            continue
        for name, rows in (entry.exporter(subject) or {}).items():
            sections.setdefault(name, []).extend(rows or [])
    if not subject.is_empty:
        seen = [row.get("id") for row in sections["audit"] if isinstance(row, dict)]
        sections["audit"].extend(related_audit_rows(sections, seen=seen))
        sections["audit"].sort(key=lambda row: (str(row.get("at") or ""), str(row.get("id") or "")))
    document: dict[str, Any] = {
        "generated_at": timezone.now(),
        "query": {"kind": query.kind, "value": query.value},
        "contents": [{"section": name, "count": len(rows)} for name, rows in sections.items()],
        **sections,
    }
    _audit_export(query, subject, sections, actor=actor, reason=reason)
    return _json_safe(document)


def _audit_export(
    query: SubjectQuery, subject: Subject, sections: dict[str, list[Any]], *, actor: Any | None, reason: str
) -> None:
    payload = {
        "query": query.kind,
        "leads": len(subject.lead_ids),
        "sections": {name: len(rows) for name, rows in sections.items()},
        # The admin's free text may name the person, and audit events are never erased: encrypted.
        "reason_encrypted": crypto.encrypt((reason or DEFAULT_EXPORT_REASON).strip()[:MAX_REASON_IN_AUDIT]),
    }
    event = audit_event_build(event_type="subject.exported", actor=actor, payload=payload)
    if query.kind == SubjectErasure.QueryKind.LEAD:
        # In the lead's own trail (compliance cannot load the Lead model; the reference is enough).
        event.object_type, event.object_id = LEAD_OBJECT_TYPE, query.value
    event.save(force_insert=True)


# --- Erasure (Art. 17) -------------------------------------------------------------------------


def subject_erase(
    query: SubjectQuery, *, actor: Any | None, reason: str, reason_code: str = "request"
) -> ErasureOutcome:
    """Destroy the person's data in every registered app; crash-safe, idempotent, audited ``subject.erased``.

    A running request for the same person is continued (never resolved again: after the first step
    the person can no longer be found by email or phone). A person erased before gives
    ``already_erased`` (with that earlier request) and writes nothing. Call it outside a transaction:
    each step commits on its own, which is what lets a re-run after a crash continue.
    """
    query = subject_query_normalize(query)
    reason = (reason or "").strip()
    if not reason:
        raise InvalidSubjectQuery(_("Give the reason for the erasure."), field_name="reason")
    reason_code = (reason_code or "request").strip()[:64]
    query_hash = subject_query_hash(query)

    erasure = erasure_running_for(kind=query.kind, query_hash=query_hash)
    if erasure is None:
        subject = _resolve_normalized(query)
        if subject.is_empty:
            return _nobody_to_erase(query, query_hash, actor=actor, reason_code=reason_code)
        previous = _erased_before(subject)
        if previous is not None:
            return ErasureOutcome(erasure=previous, already_erased=True, lead_count=len(previous.lead_ids or []))
        erasure = _erasure_start(query, query_hash, subject, actor=actor, reason=reason, reason_code=reason_code)
    return _erasure_run(erasure, actor=actor, reason_code=reason_code)


def _nobody_to_erase(query: SubjectQuery, query_hash: str, *, actor: Any | None, reason_code: str) -> ErasureOutcome:
    tombstone = tombstone_for(query.kind, query_hash) if query.kind != SubjectErasure.QueryKind.LEAD else None
    if tombstone is not None:
        previous = tombstone.erasure  # None if that request's record was removed since
        lead_count = len(previous.lead_ids or []) if previous is not None else 0
        return ErasureOutcome(erasure=previous, already_erased=True, lead_count=lead_count)
    # Nobody is held under this email or phone: nothing to destroy, but the request was answered.
    audit_record(
        event_type="subject.erased",
        actor=actor,
        payload={"erasure": None, "query": query.kind, "leads": 0, "counts": {}, "reason_code": reason_code},
    )
    return ErasureOutcome(erasure=None, already_erased=False, lead_count=0)


def _erased_before(subject: Subject) -> SubjectErasure | None:
    """The completed erasure that already holds every lead of the person, if re-running the erasers changes nothing.

    The erasers run once inside a transaction that is always rolled back: when none of them would
    destroy anything, the person is already erased and nothing is written.
    """
    covering = erasures_covering(subject.lead_ids)
    held = {lead_id for erasure in covering for lead_id in erasure.lead_ids}
    if not covering or not set(subject.lead_ids) <= held:
        return None
    previous = covering[0]
    context = ErasureContext(erasure_id=str(previous.pk), reason_code="probe", actor=None, at=timezone.now())
    changed = 0
    with transaction.atomic():
        for entry in registry.subject_data():
            if entry.eraser is not None:
                changed += sum(_clean_counts(entry.eraser(subject, context)).values())
        transaction.set_rollback(True)
    return previous if changed == 0 else None


def _actor_user(actor: Any | None) -> models.Model | None:
    return actor if getattr(actor, "pk", None) is not None and hasattr(actor, "_meta") else None


def _actor_label(actor: Any | None) -> str:
    """Like the audit trail names the actor: the user's email, an API key's label, or ``system``."""
    user = _actor_user(actor)
    if user is None:
        return str(actor) if actor else "system"
    return getattr(user, "email", "") or f"user:{user.pk}"


def _erasure_start(
    query: SubjectQuery, query_hash: str, subject: Subject, *, actor: Any | None, reason: str, reason_code: str
) -> SubjectErasure:
    """Store the resolved person and the tombstones in one commit, before the first eraser runs."""
    user = _actor_user(actor)
    label = _actor_label(actor)
    hashes = {kind: sorted(set(values)) for kind, values in subject.hashes.items() if values}
    if query.kind != SubjectErasure.QueryKind.LEAD and query_hash not in hashes.get(query.kind, []):
        hashes.setdefault(query.kind, []).append(query_hash)
    try:
        with transaction.atomic():
            erasure = SubjectErasure.objects.create(
                query_kind=query.kind,
                query_hash=query_hash,
                reason=reason,
                requested_by=user,
                actor_label=label[:254],
                lead_ids=sorted(set(subject.lead_ids)),
                hashes=hashes,
            )
            ErasureTombstone.objects.bulk_create(
                [
                    ErasureTombstone(
                        kind=kind,
                        value_hash=value_hash,
                        erasure=erasure,
                        reason=reason_code,
                        erased_at=erasure.created_at,
                    )
                    for kind, values in hashes.items()
                    for value_hash in values
                ],
                ignore_conflicts=True,
            )
    except IntegrityError:
        # Another admin started the same request a moment ago: continue theirs.
        erasure = erasure_running_for(kind=query.kind, query_hash=query_hash)
        if erasure is None:
            raise
    return erasure


def _clean_counts(counts: Any) -> dict[str, int]:
    return {str(key): int(value) for key, value in (counts or {}).items()}


def _erasure_run(erasure: SubjectErasure, *, actor: Any | None, reason_code: str) -> ErasureOutcome:
    """Run every eraser not yet recorded on the request, each in one transaction with its step."""
    SubjectErasure.objects.filter(pk=erasure.pk).update(attempts=F("attempts") + 1)
    subject = Subject(
        query=SubjectQuery(kind=erasure.query_kind, value=erasure.query_hash),
        lead_ids=list(erasure.lead_ids or []),
        hashes={kind: list(values) for kind, values in (erasure.hashes or {}).items()},
    )
    context = ErasureContext(erasure_id=str(erasure.pk), reason_code=reason_code, actor=actor, at=erasure.created_at)
    for entry in registry.subject_data():
        if entry.eraser is None or entry.app_label in (erasure.steps or {}):
            continue
        with transaction.atomic():
            # The row lock makes a second process continuing the same request wait, then skip this step.
            locked = SubjectErasure.objects.select_for_update().get(pk=erasure.pk)
            if entry.app_label in locked.steps:
                erasure = locked
                continue
            counts = _clean_counts(entry.eraser(subject, context))
            step = {"finished_at": timezone.now().isoformat(), "counts": counts}
            locked.steps = {**locked.steps, entry.app_label: step}
            locked.save(update_fields=["steps"])
            erasure = locked
    with transaction.atomic():
        erasure = SubjectErasure.objects.select_for_update().get(pk=erasure.pk)
        counts = {app: dict(step.get("counts") or {}) for app, step in erasure_steps_in_order(erasure)}
        if erasure.status != SubjectErasure.Status.COMPLETED:
            erasure.status = SubjectErasure.Status.COMPLETED
            erasure.completed_at = timezone.now()
            erasure.save(update_fields=["status", "completed_at"])
            audit_record(
                event_type="subject.erased",
                actor=actor,
                obj=erasure,
                payload={
                    "erasure": str(erasure.pk),
                    "query": erasure.query_kind,
                    "leads": len(erasure.lead_ids or []),
                    "counts": counts,
                    "reason_code": reason_code,
                },
            )
    return ErasureOutcome(erasure=erasure, already_erased=False, lead_count=len(erasure.lead_ids or []), counts=counts)


# --- compliance's own data (registered in ComplianceConfig.ready) ------------------------------


def subject_consents_erase(subject: Subject, context: ErasureContext) -> dict[str, int]:
    """Wipe the consent evidence (IP, user agent, form URL, double-opt-in token) of the person's leads.

    Purpose, action, lawful basis, wording version and dates stay as proof that consent was given and
    withdrawn, without PII, and so do a split agreement's commission terms (business terms, not
    personal data: a later conversion still uses them); a pending double-opt-in link stops working.
    """
    if not subject.lead_ids:
        return {"consent_evidence": 0}
    records = ConsentRecord.objects.filter(subject_lead_id__in=subject.lead_ids).only(
        "pk", "evidence", "doi_token_hash"
    )
    # The evidence is encrypted (not filterable in SQL): the person's few records are checked here.
    changed = 0
    for record in records:
        kept = {key: value for key, value in (record.evidence or {}).items() if key in KEPT_EVIDENCE}
        if kept != (record.evidence or {}) or record.doi_token_hash:
            ConsentRecord.objects.filter(pk=record.pk).update(evidence=kept, doi_token_hash="")
            changed += 1
    return {"consent_evidence": changed}
