"""Celery application: JSON only, late acks, and retry with backoff as every task's default."""

from __future__ import annotations

import logging
import os
import time

import requests
from celery import Celery, Task
from django.db.utils import InterfaceError, OperationalError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from core.exceptions import TransientError

logger = logging.getLogger(__name__)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

#: Failures that are worth another try: the database, Redis or a remote service blipped.
RETRYABLE_ERRORS: tuple[type[BaseException], ...] = (
    TransientError,
    ConnectionError,
    TimeoutError,
    OperationalError,
    InterfaceError,
    RedisConnectionError,
    RedisTimeoutError,
    requests.ConnectionError,
    requests.Timeout,
)

HEARTBEAT_CACHE_KEY = "celery:heartbeat"


class BaseTask(Task):
    """Default for every task: retried with exponential backoff and jitter on transient errors."""

    autoretry_for = RETRYABLE_ERRORS
    retry_backoff = 2
    retry_backoff_max = 600
    retry_jitter = True
    max_retries = 8
    acks_late = True
    reject_on_worker_lost = True


app = Celery("leadplatform", task_cls=BaseTask)
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.task(name="config.celery_heartbeat", ignore_result=True)
def celery_heartbeat() -> float:
    """Record that a worker is alive and beat is ticking; /healthz reports its age."""
    from django.core.cache import cache

    now = time.time()
    cache.set(HEARTBEAT_CACHE_KEY, now, timeout=None)
    return now
