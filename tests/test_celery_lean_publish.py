"""The lean publisher writes exactly what ``apply_async`` writes, and a real worker runs it."""

from __future__ import annotations

import base64
import json
import threading
import time
from unittest import mock

import pytest
import redis
from celery.contrib.testing.worker import start_worker
from django.conf import settings
from django.test import RequestFactory

from config.celery import app
from core import celery as lean
from core import ratelimit
from core.celery import publish_lean
from core.ratelimit import RateLimitHit

ran: list[tuple[int, str]] = []
ran_event = threading.Event()


@app.task(name="tests.lean_publish.record", ignore_result=True)
def record(number: int, text: str) -> None:
    ran.append((number, text))
    ran_event.set()


QUEUE = "celery"


@pytest.fixture
def broker():
    """The real Redis broker with eager mode off (the suite runs Celery eagerly)."""
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    client.delete(QUEUE)
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = False
    try:
        yield client
    finally:
        app.conf.task_always_eager = eager
        client.delete(QUEUE)


def _pop(client: redis.Redis) -> dict:
    raw = client.rpop(QUEUE)
    assert raw is not None, "nothing was queued"
    return json.loads(raw)


PER_MESSAGE = {
    ("headers", "id"),
    ("headers", "root_id"),
    ("properties", "correlation_id"),
    ("properties", "delivery_tag"),
}


def _flatten(message: dict, prefix: tuple = ()) -> dict[tuple, object]:
    flat = {}
    for key, value in message.items():
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, (*prefix, key)))
        else:
            flat[(*prefix, key)] = value
    return flat


def test_the_message_equals_what_apply_async_writes_except_its_ids(broker):
    record.apply_async((7, 'quote " and ü'), retry=False)
    reference = _pop(broker)
    assert publish_lean(record, [(7, 'quote " and ü')]) == 1
    lean_message = _pop(broker)

    ours, theirs = _flatten(lean_message), _flatten(reference)
    assert ours.keys() == theirs.keys()
    assert {k: v for k, v in ours.items() if k not in PER_MESSAGE and k != ("body",)} == {
        k: v for k, v in theirs.items() if k not in PER_MESSAGE and k != ("body",)
    }
    assert json.loads(base64.b64decode(lean_message["body"])) == json.loads(base64.b64decode(reference["body"]))
    headers = lean_message["headers"]
    assert headers["id"] == headers["root_id"] == lean_message["properties"]["correlation_id"]
    assert lean_message["properties"]["delivery_tag"] != headers["id"]


def test_many_calls_go_out_in_one_push_with_distinct_ids(broker):
    assert publish_lean(record, [(1, "a"), (2, "b"), (3, "c")]) == 3
    messages = [_pop(broker) for _ in range(3)]
    assert sorted(json.loads(base64.b64decode(m["body"]))[0][0] for m in messages) == [1, 2, 3]
    assert len({m["headers"]["id"] for m in messages}) == 3


def test_a_real_worker_runs_the_lean_message(broker):
    ran.clear()
    ran_event.clear()
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        assert publish_lean(record, [(42, "grüße")]) == 1
        assert ran_event.wait(timeout=20), "the worker did not run the task"
    assert ran == [(42, "grüße")]


def test_broker_down_returns_zero_at_once_and_raises_nothing(broker, caplog):
    dead = lean._LeanRoute(
        pid=lean.os.getpid(),
        broker_url="redis://127.0.0.1:1/0",
        client=redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2),
    )
    started = time.monotonic()
    with mock.patch.object(lean, "_lean_route", dead):
        assert publish_lean(record, [(1, "a"), (2, "b")]) == 0
    assert time.monotonic() - started < 2
    assert "Cannot queue" in caplog.text


def test_eager_mode_runs_through_apply_async():
    ran.clear()
    assert app.conf.task_always_eager
    assert publish_lean(record, [(5, "eager")]) == 1
    assert ran == [(5, "eager")]


def test_the_rate_limit_hit_rides_in_the_same_round_trip(broker, settings):
    settings.WEBHOOK_RATE_LIMIT = "2/m"
    request = RequestFactory().post("/webhooks/facebook/")
    hits = [RateLimitHit(request, group="webhooks.test", ip="198.51.100.1") for _ in range(2)]
    assert hits[0].can_push_with(settings.CELERY_BROKER_URL)
    client = lean._route().client
    client.script_load(ratelimit._HIT_AND_PUSH_SCRIPT)  # as after any earlier hit (a fresh Redis knows none)
    with mock.patch.object(client, "execute_command", wraps=client.execute_command) as command:
        for hit in hits:
            assert hit.blocked() is None
            assert publish_lean(record, [(1, "a")], piggyback=hit) == 1
            hit.count()  # already counted: no second hit
    assert [call.args[0] for call in command.call_args_list] == ["EVALSHA", "EVALSHA"]  # one per publish
    assert all(hit.counted for hit in hits)
    # The window is full after the second hit: the next one is refused without asking Redis.
    third = RateLimitHit(request, group="webhooks.test", ip="198.51.100.1")
    assert 1 <= third.blocked() <= 60
    assert broker.llen(QUEUE) == 2


def test_a_flushed_script_cache_is_survived(broker, settings):
    settings.WEBHOOK_RATE_LIMIT = "5/m"
    broker.script_flush()
    hit = RateLimitHit(RequestFactory().post("/"), group="webhooks.flushed", ip="198.51.100.3")
    assert publish_lean(record, [(1, "a")], piggyback=hit) == 1
    assert broker.llen(QUEUE) == 1 and hit.counted
