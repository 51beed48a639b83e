"""The suppression list: addresses no marketing email goes to any more (hard bounce, complaint, by hand).

Only the blind index of an address is stored (``compliance.blind_index.email_index``), so the list
survives an erasure of the person without keeping their address: an erased and later re-imported
address is still not mailed. Senders ask ``email_suppressed`` before every marketing send.
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction

from compliance.blind_index import email_index
from compliance.services import audit_record
from followups.models import EmailEvent, EmailSuppression


def _hash_of(email: str | None, email_hash: str | None) -> str:
    value = email_hash or email_index(email)
    if not value:
        raise ValueError("An address or its blind index is required.")
    return value


def email_suppressed(*, email: str | None = None, email_hash: str | None = None) -> bool:
    """Whether marketing mail to this address (or blind index) is suppressed."""
    value = email_hash or email_index(email)
    return bool(value) and EmailSuppression.objects.filter(email_hash=value).exists()


@transaction.atomic
def suppression_add(
    *,
    reason: str,
    actor: Any | None,
    email: str | None = None,
    email_hash: str | None = None,
    event: EmailEvent | None = None,
) -> tuple[EmailSuppression, bool]:
    """Suppress an address; (entry, created). An address already listed keeps its first reason.

    Safe against a concurrent insert of the same address (two ESP events at once): the loser
    reads the winner's row instead of failing.
    """
    value = _hash_of(email, email_hash)
    if reason not in EmailSuppression.Reason.values:
        raise ValueError(f"Unknown suppression reason {reason!r}.")
    existing = EmailSuppression.objects.filter(email_hash=value).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            entry = EmailSuppression.objects.create(email_hash=value, reason=reason, event=event)
    except IntegrityError:
        return EmailSuppression.objects.get(email_hash=value), False
    audit_record(
        event_type="followups.suppression_added",
        actor=actor,
        obj=entry,
        payload={"reason": reason, "email_event_id": event.pk if event is not None else None},
    )
    return entry, True


@transaction.atomic
def suppression_remove(*, actor: Any | None, email: str | None = None, email_hash: str | None = None) -> bool:
    """Take an address off the list (an operator after the person asked again); False if it was not listed."""
    value = _hash_of(email, email_hash)
    entry = EmailSuppression.objects.select_for_update().filter(email_hash=value).first()
    if entry is None:
        return False
    audit_record(
        event_type="followups.suppression_removed",
        actor=actor,
        obj=entry,
        payload={"reason": entry.reason, "suppression_id": entry.pk},
    )
    entry.delete()
    return True
