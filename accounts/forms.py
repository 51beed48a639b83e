"""Sign-in forms that know about lockouts (django-axes) and TOTP codes (django-otp); the password-reset throttle."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from accounts.security import (
    is_locked_out,
    lockout_message,
    login_failed,
    password_reset_throttled,
    throttle_message,
    totp_device,
    totp_verify,
)


class SecureLoginMixin(forms.Form):
    """Password first (axes counts and may refuse it), then the TOTP code when the user has a device."""

    otp_token = forms.CharField(
        label=_("Authentication code"),
        required=False,
        max_length=12,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
        help_text=_("Only if two-factor authentication is set up for your account."),
    )

    def clean(self) -> dict[str, Any]:
        try:
            cleaned = super().clean()
        except ValidationError:
            if is_locked_out(self.request):
                raise ValidationError(lockout_message(), code="locked_out") from None
            raise
        user = self.get_user()
        device = totp_device(user)
        if device is not None:
            token = cleaned.get("otp_token") or ""
            if not totp_verify(device, token):
                login_failed(self.request, user.email)  # axes counts wrong codes like wrong passwords
                if is_locked_out(self.request):
                    raise ValidationError(lockout_message(), code="locked_out")
                raise ValidationError(
                    _("The authentication code is missing or wrong. Please enter the current code from your app."),
                    code="invalid_token",
                )
            user.otp_device = device  # django-otp marks the session verified on login
        return cleaned


class SecureAuthenticationForm(SecureLoginMixin, AuthenticationForm):
    """The portal's login form."""


class StaffAuthenticationForm(SecureLoginMixin, AdminAuthenticationForm):
    """The admin's login form."""


class TotpConfirmForm(forms.Form):
    token = forms.CharField(
        label=_("Authentication code"),
        max_length=12,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}),
    )


class ThrottledPasswordResetForm(PasswordResetForm):
    """Django's reset form, counted per client IP and per address (``retry_after`` is set when refused)."""

    def __init__(self, *args: Any, request: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.request = request
        self.retry_after: int | None = None

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if self.request is not None:
            wait = password_reset_throttled(self.request, cleaned.get("email") or "")
            if wait:
                self.retry_after = wait
                raise ValidationError(throttle_message(wait), code="throttled")
        return cleaned
