"""Exactly once on real PostgreSQL: concurrent ticks, a dead claimant taken over, a re-delivered tick, enrol races."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter

import pytest
from django.db import close_old_connections
from django.utils import timezone

from core.leases import lease_finish
from followups.models import DUE_STEP_LEASE, DueStep, EmailMessage, SequenceRun
from followups.services import engine
from followups.services.engine import due_steps_claim, run_due_steps, sequence_enrol
from tests.followups.factories import lead_with_consent, sequence_with_steps

LEASE = dt.timedelta(minutes=4)


@pytest.fixture(autouse=True)
def _any_time(settings):
    settings.EMAIL_SEND_WINDOW = "Mon-Sun 00:00-24:00"
    settings.EMAIL_FREQUENCY_CAP = "2/7d"


def _in_threads(count: int, work) -> list:
    barrier = threading.Barrier(count)
    results: list = []
    errors: list = []

    def target():
        try:
            barrier.wait(timeout=10)
            results.append(work())
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)
        finally:
            close_old_connections()

    threads = [threading.Thread(target=target) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    return results


@pytest.mark.django_db(transaction=True)
def test_concurrent_enrolments_and_two_ticks_at_once_execute_each_step_exactly_once(platform_org, monkeypatch):
    deliveries: Counter = Counter()
    lock = threading.Lock()

    def counting_send(*, due, owner, now=None):  # no dedup of its own: a double execution would show
        with lock:
            deliveries[due.pk] += 1
        return EmailMessage.objects.create(
            lead=due.run.lead, due_step=due, to_hash=due.run.lead.email_hash, message_id=f"<{due.pk}@t>", sent_at=now
        )

    monkeypatch.setattr("followups.services.email.email_step_send", counting_send)
    monkeypatch.setattr(  # the tick sends its batch at once: the same stand-in per row
        "followups.services.email.email_steps_send",
        lambda *, dues, owner, now=None: {due.pk: counting_send(due=due, owner=owner, now=now) for due in dues},
    )
    sequence = sequence_with_steps(steps=1)
    leads = [lead_with_consent() for _ in range(24)]
    now = timezone.now() + dt.timedelta(seconds=5)
    # Enrolments race too: three at once for one lead make one run (the partial unique constraint).
    enrolled = _in_threads(3, lambda: sequence_enrol(lead=leads[0], sequence=sequence, actor=None, now=now))
    assert sum(run is not None for run in enrolled) == 1
    for lead in leads[1:]:
        sequence_enrol(lead=lead, sequence=sequence, actor=None, now=now)

    def tick_until_empty() -> int:
        total = 0
        while claimed := run_due_steps(now=now, batch=4):
            total += claimed
        return total

    totals = _in_threads(2, tick_until_empty)

    assert sum(totals) == 24
    assert len(deliveries) == 24 and set(deliveries.values()) == {1}
    assert set(DueStep.objects.values_list("status", flat=True)) == {"done"}
    assert set(SequenceRun.objects.values_list("status", flat=True)) == {"completed"}


@pytest.mark.django_db
def test_a_dead_claimants_row_is_taken_over_after_its_lease(platform_org, monkeypatch):
    calls: list[int] = []
    monkeypatch.setattr(
        "followups.services.email.email_steps_send",
        lambda *, dues, owner, now=None: {due.pk: calls.append(due.pk) or EmailMessage(pk=0) for due in dues},
    )
    now = timezone.now() + dt.timedelta(seconds=5)
    run = sequence_enrol(lead=lead_with_consent(), sequence=sequence_with_steps(steps=1), actor=None, now=now)
    # A worker claims the row and dies (nothing finishes it).
    assert due_steps_claim(owner="dead-worker", now=now, limit=10, duration=LEASE) != []
    assert run_due_steps(now=now + dt.timedelta(minutes=1)) == 0  # its lease still holds
    assert run_due_steps(now=now + LEASE + dt.timedelta(seconds=1)) == 1
    due = run.due_steps.get()
    assert (due.status, due.attempts, calls) == ("done", 2, [due.pk])
    # The dead worker's late finish changes nothing.
    assert not lease_finish(DUE_STEP_LEASE, pk=due.pk, owner="dead-worker", status="failed")


@pytest.mark.django_db(transaction=True)
def test_a_redelivered_tick_does_not_send_twice(platform_org, smtp_server, monkeypatch):
    """The worker dies after the email left but before the row was finished: the next claimant must not resend."""
    now = timezone.now() + dt.timedelta(seconds=5)
    run = sequence_enrol(lead=lead_with_consent(), sequence=sequence_with_steps(steps=2), actor=None, now=now)

    class WorkerLost(BaseException):
        """Like the kill of a worker process: nothing after the send runs."""

    real_advance = engine._advance

    def die(*args, **kwargs):
        raise WorkerLost

    monkeypatch.setattr(engine, "_advance", die)
    with pytest.raises(WorkerLost):
        run_due_steps(now=now)
    assert len(smtp_server) == 1
    first = run.due_steps.get()
    assert first.status == "claimed"

    monkeypatch.setattr(engine, "_advance", real_advance)
    assert run_due_steps(now=now + dt.timedelta(seconds=30)) == 0  # lease still held by the dead tick
    assert run_due_steps(now=now + dt.timedelta(hours=1)) == 1  # taken over
    first.refresh_from_db()
    assert first.status == "done"
    assert len(smtp_server) == 1  # not sent again
    assert EmailMessage.objects.filter(due_step=first).count() == 1
    assert list(run.due_steps.values_list("step__number", "status").order_by("step__number")) == [
        (1, "done"),
        (2, "pending"),
    ]
