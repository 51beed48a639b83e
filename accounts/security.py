"""Sign-in security: throttling and lockout (django-axes), password-reset throttle, TOTP two-factor (django-otp).

Every way to sign in (JWT obtain, portal login, admin login) goes through ``django.contrib.auth.authenticate``
with the request, so django-axes counts each failure per account and per client IP. An account is locked after
``LOGIN_LOCKOUT_ACCOUNT_FAILURES`` failures, a client IP after ``LOGIN_LOCKOUT_IP_FAILURES``; the lock ends
``LOGIN_LOCKOUT_MINUTES`` after the last failed try, or when an admin unlocks it (user admin action, the
"Access attempts" admin, or ``manage.py axes_reset_username``). The first refusal of a lock is audited as
``auth.locked_out``.

Two-factor: staff (platform admins, internal ops) sign in with a TOTP code once they have a confirmed device;
with ``STAFF_2FA_REQUIRED`` they cannot use the admin before enrolling one. Partners may enroll; once they
have a device the portal login asks for the code too.
"""

from __future__ import annotations

import base64
import hashlib
import io
import logging
import math
from typing import Any

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_cool_off, get_failure_limit, get_lockout_parameters
from axes.signals import user_locked_out
from axes.utils import reset as axes_reset
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.core.cache import cache
from django.db.models import Sum
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import ngettext
from django_otp.plugins.otp_totp.models import TOTPDevice

from compliance.services import audit_record
from core.api import error_body
from core.ratelimit import client_ip, rate_limit_exceeded

logger = logging.getLogger(__name__)

TOTP_DEVICE_NAME = "default"


# --- Lockout (django-axes glue) ---------------------------------------------------------------


def login_username(request: HttpRequest | None, credentials: dict[str, Any] | None = None) -> str | None:
    """The account a sign-in attempt is for, as axes counts it (``AXES_USERNAME_CALLABLE``).

    Django's forms pass ``username``, simplejwt passes ``email``: both count for the same account, and
    lower-cased, since sign-in is case-insensitive (otherwise ``A@x.de`` and ``a@x.de`` would be two counters).
    """
    value = None
    if credentials:
        value = credentials.get("username") or credentials.get("email")
    elif request is not None:
        data = getattr(request, "data", None) or request.POST
        value = data.get("username") or data.get("email")
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip().lower()[:255]


class LoginLockoutHandler(AxesDatabaseHandler):
    """Axes' database handler with separate limits per account and per IP.

    Axes compares one number (the highest failure count of the lockout parameters) with one limit
    (``AXES_FAILURE_LIMIT`` = the account limit). The IP count is scaled onto the account limit:
    ``ip_failures * account_limit // ip_limit >= account_limit`` exactly when ``ip_failures >= ip_limit``.
    """

    def get_failures(self, request, credentials: dict | None = None) -> int:
        limit = get_failure_limit(request, credentials)
        ip_limit = max(1, settings.LOGIN_LOCKOUT_IP_FAILURES)
        scaled = [0]
        for parameter, attempts in zip(
            get_lockout_parameters(request, credentials), self.get_user_attempts(request, credentials), strict=True
        ):
            failures = attempts.aggregate(n=Sum("failures_since_start"))["n"] or 0
            scaled.append(failures * limit // ip_limit if parameter == "ip_address" else failures)
        return max(scaled)


def lockout_seconds() -> int:
    """Seconds until a lock ends: every refused try restarts the cool-off (AXES_RESET_COOL_OFF_ON_FAILURE...)."""
    cool_off = get_cool_off()
    return max(1, int(cool_off.total_seconds())) if cool_off else 0


def lockout_message() -> str:
    minutes = max(1, math.ceil(lockout_seconds() / 60))
    return ngettext(
        "Too many failed sign-in attempts. Please try again in %(minutes)d minute.",
        "Too many failed sign-in attempts. Please try again in %(minutes)d minutes.",
        minutes,
    ) % {"minutes": minutes}


def is_locked_out(request: Any) -> bool:
    """True when axes refused or locked this request's sign-in (set on the request it was given)."""
    return bool(getattr(request, "axes_locked_out", False))


def api_lockout_response() -> JsonResponse:
    response = JsonResponse(error_body("too_many_attempts", lockout_message()), status=429)
    response["Retry-After"] = str(lockout_seconds())
    return response


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: dict | None = None
) -> HttpResponse:
    """``AXES_LOCKOUT_CALLABLE``: the API's error shape, or the login page with its form error, as 429."""
    if request.path.startswith("/api/") or original_response is None:
        return api_lockout_response()
    original_response.status_code = 429
    original_response["Retry-After"] = str(lockout_seconds())
    return original_response


@receiver(user_locked_out, dispatch_uid="accounts_audit_locked_out")
def _audit_locked_out(sender, request=None, username: str | None = None, ip_address: str | None = None, **kwargs):
    """Audit a lock once per cool-off window (a flood of refused tries is one event, not thousands)."""
    # Hashed: neither the typed address nor the IP (personal data) belongs in a cache key.
    key = "auth-locked:" + hashlib.blake2b(f"{username or ''}:{ip_address or ''}".encode(), digest_size=16).hexdigest()
    try:
        first = cache.add(key, 1, lockout_seconds() or None)
    except Exception:  # a cache outage must not break sign-in; audit rather twice than never
        first = True
    if not first:
        return
    user = get_user_model().objects.filter(email=username).select_related("organization").first() if username else None
    audit_record(
        event_type="auth.locked_out",
        actor=None,
        obj=user,
        tenant=getattr(user, "organization", None),
        payload={"path": getattr(request, "path", "")[:200], "account_known": user is not None},
        ip=ip_address,
    )


def login_unlock(*, user: Any, actor: Any) -> int:
    """Lift an account's lock (admin action); returns the number of failure records removed."""
    count = axes_reset(username=user.email)
    audit_record(
        event_type="auth.unlocked", actor=actor, obj=user, tenant=user.organization, payload={"records": count}
    )
    return count


def login_failed(request: HttpRequest, username: str) -> None:
    """Count a failure that authenticate() did not see (a wrong TOTP code after the right password)."""
    user_login_failed.send(sender=__name__, credentials={"username": username}, request=request)


# --- Password reset throttle ------------------------------------------------------------------


def password_reset_throttled(request: HttpRequest, email: str) -> int | None:
    """Count a reset request per client IP and per address; ``Retry-After`` seconds when over a limit."""
    ip = client_ip(request)
    per_ip = rate_limit_exceeded(request, group="password-reset-ip", rate=settings.PASSWORD_RESET_RATE_IP, ip=ip)
    account = (email or "").strip().lower()
    per_account = (
        rate_limit_exceeded(
            request, group="password-reset-account", rate=settings.PASSWORD_RESET_RATE_ACCOUNT, ip=account
        )
        if account
        else None
    )
    waits = [w for w in (per_ip, per_account) if w]
    return max(waits) if waits else None


def throttle_message(seconds: int) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    return ngettext(
        "Too many requests. Please try again in %(minutes)d minute.",
        "Too many requests. Please try again in %(minutes)d minutes.",
        minutes,
    ) % {"minutes": minutes}


# --- Two-factor (TOTP) ------------------------------------------------------------------------


def totp_device(user: Any, *, confirmed: bool = True) -> TOTPDevice | None:
    if user is None or not getattr(user, "pk", None):
        return None
    return TOTPDevice.objects.filter(user=user, confirmed=confirmed).order_by("pk").first()


def totp_verify(device: TOTPDevice, token: str) -> bool:
    """Check a code, honouring django-otp's throttle (a growing delay after each wrong code)."""
    token = (token or "").strip().replace(" ", "")
    allowed, _extra = device.verify_is_allowed()
    return bool(allowed and token.isdigit() and device.verify_token(token))


#: Whether the signed-in user had a confirmed TOTP device at login: read on every admin request instead of a query.
SESSION_HAS_DEVICE = "accounts_has_totp_device"


@receiver(user_logged_in, dispatch_uid="accounts_remember_totp_device")
def _remember_device(sender, request=None, user=None, **kwargs) -> None:
    if request is not None and hasattr(request, "session") and user is not None:
        request.session[SESSION_HAS_DEVICE] = totp_device(user) is not None


def staff_2fa_satisfied(request: HttpRequest) -> bool:
    """May this signed-in staff session use the admin? Verified by a device, or 2FA not (yet) required of it."""
    user = request.user
    if getattr(user, "is_verified", None) and user.is_verified():
        return True
    has_device = request.session.get(SESSION_HAS_DEVICE) if hasattr(request, "session") else None
    if has_device is None:  # a session from before this flag existed
        has_device = totp_device(user) is not None
    if has_device:
        return False  # has a device: this session must have passed it
    return not settings.STAFF_2FA_REQUIRED


def totp_enroll_start(*, user: Any) -> TOTPDevice:
    """The user's pending (unconfirmed) device, created on first call; its key is shown once as QR code."""
    device = totp_device(user, confirmed=False)
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=TOTP_DEVICE_NAME, confirmed=False)
    return device


def totp_enroll_confirm(*, request: HttpRequest, device: TOTPDevice, token: str) -> bool:
    """Confirm the pending device with a first valid code; the session counts as verified from then on."""
    from django_otp import login as otp_login

    if device.confirmed or not totp_verify(device, token):
        return False
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    TOTPDevice.objects.filter(user=device.user, confirmed=False).delete()
    otp_login(request, device)
    request.session[SESSION_HAS_DEVICE] = True
    audit_record(
        event_type="auth.2fa_enrolled",
        actor=device.user,
        obj=device.user,
        tenant=device.user.organization,
        payload={"device": "totp"},
        ip=client_ip(request),
    )
    return True


def totp_qr_svg(device: TOTPDevice) -> str:
    """The device's otpauth:// URL as an inline SVG (a data: URL, so no inline markup needs trusting)."""
    from django_otp.qr import write_qrcode_image

    out = io.BytesIO()
    write_qrcode_image(device.config_url, out)
    return "data:image/svg+xml;base64," + base64.b64encode(out.getvalue()).decode()


def totp_secret(device: TOTPDevice) -> str:
    """The key in base32 (for apps that cannot scan), grouped by four."""
    secret = base64.b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
