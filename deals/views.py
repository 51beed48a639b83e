"""The deals' pages of the partner portal (SPEC §9): the pipeline (kanban), a deal's page and converting a lead.

Thin: read through selectors, write through services. Partners only and tenant-scoped: another
partner's deal or lead does not exist here (404, never 403). Writes are POST forms that work
without JavaScript; with htmx the kanban swaps in place. The routes are composed by ``portal.urls``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from core.exceptions import DomainError, TransitionNotAllowed
from core.portal import ReasonForm, back, domain_message, form_errors, is_htmx, partner_required, portal_render
from deals import forms
from deals.models import PartnerDeal
from deals.selectors import deal_board, deal_for_lead, deal_get_for, deal_history
from deals.services import (
    deal_lose,
    deal_move_stage,
    deal_move_targets,
    deal_split_for_lead,
    deal_update,
    deal_win,
    lead_convert,
    next_stage,
)
from leads.models import Lead
from leads.selectors import lead_get_for

DEAL_STAGE_COLOURS = {
    "lead": "#56B4E9",
    "qualified": "#0072B2",
    "proposal": "#E69F00",
    "negotiation": "#CC79A7",
    "closing": "#D55E00",
    "won": "#009E73",
    "lost": "#999999",
}


def _refusal(exc: DomainError) -> str:
    if isinstance(exc, TransitionNotAllowed) and exc.current in PartnerDeal.CLOSED_STAGES:
        # Open stages move freely (deals.services.DEAL_TRANSITIONS): a refusal means the deal is closed.
        return _("Not possible: %(from)s → %(to)s. Won and lost are final; a platform admin can reopen the deal.") % {
            "from": PartnerDeal.Stage(exc.current).label,
            "to": PartnerDeal.Stage(exc.target).label,
        }
    return domain_message(exc, dict(PartnerDeal.Stage.choices))


def _move_choices(stage: str, *, exclude: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """The allowed targets of a deal in ``stage`` as (value, label), in board order."""
    return [(value, PartnerDeal.Stage(value).label) for value in deal_move_targets(stage) if value not in exclude]


def _percent(split: dict[str, str]) -> dict[str, Decimal]:
    """The split as percentages for people (stored as decimal fractions)."""
    return {side: Decimal(str(share)) * 100 for side, share in (split or {}).items()}


# --- The lead page's deal part and converting a lead ------------------------------------------


def lead_deal_context(request: HttpRequest, lead: Lead) -> dict[str, Any]:
    """What the lead page (``leads.views.lead_detail``) shows about the deal: the deal, the split, the convert form."""
    deal = deal_for_lead(lead=lead)
    return {
        "deal": deal,
        "split": _percent(deal.commission_split if deal else deal_split_for_lead(lead=lead)),
        "convert_form": forms.ConvertForm(),
        "can_convert": lead.status == Lead.Status.QUALIFIED and deal is None,
    }


@require_POST
@partner_required
def lead_convert_action(request: HttpRequest, ref: str) -> HttpResponse:
    """The lead page's "convert to deal" form: on success the new deal's page."""
    lead = lead_get_for(request.user, ref)
    here = reverse("portal:lead_detail", kwargs={"ref": lead.public_id})
    form = forms.ConvertForm(request.POST)
    if not form.is_valid():
        messages.error(request, form_errors(form))
        return redirect(here)
    data = form.cleaned_data
    try:
        deal = lead_convert(
            lead=lead,
            actor=request.user,
            stage=data["stage"],
            deal_value=data.get("deal_value") or 0,
            expected_close_date=data.get("expected_close_date"),
            listing_id=data.get("listing_id") or "",
        )
    except DomainError as exc:
        # The refusal is about the lead (its status), not a deal.
        messages.error(request, domain_message(exc, dict(Lead.Status.choices)))
        return redirect(here)
    messages.success(request, _("Lead converted: the deal is on your pipeline."))
    return redirect("portal:deal_detail", deal_id=deal.pk)


# --- Pipeline ---------------------------------------------------------------------------------


def _board_context(request: HttpRequest) -> dict[str, Any]:
    columns = deal_board(request.user)
    for column in columns:
        column.colour = DEAL_STAGE_COLOURS[column.stage]
        # One list per column: every card of a column has the same targets. Lost needs a reason: the deal page.
        targets = _move_choices(column.stage, exclude=(PartnerDeal.Stage.LOST,))
        for deal in column.deals:
            deal.next_stage = next_stage(deal.stage)
            deal.move_targets = targets
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
        messages.error(request, form_errors(form))
    else:
        target = form.cleaned_data["stage"]
        try:
            moved = deal_move_stage(deal=deal, to=target, actor=request.user, reason=form.cleaned_data["reason"])
        except DomainError as exc:
            messages.error(request, f"{deal.title}: {_refusal(exc)}")
        else:
            if moved.stage != deal.stage:
                messages.success(
                    request,
                    _("%(deal)s moved to %(stage)s.") % {"deal": deal.title, "stage": moved.get_stage_display()},
                )
    if is_htmx(request):
        return render(request, "portal/pipeline/_board.html", _board_context(request))
    return back(request, reverse("portal:pipeline"))


@require_GET
@partner_required
def deal_detail(request: HttpRequest, deal_id) -> HttpResponse:
    deal = deal_get_for(request.user, deal_id)
    following = next_stage(deal.stage)
    context = {
        "deal": deal,
        "history": list(deal_history(deal=deal)),
        "next_stage": following,
        # Won and lost have their own forms (final value, reason).
        "move_targets": _move_choices(deal.stage, exclude=PartnerDeal.CLOSED_STAGES),
        "edit_form": forms.DealEditForm(
            initial={
                "deal_value": deal.deal_value,
                "expected_close_date": deal.expected_close_date,
                "listing_id": deal.listing_id,
            }
        ),
        "move_form": forms.DealMoveForm(initial={"stage": following or deal.stage}),
        "win_form": forms.DealWinForm(initial={"deal_value": deal.deal_value}),
        "lose_form": ReasonForm(),
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
        "verloren": ReasonForm,
    }
    if action not in handlers:
        raise Http404
    form = handlers[action](request.POST)
    if not form.is_valid():
        messages.error(request, form_errors(form))
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
        messages.error(request, _refusal(exc))
    return redirect(here)
