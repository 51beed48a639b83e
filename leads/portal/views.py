"""Pages of the partner portal (SPEC §9). Thin: read through selectors, write through services.

Every page is for sales partners only and tenant-scoped: another partner's lead, offer or deal
does not exist here (404, never 403). Writes are POST forms that work without JavaScript; with
htmx the kanban and the lead filters swap in place.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from core.charts import PALETTE, STAGE_COLOURS, horizontal_bars, stacked_bars
from core.exceptions import DomainError, NotFoundError, TransitionNotAllowed
from deals.models import PartnerDeal
from deals.selectors import deal_board, deal_get_for, deal_history
from deals.services import (
    deal_lose,
    deal_move_stage,
    deal_split_for_lead,
    deal_update,
    deal_win,
    lead_convert,
    next_stage,
)
from leads.models import Lead
from leads.portal import forms
from leads.portal.selectors import (
    dashboard_kpis,
    lead_list_for,
    lead_next_follow_up,
    lead_rows,
    lead_timeline,
    notification_list,
    notifications_for,
    report_first_contact,
    report_funnel,
    report_months,
    report_range,
    report_sources,
)
from leads.portal.services import notifications_mark_read
from leads.selectors import lead_get_for
from leads.selectors.pool import offer_get_for_partner, partner_open_offers
from leads.services import (
    lead_contact_log,
    lead_follow_up_set,
    lead_ingest,
    lead_mark_lost,
    lead_note_add,
    lead_qualify,
    offer_accept,
    offer_reject,
)
from leads.services.config import tenant_config
from leads.services.work import CONTACT_ACTIVITY, FOLLOW_UP_ACTIVITY, NOTE_ACTIVITY, STATUS_ACTIVITY, ContactChannel
from leads.services.work import ContactOutcome as Outcome

LEADS_PER_PAGE = 25
OFFERS_PER_PAGE = 25
DEAL_STAGE_COLOURS = {
    "lead": "#56B4E9",
    "qualified": "#0072B2",
    "proposal": "#E69F00",
    "negotiation": "#CC79A7",
    "closing": "#D55E00",
    "won": "#009E73",
    "lost": "#999999",
}
ACTIVITY_LABELS = {
    CONTACT_ACTIVITY: gettext_lazy("Contact logged"),
    NOTE_ACTIVITY: gettext_lazy("Note"),
    FOLLOW_UP_ACTIVITY: gettext_lazy("Follow-up planned"),
    STATUS_ACTIVITY: gettext_lazy("Status changed"),
    "form_submitted": gettext_lazy("Form submitted"),
}


# --- Plumbing ---------------------------------------------------------------------------------


def partner_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Let only signed-in sales partners in; a tenant miss anywhere below becomes a 404."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), reverse("portal:login"))
        if not getattr(request.user, "is_partner", False):
            raise PermissionDenied
        try:
            return view(request, *args, **kwargs)
        except NotFoundError as exc:
            raise Http404(str(exc)) from exc

    return wrapper


def is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def portal_render(request: HttpRequest, template: str, context: dict[str, Any], *, section: str) -> HttpResponse:
    """Render a portal page with the shell's navigation, notices and open-offer badge (three queries)."""
    user = request.user
    base = {
        "section": section,
        "notices": notifications_for(user),
        "open_offer_count": partner_open_offers(partner=user).count(),
    }
    return render(request, template, {**base, **context})


def _back(request: HttpRequest, default: str) -> HttpResponseRedirect:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return redirect(target)
    return redirect(default)


def _form_errors(form) -> str:
    parts = []
    for name, errors in form.errors.items():
        label = form.fields[name].label if name in form.fields else ""
        parts.append(f"{label}: {' '.join(errors)}" if label else " ".join(errors))
    return " ".join(parts)


def _domain_message(exc: DomainError, deal: PartnerDeal | None = None) -> str:
    """A refusal in the partner's language (transition errors carry English internals)."""
    if isinstance(exc, TransitionNotAllowed):
        stages = dict(PartnerDeal.Stage.choices) if deal is not None else dict(Lead.Status.choices)
        return _("Not possible: %(from)s → %(to)s. Steps go forward one at a time, and a closed stage is final.") % {
            "from": stages.get(exc.current, exc.current),
            "to": stages.get(exc.target, exc.target),
        }
    return exc.message


# --- Sign-in ----------------------------------------------------------------------------------


class PortalLoginView(auth_views.LoginView):
    template_name = "portal/auth/login.html"
    redirect_authenticated_user = True

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


# --- Inbox ------------------------------------------------------------------------------------


def _offer_times(offer, now: dt.datetime) -> None:
    offer.age = now - offer.lead.created_at
    offer.time_left = max(offer.expires_at - now, dt.timedelta(0))
    offer.urgent = offer.time_left <= dt.timedelta(hours=6)


@require_GET
@partner_required
def inbox(request: HttpRequest) -> HttpResponse:
    page = Paginator(partner_open_offers(partner=request.user), OFFERS_PER_PAGE).get_page(request.GET.get("page"))
    now = timezone.now()
    for offer in page.object_list:
        _offer_times(offer, now)
    return portal_render(
        request, "portal/inbox/list.html", {"page": page, "reject_form": forms.ReasonForm()}, section="inbox"
    )


@require_GET
@partner_required
def inbox_detail(request: HttpRequest, lead_id) -> HttpResponse:
    offer = offer_get_for_partner(lead_id=lead_id, partner=request.user)
    _offer_times(offer, timezone.now())
    return portal_render(
        request,
        "portal/inbox/detail.html",
        {"offer": offer, "lead": offer.lead, "breakdown": _breakdown(offer.lead), "reject_form": forms.ReasonForm()},
        section="inbox",
    )


@require_POST
@partner_required
def inbox_accept(request: HttpRequest, lead_id) -> HttpResponse:
    offer = offer_get_for_partner(lead_id=lead_id, partner=request.user)
    try:
        offer_accept(offer=offer, actor=request.user)
    except NotFoundError:
        raise
    except DomainError as exc:
        messages.error(request, _domain_message(exc))
        return redirect("portal:inbox_detail", lead_id=lead_id)
    messages.success(request, _("Offer accepted: the lead is now yours. Good luck!"))
    return redirect("portal:lead_detail", ref=offer.lead.public_id)


@require_POST
@partner_required
def inbox_reject(request: HttpRequest, lead_id) -> HttpResponse:
    offer = offer_get_for_partner(lead_id=lead_id, partner=request.user)
    form = forms.ReasonForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Please give a reason for rejecting the offer."))
        return redirect("portal:inbox_detail", lead_id=lead_id)
    try:
        offer_reject(offer=offer, actor=request.user, reason=form.cleaned_data["reason"])
    except NotFoundError:
        raise
    except DomainError as exc:
        messages.error(request, _domain_message(exc))
        return redirect("portal:inbox_detail", lead_id=lead_id)
    messages.success(request, _("Offer rejected. The lead goes back to the pool."))
    return redirect("portal:inbox")


# --- Meine Leads ------------------------------------------------------------------------------


@require_GET
@partner_required
def lead_list(request: HttpRequest) -> HttpResponse:
    form = forms.LeadFilterForm(request.GET)
    filters = form.filters()
    ids = lead_list_for(request.user, **filters).values_list("pk", flat=True)
    page = Paginator(ids, LEADS_PER_PAGE).get_page(request.GET.get("page"))
    page.object_list = lead_rows(list(page.object_list), with_follow_up=True)
    today = timezone.localdate().isoformat()
    for lead in page.object_list:
        lead.follow_up_due = bool(lead.next_follow_up and lead.next_follow_up <= today)
    query = request.GET.copy()
    query.pop("page", None)
    filtered = any(value for key, value in filters.items() if key != "ordering")
    context = {"form": form, "page": page, "query": query.urlencode(), "filtered": filtered}
    if is_htmx(request) and request.headers.get("HX-Target") == "lead-results":
        return render(request, "portal/leads/_results.html", context)
    return portal_render(request, "portal/leads/list.html", context, section="leads")


@partner_required
def lead_create(request: HttpRequest) -> HttpResponse:
    form = forms.ManualLeadForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = {k: v for k, v in form.cleaned_data.items() if v and k != "channel"}
        try:
            result = lead_ingest(
                payload=data,
                channel=form.cleaned_data["channel"],
                source=Lead.Source.REFERRAL
                if form.cleaned_data["channel"] == Lead.Channel.REFERRAL
                else Lead.Source.MANUAL,
                partner=request.user,
                actor=request.user,
                activity=None,
            )
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            if result.created:
                messages.success(request, _("Lead created."))
            else:
                messages.info(request, _("This person was already one of your leads; the new details were added."))
            return redirect("portal:lead_detail", ref=result.lead.public_id)
    return portal_render(request, "portal/leads/create.html", {"form": form}, section="leads")


def _breakdown(lead: Lead) -> dict[str, Any]:
    """The score explained: sub-scores with weights and the rules that fired, strongest first."""
    data = lead.score_breakdown or {}
    components = data.get("components") or {}
    weights = data.get("weights") or {}
    names = {"p": _("Profile fit"), "i": _("Intent"), "e": _("Engagement")}
    parts = [
        {"key": key, "label": names[key], "value": components.get(key, 0), "weight": weights.get(key, "")}
        for key in ("p", "i", "e")
    ]
    items = sorted(data.get("items") or [], key=lambda item: -abs(item.get("points", 0)))
    return {"parts": parts, "items": items[:12]}


def _timeline(lead: Lead) -> list[dict[str, Any]]:
    rules = tenant_config(lead.tenant_id).rules
    channels, outcomes = dict(ContactChannel.choices), dict(Outcome.choices)
    statuses = dict(Lead.Status.choices)
    entries = []
    for activity in lead_timeline(lead=lead):
        detail = activity.detail or {}
        label = ACTIVITY_LABELS.get(activity.activity_type)
        if label is None:
            rule = rules.get(activity.activity_type)
            label = rule.description if rule else activity.activity_type.replace("_", " ").capitalize()
        summary = []
        if activity.activity_type == CONTACT_ACTIVITY:
            summary.append(
                f"{channels.get(detail.get('channel'), detail.get('channel'))} · "
                f"{outcomes.get(detail.get('outcome'), detail.get('outcome'))}"
            )
        if activity.activity_type == STATUS_ACTIVITY:
            summary.append(str(statuses.get(detail.get("to"), detail.get("to"))))
        if detail.get("next_follow_up"):
            summary.append(_("Next follow-up: %(date)s") % {"date": _date(detail["next_follow_up"])})
        entries.append(
            {
                "activity": activity,
                "label": label,
                "summary": " · ".join(str(s) for s in summary),
                "note": detail.get("note") or detail.get("reason") or "",
                "kind": activity.activity_type,
            }
        )
    return entries


def _percent(split: dict[str, str]) -> dict[str, Decimal]:
    """The split as percentages for people (stored as decimal fractions)."""
    return {side: Decimal(str(share)) * 100 for side, share in (split or {}).items()}


def _date(value: str) -> str:
    try:
        return dt.date.fromisoformat(value).strftime("%d.%m.%Y")
    except (TypeError, ValueError):
        return str(value)


@require_GET
@partner_required
def lead_detail(request: HttpRequest, ref: str) -> HttpResponse:
    lead = lead_get_for(request.user, ref)
    deal = PartnerDeal.objects.filter(lead=lead).only("id", "stage", "title", "deal_value", "commission_split").first()
    follow_up = lead_next_follow_up(lead=lead)
    context = {
        "lead": lead,
        "deal": deal,
        "breakdown": _breakdown(lead),
        "timeline": _timeline(lead),
        "score_history": list(lead.score_history.order_by("-created_at", "-id")[:8]),
        "next_follow_up": follow_up,
        "follow_up_due": bool(follow_up and follow_up <= timezone.localdate()),
        "split": _percent(deal.commission_split if deal else deal_split_for_lead(lead=lead)),
        "contact_form": forms.ContactLogForm(),
        "note_form": forms.NoteForm(),
        "follow_up_form": forms.FollowUpForm(initial={"next_follow_up": follow_up}),
        "qualify_form": forms.QualifyForm(),
        "convert_form": forms.ConvertForm(),
        "lost_form": forms.ReasonForm(),
        "can_qualify": lead.status in (Lead.Status.NEW, Lead.Status.CONTACTED),
        "can_convert": lead.status == Lead.Status.QUALIFIED and deal is None,
        "can_lose": lead.status in (Lead.Status.NEW, Lead.Status.CONTACTED, Lead.Status.QUALIFIED),
    }
    return portal_render(request, "portal/leads/detail.html", context, section="leads")


@require_POST
@partner_required
def lead_action(request: HttpRequest, ref: str, action: str) -> HttpResponse:
    lead = lead_get_for(request.user, ref)
    here = reverse("portal:lead_detail", kwargs={"ref": lead.public_id})
    handlers = {
        "kontakt": (forms.ContactLogForm, _log_contact),
        "notiz": (forms.NoteForm, _add_note),
        "wiedervorlage": (forms.FollowUpForm, _set_follow_up),
        "qualifizieren": (forms.QualifyForm, _qualify),
        "konvertieren": (forms.ConvertForm, _convert),
        "verloren": (forms.ReasonForm, _lose_lead),
    }
    if action not in handlers:
        raise Http404
    form_class, handler = handlers[action]
    form = form_class(request.POST)
    if not form.is_valid():
        messages.error(request, _form_errors(form))
        return redirect(here)
    try:
        target = handler(request, lead, form.cleaned_data)
    except DomainError as exc:
        messages.error(request, _domain_message(exc))
        return redirect(here)
    return redirect(target or here)


def _log_contact(request, lead: Lead, data: dict[str, Any]) -> None:
    lead_contact_log(
        lead=lead,
        actor=request.user,
        channel=data["channel"],
        outcome=data["outcome"],
        note=data.get("note") or "",
        next_follow_up=data.get("next_follow_up"),
    )
    messages.success(request, _("Contact logged."))


def _add_note(request, lead: Lead, data: dict[str, Any]) -> None:
    lead_note_add(lead=lead, actor=request.user, note=data["note"])
    messages.success(request, _("Note saved."))


def _set_follow_up(request, lead: Lead, data: dict[str, Any]) -> None:
    lead_follow_up_set(lead=lead, actor=request.user, next_follow_up=data.get("next_follow_up"))
    messages.success(request, _("Next follow-up saved."))


def _qualify(request, lead: Lead, data: dict[str, Any]) -> None:
    lead_qualify(lead=lead, actor=request.user, note=data.get("note") or "")
    messages.success(request, _("Lead qualified. You can convert it to a deal now."))


def _convert(request, lead: Lead, data: dict[str, Any]) -> str:
    deal = lead_convert(
        lead=lead,
        actor=request.user,
        stage=data["stage"],
        deal_value=data.get("deal_value") or 0,
        expected_close_date=data.get("expected_close_date"),
        listing_id=data.get("listing_id") or "",
    )
    messages.success(request, _("Lead converted: the deal is on your pipeline."))
    return reverse("portal:deal_detail", kwargs={"deal_id": deal.pk})


def _lose_lead(request, lead: Lead, data: dict[str, Any]) -> None:
    lead_mark_lost(lead=lead, actor=request.user, reason=data["reason"])
    messages.success(request, _("Lead marked as lost."))


# --- Pipeline ---------------------------------------------------------------------------------


def _board_context(request: HttpRequest) -> dict[str, Any]:
    columns = deal_board(request.user)
    for column in columns:
        column.colour = DEAL_STAGE_COLOURS[column.stage]
        for deal in column.deals:
            deal.next_stage = next_stage(deal.stage)
            deal.next_label = PartnerDeal.Stage(deal.next_stage).label if deal.next_stage else ""
    return {"columns": columns}


@require_GET
@partner_required
def pipeline(request: HttpRequest) -> HttpResponse:
    context = _board_context(request)
    if is_htmx(request):
        return render(request, "portal/pipeline/_board.html", context)
    return portal_render(request, "portal/pipeline/board.html", context, section="pipeline")


@require_POST
@partner_required
def deal_stage(request: HttpRequest, deal_id) -> HttpResponse:
    deal = deal_get_for(request.user, deal_id)
    form = forms.DealMoveForm(request.POST)
    if not form.is_valid():
        messages.error(request, _form_errors(form))
    else:
        target = form.cleaned_data["stage"]
        try:
            moved = deal_move_stage(deal=deal, to=target, actor=request.user, reason=form.cleaned_data["reason"])
        except DomainError as exc:
            messages.error(request, f"{deal.title}: {_domain_message(exc, deal)}")
        else:
            if moved.stage != deal.stage:
                messages.success(
                    request,
                    _("%(deal)s moved to %(stage)s.") % {"deal": deal.title, "stage": moved.get_stage_display()},
                )
    if is_htmx(request):
        return render(request, "portal/pipeline/_board.html", _board_context(request))
    return _back(request, reverse("portal:pipeline"))


@require_GET
@partner_required
def deal_detail(request: HttpRequest, deal_id) -> HttpResponse:
    deal = deal_get_for(request.user, deal_id)
    following = next_stage(deal.stage)
    context = {
        "deal": deal,
        "history": list(deal_history(deal=deal)),
        "next_stage": following,
        "next_label": PartnerDeal.Stage(following).label if following else "",
        "edit_form": forms.DealEditForm(
            initial={
                "deal_value": deal.deal_value,
                "expected_close_date": deal.expected_close_date,
                "listing_id": deal.listing_id,
            }
        ),
        "move_form": forms.DealMoveForm(initial={"stage": following or deal.stage}),
        "win_form": forms.DealWinForm(initial={"deal_value": deal.deal_value}),
        "lose_form": forms.ReasonForm(),
        "split": _percent(deal.commission_split),
        "partner_amount": deal.deal_value * deal.partner_share,
        "platform_amount": deal.deal_value * deal.platform_share,
    }
    return portal_render(request, "portal/pipeline/detail.html", context, section="pipeline")


@require_POST
@partner_required
def deal_action(request: HttpRequest, deal_id, action: str) -> HttpResponse:
    deal = deal_get_for(request.user, deal_id)
    here = reverse("portal:deal_detail", kwargs={"deal_id": deal.pk})
    handlers = {
        "bearbeiten": forms.DealEditForm,
        "gewonnen": forms.DealWinForm,
        "verloren": forms.ReasonForm,
    }
    if action not in handlers:
        raise Http404
    form = handlers[action](request.POST)
    if not form.is_valid():
        messages.error(request, _form_errors(form))
        return redirect(here)
    data = form.cleaned_data
    try:
        if action == "bearbeiten":
            deal_update(
                deal=deal,
                actor=request.user,
                deal_value=data["deal_value"],
                expected_close_date=data.get("expected_close_date"),
                listing_id=data.get("listing_id") or "",
            )
            messages.success(request, _("Deal saved."))
        elif action == "gewonnen":
            deal_win(deal=deal, actor=request.user, deal_value=data.get("deal_value"))
            messages.success(request, _("Congratulations, the deal is won!"))
        else:
            deal_lose(deal=deal, actor=request.user, reason=data["reason"])
            messages.success(request, _("Deal closed as lost."))
    except DomainError as exc:
        messages.error(request, _domain_message(exc, deal))
    return redirect(here)


# --- Campaigns (placeholder), sources, reports ------------------------------------------------


@require_GET
@partner_required
def campaigns(request: HttpRequest) -> HttpResponse:
    return portal_render(request, "portal/campaigns.html", {}, section="campaigns")


@require_GET
@partner_required
def campaign_detail(request: HttpRequest, campaign_id: str) -> HttpResponse:
    # Campaigns arrive with the campaigns feature; until then no campaign id exists.
    raise Http404


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
        return _back(request, reverse("portal:notifications"))
    page = Paginator(notification_list(request.user), 20).get_page(request.GET.get("page"))
    return portal_render(request, "portal/notifications.html", {"page": page}, section="notifications")
