"""The consent ledger: one record per person, purpose and decision; the newest record decides (SPEC §12).

Every decision is appended (``consent_grant``, ``consent_revoke``, ``consent_doi_request``,
``consent_doi_confirm``), audited (``consent.granted`` / ``consent.revoked`` / ``consent.confirmed``:
code, version and record id, never personal data) and announced with ``consent_recorded`` inside
the transaction, so data derived from the ledger commits with it. Records are never updated here.
Purposes are given by code, in capitals or lower case (``"marketing_email"``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

from compliance.models import AuditEvent, ConsentRecord, ConsentTokenExpired, ConsentTokenInvalid, ConsentWording
from compliance.selectors.consent import (
    consent_code,
    consent_records_for,
    consent_state_of_records,
    consent_wording_current,
    subject_field,
)
from compliance.services.audit import _tenant_of, audit_event_build
from compliance.signals import consent_recorded
from core.bulk import instance_factory

#: How long a double-opt-in link stays valid (``CONSENT_DOI_TOKEN_DAYS``, default 30 days).
DEFAULT_DOI_TOKEN_DAYS = 30
#: The snapshot version of a record whose wording the platform does not know (an objection, an
#: imported "Einwilligung: ja").
UNSPECIFIED_VERSION = "unspecified"
#: Evidence is proof, not a dump: each value is cut to this length.
EVIDENCE_VALUE_MAX = 1000

_AUDIT_EVENTS = {
    ConsentRecord.Action.GRANTED: "consent.granted",
    ConsentRecord.Action.REVOKED: "consent.revoked",
    ConsentRecord.Action.CONFIRMED: "consent.confirmed",
}


def doi_token_hash(token: str) -> str:
    """The SHA-256 hex of a double-opt-in token: only the hash is stored, the token is in the email."""
    return hashlib.sha256(str(token).encode("utf-8")).hexdigest()


def doi_token_ttl() -> dt.timedelta:
    return dt.timedelta(days=int(getattr(settings, "CONSENT_DOI_TOKEN_DAYS", DEFAULT_DOI_TOKEN_DAYS)))


def _subject(lead: models.Model | None, user: models.Model | None) -> models.Model:
    if (lead is None) == (user is None):
        raise ValueError("A consent has exactly one subject: a lead or a user.")
    subject = lead if lead is not None else user
    subject_field(subject)  # a saved lead or user, else ValueError
    return subject


#: Each choice set once (``TextChoices.values`` builds a new list per call; imports validate per row).
_VALUES = {
    choices: frozenset(choices.values)
    for choices in (ConsentRecord.Action, ConsentRecord.LawfulBasis, ConsentRecord.Source)
}


def _choice(value: str, choices: type[models.TextChoices], what: str) -> str:
    if value not in _VALUES[choices]:  # the common case: a member or its exact value
        value = str(value or "").strip().lower()
        if value not in _VALUES[choices]:
            raise ValueError(f"Unknown consent {what} {value!r}; known: {', '.join(choices.values)}.")
    return str(value)


def _evidence(evidence: dict[str, Any] | None) -> dict[str, Any]:
    """JSON-able evidence with bounded values (a user agent of 10 kB proves nothing more)."""
    clean: dict[str, Any] = {}
    for key, value in (evidence or {}).items():
        if isinstance(value, dt.datetime):
            value = value.isoformat()
        elif isinstance(value, str):
            value = value[:EVIDENCE_VALUE_MAX]
        clean[str(key)[:100]] = value
    return clean


def consent_wording_resolve(
    purpose: str, *, version: str = "", text: str = "", wording: ConsentWording | None = None
) -> tuple[ConsentWording | None, str, str]:
    """The wording row, version and text snapshot a new record of ``purpose`` refers to.

    ``wording`` given: that row. ``version`` given: the platform's wording of that version if there
    is one, else an outside text (a website's or a provider form's) kept as the snapshot. Neither:
    the purpose's current active wording. Bulk paths resolve once and reuse the result.
    """
    code = consent_code(purpose)
    if wording is not None:
        if wording.code != code:
            raise ValueError(f"Wording {wording} is not a wording of {code}.")
        return wording, wording.version, text or wording.text_de
    version = str(version or "").strip()[:40]
    if version:
        found = ConsentWording.objects.filter(code=code, version=version).first()
        return found, version, text or (found.text_de if found is not None else "")
    current = consent_wording_current(code)
    if current is None:
        raise ValueError(f"No active wording for {code}: give the version of the text the person saw.")
    return current, current.version, text or current.text_de


def consent_record_build(
    *,
    code: str,
    action: str,
    lead: models.Model | None = None,
    lead_id: Any = None,
    user: models.Model | None = None,
    tenant_id: Any = None,
    wording: ConsentWording | None = None,
    wording_id: int | None = None,
    version: str,
    text: str = "",
    lawful_basis: str = ConsentRecord.LawfulBasis.CONSENT,
    source: str = ConsentRecord.Source.API,
    evidence: dict[str, Any] | None = None,
    expires_at: dt.datetime | None = None,
    recorded_at: dt.datetime | None = None,
    confirms: ConsentRecord | None = None,
    doi_hash: str = "",
) -> ConsentRecord:
    """An unsaved record, validated; for services and for bulk paths that insert many with other rows.

    Pure (no query): the caller has resolved the wording. ``lead_id`` instead of ``lead`` for a lead
    that is being built in the same batch.
    """
    lead_pk = lead.pk if lead is not None else lead_id
    if (lead_pk is None) == (user is None):
        raise ValueError("A consent has exactly one subject: a lead or a user.")
    return instance_factory(ConsentRecord)(
        code=consent_code(code),
        action=_choice(action, ConsentRecord.Action, "action"),
        lawful_basis=_choice(lawful_basis, ConsentRecord.LawfulBasis, "lawful basis"),
        source=_choice(source, ConsentRecord.Source, "source"),
        subject_lead_id=lead_pk,
        subject_user_id=getattr(user, "pk", None),
        tenant_id=tenant_id,
        wording_id=wording.pk if wording is not None else wording_id,
        version=str(version or "")[:40],
        text=text or "",
        evidence=_evidence(evidence),
        expires_at=expires_at,
        recorded_at=recorded_at or timezone.now(),
        confirms_id=getattr(confirms, "pk", None),
        doi_token_hash=doi_hash,
    )


def consent_audit_event_build(
    record: ConsentRecord, *, actor: Any | None, subject: models.Model, tenant: Any | None = None
) -> AuditEvent:
    """The unsaved ``consent.*`` audit event of a record: code, version, source and ids, no personal data.

    Bulk paths build it before the record has an id (it then names the subject only) and pass the
    ``tenant`` they hold, so that no lead's tenant is loaded per row.
    """
    payload: dict[str, Any] = {"code": record.code, "version": record.version, "source": record.source}
    if record.pk is not None:
        payload["consent_id"] = record.pk
    if record.confirms_id is not None:
        payload["confirms"] = record.confirms_id
    if record.doi_token_hash:
        payload["double_opt_in"] = True
    event = audit_event_build(
        event_type=_AUDIT_EVENTS[record.action], actor=actor, obj=subject, tenant=tenant, payload=payload
    )
    if event.tenant_id is None and record.tenant_id is not None:
        event.tenant_id = record.tenant_id
    return event


def _lock(subject: models.Model) -> None:
    """Serialize decisions about one person: "is there anything to revoke?" must not race."""
    list(type(subject)._default_manager.select_for_update().filter(pk=subject.pk).values_list("pk", flat=True))


def _append(record: ConsentRecord, *, actor: Any | None, subject: models.Model) -> ConsentRecord:
    record.save(force_insert=True)
    # Receivers of ``consent_recorded`` get the caller's own instance (the lead cache updates it too).
    name = "subject_lead" if record.subject_lead_id is not None else "subject_user"
    ConsentRecord._meta.get_field(name).set_cached_value(record, subject)
    event: AuditEvent = consent_audit_event_build(record, actor=actor, subject=subject)
    event.save(force_insert=True)
    consent_recorded.send(sender=ConsentRecord, record=record)
    return record


def _history(subject: models.Model, code: str) -> list[ConsentRecord]:
    return consent_records_for([subject], code).get(subject.pk, [])


@transaction.atomic
def consent_grant(
    *,
    code: str,
    actor: Any | None,
    version: str = "",
    lead: models.Model | None = None,
    user: models.Model | None = None,
    text: str = "",
    evidence: dict[str, Any] | None = None,
    tenant: Any | None = None,
    lawful_basis: str = ConsentRecord.LawfulBasis.CONSENT,
    source: str = ConsentRecord.Source.API,
    wording: ConsentWording | None = None,
    expires_at: dt.datetime | None = None,
    recorded_at: dt.datetime | None = None,
) -> ConsentRecord:
    """Append a consent given by a lead or a user, with the wording they saw and the evidence.

    For a double-opt-in purpose (marketing email) the grant is ``pending`` until confirmed: use
    ``consent_doi_request`` to get the confirmation token with it.
    """
    subject = _subject(lead, user)
    code = consent_code(code)
    wording, version, text = consent_wording_resolve(code, version=version, text=text, wording=wording)
    _lock(subject)
    record = consent_record_build(
        code=code,
        action=ConsentRecord.Action.GRANTED,
        lead=lead,
        user=user,
        tenant_id=getattr(tenant if tenant is not None else _tenant_of(subject), "pk", None),
        wording=wording,
        version=version,
        text=text,
        lawful_basis=lawful_basis,
        source=source,
        evidence=evidence,
        expires_at=expires_at,
        recorded_at=recorded_at,
    )
    return _append(record, actor=actor, subject=subject)


@transaction.atomic
def consent_revoke(
    *,
    code: str,
    actor: Any | None,
    lead: models.Model | None = None,
    user: models.Model | None = None,
    source: str = ConsentRecord.Source.API,
    evidence: dict[str, Any] | None = None,
    tenant: Any | None = None,
    recorded_at: dt.datetime | None = None,
    objection: bool = False,
) -> ConsentRecord | None:
    """Append a withdrawal of ``code``; None when there is nothing to withdraw (withdrawn already, or
    never given, unless ``objection``: the person objects before ever consenting, which is recorded
    too, so that an undated import cannot bring a consent in later).

    The record repeats the version and text of the consent it withdraws, so each record reads on its own.
    """
    subject = _subject(lead, user)
    code = consent_code(code)
    _lock(subject)
    state = consent_state_of_records(code, _history(subject, code), at=recorded_at)
    if state.record is not None and state.record.action == ConsentRecord.Action.REVOKED:
        return None
    if state.record is None and not objection:
        return None
    granted = state.record
    if tenant is None and granted is not None:
        tenant_id = granted.tenant_id
    else:
        tenant_id = getattr(tenant if tenant is not None else _tenant_of(subject), "pk", None)
    record = consent_record_build(
        code=code,
        action=ConsentRecord.Action.REVOKED,
        lead=lead,
        user=user,
        tenant_id=tenant_id,
        wording_id=granted.wording_id if granted is not None else None,
        version=granted.version if granted is not None else UNSPECIFIED_VERSION,
        text=granted.text if granted is not None else "",  # deferred by the history read: loaded here, once
        lawful_basis=granted.lawful_basis if granted is not None else ConsentRecord.LawfulBasis.CONSENT,
        source=source,
        evidence=evidence,
        recorded_at=recorded_at,
    )
    return _append(record, actor=actor, subject=subject)


@transaction.atomic
def consent_doi_request(
    *,
    actor: Any | None,
    lead: models.Model | None = None,
    user: models.Model | None = None,
    code: str = ConsentRecord.Code.MARKETING_EMAIL,
    version: str = "",
    text: str = "",
    wording: ConsentWording | None = None,
    source: str = ConsentRecord.Source.FORM,
    lawful_basis: str = ConsentRecord.LawfulBasis.CONSENT,
    evidence: dict[str, Any] | None = None,
    tenant: Any | None = None,
    expires_at: dt.datetime | None = None,
) -> tuple[ConsentRecord, str]:
    """Append a grant that waits for its double-opt-in confirmation; returns it and the token.

    The token goes into the confirmation email's link (``/consent/confirm/<token>/``) and nowhere
    else: the ledger keeps only its SHA-256.
    """
    subject = _subject(lead, user)
    code = consent_code(code)
    wording, version, text = consent_wording_resolve(code, version=version, text=text, wording=wording)
    token = secrets.token_urlsafe(32)
    token_hash = doi_token_hash(token)
    _lock(subject)
    record = consent_record_build(
        code=code,
        action=ConsentRecord.Action.GRANTED,
        lead=lead,
        user=user,
        tenant_id=getattr(tenant if tenant is not None else _tenant_of(subject), "pk", None),
        wording=wording,
        version=version,
        text=text,
        lawful_basis=lawful_basis,
        source=source,
        evidence={**(evidence or {}), "doi_token_hash": token_hash, "doi_requested_at": timezone.now()},
        expires_at=expires_at,
        doi_hash=token_hash,
    )
    return _append(record, actor=actor, subject=subject), token


def consent_doi_request_for(token: str) -> ConsentRecord:
    """The grant a double-opt-in token belongs to; ``ConsentTokenInvalid`` for an unknown or tampered one."""
    token = str(token or "")
    if not token or len(token) > 200:
        raise ConsentTokenInvalid("Unknown confirmation link.")
    record = (
        ConsentRecord.objects.select_related("wording")
        .filter(doi_token_hash=doi_token_hash(token), action=ConsentRecord.Action.GRANTED)
        .first()
    )
    if record is None:
        raise ConsentTokenInvalid("Unknown confirmation link.")
    return record


def consent_doi_check(grant: ConsentRecord, *, now: dt.datetime | None = None) -> ConsentRecord | None:
    """The confirmation of ``grant`` if it has one; else raise ``ConsentTokenExpired`` when it cannot be
    confirmed any more (too old, or withdrawn since), else None (it can be confirmed)."""
    confirmation = ConsentRecord.objects.filter(confirms=grant, action=ConsentRecord.Action.CONFIRMED).first()
    if confirmation is not None:
        return confirmation
    now = now or timezone.now()
    if grant.recorded_at + doi_token_ttl() <= now:
        raise ConsentTokenExpired("This confirmation link has expired.")
    subject = {"subject_lead_id": grant.subject_lead_id, "subject_user_id": grant.subject_user_id}
    withdrawn = ConsentRecord.objects.filter(
        code=grant.code, action=ConsentRecord.Action.REVOKED, recorded_at__gte=grant.recorded_at, **subject
    ).exists()
    if withdrawn:
        raise ConsentTokenExpired("The consent was withdrawn after this link was sent.")
    return None


@transaction.atomic
def consent_doi_confirm(token: str, *, ip: str | None, user_agent: str, message_id: str = "") -> ConsentRecord:
    """Confirm a pending grant by its double-opt-in token: appends a ``confirmed`` record with the evidence.

    Idempotent: a second confirmation returns the first one and changes nothing. Raises
    ``ConsentTokenInvalid`` (unknown or tampered token) or ``ConsentTokenExpired``.
    """
    grant = consent_doi_request_for(token)
    subject = grant.subject_lead if grant.subject_lead_id is not None else grant.subject_user
    _lock(subject)
    existing = consent_doi_check(grant)
    if existing is not None:
        return existing
    now = timezone.now()
    record = consent_record_build(
        code=grant.code,
        action=ConsentRecord.Action.CONFIRMED,
        lead=grant.subject_lead if grant.subject_lead_id is not None else None,
        user=grant.subject_user if grant.subject_user_id is not None else None,
        tenant_id=grant.tenant_id,
        wording=grant.wording,
        version=grant.version,
        text=grant.text,
        lawful_basis=grant.lawful_basis,
        source=ConsentRecord.Source.EMAIL,
        evidence={
            "ip": ip or "",
            "user_agent": (user_agent or "")[:300],
            "confirmed_at": now,
            "doi_token_hash": grant.doi_token_hash,
            "requested_at": grant.recorded_at,
            **({"message_id": message_id} if message_id else {}),
        },
        expires_at=grant.expires_at,
        recorded_at=now,
        confirms=grant,
    )
    return _append(record, actor=None, subject=subject)
