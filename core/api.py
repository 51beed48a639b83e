"""API plumbing shared by every app: the one error shape, its exception handler and JSON 404/500."""

from __future__ import annotations

import logging
import math
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, JsonResponse
from django.urls import re_path
from django.utils.translation import gettext as _
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from core.exceptions import DomainError
from core.logging import is_database_error, safe_exception_text

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
        view = type(context.get("view")).__name__
        if is_database_error(exc):
            # Not exc_info: every handler (tests' capture too) would print the driver's message, which
            # quotes the submitted data. The traceback and SQLSTATE are enough to find the cause.
            logger.error("Unhandled API error", extra={"view": view, "exc": safe_exception_text(exc)})
        else:
            logger.exception("Unhandled API error", extra={"view": view})
        return Response(
            error_body("server_error", _("An internal error occurred.")), status=status.HTTP_500_INTERNAL_SERVER_ERROR
        )

    if isinstance(exc, exceptions.Throttled):
        # 429 with Retry-After in whole seconds (never "0": DRF's own header rounds down).
        seconds = max(1, math.ceil(exc.wait or 1))
        response["Retry-After"] = str(seconds)
        codes = exc.get_codes()  # "throttled", or a subclass's own code (the capture API's "rate_limited")
        response.data = error_body(
            codes if isinstance(codes, str) else "throttled",
            _("Too many requests. Please try again in %(seconds)d seconds.") % {"seconds": seconds},
        )
    elif isinstance(exc, exceptions.ValidationError):
        detail = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        response.data = error_body("validation_error", _first_message(detail), detail)
    else:
        codes = exc.get_codes() if isinstance(exc, exceptions.APIException) else "error"
        # Some exceptions (simplejwt's InvalidToken) carry a dict; their default code says it best.
        code = codes if isinstance(codes, str) else getattr(exc, "default_code", "error")
        detail = getattr(exc, "detail", str(exc))
        response.data = error_body(code, _first_message(detail))
    return response


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
