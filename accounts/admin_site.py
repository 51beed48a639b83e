"""The admin site of Zone 1: Django's, plus sign-in lockout messages and TOTP two-factor for staff.

``STAFF_2FA_REQUIRED`` (on in production): a staff session uses the admin only once verified by a TOTP
device; staff without a device are sent to enroll one first. Off (the embedded default and the tests),
staff without a device get in with their password; a staff user *with* a device always needs the code.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext as _

from accounts.forms import StaffAuthenticationForm, TotpConfirmForm
from accounts.security import (
    staff_2fa_satisfied,
    totp_device,
    totp_enroll_confirm,
    totp_enroll_start,
    totp_qr_svg,
    totp_secret,
)


class StaffAdminSite(admin.AdminSite):
    login_form = StaffAuthenticationForm
    login_template = "admin/accounts/login.html"

    def has_permission(self, request: HttpRequest) -> bool:
        return super().has_permission(request) and staff_2fa_satisfied(request)

    def _must_enroll(self, request: HttpRequest) -> bool:
        user = request.user
        return bool(user.is_active and user.is_staff and settings.STAFF_2FA_REQUIRED and totp_device(user) is None)

    def login(self, request: HttpRequest, extra_context=None) -> HttpResponse:
        response = super().login(request, extra_context)
        # Signed in by password but 2FA is required and no device yet: enroll before anything else.
        if request.user.is_authenticated and self._must_enroll(request):
            target = reverse("admin:two_factor_setup", current_app=self.name)
            return HttpResponseRedirect(target)
        return response

    def get_urls(self):
        return [path("zwei-faktor/", self.two_factor_setup, name="two_factor_setup"), *super().get_urls()]

    def two_factor_setup(self, request: HttpRequest) -> HttpResponse:
        """Enroll a TOTP device: show the QR code and the key, confirm with a first code."""
        user = request.user
        if not (user.is_authenticated and user.is_active and user.is_staff):
            login_url = reverse("admin:login", current_app=self.name)
            return HttpResponseRedirect(f"{login_url}?{REDIRECT_FIELD_NAME}={request.path}")
        index = reverse("admin:index", current_app=self.name)
        if totp_device(user) is not None:
            return HttpResponseRedirect(index)
        device = totp_enroll_start(user=user)
        form = TotpConfirmForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            if totp_enroll_confirm(request=request, device=device, token=form.cleaned_data["token"]):
                return HttpResponseRedirect(index)
            form.add_error("token", _("The code is wrong or expired. Please enter the current code from your app."))
        context = {
            **self.each_context(request),
            "title": _("Set up two-factor authentication"),
            "form": form,
            "qr_src": totp_qr_svg(device),
            "secret": totp_secret(device),
            "required": settings.STAFF_2FA_REQUIRED,
        }
        request.current_app = self.name
        return TemplateResponse(request, "admin/accounts/two_factor_setup.html", context)
