"""Celery defaults (JSON, late acks, retry with backoff, beat) and German-first i18n."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.db import OperationalError
from django.utils import translation

from config.celery import HEARTBEAT_CACHE_KEY, RETRYABLE_ERRORS, BaseTask, app, celery_heartbeat
from core.exceptions import TransientError

attempts: list[int] = []


@app.task(name="tests.flaky_task", bind=True)
def flaky_task(self, fail_times: int) -> int:
    attempts.append(self.request.retries)
    if self.request.retries < fail_times:
        raise TransientError("remote blipped")
    return self.request.retries


def test_celery_configuration(settings):
    conf = app.conf
    assert conf.task_serializer == "json" and conf.accept_content == ["json"]
    assert conf.task_acks_late is True and conf.task_reject_on_worker_lost is True
    assert conf.task_time_limit > conf.task_soft_time_limit > 0
    assert conf.worker_prefetch_multiplier == 1
    assert "celery-heartbeat" in settings.CELERY_BEAT_SCHEDULE
    assert isinstance(flaky_task, BaseTask)
    assert flaky_task.retry_backoff and flaky_task.retry_jitter and flaky_task.max_retries >= 5
    assert OperationalError in RETRYABLE_ERRORS and TransientError in RETRYABLE_ERRORS


@pytest.fixture
def worker_like():
    """Eager apply without propagation re-runs retries at once, the way a worker would later."""
    previous = app.conf.task_eager_propagates
    app.conf.task_eager_propagates = False
    yield
    app.conf.task_eager_propagates = previous


def test_transient_errors_are_retried_until_success(worker_like):
    attempts.clear()
    assert flaky_task.apply(args=[2]).get() == 2
    assert attempts == [0, 1, 2]


def test_retries_give_up_after_max_retries(worker_like):
    attempts.clear()
    result = flaky_task.apply(args=[99])
    assert isinstance(result.result, TransientError)
    assert len(attempts) == flaky_task.max_retries + 1


def test_heartbeat_is_recorded_in_redis_cache():
    stamp = celery_heartbeat.delay().get()
    assert cache.get(HEARTBEAT_CACHE_KEY) == stamp


@pytest.mark.django_db
def test_admin_is_german_by_default_and_english_on_request(client):
    german = client.get("/admin/login/")
    assert german.status_code == 200
    assert "Lead-Plattform" in german.content.decode()
    assert "Anmelden" in german.content.decode()
    english = client.get("/admin/login/", HTTP_ACCEPT_LANGUAGE="en")
    assert "Log in" in english.content.decode()


def test_model_labels_are_translated():
    from leads.models import Lead

    with translation.override("de"):
        assert str(Lead.Stage.BURNING.label) == "Brennend"
        assert str(Lead.Status.LOST.label) == "Verloren"
    with translation.override("en"):
        assert str(Lead.Stage.BURNING.label) == "Burning"
