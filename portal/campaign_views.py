"""The portal's "Werbung" pages (SPEC §9, §10): a partner's Meta campaigns, new/edit drafts with an ad preview,
submitting with Meta's terms, pause/resume/complete, key figures, a daily chart and the CSV of the days.

Thin: read through ``campaigns.selectors``, write through ``campaigns.services``. Partners only; another
partner's campaign is a 404. Every write is a POST form that works without JavaScript; the preview
refreshes through htmx while the partner types.
"""

from __future__ import annotations

import csv
import datetime as dt
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from accounts.models import Organization
from campaigns.forms import CampaignForm, SubmitForm
from campaigns.models import AdCampaign, CampaignTemplate
from campaigns.selectors.campaigns import (
    campaign_get_for,
    campaign_history,
    campaign_list_for,
    campaign_template_get_active,
    campaign_template_list_active,
)
from campaigns.selectors.stats import campaign_figures, campaign_stats
from campaigns.services import booking
from campaigns.services.drafts import campaign_create, campaign_submit, campaign_update_draft, tos_consent_for
from compliance.models import ConsentRecord
from compliance.selectors.consent import consent_wording_current
from core.charts import stacked_bars
from core.csv import csv_safe
from core.exceptions import DomainError
from core.portal import partner_required, portal_render
from core.ratelimit import client_ip

CAMPAIGNS_PER_PAGE = 25
S = AdCampaign.Status
#: The portal's action slugs (German URLs) → the booking service each runs.
ACTIONS = {"pausieren": "campaign_pause", "fortsetzen": "campaign_resume", "beenden": "campaign_complete"}
ACTION_DONE = {
    "campaign_pause": gettext_lazy("The campaign is paused."),
    "campaign_resume": gettext_lazy("The campaign runs again."),
    "campaign_complete": gettext_lazy("The campaign has ended."),
}


def _page_name() -> str:
    """The Facebook page the managed ads run under: the platform's."""
    platform = Organization.objects.filter(is_platform=True).only("name").first()
    return platform.name if platform else _("Lead platform")


def _preview(template: CampaignTemplate | None, *, headline: str = "", text: str = "") -> dict[str, Any] | None:
    """What the ad will look like in the feed: the template's copy with the partner's overrides."""
    if template is None:
        return None
    return {
        "page_name": _page_name(),
        "headline": headline or template.headline,
        "text": text or template.primary_text,
        "description": template.description,
        "call_to_action": template.get_call_to_action_display(),
        "image_url": static(template.image) if template.image else "",
    }


def _campaign_preview(campaign: AdCampaign) -> dict[str, Any] | None:
    return _preview(campaign.template, headline=campaign.headline, text=campaign.text)


# --- List -----------------------------------------------------------------------------------------


@require_GET
@partner_required
def campaign_list(request: HttpRequest) -> HttpResponse:
    page = Paginator(campaign_list_for(request.user), CAMPAIGNS_PER_PAGE).get_page(request.GET.get("page"))
    campaigns = list(page.object_list)
    figures = campaign_figures([campaign.pk for campaign in campaigns])
    rows = [{"campaign": campaign, "figures": figures.get(campaign.pk) or {}} for campaign in campaigns]
    return portal_render(request, "portal/campaigns/list.html", {"page": page, "rows": rows}, section="campaigns")


# --- New, edit, preview ---------------------------------------------------------------------------


def _form_page(request: HttpRequest, form: CampaignForm, campaign: AdCampaign | None) -> HttpResponse:
    template = None
    if form.is_bound:
        template = campaign_template_get_active(form.data.get("template", ""))
    elif campaign is not None:
        template = campaign.template
    else:
        template = campaign_template_list_active().first()
    preview = _preview(template, headline=form["headline"].value() or "", text=form["text"].value() or "")
    return portal_render(
        request,
        "portal/campaigns/form.html",
        {"form": form, "campaign": campaign, "preview": preview, "templates": campaign_template_list_active()},
        section="campaigns",
    )


def _save(request: HttpRequest, form: CampaignForm, campaign: AdCampaign | None) -> AdCampaign | None:
    try:
        if campaign is None:
            return campaign_create(partner=request.user, actor=request.user, **form.service_values())
        return campaign_update_draft(campaign=campaign, actor=request.user, **form.service_values())
    except ValidationError as exc:
        form.add_service_errors(exc)
    except DomainError as exc:
        form.add_error(None, exc.message)
    return None


@partner_required
def campaign_new(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = CampaignForm(request.POST)
        if form.is_valid():
            campaign = _save(request, form, None)
            if campaign is not None:
                messages.success(request, _("Draft saved. Check the preview, then submit it for booking."))
                return redirect("portal:campaign_detail", campaign_id=campaign.pk)
        return _form_page(request, form, None)
    today = timezone.localdate()
    template = campaign_template_list_active().first()
    form = CampaignForm(
        initial={
            "template": template.code if template else None,
            "budget_euros": 500,
            "start_date": today + dt.timedelta(days=1),
            "end_date": today + dt.timedelta(days=31),
            "countries": ["DE"],
        }
    )
    return _form_page(request, form, None)


@partner_required
def campaign_edit(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = campaign_get_for(request.user, campaign_id)
    if campaign.status != S.DRAFT:
        messages.error(request, _("Only a draft can be changed."))
        return redirect("portal:campaign_detail", campaign_id=campaign.pk)
    if request.method == "POST":
        form = CampaignForm(request.POST)
        if form.is_valid() and _save(request, form, campaign) is not None:
            messages.success(request, _("Draft saved."))
            return redirect("portal:campaign_detail", campaign_id=campaign.pk)
        return _form_page(request, form, campaign)
    return _form_page(request, CampaignForm(initial=CampaignForm.initial_for(campaign)), campaign)


@require_POST
@partner_required
def campaign_preview(request: HttpRequest) -> HttpResponse:
    """The ad preview for the form's current values (htmx swaps it in while the partner types)."""
    template = campaign_template_get_active(request.POST.get("template", ""))
    preview = _preview(
        template, headline=request.POST.get("headline", "").strip(), text=request.POST.get("text", "").strip()
    )
    return render(request, "portal/campaigns/_preview.html", {"preview": preview})


# --- Detail, actions, CSV -------------------------------------------------------------------------


def _stats(campaign: AdCampaign) -> dict[str, Any]:
    return campaign_stats(campaign=campaign)


def _charts(days: list[dict[str, Any]]) -> dict[str, Any] | None:
    if not days:
        return None
    by_date = {day["date"]: day for day in days}
    first, last = min(by_date), max(by_date)
    dates = [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]
    labels = [date.strftime("%d.%m.") for date in dates]
    spend = [round((by_date[d]["spend_cents"] if d in by_date else 0) / 100) for d in dates]
    leads = [by_date[d]["leads"] if d in by_date else 0 for d in dates]
    leads_label = _("Leads")
    if not any(leads):  # none linked yet (e.g. Meta's test leads only): show what Meta counted
        leads = [by_date[d]["meta_leads"] if d in by_date else 0 for d in dates]
        leads_label = _("Leads (Meta)")
    return {
        "spend": stacked_bars(labels, [(_("Spend (€)"), spend)], title=_("Spend per day (€)"), height=180),
        "leads": stacked_bars(labels, [(leads_label, leads)], title=_("Leads per day"), height=180),
    }


@require_GET
@partner_required
def campaign_detail(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = campaign_get_for(request.user, campaign_id)
    stats = _stats(campaign)
    needs_tos = campaign.status == S.DRAFT and tos_consent_for(campaign.partner) is None
    history = campaign_history(campaign=campaign)
    for change in history:
        change.label = S(change.to_status).label if change.to_status in S.values else change.to_status
    totals = stats["totals"]
    context = {
        "campaign": campaign,
        "history": history,
        "has_figures": any(totals.get(key) for key in ("spend_cents", "leads", "meta_leads", "impressions")),
        "preview": _campaign_preview(campaign),
        "totals": stats["totals"],
        "days": stats["days"],
        "charts": _charts(stats["days"]),
        "needs_tos": needs_tos,
        "tos_wording": consent_wording_current(ConsentRecord.Code.META_ADS_TOS) if needs_tos else None,
        "submit_form": SubmitForm(),
    }
    return portal_render(request, "portal/campaigns/detail.html", context, section="campaigns")


@require_POST
@partner_required
def campaign_action(request: HttpRequest, campaign_id: int, action: str) -> HttpResponse:
    campaign = campaign_get_for(request.user, campaign_id)
    try:
        if action == "einreichen":
            form = SubmitForm(request.POST)
            form.is_valid()
            campaign_submit(
                campaign=campaign,
                actor=request.user,
                accept_tos=bool(form.cleaned_data.get("accept_tos")),
                ip=client_ip(request),
                user_agent=request.headers.get("User-Agent", ""),
                source=ConsentRecord.Source.PORTAL,
            )
            messages.success(request, _("Submitted. We book the campaign in Meta and let you know when it runs."))
        elif action in ACTIONS:
            getattr(booking, ACTIONS[action])(campaign=campaign, actor=request.user)
            messages.success(request, ACTION_DONE[ACTIONS[action]])
        else:
            raise Http404
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect("portal:campaign_detail", campaign_id=campaign.pk)


def _cents(value: Any) -> str:
    return "" if value is None else f"{int(value) / 100:.2f}".replace(".", ",")


@require_GET
@partner_required
def campaign_export(request: HttpRequest, campaign_id: int) -> HttpResponse:
    """The daily figures as CSV (semicolon-separated with a BOM, so German Excel opens it as is)."""
    campaign = campaign_get_for(request.user, campaign_id)
    stats = _stats(campaign)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="kampagne_{campaign.pk}_tage.csv"'
    response.write("\ufeff")
    writer = csv.writer(response, delimiter=";")
    writer.writerow([_("Campaign"), csv_safe(campaign.name)])
    writer.writerow(
        [
            _("Date"),
            _("Spend (€)"),
            _("Impressions"),
            _("Clicks"),
            _("Leads (Meta)"),
            _("Leads"),
            _("Qualified"),
            _("Deals"),
            _("Won"),
            _("Won value (€)"),
            _("Cost per lead (€)"),
        ]
    )
    for day in [*stats["days"], {**stats["totals"], "date": None}]:
        writer.writerow(
            [
                day["date"].isoformat() if day["date"] else _("Total"),
                _cents(day["spend_cents"]),
                day["impressions"],
                day["clicks"],
                day["meta_leads"],
                day["leads"],
                day["qualified"],
                day["deals"],
                day["won"],
                str(day["won_value"]).replace(".", ","),
                _cents(day["cost_per_lead_cents"]),
            ]
        )
    return response
