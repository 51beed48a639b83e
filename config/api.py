"""API plumbing shared by every app: the one error shape, pagination, JSON 404/500 and health."""

from __future__ import annotations

import logging
import time
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import connection
from django.http import Http404, HttpRequest, JsonResponse
from django.urls import re_path
from django.utils.translation import gettext as _
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from config.exceptions import DomainError

logger = logging.getLogger(__name__)


def api_path(route: str, view, name: str):
    """Route an API path with and without its trailing slash (SPEC §9)."""
    route = route.strip("/")
    return re_path(rf"^api/{route}/?$", view, name=name)


def error_body(code: str, message: str, fields: Any = None) -> dict[str, Any]:
    """Build SPEC §6's error shape: ``{"error": {"code", "message", "fields"?}}``."""
    error: dict[str, Any] = {"code": code, "message": str(message)}
    if fields:
        error["fields"] = fields
    return {"error": error}


def _first_message(detail: Any) -> str:
    if isinstance(detail, dict):
        for value in detail.values():
            return _first_message(value)
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    return str(detail)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Map DRF, Django and domain exceptions to the single JSON error shape."""
    if isinstance(exc, DomainError):
        return Response(error_body(exc.code, exc.message, exc.fields), status=exc.status_code)
    if isinstance(exc, DjangoValidationError):
        fields = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        exc = exceptions.ValidationError(fields)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        # Unhandled: log with traceback, answer without leaking anything.
        logger.exception("Unhandled API error", extra={"view": type(context.get("view")).__name__})
        return Response(
            error_body("server_error", _("An internal error occurred.")), status=status.HTTP_500_INTERNAL_SERVER_ERROR
        )

    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        response.data = error_body("validation_error", _first_message(detail), detail)
    else:
        codes = exc.get_codes() if isinstance(exc, exceptions.APIException) else "error"
        # Some exceptions (simplejwt's InvalidToken) carry a dict; their default code says it best.
        code = codes if isinstance(codes, str) else getattr(exc, "default_code", "error")
        detail = getattr(exc, "detail", str(exc))
        response.data = error_body(code, _first_message(detail))
    return response


class DefaultPagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 200


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def page_not_found(request: HttpRequest, exception: Exception | None = None):
    """Django's 404 as JSON under /api/, the normal page elsewhere."""
    if _is_api(request):
        return JsonResponse(error_body("not_found", _("Not found.")), status=404)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest):
    if _is_api(request):
        return JsonResponse(error_body("server_error", _("An internal error occurred.")), status=500)
    return defaults.server_error(request)


def permission_denied(request: HttpRequest, exception: Exception | None = None):
    if _is_api(request):
        return JsonResponse(error_body("permission_denied", _("Permission denied.")), status=403)
    return defaults.permission_denied(request, exception)


def bad_request(request: HttpRequest, exception: Exception | None = None):
    if _is_api(request):
        return JsonResponse(error_body("bad_request", _("Bad request.")), status=400)
    return defaults.bad_request(request, exception)


def csrf_failure(request: HttpRequest, reason: str = ""):
    if _is_api(request):
        return JsonResponse(error_body("csrf_failed", _("CSRF verification failed.")), status=403)
    from django.views.csrf import csrf_failure as django_csrf_failure

    return django_csrf_failure(request, reason=reason)


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
