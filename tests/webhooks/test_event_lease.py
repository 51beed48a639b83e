"""Ledger events are claimed under a lease: a killed worker's redelivered task takes the event over."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from django.conf import settings
from django.utils import timezone

from leads.models import Lead
from tests.webhooks.conftest import GRAPH, fixture_bytes, fixture_json
from tests.webhooks.factories import MetaPageConnectionFactory
from webhooks.models import WebhookEvent
from webhooks.selectors import UNLEASED_STUCK_AFTER, ledger_stats
from webhooks.services import webhook_events_sweep
from webhooks.services.ledger import (
    MAX_ATTEMPTS,
    event_lease_duration,
    webhook_event_claim,
    webhook_event_finish,
)
from webhooks.tasks import webhook_event_process_task

pytestmark = pytest.mark.django_db

Status = WebhookEvent.Status
VECTOR = "facebook/leadgen_signature_vector.json"
VECTOR_PAGE, VECTOR_LEAD = "153125381133", "123123123123"


@pytest.fixture
def event_id(post_webhook) -> int:
    """One stored leadgen event; its processing task is not run (no commit inside the test)."""
    assert post_webhook("facebook", fixture_bytes(VECTOR)).status_code == 200
    return WebhookEvent.objects.get().pk


def kill_claimant(event_id: int, *, expired_ago: timedelta | None, attempts: int = 1) -> None:
    """The state a SIGKILLed worker leaves: processing, claimed by it, never finished."""
    now = timezone.now()
    WebhookEvent.objects.filter(pk=event_id).update(
        status=Status.PROCESSING,
        attempts=attempts,
        claimed_by="dead-host:4242:task-1:00000000",
        claimed_at=now - timedelta(minutes=1),
        lease_expires_at=None if expired_ago is None else now - expired_ago,
    )


def test_the_lease_lasts_the_processing_tasks_hard_time_limit_plus_a_margin(event_id):
    assert event_lease_duration() == timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 30)
    now = timezone.now()
    event = webhook_event_claim(event_id=event_id, owner="me", now=now)
    assert (event.status, event.claimed_by, event.lease_expires_at) == (
        Status.PROCESSING,
        "me",
        now + event_lease_duration(),
    )


def test_a_redelivered_task_processes_an_event_whose_claimant_died(event_id, graph):
    # given: the worker that claimed the event was killed; its lease has expired
    MetaPageConnectionFactory(page_id=VECTOR_PAGE, access_token="EAAPageToken")
    graph.get(f"{GRAPH}/{VECTOR_LEAD}", json={**fixture_json("facebook/graph_lead_docs.json"), "id": VECTOR_LEAD})
    kill_claimant(event_id, expired_ago=timedelta(seconds=1))

    # when: Celery redelivers the message (acks_late, reject_on_worker_lost)
    result = webhook_event_process_task(event_id)

    # then: the task takes the lease over and the person's lead exists
    event = WebhookEvent.objects.get()
    assert result == Status.PROCESSED
    assert (event.status, event.attempts, event.lease_expires_at) == (Status.PROCESSED, 2, None)
    assert event.claimed_by != "dead-host:4242:task-1:00000000"
    assert event.lead is not None and Lead.objects.get().facebook_lead_id == VECTOR_LEAD


def test_the_redelivered_message_of_the_killed_task_takes_over_at_once(event_id, graph):
    # given: the worker running task-1 was SIGKILLed a moment ago; its lease still runs for minutes
    MetaPageConnectionFactory(page_id=VECTOR_PAGE, access_token="EAAPageToken")
    graph.get(f"{GRAPH}/{VECTOR_LEAD}", json={**fixture_json("facebook/graph_lead_docs.json"), "id": VECTOR_LEAD})
    kill_claimant(event_id, expired_ago=-timedelta(minutes=3))

    # when: Celery hands the same message (same task id) to another worker
    result = webhook_event_process_task.apply(args=(event_id,), task_id="task-1").get()

    # then: an earlier run of the same task has ended for sure, so it does not wait for the lease
    event = WebhookEvent.objects.get()
    assert (result, event.status, event.attempts) == (Status.PROCESSED, Status.PROCESSED, 2)
    assert ":task-1:" in event.claimed_by and event.claimed_by != "dead-host:4242:task-1:00000000"


def test_another_task_while_the_lease_runs_does_nothing(event_id):
    kill_claimant(event_id, expired_ago=-timedelta(seconds=30))  # expires in 30 s
    assert webhook_event_process_task.apply(args=(event_id,), task_id="task-2").get() is None
    assert webhook_event_process_task(event_id) is None
    event = WebhookEvent.objects.get()
    assert (event.status, event.attempts, event.claimed_by) == (
        Status.PROCESSING,
        1,
        "dead-host:4242:task-1:00000000",
    )


def test_a_late_finisher_does_not_overwrite_the_claimant_that_took_over(event_id):
    now = timezone.now()
    slow = webhook_event_claim(event_id=event_id, owner="slow", now=now)
    later = now + event_lease_duration() + timedelta(seconds=1)
    fresh = webhook_event_claim(event_id=event_id, owner="fresh", now=later)
    assert fresh is not None and fresh.attempts == 2

    assert not webhook_event_finish(event=slow, status=Status.FAILED, error_code="error", error="late")
    assert webhook_event_finish(event=fresh, status=Status.PROCESSED)
    event = WebhookEvent.objects.get()
    assert (event.status, event.error_code, event.claimed_by) == (Status.PROCESSED, "", "fresh")


def test_an_expired_lease_after_the_last_attempt_is_not_taken_over_but_given_up_by_the_sweeper(event_id):
    kill_claimant(event_id, expired_ago=timedelta(seconds=1), attempts=MAX_ATTEMPTS)
    assert webhook_event_claim(event_id=event_id) is None
    with mock.patch("webhooks.services.ledger.enqueue_events", return_value=0):
        assert webhook_events_sweep()["gave_up"] == 1
    event = WebhookEvent.objects.get()
    assert (event.status, event.error_code, event.lease_expires_at) == (Status.FAILED, "gave_up", None)


def test_the_sweeper_requeues_an_expired_lease_at_once_and_leaves_a_running_one_alone(post_webhook):
    # given: two claimed events, one whose claimant died a second ago, one still within its lease
    body = fixture_bytes(VECTOR)
    assert post_webhook("facebook", body).status_code == 200
    assert post_webhook("facebook", body.replace(VECTOR_LEAD.encode(), b"999999999")).status_code == 200
    expired, running = WebhookEvent.objects.order_by("pk").values_list("pk", flat=True)
    WebhookEvent.objects.update(next_attempt_at=timezone.now() + timedelta(minutes=1))  # not due on their own
    kill_claimant(expired, expired_ago=timedelta(seconds=1))
    kill_claimant(running, expired_ago=-timedelta(seconds=60))

    # when: the next sweeper tick
    with mock.patch("webhooks.services.ledger.enqueue_events", return_value=1) as enqueue:
        result = webhook_events_sweep()

    # then
    assert result["reset"] == 1 and enqueue.call_args.args[0] == [expired]
    assert WebhookEvent.objects.get(pk=expired).status == Status.RECEIVED
    assert WebhookEvent.objects.get(pk=running).status == Status.PROCESSING
    assert [row["stuck"] for row in ledger_stats()] == [0]


def test_an_event_claimed_without_a_lease_before_the_upgrade_is_reset_after_the_old_grace(event_id):
    kill_claimant(event_id, expired_ago=None)  # claimed by a worker still running the old code
    now = timezone.now()
    assert [row["stuck"] for row in ledger_stats(now=now)] == [0]
    with mock.patch("webhooks.services.ledger.enqueue_events", return_value=0):
        assert webhook_events_sweep(now=now)["reset"] == 0
        WebhookEvent.objects.update(claimed_at=now - UNLEASED_STUCK_AFTER - timedelta(seconds=1))
        assert [row["stuck"] for row in ledger_stats(now=now)] == [1]
        assert webhook_events_sweep(now=now)["reset"] == 1
