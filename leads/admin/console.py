"""The lead detail as a console (offer, merge and insight panels with their own POST views) and pool statistics."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext

from core.charts import STAGE_COLOURS, horizontal_bars, stacked_bars
from core.exceptions import DomainError
from leads.admin.actions import partner_rows
from leads.admin.forms import OfferForm, RejectForm, StatsRangeForm
from leads.models import Lead, LeadAssignment, LeadMerge
from leads.panels import registered_lead_panels
from leads.selectors.pool import lead_console_panels, pool_stats
from leads.services.offers import lead_pool_reject, offer_create, offer_revoke


class LeadConsoleMixin:
    """Panels and per-lead views of the lead detail page, and the statistics view; mixed into ``LeadAdmin``."""

    def change_view(self, request, object_id, form_url="", extra_context=None):
        lead = self.get_object(request, unquote(object_id))
        extra_context = dict(extra_context or {})
        if lead is not None:
            extra_context.update(self._console_context(request, lead))
            extra_context["erasure_notice"] = _erasure_notice(lead)
        return super().change_view(request, object_id, form_url, extra_context)

    def _console_context(self, request, lead: Lead) -> dict[str, Any]:
        can_change = self.has_change_permission(request, lead)
        panels = {**lead_console_panels(lead=lead), **registered_lead_panels(lead=lead)}  # e.g. followups' emails
        open_offer = next((o for o in panels["offers"] if o.status == LeadAssignment.Status.OFFERED), None)
        insights = [
            {
                "created_at": intent.created_at,
                "items": [
                    (key, ", ".join(map(str, value)) if isinstance(value, list) else value)
                    for key, value in (intent.analysis or {}).items()
                ],
            }
            for intent in panels["insights"]
        ]
        return {
            "panels": panels,
            "insights": insights,
            "can_change": can_change,
            "open_offer": open_offer,
            "partners": partner_rows() if can_change and open_offer is None else [],
            "reject_form": RejectForm(),
            "breakdown": lead.score_breakdown or {},
        }

    # --- console endpoints ------------------------------------------------------------------

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        wrap = self.admin_site.admin_view
        return [
            path("statistics/", wrap(self.statistics_view), name="{}_{}_statistics".format(*info)),
            path(
                "offers/<int:offer_id>/revoke/", wrap(self.offer_revoke_view), name="{}_{}_offer_revoke".format(*info)
            ),
            path("merges/<int:merge_id>/undo/", wrap(self.merge_undo_view), name="{}_{}_merge_undo".format(*info)),
            path("<path:object_id>/offer/", wrap(self.offer_view), name="{}_{}_offer".format(*info)),
            path("<path:object_id>/reject/", wrap(self.reject_view), name="{}_{}_reject".format(*info)),
            *super().get_urls(),
        ]

    def _post_only(self, request: HttpRequest, obj=None) -> HttpResponseNotAllowed | None:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_change_permission(request, obj):
            raise PermissionDenied
        return None

    def _back(self, lead_id) -> HttpResponseRedirect:
        return HttpResponseRedirect(reverse("admin:leads_lead_change", args=[lead_id]))

    def offer_view(self, request, object_id):
        lead = get_object_or_404(Lead, pk=unquote(object_id))
        if refused := self._post_only(request, lead):
            return refused
        form = OfferForm(request.POST)
        if not form.is_valid():
            self.message_user(request, gettext("Please choose a partner."), messages.ERROR)
            return self._back(lead.pk)
        try:
            offer = offer_create(lead=lead, partner=form.cleaned_data["partner"], actor=request.user)
        except DomainError as exc:
            self.message_user(request, exc.message, messages.ERROR)
        else:
            self.message_user(
                request,
                gettext("Lead offered to %(partner)s until %(until)s.")
                % {
                    "partner": offer.partner.email,
                    "until": timezone.localtime(offer.expires_at).strftime("%d.%m.%Y %H:%M"),
                },
                messages.SUCCESS,
            )
        return self._back(lead.pk)

    def reject_view(self, request, object_id):
        lead = get_object_or_404(Lead, pk=unquote(object_id))
        if refused := self._post_only(request, lead):
            return refused
        form = RejectForm(request.POST)
        if not form.is_valid():
            self.message_user(request, gettext("Please give a reason."), messages.ERROR)
            return self._back(lead.pk)
        try:
            lead_pool_reject(lead=lead, actor=request.user, reason=form.reason)
        except DomainError as exc:
            self.message_user(request, exc.message, messages.ERROR)
        else:
            self.message_user(request, gettext("Lead rejected and marked lost."), messages.SUCCESS)
        return self._back(lead.pk)

    def offer_revoke_view(self, request, offer_id):
        offer = get_object_or_404(LeadAssignment, pk=offer_id)
        if refused := self._post_only(request, offer.lead):
            return refused
        try:
            offer_revoke(offer=offer, actor=request.user, reason=request.POST.get("reason", ""))
        except DomainError as exc:
            self.message_user(request, exc.message, messages.ERROR)
        else:
            self.message_user(request, gettext("Offer withdrawn; the lead is back in the pool."), messages.SUCCESS)
        return self._back(offer.lead_id)

    def merge_undo_view(self, request, merge_id):
        from leads.services.merge import lead_unmerge

        entry = get_object_or_404(LeadMerge, pk=merge_id)
        if refused := self._post_only(request, entry.survivor):
            return refused
        try:
            revived = lead_unmerge(merge=entry, actor=request.user)
        except DomainError as exc:
            self.message_user(request, exc.message, messages.ERROR)
        else:
            self.message_user(
                request, gettext("Merge undone: %(lead)s is a lead of its own again.") % {"lead": revived.public_id}
            )
        return self._back(entry.survivor_id)

    def statistics_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        form = StatsRangeForm(request.GET or None)
        date_from, date_to = form.range()
        stats = pool_stats(date_from=date_from, date_to=date_to)
        if not form.is_bound:
            form = StatsRangeForm(initial={"date_from": date_from, "date_to": date_to})
        return TemplateResponse(
            request,
            "admin/leads/pool_statistics.html",
            {
                **self.admin_site.each_context(request),
                "title": gettext("Pool statistics"),
                "opts": self.opts,
                "form": form,
                "stats": stats,
                "range_from": date_from,
                "range_to": date_to,
                "generated_at": parse_datetime(stats["generated_at"]),
                "charts": _charts(stats),
                "media": self.media + form.media,
            },
        )


def _erasure_notice(lead: Lead) -> str:
    """The banner of an erased lead, or of a lead that arrived for a person erased before ("" for neither)."""
    if lead.erased_at is not None:
        return gettext(
            "The personal data of this lead was erased on %(date)s (GDPR); it is kept as an anonymous statistic."
        ) % {"date": timezone.localtime(lead.erased_at).strftime("%d.%m.%Y")}
    if lead.erased_before is not None:
        return gettext("This person was erased on %(date)s (GDPR). Decide whether this lead may be kept.") % {
            "date": timezone.localtime(lead.erased_before).strftime("%d.%m.%Y")
        }
    return ""


def _charts(stats: dict[str, Any]) -> dict[str, Any]:
    days = [f"{d[8:10]}.{d[5:7]}." for d in stats["volume"]["days"]]
    partners = stats["offers"]["partners"]
    return {
        "volume": stacked_bars(
            days,
            [(c["label"], c["counts"]) for c in stats["volume"]["channels"]],
            title=gettext("New pool leads per day and channel"),
        ),
        "age": horizontal_bars([(b["label"], b["count"]) for b in stats["pool_age"]], title=gettext("Pool age")),
        "stages": horizontal_bars(
            [(s["label"], s["count"]) for s in stats["stages"]],
            title=gettext("Pool leads per stage"),
            colours=[STAGE_COLOURS[s["stage"]] for s in stats["stages"]],
        ),
        "acceptance": horizontal_bars(
            [(p["name"], round((p["acceptance_rate"] or 0) * 100, 1)) for p in partners],
            title=gettext("Acceptance rate by partner"),
            suffix=" %",
            x_max=100,
        )
        if partners
        else "",
        "time_to_accept": horizontal_bars(
            [(p["name"], p["median_hours_to_accept"] or 0) for p in partners],
            title=gettext("Median time to accept by partner"),
            suffix=" h",
        )
        if partners
        else "",
        "expiries": stacked_bars(
            days, [(gettext("expired"), stats["expiries"]["counts"])], title=gettext("Expired offers")
        ),
    }
