"""Retention (SPEC §12): data past its period is purged or anonymised, policy by policy, in short batches.

Every app with expiring data registers a policy in ``compliance.registry`` (a setting in days, a
default, and a purge ``(cutoff, dry_run) -> rows``). ``retention_run`` applies them all (beat
``compliance-retention``, daily; ``manage.py apply_retention``). A period of 0 or less keeps that data
forever. Each purge works in batches of ``RETENTION_BATCH`` rows, one short transaction each, so a
large backlog never holds a long transaction or lock, and an interrupted run simply continues the
next time.

This module also holds the two pieces that need ``compliance`` itself: the audit trail's purge (the
only DELETE the append-only trigger lets through) and the anonymisation of inactive leads through
the subject data registry's erasers.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from compliance.models import AuditEvent
from compliance.registry import (
    ErasureContext,
    RetentionPolicy,
    Subject,
    SubjectQuery,
    register_retention,
    retention_policies,
    subject_data,
)
from compliance.services.audit import audit_record
from core.exceptions import DomainError

logger = logging.getLogger(__name__)

#: Rows per transaction in every purge.
RETENTION_BATCH = 1000
#: The reason code erasers see when a lead is anonymised because its retention period ran out.
RETENTION_REASON = "retention"
AUDIT_POLICY = "audit"


class UnknownRetentionPolicy(DomainError):
    """``only`` named a policy nobody registered."""

    code = "unknown_retention_policy"

    def __init__(self, unknown: list[str], known: list[str]):
        self.unknown = unknown
        self.known = known
        super().__init__(
            gettext("Unknown retention policy: %(unknown)s. Known: %(known)s.")
            % {"unknown": ", ".join(unknown), "known": ", ".join(known) or "-"},
            fields={"only": unknown},
        )


class PurgeIncomplete(Exception):
    """A purge could not handle some rows (logged by id), or was stopped by the task's time limit (``stop``).

    ``done`` rows did go; the run reports the policy as failed with that count, and the next run
    tries the rest again. After a ``stop`` the run ends without the remaining policies.
    """

    def __init__(self, message: str, *, done: int, stop: bool = False):
        super().__init__(message)
        self.done = done
        self.stop = stop


@dataclass(frozen=True)
class PolicyResult:
    """What one policy did (or would do): ``cutoff`` is None when its period is "keep forever"."""

    key: str
    label: str
    days: int
    cutoff: datetime | None
    count: int
    dry_run: bool
    error: str = ""

    @property
    def kept_forever(self) -> bool:
        return self.cutoff is None


@dataclass(frozen=True)
class RetentionReport:
    at: datetime
    dry_run: bool
    results: list[PolicyResult] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {result.key: result.count for result in self.results}

    @property
    def failed(self) -> list[str]:
        return [result.key for result in self.results if result.error]

    def summary(self) -> str:
        """One line for the log: ``key=count`` per policy, no personal data."""
        parts = []
        for result in self.results:
            value = "forever" if result.kept_forever else str(result.count)
            parts.append(f"{result.key}={value}" + (" (failed)" if result.error else ""))
        prefix = "Retention dry run" if self.dry_run else "Retention applied"
        return f"{prefix}: {', '.join(parts) or 'no policies'}"


def retention_batch_size() -> int:
    """Rows per transaction; read at call time so every purge (and a test) uses the current value."""
    return RETENTION_BATCH


def retention_days(setting: str, default: int) -> int:
    """The period of one policy in days (<= 0: keep forever); a non-integer setting is a configuration error."""
    value = getattr(settings, setting, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ImproperlyConfigured(f"{setting}={value!r} is not a whole number of days (0 keeps the data forever).")
    return value


def retention_cutoff(days: int, *, now: datetime) -> datetime | None:
    """Data older than this goes; None when the period is 0 or negative (kept forever)."""
    return None if days <= 0 else now - timedelta(days=days)


def _selected(only: Iterable[str] | None) -> list[RetentionPolicy]:
    policies = retention_policies()
    if not only:
        return policies
    wanted = list(dict.fromkeys(only))
    known = [policy.key for policy in policies]
    unknown = [key for key in wanted if key not in known]
    if unknown:
        raise UnknownRetentionPolicy(unknown, known)
    return [policy for policy in policies if policy.key in wanted]


def retention_run(
    *, dry_run: bool = False, only: list[str] | None = None, now: datetime | None = None
) -> RetentionReport:
    """Apply every registered retention policy (or those in ``only``) and report what went.

    A failing policy does not stop the others: it is logged and reported with ``error`` set (rows it
    already purged stay purged). The task's soft time limit ends the run after the current batch,
    still reported and audited. A real run is audited as ``retention.applied`` (counts only); a dry
    run changes nothing and writes nothing.
    """
    policies = _selected(only)
    now = now or timezone.now()
    results: list[PolicyResult] = []
    for policy in policies:
        days = retention_days(policy.setting, policy.default_days)
        cutoff = retention_cutoff(days, now=now)
        count, error, stop = 0, "", False
        if cutoff is not None:
            try:
                count = int(policy.purge(cutoff, dry_run))
            except PurgeIncomplete as exc:
                count, error, stop = exc.done, str(exc), exc.stop
                logger.error("Retention policy incomplete", extra={"policy": policy.key, "done": exc.done})
            except SoftTimeLimitExceeded:
                error, stop = "SoftTimeLimitExceeded", True
                logger.error("Retention stopped by the time limit", extra={"policy": policy.key})
            except Exception as exc:
                error = type(exc).__name__
                logger.exception("Retention policy failed", extra={"policy": policy.key})
        results.append(PolicyResult(policy.key, str(policy.label), days, cutoff, count, dry_run, error))
        if stop:
            break
    report = RetentionReport(at=now, dry_run=dry_run, results=results)
    if not dry_run:
        audit_record(
            event_type="retention.applied",
            actor=None,
            payload={
                "dry_run": False,
                "counts": report.counts(),
                "days": {result.key: result.days for result in results},
                "failed": report.failed,
            },
        )
    logger.info(report.summary(), extra={"counts": report.counts(), "dry_run": dry_run, "failed": report.failed})
    return report


# --- compliance's own policy: the audit trail -------------------------------------------------------


def audit_events_purge(cutoff: datetime, dry_run: bool) -> int:
    """Delete audit events created before ``cutoff``, a batch per transaction (policy ``audit``).

    The trail is append-only: the ORM refuses deletes and, on PostgreSQL, a trigger refuses them
    unless the transaction set ``compliance.audit_purge`` (migration 0005). Only this function sets
    it, with ``SET LOCAL`` around its own DELETE, and switches it off again before the transaction
    (or savepoint) ends, so nothing else in the same transaction can delete an event.
    """
    if dry_run:
        return AuditEvent.objects.filter(created_at__lt=cutoff).count()
    table = connection.ops.quote_name(AuditEvent._meta.db_table)
    guarded = connection.vendor == "postgresql"
    batch = retention_batch_size()
    total = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            if guarded:
                cursor.execute("SET LOCAL compliance.audit_purge = 'on'")
            cursor.execute(
                f"DELETE FROM {table} WHERE id IN "  # noqa: S608 - the table name is ours, values are parameters
                f"(SELECT id FROM {table} WHERE created_at < %s ORDER BY created_at, id LIMIT %s)",
                [cutoff, batch],
            )
            deleted = max(cursor.rowcount, 0)
            if guarded:
                cursor.execute("SET LOCAL compliance.audit_purge = 'off'")
        total += deleted
        if deleted < batch:
            return total


def audit_retention_register() -> None:
    """Register the audit trail's policy (``RETENTION_AUDIT_DAYS``, default ten years)."""
    register_retention(
        AUDIT_POLICY,
        label=_("Audit events"),
        setting="RETENTION_AUDIT_DAYS",
        default_days=3650,
        purge=audit_events_purge,
    )


# --- Anonymising leads whose retention period ran out ------------------------------------------------


def subject_anonymize_for_retention(lead_ids: Iterable[str], *, at: datetime | None = None) -> int:
    """Destroy the personal data of these leads with every registered eraser; returns how many leads.

    Unlike an erasure request (``subject_erase``) no tombstone and no erasure record are written: the
    person did not ask to be forgotten, so a later form or import of theirs is welcome, not flagged.
    Each lead is its own subject and its own transaction (all erasers or none); erasers are
    idempotent, so a lead that failed half-way is simply done again by the next run.
    """
    erasers = [entry for entry in subject_data() if entry.eraser is not None]
    if not erasers:
        raise ImproperlyConfigured("No subject data eraser is registered: leads cannot be anonymised.")
    context = ErasureContext(erasure_id="", reason_code=RETENTION_REASON, actor=None, at=at or timezone.now())
    done = 0
    for lead_id in lead_ids:
        subject = Subject(query=SubjectQuery("lead", str(lead_id)), lead_ids=[str(lead_id)], hashes={})
        with transaction.atomic():
            for entry in erasers:
                entry.eraser(subject, context)
        done += 1
    return done
