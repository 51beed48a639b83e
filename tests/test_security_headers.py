"""Security headers and sessions (issue 23, finding 5): CSP, Referrer-Policy, Permissions-Policy,
staff idle timeout, a new session key at every login."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from core.middleware import LAST_ACTIVITY_KEY
from tests.accounts.factories import PASSWORD
from tests.deals.factories import own_lead

pytestmark = pytest.mark.django_db

#: An executable inline script: a <script> without src (JSON data blocks are not executed).
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", re.IGNORECASE)
#: An inline event handler attribute (onclick=…) or a javascript: URL.
INLINE_HANDLER = re.compile(r"<[a-z][^>]*\son[a-z]+\s*=|javascript:", re.IGNORECASE)


def _directives(response) -> dict[str, list[str]]:
    policy = response["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in (p.strip() for p in policy.split(";")) if part}


def _assert_headers(response) -> None:
    assert response.status_code == 200
    csp = _directives(response)
    assert csp["default-src"] == ["'self'"]
    assert csp["script-src"] == ["'self'"]  # no inline script, no eval, no foreign origin
    assert csp["object-src"] == ["'none'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["base-uri"] == ["'self'"] and csp["form-action"] == ["'self'"]
    assert response["Referrer-Policy"] == "same-origin"
    permissions = response["Permissions-Policy"]
    for feature in ("camera", "microphone", "geolocation", "payment", "usb"):
        assert f"{feature}=()" in permissions
    assert response["X-Content-Type-Options"] == "nosniff"


def _assert_no_inline_script(response) -> None:
    page = response.content.decode()
    assert not INLINE_SCRIPT.search(page), INLINE_SCRIPT.search(page).group(0)
    assert not INLINE_HANDLER.search(page), INLINE_HANDLER.search(page).group(0)


def test_portal_pages_send_the_security_headers_and_need_no_inline_script(portal_client, portal_partner):
    lead = own_lead(portal_partner, company_name="Header GmbH")
    for url in (reverse("portal:dashboard"), reverse("portal:lead_detail", args=[lead.public_id])):
        response = portal_client.get(url)
        _assert_headers(response)
        _assert_no_inline_script(response)


def test_admin_changelist_sends_the_security_headers_and_needs_no_inline_script(admin_user):
    client = Client()
    client.force_login(admin_user)
    response = client.get("/admin/leads/lead/")
    _assert_headers(response)
    _assert_no_inline_script(response)


def test_swagger_ui_loads_its_init_script_from_a_url_under_the_policy():
    client = Client()
    response = client.get("/api/docs/")
    _assert_headers(response)
    _assert_no_inline_script(response)
    script_url = re.findall(r'<script src="([^"]+)"', response.content.decode())[-1].replace("&amp;", "&")
    script = client.get(script_url)
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle" in script.content.decode()


def _session_expiry(client: Client) -> timedelta:
    key = client.cookies[settings.SESSION_COOKIE_NAME].value
    return Session.objects.get(session_key=key).expire_date - timezone.now()


def _last_activity(client: Client, seconds_ago: int) -> None:
    session = client.session
    session[LAST_ACTIVITY_KEY] = int(time.time()) - seconds_ago
    session.save()


def test_staff_sessions_end_after_the_idle_timeout_partner_sessions_do_not(admin_user, portal_client):
    idle = settings.STAFF_SESSION_IDLE_SECONDS
    assert 60 < idle <= 3600
    staff = Client()
    staff.force_login(admin_user)
    assert staff.get("/admin/").status_code == 200

    # Active a while ago but within the idle time: still signed in, the deadline moves on.
    _last_activity(staff, idle - 120)
    assert staff.get("/admin/").status_code == 200
    assert _session_expiry(staff) <= timedelta(seconds=idle)

    # Idle beyond the deadline: logged out, the admin asks to sign in again.
    _last_activity(staff, idle + 1)
    response = staff.get("/admin/")
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    assert staff.get("/admin/").status_code == 302

    # A partner's session is not cut short.
    assert portal_client.get(reverse("portal:dashboard")).status_code == 200
    assert _session_expiry(portal_client) > timedelta(days=7)


def test_a_staff_session_idle_since_login_ends_too(admin_user):
    staff = Client()
    staff.force_login(admin_user)
    type(admin_user).objects.filter(pk=admin_user.pk).update(
        last_login=timezone.now() - timedelta(seconds=settings.STAFF_SESSION_IDLE_SECONDS + 1)
    )
    assert staff.get("/admin/")["Location"].startswith("/admin/login/")


def _anonymous_session(client: Client) -> str:
    session = client.session
    session["probe"] = "before login"
    session.save()
    return session.session_key


@pytest.mark.parametrize(
    ("login_url", "user_fixture"),
    [("/portal/leads/login/", "partner_user"), ("/admin/login/", "admin_user")],
)
def test_login_rotates_the_session_key(login_url, user_fixture, request):
    user = request.getfixturevalue(user_fixture)
    client = Client()
    before = _anonymous_session(client)
    response = client.post(login_url, {"username": user.email, "password": PASSWORD})
    assert response.status_code == 302, response.content.decode()[:500]
    after = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert after and after != before
    assert not Session.objects.filter(session_key=before).exists()
