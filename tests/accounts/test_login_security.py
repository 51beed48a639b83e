"""Sign-in throttling, lockout and unlock (django-axes) on every login path; TOTP two-factor (django-otp)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.test import Client
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from accounts.models import User
from compliance.models import AuditEvent
from tests.accounts.factories import PASSWORD

pytestmark = pytest.mark.django_db

TOKEN_URL = "/api/auth/token/"
PORTAL_LOGIN = "/portal/leads/login/"
ADMIN_LOGIN = "/admin/login/"
LOCKED_DE = "Zu viele fehlgeschlagene Anmeldeversuche"


def _let_lock_expire(minutes: int = 16) -> None:
    """Advance the clock for axes: its attempts carry the time of the last failure."""
    for attempt in AccessAttempt.objects.all():
        AccessAttempt.objects.filter(pk=attempt.pk).update(
            attempt_time=attempt.attempt_time - timedelta(minutes=minutes)
        )


def _unthrottle(device: TOTPDevice) -> None:
    """Lift django-otp's own delay after a wrong code (1 s, doubling): not what these tests are about."""
    TOTPDevice.objects.filter(pk=device.pk).update(throttling_failure_count=0, throttling_failure_timestamp=None)


def _code(device: TOTPDevice, offset: int = 0) -> str:
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=offset):06d}"


# --- JWT obtain -------------------------------------------------------------------------------


def test_api_twenty_wrong_passwords_lock_the_account_until_the_cool_off_ends(partner_user):
    client = APIClient()
    statuses = [
        client.post(TOKEN_URL, {"email": partner_user.email, "password": f"falsch-{i}"}, format="json").status_code
        for i in range(20)
    ]
    assert statuses == [401] * 4 + [429] * 16

    refused = client.post(TOKEN_URL, {"email": partner_user.email, "password": PASSWORD}, format="json")
    assert refused.status_code == 429
    assert refused["Retry-After"] == str(15 * 60)
    error = refused.json()["error"]
    assert error["code"] == "too_many_attempts" and error["message"].startswith(LOCKED_DE)
    # Another spelling of the same address is the same account.
    upper = client.post(TOKEN_URL, {"email": partner_user.email.upper(), "password": PASSWORD}, format="json")
    assert upper.status_code == 429

    _let_lock_expire()
    assert client.post(TOKEN_URL, {"email": partner_user.email, "password": PASSWORD}, format="json").status_code == 200


def test_api_lock_per_ip_spares_other_addresses(partner_user):
    attacker = APIClient(REMOTE_ADDR="203.0.113.9")
    for i in range(20):  # one try each on 20 accounts: no account reaches its limit, the IP does
        attacker.post(TOKEN_URL, {"email": f"raten-{i}@example.com", "password": "x"}, format="json")
    refused = attacker.post(TOKEN_URL, {"email": partner_user.email, "password": PASSWORD}, format="json")
    assert refused.status_code == 429 and refused["Retry-After"]
    other = APIClient(REMOTE_ADDR="198.51.100.7")
    assert other.post(TOKEN_URL, {"email": partner_user.email, "password": PASSWORD}, format="json").status_code == 200


# --- Portal and admin login -------------------------------------------------------------------


def test_portal_login_locks_and_unlocks_by_time(partner_user):
    client = Client()
    for i in range(20):
        response = client.post(PORTAL_LOGIN, {"username": partner_user.email, "password": f"falsch-{i}"})
    assert response.status_code == 429 and response["Retry-After"] == str(15 * 60)
    assert LOCKED_DE in response.content.decode()

    refused = client.post(PORTAL_LOGIN, {"username": partner_user.email, "password": PASSWORD})
    assert refused.status_code == 429 and LOCKED_DE in refused.content.decode()

    _let_lock_expire()
    assert client.post(PORTAL_LOGIN, {"username": partner_user.email, "password": PASSWORD}).status_code == 302


def test_admin_login_lock_is_audited_once_and_lifted_by_an_admin(admin_user, ops_user):
    client = Client()
    for i in range(20):
        response = client.post(ADMIN_LOGIN, {"username": ops_user.email, "password": f"falsch-{i}"})
    assert response.status_code == 429 and LOCKED_DE in response.content.decode()
    assert client.post(ADMIN_LOGIN, {"username": ops_user.email, "password": PASSWORD}).status_code == 429

    events = AuditEvent.objects.filter(event_type="auth.locked_out")
    assert events.count() == 1
    assert events.get().object_id == str(ops_user.pk)

    admin = Client()
    admin.force_login(admin_user)
    changelist = admin.post(
        "/admin/accounts/user/", {"action": "unlock_sign_in", "_selected_action": [ops_user.pk]}, follow=True
    )
    assert changelist.status_code == 200
    assert AuditEvent.objects.filter(event_type="auth.unlocked").count() == 1

    unlocked = client.post(ADMIN_LOGIN, {"username": ops_user.email, "password": PASSWORD, "next": "/admin/"})
    assert unlocked["Location"] == "/admin/"


def test_password_reset_is_throttled_per_address(partner_user):
    client = Client()
    url = "/portal/leads/passwort-vergessen/"
    statuses = [client.post(url, {"email": partner_user.email}).status_code for _ in range(6)]
    assert statuses == [302] * 5 + [429]
    response = client.post(url, {"email": partner_user.email})
    assert int(response["Retry-After"]) > 0
    assert "Zu viele Anfragen" in response.content.decode()


# --- Two-factor -------------------------------------------------------------------------------


def test_staff_must_enroll_then_verify_before_using_the_admin(settings, ops_user):
    settings.STAFF_2FA_REQUIRED = True
    client = Client()
    login = client.post(ADMIN_LOGIN, {"username": ops_user.email, "password": PASSWORD, "next": "/admin/"})
    assert login.status_code == 302
    # Not usable yet: every admin page leads to the enrollment page.
    assert client.get("/admin/", follow=True).redirect_chain[-1][0] == "/admin/zwei-faktor/"

    setup = client.get("/admin/zwei-faktor/")
    assert setup.status_code == 200 and b"data:image/svg+xml;base64," in setup.content
    device = TOTPDevice.objects.get(user=ops_user, confirmed=False)

    wrong = client.post("/admin/zwei-faktor/", {"token": "000000" if _code(device) != "000000" else "111111"})
    assert wrong.status_code == 200 and not TOTPDevice.objects.get(pk=device.pk).confirmed
    assert client.get("/admin/").status_code == 302

    _unthrottle(device)
    done = client.post("/admin/zwei-faktor/", {"token": _code(device)})
    assert done["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200
    assert AuditEvent.objects.filter(event_type="auth.2fa_enrolled", object_id=str(ops_user.pk)).exists()


def test_staff_with_a_device_signs_in_only_with_a_valid_code(settings, admin_user):
    settings.STAFF_2FA_REQUIRED = True
    device = TOTPDevice.objects.create(user=admin_user, name="default", confirmed=True)
    client = Client()

    missing = client.post(ADMIN_LOGIN, {"username": admin_user.email, "password": PASSWORD})
    assert missing.status_code == 200 and "Authentifizierungscode" in missing.content.decode()
    wrong_code = "000000" if _code(device) != "000000" else "111111"
    wrong = client.post(ADMIN_LOGIN, {"username": admin_user.email, "password": PASSWORD, "otp_token": wrong_code})
    assert wrong.status_code == 200 and client.get("/admin/").status_code == 302

    _unthrottle(device)
    ok = client.post(
        ADMIN_LOGIN, {"username": admin_user.email, "password": PASSWORD, "otp_token": _code(device), "next": "/admin/"}
    )
    assert ok["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_staff_force_login_without_device_works_when_2fa_is_not_required(client, ops_user):
    client.force_login(ops_user)
    assert client.get("/admin/").status_code == 200


def test_staff_with_device_but_unverified_session_is_refused_even_when_not_required(client, ops_user):
    TOTPDevice.objects.create(user=ops_user, name="default", confirmed=True)
    client.force_login(ops_user)
    assert client.get("/admin/").status_code == 302


def test_partner_with_a_device_needs_the_code_at_the_portal(partner_user):
    device = TOTPDevice.objects.create(user=partner_user, name="default", confirmed=True)
    client = Client()
    without = client.post(PORTAL_LOGIN, {"username": partner_user.email, "password": PASSWORD})
    assert without.status_code == 200 and "Authentifizierungscode" in without.content.decode()
    ok = client.post(PORTAL_LOGIN, {"username": partner_user.email, "password": PASSWORD, "otp_token": _code(device)})
    assert ok.status_code == 302


def test_partners_without_device_sign_in_with_password_only(partner_user):
    assert partner_user.role == User.Role.SALES_PARTNER
    response = Client().post(PORTAL_LOGIN, {"username": partner_user.email, "password": PASSWORD})
    assert response.status_code == 302


def test_api_token_needs_the_code_when_the_account_has_a_device(settings, admin_user, partner_user):
    # given: staff with a device, and staff without one while 2FA is required
    settings.STAFF_2FA_REQUIRED = True
    device = TOTPDevice.objects.create(user=admin_user, name="default", confirmed=True)
    api = APIClient()
    # when / then: the password alone gets no token
    missing = api.post(TOKEN_URL, {"email": admin_user.email, "password": PASSWORD}, format="json")
    assert missing.status_code == 401 and missing.json()["error"]["code"] == "otp_required"
    assert "access" not in missing.json()
    wrong_code = "000000" if _code(device) != "000000" else "111111"
    wrong = api.post(
        TOKEN_URL, {"email": admin_user.email, "password": PASSWORD, "otp_token": wrong_code}, format="json"
    )
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "otp_invalid"
    _unthrottle(device)
    ok = api.post(
        TOKEN_URL, {"email": admin_user.email, "password": PASSWORD, "otp_token": _code(device)}, format="json"
    )
    assert ok.status_code == 200 and ok.json()["access"]
    # staff without a device must enroll first; partners without one sign in as before
    ops = User.objects.create_user(email="ops2@example.de", password=PASSWORD, role=User.Role.INTERNAL_OPS)
    refused = api.post(TOKEN_URL, {"email": ops.email, "password": PASSWORD}, format="json")
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "otp_setup_required"
    assert api.post(TOKEN_URL, {"email": partner_user.email, "password": PASSWORD}, format="json").status_code == 200


def test_partner_enrolls_in_the_portal_and_then_signs_in_with_a_code(partner_user):
    # given: a signed-in partner without a device
    client = Client()
    client.force_login(partner_user)
    page = client.get("/portal/leads/zwei-faktor/")
    assert page.status_code == 200 and 'id="totp-secret"' in page.content.decode()
    device = TOTPDevice.objects.get(user=partner_user, confirmed=False)
    # when: a wrong code, then the current one
    wrong_code = "000000" if _code(device) != "000000" else "111111"
    assert client.post("/portal/leads/zwei-faktor/", {"token": wrong_code}).status_code == 200
    assert not TOTPDevice.objects.filter(user=partner_user, confirmed=True).exists()
    _unthrottle(device)
    assert client.post("/portal/leads/zwei-faktor/", {"token": _code(device)}).status_code == 302
    # then: the device is confirmed, audited, and the next sign-in needs a code
    device.refresh_from_db()
    assert device.confirmed
    assert AuditEvent.objects.filter(event_type="auth.2fa_enrolled", object_id=str(partner_user.pk)).exists()
    assert "totp-secret" not in client.get("/portal/leads/zwei-faktor/").content.decode()
    fresh = Client().post(PORTAL_LOGIN, {"username": partner_user.email, "password": PASSWORD})
    assert fresh.status_code == 200 and "Authentifizierungscode" in fresh.content.decode()


def test_staff_cannot_use_the_partner_enrollment_page(client, ops_user):
    client.force_login(ops_user)
    assert client.get("/portal/leads/zwei-faktor/").status_code == 403
