"""Staff two-factor in Debian's Chromium: enroll a TOTP device, then sign in to /admin/ with a code."""

from __future__ import annotations

import base64
import os

import pytest
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.accounts.factories import PASSWORD, UserFactory, ensure_platform_organization
from tests.browser.conftest import CHROMIUM

pytest.importorskip("playwright.sync_api", reason="playwright is installed with the dev extra")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is missing (scripts/test.sh installs it)"),
]


def _code(key: bytes) -> str:
    return f"{totp(key):06d}"


def _login(page, base: str, email: str, code: str = "") -> None:
    page.goto(base + "/admin/login/?next=/admin/")
    page.fill("#id_username", email)
    page.fill("#id_password", PASSWORD)
    if code:
        page.fill("#id_otp_token", code)
    page.click("input[type=submit]")


def test_staff_enrolls_and_then_uses_the_admin(live_server, page, settings):
    settings.STAFF_2FA_REQUIRED = True
    ensure_platform_organization()
    staff = UserFactory(role="internal_ops", email="ops@plattform.de")

    _login(page, live_server.url, staff.email)
    page.wait_for_url(live_server.url + "/admin/zwei-faktor/")
    assert page.locator("img[src^='data:image/svg+xml']").is_visible()
    secret = page.locator("#totp-secret").inner_text().replace(" ", "")
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))

    page.fill("#id_token", _code(key))
    page.click("#two-factor-form input[type=submit]")
    page.wait_for_url(live_server.url + "/admin/")
    assert page.locator("#site-name").is_visible()
    assert TOTPDevice.objects.get(user=staff).confirmed


def test_staff_with_a_device_signs_in_with_a_totp(live_server, page, settings):
    settings.STAFF_2FA_REQUIRED = True
    ensure_platform_organization()
    staff = UserFactory(role="platform_admin", email="admin@plattform.de")
    device = TOTPDevice.objects.create(user=staff, name="default", confirmed=True)

    _login(page, live_server.url, staff.email, code="000000" if _code(device.bin_key) != "000000" else "111111")
    page.wait_for_selector(".errornote")
    assert page.url.startswith(live_server.url + "/admin/login/")

    TOTPDevice.objects.filter(pk=device.pk).update(throttling_failure_count=0, throttling_failure_timestamp=None)
    _login(page, live_server.url, staff.email, code=_code(device.bin_key))
    page.wait_for_url(live_server.url + "/admin/")
    assert page.locator("#site-name").is_visible()
