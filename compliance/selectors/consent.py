"""Read queries for audit events and the consent ledger.

``consent_state(subject, purpose)`` is the one check every sender calls at send time (and
``consent_states`` its batch form): the ledger's records of the person and purpose are read
oldest first, and the newest decides.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q, QuerySet
from django.utils import timezone

from compliance.models import AuditEvent, ConsentRecord, ConsentWording

#: Purposes that need a double-opt-in confirmation before they allow anything (UWG § 7: the
#: advertiser must prove the consent; a DOI confirmation is the accepted proof).
DOUBLE_OPT_IN_CODES = frozenset({ConsentRecord.Code.MARKETING_EMAIL.value})

GRANTED = "granted"
PENDING = "pending"
REVOKED = "revoked"
EXPIRED = "expired"
NONE = "none"
STATUSES = (GRANTED, PENDING, REVOKED, EXPIRED, NONE)
_CODES = frozenset(ConsentRecord.Code.values)

_SUBJECT_FIELDS = {
    ConsentRecord._meta.get_field("subject_lead").related_model._meta.label_lower: "subject_lead_id",
    settings.AUTH_USER_MODEL.lower(): "subject_user_id",
}
#: The big or encrypted columns a state does not need (``record.evidence`` still loads on access).
_DEFERRED = ("evidence", "text")


def audit_events_for(obj: models.Model) -> QuerySet[AuditEvent]:
    """The audit trail of one object, newest first."""
    return AuditEvent.objects.filter(object_type=obj._meta.label_lower, object_id=str(obj.pk)).select_related("actor")


def consent_code(purpose: str) -> str:
    """The ledger's code of a purpose: ``"marketing_email"`` and ``"MARKETING_EMAIL"`` are the same.

    Raises ``ValueError`` for an unknown purpose (a typo must not silently read "no consent").
    """
    if purpose in _CODES:
        return str(purpose)
    code = str(purpose or "").strip().upper()
    if code not in _CODES:
        known = ", ".join(c.lower() for c in ConsentRecord.Code.values)
        raise ValueError(f"Unknown consent purpose {purpose!r}; known purposes: {known}.")
    return code


def subject_field(subject: models.Model) -> str:
    """``subject_lead_id`` or ``subject_user_id`` for a lead or a user instance (no import of ``leads``)."""
    name = _SUBJECT_FIELDS.get(getattr(getattr(subject, "_meta", None), "label_lower", ""))
    if name is None or getattr(subject, "pk", None) is None:
        raise ValueError("A consent subject is a saved lead or user.")
    return name


@dataclass(frozen=True)
class ConsentState:
    """What the ledger says about one person and purpose at one time.

    ``status``: ``granted`` (may be used), ``pending`` (granted, waiting for the double-opt-in
    confirmation), ``revoked``, ``expired`` or ``none`` (never asked). ``record`` is the deciding
    (newest) record; ``since`` is when the status began: the first grant after the last
    withdrawal, the withdrawal, or the expiry.
    """

    code: str
    status: str
    allowed: bool
    record: ConsentRecord | None = None
    since: dt.datetime | None = None
    confirmed_at: dt.datetime | None = None
    expires_at: dt.datetime | None = None

    @property
    def granted(self) -> bool:
        """Granted or pending: the person said yes and has not withdrawn it (it may await the DOI)."""
        return self.status in (GRANTED, PENDING)


def consent_state_of_records(
    code: str, records: Sequence[ConsentRecord], *, at: dt.datetime | None = None
) -> ConsentState:
    """The state that ``records`` (one person, one purpose, oldest first) give at ``at`` (default: now).

    Pure: the batch reader, the lead cache and the bulk import all decide with it. Rules: the
    newest record decides; a withdrawal ends everything before it; after the last withdrawal, a
    double-opt-in purpose is ``granted`` only once a ``confirmed`` record follows a grant (a later
    re-submitted form does not undo a confirmation); the newest grant or confirmation's
    ``expires_at`` ends the consent.
    """
    at = at or timezone.now()
    usable = [r for r in records if r.recorded_at <= at]
    if not usable:
        return ConsentState(code=code, status=NONE, allowed=False)
    newest = usable[-1]
    if newest.action == ConsentRecord.Action.REVOKED:
        return ConsentState(code=code, status=REVOKED, allowed=False, record=newest, since=newest.recorded_at)
    start = 0
    for index in range(len(usable) - 1, -1, -1):
        if usable[index].action == ConsentRecord.Action.REVOKED:
            start = index + 1
            break
    run = usable[start:]
    since = run[0].recorded_at
    confirmed_at = next((r.recorded_at for r in run if r.action == ConsentRecord.Action.CONFIRMED), None)
    expires_at = newest.expires_at
    if expires_at is not None and expires_at <= at:
        return ConsentState(
            code=code,
            status=EXPIRED,
            allowed=False,
            record=newest,
            since=expires_at,
            confirmed_at=confirmed_at,
            expires_at=expires_at,
        )
    status = PENDING if code in DOUBLE_OPT_IN_CODES and confirmed_at is None else GRANTED
    return ConsentState(
        code=code,
        status=status,
        allowed=status == GRANTED,
        record=newest,
        since=since,
        confirmed_at=confirmed_at,
        expires_at=expires_at,
    )


def consent_records_for(subjects: Iterable[models.Model], purpose: str) -> dict[Any, list[ConsentRecord]]:
    """Every record of ``purpose`` of these leads and/or users, oldest first, keyed by subject pk: one query."""
    code = consent_code(purpose)
    ids: dict[str, set[Any]] = defaultdict(set)
    for subject in subjects:
        ids[subject_field(subject)].add(subject.pk)
    grouped: dict[Any, list[ConsentRecord]] = defaultdict(list)
    if not ids:
        return grouped
    condition = Q()
    for name, pks in ids.items():
        condition |= Q(**{f"{name}__in": pks})
    rows = ConsentRecord.objects.filter(condition, code=code).defer(*_DEFERRED).order_by("recorded_at", "id")
    for record in rows:
        grouped[record.subject_lead_id if record.subject_lead_id is not None else record.subject_user_id].append(record)
    return grouped


def consent_states(
    subjects: Iterable[models.Model], purpose: str, *, at: dt.datetime | None = None
) -> dict[Any, ConsentState]:
    """``consent_state`` for many leads and/or users at once (one query), keyed by their pk."""
    subjects = list(subjects)
    code = consent_code(purpose)
    at = at or timezone.now()
    records = consent_records_for(subjects, code)
    return {subject.pk: consent_state_of_records(code, records.get(subject.pk, ()), at=at) for subject in subjects}


def consent_state(subject: models.Model, purpose: str, *, at: dt.datetime | None = None) -> ConsentState:
    """The one check every sender calls at send time: may ``purpose`` be used for this lead or user?

    ``allowed`` is what a sender acts on; ``status`` says why (``pending`` = double opt-in not
    confirmed yet). ``at``: the state at another time (evidence for a past send).
    """
    return consent_states([subject], purpose, at=at)[subject.pk]


def consent_history(subject: models.Model) -> QuerySet[ConsentRecord]:
    """Every record of a lead or user, newest first (the admin's and the export's view)."""
    return ConsentRecord.objects.filter(**{subject_field(subject): subject.pk}).select_related("wording")


def consent_wording_current(purpose: str) -> ConsentWording | None:
    """The newest active wording of a purpose (what a new consent refers to by default)."""
    return ConsentWording.objects.filter(code=consent_code(purpose), active=True).order_by("-created_at", "-id").first()
