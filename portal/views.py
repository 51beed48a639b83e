"""The portal's own pages (SPEC §9): sign-in, the dashboard, sources, reports, notices.

Thin: read through selectors, write through services. Every page is for sales partners only and
tenant-scoped. The pages of leads (inbox, Meine Leads) and deals (pipeline) live in their apps;
``portal.urls`` puts them all under one URL space.
"""

from __future__ import annotations

import csv
from typing import Any

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse, reverse_lazy
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from accounts.forms import SecureAuthenticationForm, ThrottledPasswordResetForm, TotpConfirmForm
from accounts.security import totp_device, totp_enroll_confirm, totp_enroll_start, totp_qr_svg, totp_secret
from core.charts import PALETTE, STAGE_COLOURS, horizontal_bars, stacked_bars
from core.portal import back, partner_required, portal_render
from deals.models import PartnerDeal
from deals.views import DEAL_STAGE_COLOURS, lead_deal_context
from followups.selectors.lead_panels import lead_sequence_panel
from portal import forms
from portal.selectors import (
    dashboard_kpis,
    frame_for,
    notification_list,
    report_first_contact,
    report_funnel,
    report_months,
    report_range,
    report_sources,
)
from portal.services import notifications_mark_read


def lead_detail_context(request: HttpRequest, lead) -> dict[str, Any]:
    """The lead page's parts from the higher floors: the deal (``deals``), sequences and emails (``followups``)."""
    return {**lead_deal_context(request, lead), "sequences": lead_sequence_panel(lead=lead)}


def frame_context(request: HttpRequest) -> dict[str, Any]:
    """The shell's part of every portal page (registered with ``core.portal`` when the app starts)."""
    return frame_for(request.user)


# --- Sign-in ----------------------------------------------------------------------------------


class PortalLoginView(auth_views.LoginView):
    """Sign-in with lockout (django-axes: 429 + ``Retry-After``) and the TOTP code once a device is enrolled."""

    template_name = "portal/auth/login.html"
    redirect_authenticated_user = True
    authentication_form = SecureAuthenticationForm

    def get_default_redirect_url(self) -> str:
        # Platform staff work in the admin console (Zone 1), partners here (Zone 2).
        if getattr(self.request.user, "is_staff", False):
            return "/admin/"
        return reverse("portal:dashboard")


class PortalLogoutView(auth_views.LogoutView):
    next_page = reverse_lazy("portal:login")


class PortalPasswordResetView(auth_views.PasswordResetView):
    template_name = "portal/auth/password_reset_form.html"
    email_template_name = "portal/auth/password_reset_email.txt"
    subject_template_name = "portal/auth/password_reset_subject.txt"
    success_url = reverse_lazy("portal:password_reset_done")
    form_class = ThrottledPasswordResetForm

    def get_form_kwargs(self) -> dict[str, Any]:
        return {**super().get_form_kwargs(), "request": self.request}

    def form_invalid(self, form):
        response = super().form_invalid(form)
        if form.retry_after:
            response.status_code = 429
            response["Retry-After"] = str(form.retry_after)
        return response


class PortalPasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "portal/auth/password_reset_done.html"


class PortalPasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "portal/auth/password_reset_confirm.html"
    success_url = reverse_lazy("portal:password_reset_complete")


class PortalPasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "portal/auth/password_reset_complete.html"


# --- Dashboard --------------------------------------------------------------------------------


@require_GET
@partner_required
def dashboard(request: HttpRequest) -> HttpResponse:
    kpis = dashboard_kpis(request.user)
    stages = kpis["deal_stages"]
    rows = [(str(label), stages[stage]["count"]) for stage, label in PartnerDeal.Stage.choices]
    chart = horizontal_bars(
        rows,
        title=_("Deals per stage"),
        colours=[DEAL_STAGE_COLOURS[s] for s in PartnerDeal.Stage.values],
    )
    stage_rows = [
        {"stage": stage, "label": label, "count": stages[stage]["count"], "value": stages[stage]["value"]}
        for stage, label in PartnerDeal.Stage.choices
    ]
    return portal_render(
        request,
        "portal/dashboard.html",
        {"kpis": kpis, "pipeline_chart": chart, "stage_rows": stage_rows},
        section="dashboard",
    )


# --- Sources, reports (the campaign pages are in ``portal.campaign_views``) ----------------------


def _range(request: HttpRequest):
    form = forms.ReportRangeForm(request.GET or None)
    rng = report_range(**(form.range_values() if request.GET else {}))
    if not request.GET:
        form = forms.ReportRangeForm(initial={"date_from": rng.date_from, "date_to": rng.date_to})
    return form, rng


@require_GET
@partner_required
def sources(request: HttpRequest) -> HttpResponse:
    form, rng = _range(request)
    data = report_sources(request.user, rng)
    charts = {
        "channels": horizontal_bars(
            [(row["label"], row["leads"]) for row in data["channels"]], title=_("Leads by channel"), colours=PALETTE
        ),
        "qualification": horizontal_bars(
            [(row["label"], row["qualification_rate"] or 0) for row in data["channels"]],
            title=_("Qualification rate by channel"),
            colours=PALETTE,
            suffix=" %",
            x_max=100,
        ),
        "conversion": horizontal_bars(
            [(row["label"], row["conversion_rate"] or 0) for row in data["sources"]],
            title=_("Conversion rate by source"),
            colours=PALETTE[2:],
            suffix=" %",
            x_max=100,
        ),
    }
    return portal_render(
        request, "portal/sources.html", {"form": form, "range": rng, "data": data, "charts": charts}, section="sources"
    )


def _report_data(request: HttpRequest) -> tuple[Any, Any, dict[str, Any]]:
    form, rng = _range(request)
    return (
        form,
        rng,
        {
            "funnel": report_funnel(request.user, rng),
            "first_contact": report_first_contact(request.user, rng),
            "months": report_months(request.user, rng),
        },
    )


@require_GET
@partner_required
def reports(request: HttpRequest) -> HttpResponse:
    form, rng, data = _report_data(request)
    months = data["months"]
    labels = [m["month"].strftime("%m/%y") for m in months]
    charts = {
        "funnel": horizontal_bars(
            [(str(step["label"]), step["count"]) for step in data["funnel"]["steps"]],
            title=_("Conversion funnel"),
            colours=["#56B4E9", "#0072B2", "#E69F00", "#D55E00", "#009E73"],
        ),
        "outcomes": stacked_bars(
            labels,
            [(_("Won"), [m["won"] for m in months]), (_("Lost"), [m["lost"] for m in months])],
            title=_("Deals won and lost per month"),
        ),
        "value": horizontal_bars(
            [(label, float(m["won_value"])) for label, m in zip(labels, months, strict=True)],
            title=_("Won value per month (EUR)"),
            colours=[STAGE_COLOURS["hot"]],
        ),
    }
    query = request.GET.urlencode()
    return portal_render(
        request,
        "portal/reports.html",
        {"form": form, "range": rng, "data": data, "charts": charts, "query": query},
        section="reports",
    )


@require_GET
@partner_required
def reports_export(request: HttpRequest) -> HttpResponse:
    """The report as CSV (semicolon-separated with a BOM, so German Excel opens it as is)."""
    _form, rng, data = _report_data(request)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    filename = f"report_{rng.date_from:%Y%m%d}_{rng.date_to:%Y%m%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.write("\ufeff")
    writer = csv.writer(response, delimiter=";")
    writer.writerow([_("Report"), rng.date_from.isoformat(), rng.date_to.isoformat()])
    writer.writerow([])
    writer.writerow([_("Funnel step"), _("Leads"), _("Share of all leads (%)")])
    for step in data["funnel"]["steps"]:
        writer.writerow([step["label"], step["count"], _csv_number(step["rate"])])
    writer.writerow([])
    writer.writerow(
        [_("Channel"), _("Leads"), _("Contacted"), _("Qualified"), _("Converted"), _("Won"), _("Won value")]
    )
    for row in data["funnel"]["by_channel"]:
        writer.writerow(
            [
                row["label"],
                row["leads"],
                row["contacted"],
                row["qualified"],
                row["converted"],
                row["won"],
                _csv_number(row["won_value"]),
            ]
        )
    writer.writerow([])
    writer.writerow([_("Month"), _("Leads"), _("Converted"), _("Won"), _("Lost"), _("Win rate (%)"), _("Won value")])
    for month in data["months"]:
        writer.writerow(
            [
                month["month"].strftime("%Y-%m"),
                month["leads"],
                month["converted"],
                month["won"],
                month["lost"],
                _csv_number(month["win_rate"]),
                _csv_number(month["won_value"]),
            ]
        )
    writer.writerow([])
    first = data["first_contact"]
    writer.writerow([_("Time to first contact"), _("Leads"), _("Average (h)"), _("Median (h)"), _("Within 24 h (%)")])
    writer.writerow(
        [
            "",
            first["count"],
            _csv_number(first["average_hours"]),
            _csv_number(first["median_hours"]),
            _csv_number(first["within_24h_rate"]),
        ]
    )
    return response


def _csv_number(value) -> str:
    if value is None:
        return ""
    return str(value).replace(".", ",")


# --- Notifications ----------------------------------------------------------------------------


@partner_required
def notifications(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        raw = request.POST.get("id") or ""
        notifications_mark_read(user=request.user, notification_id=int(raw) if raw.isdigit() else None)
        return back(request, reverse("portal:notifications"))
    page = Paginator(notification_list(request.user), 20).get_page(request.GET.get("page"))
    return portal_render(request, "portal/notifications.html", {"page": page}, section="notifications")


@partner_required
def two_factor(request: HttpRequest) -> HttpResponse:
    """Partners may add a TOTP device (optional for them): QR code and key, confirmed with a first code."""
    device = totp_device(request.user)
    if device is not None:
        return portal_render(request, "portal/two_factor.html", {"enrolled": True}, section="two_factor")
    pending = totp_enroll_start(user=request.user)
    form = TotpConfirmForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if totp_enroll_confirm(request=request, device=pending, token=form.cleaned_data["token"]):
            messages.success(request, _("Two-factor authentication is on: sign-ins now ask for a code."))
            return redirect("portal:two_factor")
        form.add_error("token", _("The code is wrong or expired. Please enter the current code from your app."))
    context = {"form": form, "qr_src": totp_qr_svg(pending), "secret": totp_secret(pending)}
    return portal_render(request, "portal/two_factor.html", context, section="two_factor")
