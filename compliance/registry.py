"""The subject data registry: each app tells `compliance` what it holds about a person, at start-up.

`compliance` sits on floor 2 and may not import the apps above it, yet an access request (Art. 15)
must collect and an erasure (Art. 17) must destroy everything the platform holds about a person.
So every app registers, in its ``AppConfig.ready()``:

- ``leads`` registers the one **resolver**: a query (lead id, email, phone, provider id) → the
  person's leads in every tenant (merged-away ones included) and the blind-index hashes of their
  identities;
- every app that stores personal data registers an **exporter** (``Subject`` → ``{section: [JSON-able
  rows]}``, decrypted) and an **eraser** (``Subject, ErasureContext`` → ``{what: count}``). Erasers
  must be idempotent: a crashed erasure is re-run from the first unfinished app;
- apps with data that expires register a **retention policy** (a setting with a default in days, and
  a purge that returns how many rows went, or would go with ``dry_run``).

Registrations are keyed, so a second ``ready()`` (tests, autoreload) replaces instead of doubling.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# The top-level keys of an export document (SPEC §9, API-590). Present even when no app has
# registered data for them yet, so that a reader can rely on the shape.
STANDARD_SECTIONS: tuple[str, ...] = (
    "leads",
    "consents",
    "activities",
    "deals",
    "offers",
    "merges",
    "webhook_items",
    "emails",
    "followups",
    "campaigns",
    "audit",
)


class SubjectNotFound(LookupError):
    """A query by lead id (or provider id) that names no lead: the API answers 404."""


@dataclass(frozen=True)
class SubjectQuery:
    """How the person was asked for: ``kind`` is ``lead``, ``email``, ``phone`` or ``linkedin_response_id``."""

    kind: str
    value: str

    def as_dict(self) -> dict[str, str]:
        return {self.kind: self.value}


@dataclass
class Subject:
    """A resolved person: every lead of theirs in every tenant, and the hashes of their identities.

    ``lead_ids`` are string UUIDs; ``hashes`` maps an identity kind (``email``, ``phone``,
    ``facebook_lead_id``, ``linkedin_response_id``, ``instagram_igsid``, ``import_key``) to
    blind-index hashes. Nothing here is plaintext, so it may be stored on an erasure record.
    """

    query: SubjectQuery
    lead_ids: list[str] = field(default_factory=list)
    hashes: dict[str, list[str]] = field(default_factory=dict)

    @property
    def is_empty(self) -> bool:
        return not self.lead_ids and not any(self.hashes.values())


@dataclass(frozen=True)
class ErasureContext:
    """What an eraser may need besides the person: who asked, why (a short code for audit payloads)."""

    erasure_id: str
    reason_code: str
    actor: Any | None
    at: datetime


# Raises SubjectNotFound for a lead id that does not exist; an email or phone that matches nobody
# resolves to an empty Subject (not an error).
Resolver = Callable[[SubjectQuery], Subject]
Exporter = Callable[[Subject], dict[str, list[Any]]]
Eraser = Callable[[Subject, ErasureContext], dict[str, int]]
Purge = Callable[[datetime, bool], int]


@dataclass(frozen=True)
class SubjectData:
    app_label: str
    sections: tuple[str, ...]
    exporter: Exporter
    eraser: Eraser | None
    order: int


@dataclass(frozen=True)
class RetentionPolicy:
    key: str
    label: str
    setting: str
    default_days: int
    purge: Purge


_resolver: Resolver | None = None
_subject_data: dict[str, SubjectData] = {}
_retention: dict[str, RetentionPolicy] = {}


def register_subject_resolver(resolver: Resolver) -> None:
    """Set the one function that turns a query into a person (``leads`` registers it)."""
    global _resolver
    _resolver = resolver


def subject_resolver() -> Resolver:
    if _resolver is None:
        raise RuntimeError("No subject resolver is registered: is the leads app installed?")
    return _resolver


def register_subject_data(
    app_label: str,
    *,
    sections: tuple[str, ...],
    exporter: Exporter,
    eraser: Eraser | None = None,
    order: int = 50,
) -> None:
    """Register what ``app_label`` holds about a person. Erasers run in ``order`` (low first)."""
    _subject_data[app_label] = SubjectData(app_label, tuple(sections), exporter, eraser, order)


def subject_data() -> list[SubjectData]:
    """Every registration, in erasure order."""
    return sorted(_subject_data.values(), key=lambda entry: (entry.order, entry.app_label))


def register_retention(key: str, *, label: str, setting: str, default_days: int, purge: Purge) -> None:
    """Register data that expires after ``settings.<setting>`` days (``default_days`` if unset)."""
    _retention[key] = RetentionPolicy(key, label, setting, default_days, purge)


def retention_policies() -> list[RetentionPolicy]:
    return sorted(_retention.values(), key=lambda policy: policy.key)
