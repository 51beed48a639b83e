"""The leads' pages of the partner portal (SPEC §9): the inbox of pool offers and Meine Leads.

Thin: read through selectors, write through services. Every page is for sales partners only and
tenant-scoped: another partner's lead or offer does not exist here (404, never 403). Writes are
POST forms that work without JavaScript; with htmx the lead filters swap in place. The routes are
composed by ``portal.urls``; converting a lead into a deal is a page of ``deals``, and what the lead
page shows about the lead's deal comes in through ``lead_detail``'s ``extra_context``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from core.exceptions import DomainError, NotFoundError
from core.portal import ReasonForm, domain_message, form_errors, is_htmx, partner_required, portal_render
from leads import forms
from leads.models import Lead, LeadAssignment
from leads.selectors import lead_get_for
from leads.selectors.offers import offer_get_for_partner, partner_open_offers
from leads.selectors.work import lead_list_for, lead_next_follow_up, lead_rows, lead_timeline
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
ACTIVITY_LABELS = {
    CONTACT_ACTIVITY: gettext_lazy("Contact logged"),
    NOTE_ACTIVITY: gettext_lazy("Note"),
    FOLLOW_UP_ACTIVITY: gettext_lazy("Follow-up planned"),
    STATUS_ACTIVITY: gettext_lazy("Status changed"),
    "form_submitted": gettext_lazy("Form submitted"),
}
#: What a page about one lead adds to the lead page's context (the portal passes the deal's panel).
LeadContext = Callable[[HttpRequest, Lead], dict[str, Any]]


def _refusal(exc: DomainError) -> str:
    return domain_message(exc, dict(Lead.Status.choices))


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
        request, "portal/inbox/list.html", {"page": page, "reject_form": ReasonForm()}, section="inbox"
    )


@require_GET
@partner_required
def inbox_detail(request: HttpRequest, lead_id) -> HttpResponse:
    """An open offer; once accepted the lead is the partner's and lives on its Meine Leads page.

    Anything else (rejected, expired, revoked, another partner's) is a 404 from the selector.
    """
    offer = offer_get_for_partner(lead_id=lead_id, partner=request.user)
    if offer.status == LeadAssignment.Status.ACCEPTED:
        return redirect("portal:lead_detail", ref=offer.lead.public_id)
    _offer_times(offer, timezone.now())
    return portal_render(
        request,
        "portal/inbox/detail.html",
        {"offer": offer, "lead": offer.lead, "breakdown": _breakdown(offer.lead), "reject_form": ReasonForm()},
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
        messages.error(request, _refusal(exc))
        return redirect("portal:inbox")  # the offer is no longer open, so its own page is a 404
    messages.success(request, _("Offer accepted: the lead is now yours. Good luck!"))
    return redirect("portal:lead_detail", ref=offer.lead.public_id)


@require_POST
@partner_required
def inbox_reject(request: HttpRequest, lead_id) -> HttpResponse:
    offer = offer_get_for_partner(lead_id=lead_id, partner=request.user)
    form = ReasonForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Please give a reason for rejecting the offer."))
        return redirect("portal:inbox_detail", lead_id=lead_id)
    try:
        offer_reject(offer=offer, actor=request.user, reason=form.cleaned_data["reason"])
    except NotFoundError:
        raise
    except DomainError as exc:
        messages.error(request, _refusal(exc))
        return redirect("portal:inbox")  # the offer is no longer open, so its own page is a 404
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


def _date(value: str) -> str:
    try:
        return dt.date.fromisoformat(value).strftime("%d.%m.%Y")
    except (TypeError, ValueError):
        return str(value)


@require_GET
@partner_required
def lead_detail(request: HttpRequest, ref: str, extra_context: LeadContext | None = None) -> HttpResponse:
    """One of my leads; ``extra_context`` (given by the portal's routes) adds the deal's part of the page."""
    lead = lead_get_for(request.user, ref)
    follow_up = lead_next_follow_up(lead=lead)
    context = {
        "lead": lead,
        "breakdown": _breakdown(lead),
        "timeline": _timeline(lead),
        "score_history": list(lead.score_history.order_by("-created_at", "-id")[:8]),
        "next_follow_up": follow_up,
        "follow_up_due": bool(follow_up and follow_up <= timezone.localdate()),
        "contact_form": forms.ContactLogForm(),
        "note_form": forms.NoteForm(),
        "follow_up_form": forms.FollowUpForm(initial={"next_follow_up": follow_up}),
        "qualify_form": forms.QualifyForm(),
        "lost_form": ReasonForm(),
        "can_qualify": lead.status in (Lead.Status.NEW, Lead.Status.CONTACTED),
        "can_lose": lead.status in (Lead.Status.NEW, Lead.Status.CONTACTED, Lead.Status.QUALIFIED),
    }
    if extra_context is not None:
        context.update(extra_context(request, lead))
    return portal_render(request, "portal/leads/detail.html", context, section="leads")


@require_POST
@partner_required
def lead_action(request: HttpRequest, ref: str, action: str) -> HttpResponse:
    """The lead page's forms; converting into a deal has its own route in ``deals.views``."""
    lead = lead_get_for(request.user, ref)
    here = reverse("portal:lead_detail", kwargs={"ref": lead.public_id})
    handlers = {
        "kontakt": (forms.ContactLogForm, _log_contact),
        "notiz": (forms.NoteForm, _add_note),
        "wiedervorlage": (forms.FollowUpForm, _set_follow_up),
        "qualifizieren": (forms.QualifyForm, _qualify),
        "verloren": (ReasonForm, _lose_lead),
    }
    if action not in handlers:
        raise Http404
    form_class, handler = handlers[action]
    form = form_class(request.POST)
    if not form.is_valid():
        messages.error(request, form_errors(form))
        return redirect(here)
    try:
        handler(request, lead, form.cleaned_data)
    except DomainError as exc:
        messages.error(request, _refusal(exc))
    return redirect(here)


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


def _lose_lead(request, lead: Lead, data: dict[str, Any]) -> None:
    lead_mark_lost(lead=lead, actor=request.user, reason=data["reason"])
    messages.success(request, _("Lead marked as lost."))
