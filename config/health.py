"""Health endpoint for load balancers: database, Redis and the Celery heartbeat."""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, JsonResponse


def _check_database() -> dict[str, Any]:
    started = time.perf_counter()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": True, "vendor": connection.vendor, "latency_ms": round((time.perf_counter() - started) * 1000, 2)}


def _check_redis() -> dict[str, Any]:
    if not settings.REDIS_URL:
        return {"ok": True, "configured": False}
    import redis

    started = time.perf_counter()
    try:
        client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
        try:
            client.ping()
        finally:
            client.close()
    except Exception as exc:
        return {"ok": False, "configured": True, "error": type(exc).__name__}
    return {"ok": True, "configured": True, "latency_ms": round((time.perf_counter() - started) * 1000, 2)}


def _celery_status() -> dict[str, Any]:
    from config.celery import HEARTBEAT_CACHE_KEY

    if settings.CELERY_TASK_ALWAYS_EAGER:
        return {"mode": "eager"}
    try:
        beat = cache.get(HEARTBEAT_CACHE_KEY)
    except Exception:
        beat = None
    return {"mode": "worker", "last_heartbeat_age_s": round(time.time() - beat, 1) if beat else None}


def healthz(request: HttpRequest) -> JsonResponse:
    """Report database and Redis reachability; 503 when either is down (load balancers read it)."""
    database = _check_database()
    redis_status = _check_redis()
    healthy = database["ok"] and redis_status["ok"]
    body = {
        "status": "ok" if healthy else "unavailable",
        "database": database,
        "redis": redis_status,
        "celery": _celery_status(),
    }
    return JsonResponse(body, status=200 if healthy else 503)
