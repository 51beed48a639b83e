"""Request middleware shared by every app."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse

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
