"""Claims with a lease (core.leases): a claimant that dies, takeovers, late finishers, races."""

from __future__ import annotations

import threading
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.db import close_old_connections
from django.db.models import F
from django.utils import timezone

from core.leases import (
    LEASE_MARGIN,
    lease_claim,
    lease_claim_batch,
    lease_expired,
    lease_finish,
    lease_owner,
    lease_release,
    task_lease_duration,
)
from webhooks.models import EVENT_LEASE, WebhookEvent

Status = WebhookEvent.Status
LEASE = timedelta(seconds=210)


def make_events(n: int = 1) -> list[int]:
    return [
        WebhookEvent.objects.create(provider="facebook", event_type="leadgen", dedup_key=f"lease-{i}", payload="{}").pk
        for i in range(n)
    ]


def claim(pk, owner, now):
    return lease_claim(EVENT_LEASE, pk=pk, owner=owner, duration=LEASE, now=now, attempts=F("attempts") + 1)


@pytest.mark.django_db
def test_a_dead_claimants_row_is_taken_over_only_after_its_lease_expired():
    # given: a claimant that takes the row and dies (never finishes)
    (pk,) = make_events()
    now = timezone.now()
    assert claim(pk, "dead:1", now)
    row = WebhookEvent.objects.get(pk=pk)
    assert (row.status, row.claimed_by, row.lease_expires_at, row.attempts) == (
        Status.PROCESSING,
        "dead:1",
        now + LEASE,
        1,
    )

    # when / then: a second claimant before expiry gets nothing, after expiry takes it over
    assert not claim(pk, "alive:2", now + LEASE - timedelta(seconds=1))
    assert not lease_expired(EVENT_LEASE, now=now + LEASE).exists()  # the deadline itself still holds
    assert lease_expired(EVENT_LEASE, now=now + LEASE + timedelta(seconds=1)).get().pk == pk
    assert claim(pk, "alive:2", now + LEASE + timedelta(seconds=1))
    row.refresh_from_db()
    assert (row.status, row.claimed_by, row.attempts) == (Status.PROCESSING, "alive:2", 2)

    # the dead claimant's late finish is refused; the new claimant's outcome counts
    assert not lease_finish(EVENT_LEASE, pk=pk, owner="dead:1", status=Status.FAILED)
    assert lease_finish(EVENT_LEASE, pk=pk, owner="alive:2", status=Status.PROCESSED)
    row.refresh_from_db()
    assert (row.status, row.claimed_by, row.lease_expires_at) == (Status.PROCESSED, "alive:2", None)
    # a finished row is claimable by nobody, however late
    assert not claim(pk, "third:3", now + timedelta(days=1))


@pytest.mark.django_db
def test_a_row_held_by_an_earlier_run_of_the_same_task_is_taken_over_at_once():
    (pk,) = make_events()
    now = timezone.now()
    assert claim(pk, lease_owner(task_id="task-1"), now)
    later = now + timedelta(seconds=5)  # the lease runs for minutes more
    other = lease_owner(task_id="task-2")
    assert not lease_claim(EVENT_LEASE, pk=pk, owner=other, duration=LEASE, now=later, task_id="task-2")
    again = lease_owner(task_id="task-1")
    assert lease_claim(EVENT_LEASE, pk=pk, owner=again, duration=LEASE, now=later, task_id="task-1")
    assert WebhookEvent.objects.get(pk=pk).claimed_by == again


@pytest.mark.django_db
def test_release_puts_the_row_back_only_for_its_holder():
    (pk,) = make_events()
    now = timezone.now()
    assert claim(pk, "a", now)
    assert not lease_release(EVENT_LEASE, pk=pk, owner="b")
    assert lease_release(EVENT_LEASE, pk=pk, owner="a", error_code="retrying")
    row = WebhookEvent.objects.get(pk=pk)
    assert (row.status, row.lease_expires_at, row.error_code) == (Status.RECEIVED, None, "retrying")
    assert claim(pk, "b", now)  # ready again at once


@pytest.mark.django_db
def test_batch_claims_take_ready_and_expired_rows_and_never_the_same_row_twice():
    ready, held, expired = make_events(3)
    now = timezone.now()
    assert claim(held, "worker", now)
    assert claim(expired, "dead", now - LEASE - timedelta(seconds=1))
    first = lease_claim_batch(EVENT_LEASE, owner="batch-1", duration=LEASE, limit=1, now=now)
    second = lease_claim_batch(EVENT_LEASE, owner="batch-2", duration=LEASE, limit=10, now=now)
    assert first == [ready] and second == [expired]
    assert lease_claim_batch(EVENT_LEASE, owner="batch-3", duration=LEASE, limit=10, now=now) == []
    assert WebhookEvent.objects.get(pk=expired).claimed_by == "batch-2"


def test_lease_length_is_the_tasks_hard_time_limit_plus_the_margin():
    app = SimpleNamespace(conf={"task_time_limit": 180})
    assert task_lease_duration(SimpleNamespace(time_limit=60, app=app)) == timedelta(seconds=60) + LEASE_MARGIN
    assert task_lease_duration(SimpleNamespace(time_limit=None, app=app)) == timedelta(seconds=180) + LEASE_MARGIN


def test_every_claim_has_its_own_owner_naming_host_pid_and_task():
    first, second = lease_owner(task_id="task-1"), lease_owner(task_id="task-1")
    assert first != second
    assert ":task-1:" in first and first.split(":")[1].isdigit()


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_claimants_never_both_win():
    # given: one ready row and two claimants on their own connections, released at the same moment
    (pk,) = make_events()
    now = timezone.now()
    barrier = threading.Barrier(2)
    results: dict[str, bool] = {}

    def run(owner: str) -> None:
        try:
            barrier.wait(timeout=5)
            results[owner] = claim(pk, owner, now)
        finally:
            close_old_connections()

    # when
    threads = [threading.Thread(target=run, args=(owner,)) for owner in ("one", "two")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    # then: the database hands the row to exactly one of them
    assert sorted(results.values()) == [False, True]
    winner = next(owner for owner, won in results.items() if won)
    row = WebhookEvent.objects.get(pk=pk)
    assert (row.claimed_by, row.attempts) == (winner, 1)


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_takeovers_of_an_expired_lease_never_both_win():
    (pk,) = make_events()
    now = timezone.now()
    assert claim(pk, "dead", now - LEASE - timedelta(seconds=1))
    barrier = threading.Barrier(2)
    results: dict[str, bool] = {}

    def run(owner: str) -> None:
        try:
            barrier.wait(timeout=5)
            results[owner] = claim(pk, owner, now)
        finally:
            close_old_connections()

    threads = [threading.Thread(target=run, args=(owner,)) for owner in ("one", "two")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    assert sorted(results.values()) == [False, True]
    assert WebhookEvent.objects.get(pk=pk).attempts == 2
