"""Claims with a lease: a work item is taken by one claimant until a deadline, then by anyone.

A plain "claim if ready" (``UPDATE … SET status='processing' WHERE status='received'``) strands an
item when its claimant dies: Celery redelivers the message (acks_late, reject_on_worker_lost), but
the redelivered task finds the item already taken and does nothing. With a lease the claim records
who holds the item (``claimed_by``) and until when (``lease_expires_at`` = now + the task's hard
time limit + a margin, after which Celery has killed the claimant for sure); once that has passed,
a redelivered or retried task, or a sweeper, may take the item over.

Every claim, finish and release is one conditional ``UPDATE``: the database decides. Under
PostgreSQL's READ COMMITTED a second ``UPDATE`` of the same row waits for the first to commit and
re-checks its ``WHERE`` on the new row version, so two claimants never both win, and a claimant
whose lease was taken over cannot finish (its ``claimed_by`` no longer matches).

How a model uses it (offers expiry, scoring batches, email due rows, a Conversions API outbox …):

1. give it a status field with a "ready" and a "held" value, ``claimed_by = CharField(max_length=255,
   blank=True)`` and ``lease_expires_at = DateTimeField(null=True, blank=True)``, and a partial index
   ``Index(fields=["lease_expires_at"], condition=Q(status=<held>))`` for the sweeper;
2. declare its lease once, next to the model: ``OUTBOX_LEASE = Lease(model=Outbox, ready="pending",
   held="sending")`` (other field names as arguments);
3. in the task's service: ``owner = lease_owner()``; ``if not lease_claim(OUTBOX_LEASE, pk=pk,
   owner=owner, duration=task_lease_duration(outbox_send_task), task_id=current_task_id()):
   return`` (or ``lease_claim_batch``
   for due rows), do the work, then ``lease_finish(OUTBOX_LEASE, pk=pk, owner=owner, status="sent")``
   or ``lease_release(…)`` to put it back for a later attempt;
4. in its beat sweeper: ``lease_expired(OUTBOX_LEASE).update(status="pending", lease_expires_at=None)``
   and re-queue those rows.

Times come from the application's clock (``timezone.now()``), as every other deadline of the
product; hosts run NTP, and the margin covers the remaining skew.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import models, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

#: Added to a task's hard time limit: the worker needs a moment to kill and report the task.
LEASE_MARGIN = timedelta(seconds=30)
#: The lease of a task without a hard time limit (nothing kills it, so wait long before taking over).
DEFAULT_LEASE = timedelta(minutes=15)


@dataclass(frozen=True)
class Lease:
    """How one model's rows are leased: its status field with the ready and held values, and the lease fields."""

    model: type[models.Model]
    ready: str
    held: str
    status_field: str = "status"
    owner_field: str = "claimed_by"
    expires_field: str = "lease_expires_at"

    def claimable(self, now: datetime) -> Q:
        """Rows a claimant may take: ready ones and held ones whose lease has run out."""
        return Q(**{self.status_field: self.ready}) | self.expired(now)

    def redelivered(self, task_id: str) -> Q:
        """Held rows claimed by an earlier run of the Celery task ``task_id`` (see ``lease_claim``)."""
        return Q(**{self.status_field: self.held, f"{self.owner_field}__contains": f":{task_id}:"})

    def expired(self, now: datetime) -> Q:
        """Held rows whose lease has run out (their claimant died or hangs beyond its time limit)."""
        return Q(**{self.status_field: self.held, f"{self.expires_field}__lt": now})

    def held_by(self, owner: str) -> Q:
        """The row is still held and by ``owner`` (nobody took it over)."""
        return Q(**{self.status_field: self.held, self.owner_field: owner})

    def _claim_values(self, owner: str, expires_at: datetime) -> dict[str, Any]:
        return {self.status_field: self.held, self.owner_field: owner, self.expires_field: expires_at}


def current_task_id() -> str:
    """The id of the Celery task running now ("" outside a task)."""
    from celery import current_task

    return getattr(getattr(current_task, "request", None), "id", None) or ""


def lease_owner(task_id: str | None = None) -> str:
    """Who claims: ``host:pid:task id:nonce`` (the task id of the running Celery task when not given).

    The nonce makes every claim distinct: a redelivered message keeps its task id and may land in
    the same process, yet its claim must not be confused with the one it replaces.
    """
    if task_id is None:
        task_id = current_task_id()
    return f"{socket.gethostname()[:100]}:{os.getpid()}:{task_id}:{secrets.token_hex(4)}"[:255]


def task_lease_duration(task: Any, margin: timedelta = LEASE_MARGIN) -> timedelta:
    """The lease a claim by ``task`` needs: its hard time limit (or the app's default) plus ``margin``.

    Past the hard time limit Celery has killed the task, so nobody is still working on the item.
    """
    limit = getattr(task, "time_limit", None) or getattr(getattr(task, "app", None), "conf", {}).get("task_time_limit")
    if not limit:
        return DEFAULT_LEASE
    return timedelta(seconds=float(limit)) + margin


def lease_claim(
    lease: Lease,
    *,
    pk: Any,
    owner: str,
    duration: timedelta,
    now: datetime | None = None,
    where: Q | None = None,
    task_id: str = "",
    **updates: Any,
) -> bool:
    """Take one row if it is ready or its lease has expired; returns whether this claimant got it.

    ``where`` narrows which rows may be taken (e.g. not after the last attempt); ``updates`` are set
    with the claim (``attempts=F("attempts") + 1``, ``claimed_at=now`` …). With ``task_id`` (the
    running Celery task's, part of ``owner``) a row held by an earlier run of the same task is taken
    over at once, lease or not: Celery delivers a task's message again only once that run has ended
    (its worker died: acks_late + reject_on_worker_lost; or it raised and is retried), so waiting
    for the lease would only delay the item.
    """
    now = now or timezone.now()
    claimable = lease.claimable(now) | lease.redelivered(task_id) if task_id else lease.claimable(now)
    condition = claimable & (where or Q())
    return bool(
        lease.model._default_manager.filter(condition, pk=pk).update(
            **lease._claim_values(owner, now + duration), **updates
        )
    )


def lease_claim_batch(
    lease: Lease,
    *,
    owner: str,
    duration: timedelta,
    limit: int,
    where: Q | None = None,
    order_by: Iterable[str] = ("pk",),
    now: datetime | None = None,
    **updates: Any,
) -> list[Any]:
    """Take up to ``limit`` claimable rows at once (due email steps, an outbox); returns their pks.

    ``SELECT … FOR UPDATE SKIP LOCKED``: concurrent batch claimants take disjoint rows instead of
    waiting for each other. The update repeats the condition, so a database without row locks (the
    embedded SQLite) still never hands a row to two claimants.
    """
    now = now or timezone.now()
    manager = lease.model._default_manager
    condition = lease.claimable(now) & (where or Q())
    with transaction.atomic():
        pks = list(
            manager.filter(condition)
            .order_by(*order_by)
            .select_for_update(skip_locked=True)
            .values_list("pk", flat=True)[:limit]
        )
        if not pks:
            return []
        taken = manager.filter(condition, pk__in=pks).update(**lease._claim_values(owner, now + duration), **updates)
        if taken != len(pks):
            pks = list(manager.filter(lease.held_by(owner), pk__in=pks).values_list("pk", flat=True))
    return pks


def lease_finish(lease: Lease, *, pk: Any, owner: str, **updates: Any) -> bool:
    """Record the outcome (``updates``, normally a final status) only while ``owner`` still holds the row.

    A late finisher whose lease was taken over gets ``False`` and changes nothing, so it cannot
    overwrite the new claimant's outcome. ``claimed_by`` stays as the record of who finished it.
    """
    return bool(
        lease.model._default_manager.filter(lease.held_by(owner), pk=pk).update(
            **{lease.expires_field: None}, **updates
        )
    )


def lease_release(lease: Lease, *, pk: Any, owner: str, **updates: Any) -> bool:
    """Give a held row back (ready again, e.g. for a retry later) while ``owner`` still holds it."""
    return lease_finish(lease, pk=pk, owner=owner, **{lease.status_field: lease.ready}, **updates)


def lease_expired(lease: Lease, *, now: datetime | None = None) -> QuerySet:
    """Held rows whose lease has run out: what a sweeper re-queues (its ``update`` repeats the condition)."""
    return lease.model._default_manager.filter(lease.expired(now or timezone.now()))
