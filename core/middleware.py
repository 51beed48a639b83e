"""Request middleware shared by every app."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _

from core.api import error_body

#: Session key of a staff member's last request (epoch seconds).
LAST_ACTIVITY_KEY = "_staff_last_activity"
#: The last-activity stamp (and the session's expiry) is written at most this often: not on every request.
ACTIVITY_RESOLUTION_SECONDS = 60


class StaffSessionIdleTimeoutMiddleware:
    """End a staff member's browser session after ``STAFF_SESSION_IDLE_SECONDS`` without a request.

    Platform admins and internal ops see every lead's data, so a forgotten admin tab must not stay
    signed in for the two weeks a partner's session lasts. The session remembers the last request
    (right after login: ``last_login``); past the idle time the user is logged out, the session flushed.
    The stamp and the session's own expiry are refreshed at most once a minute, so an admin page
    costs no session write on most requests. Must come after ``AuthenticationMiddleware``.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        seconds = getattr(settings, "STAFF_SESSION_IDLE_SECONDS", 0)
        user = getattr(request, "user", None)
        if seconds and user is not None and user.is_authenticated and getattr(user, "is_staff", False):
            now = int(time.time())
            last = request.session.get(LAST_ACTIVITY_KEY)
            if last is None and getattr(user, "last_login", None):
                last = int(user.last_login.timestamp())
            if last is not None and now - last > seconds:
                logout(request)
            elif last is None or now - last >= ACTIVITY_RESOLUTION_SECONDS:
                request.session[LAST_ACTIVITY_KEY] = now
                request.session.set_expiry(seconds)
        return self.get_response(request)


#: Error statuses whose HTML body (Django's debug pages, a plain view's 405) becomes the JSON error shape.
_API_ERROR_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 500: "server_error"}


class ApiErrorMiddleware:
    """Keep the JSON error shape under ``/api/`` in DEBUG too (the README: errors there are always JSON).

    With ``DEBUG`` on, Django answers an unknown URL and an unhandled exception with its HTML debug pages
    (``handler404``/``handler500`` are only used with ``DEBUG`` off), and a plain Django view answers a
    wrong method with an empty HTML 405. For ``/api/`` paths this middleware replaces such a non-JSON
    error response by ``core.api.error_body``; Django has already logged the exception with its traceback
    (``django.request``), so the response never carries it. Pages outside ``/api/`` keep Django's debug
    pages. Placed inside the security and request-id middleware, so they still decorate the JSON answer.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        code = _API_ERROR_CODES.get(response.status_code)
        if code is None or not request.path.startswith("/api/") or _is_json(response):
            return response
        return _json_error(response, code)


def _is_json(response: HttpResponse) -> bool:
    content_type = (response.get("Content-Type") or "").split(";")[0].strip().lower()
    return content_type == "application/json" or content_type.endswith("+json")


def _json_error(response: HttpResponse, code: str) -> HttpResponse:
    messages = {
        "bad_request": _("Bad request."),
        "not_found": _("Not found."),
        "method_not_allowed": _("Method not allowed."),
        "server_error": _("An internal error occurred."),
    }
    replacement = JsonResponse(error_body(code, messages[code]), status=response.status_code)
    # Django logged the original (with its traceback): the replacement must not be logged a second time.
    replacement._has_been_logged = getattr(response, "_has_been_logged", False)
    if response.has_header("Allow"):
        replacement["Allow"] = response["Allow"]
    return replacement
