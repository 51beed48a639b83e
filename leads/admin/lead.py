"""The lead pool console: changelist with filters and bulk actions, lead detail with panels, statistics.

Every change goes through a service (offers, rejection, merge, rescore, ingest); the admin only
validates input, reports the outcome and keeps the operator on the page they came from.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import unquote
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseNotAllowed, HttpResponseRedirect, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html
from django.utils.timesince import timesince
from django.utils.translation import gettext as _t
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from compliance.services import audit_record
from core.charts import STAGE_COLOURS, horizontal_bars, stacked_bars
from core.csv import csv_safe
from core.exceptions import DomainError
from core.pagination import EstimatedCountPaginator
from leads.admin.filters import LEAD_FILTERS
from leads.admin.forms import LeadAddForm, LeadChangeForm, OfferForm, RejectForm, StatsRangeForm
from leads.models import ATTRIBUTION_FIELDS, Lead, LeadAssignment, LeadMerge
from leads.selectors import lead_search_q, partner_capacities
from leads.selectors.pool import lead_console_panels, offers_prefetch, partner_choices, pool_stats
from leads.services.offers import lead_pool_reject, offer_create, offer_revoke

MAX_OFFER_LEADS = 50
MAX_REJECT_LEADS = 500
MAX_MERGE_LEADS = 20
MAX_RESCORE_LEADS = 500
MAX_EXPORT_ROWS = 10_000

CSV_COLUMNS = [
    ("public_id", _("public id")),
    ("created_at", _("created at")),
    ("channel", _("channel")),
    ("source", _("source")),
    ("status", _("status")),
    ("stage", _("stage")),
    ("score", _("score")),
    ("p_score", "P"),
    ("i_score", "I"),
    ("e_score", "E"),
    ("first_name", _("first name")),
    ("last_name", _("last name")),
    ("email", _("email")),
    ("phone", _("phone")),
    ("company_name", _("company")),
    ("job_title", _("job title")),
    ("industry", _("industry")),
    ("interest_type", _("interest type")),
    ("postcode", _("postcode")),
    ("city", _("city")),
    ("country", _("country")),
    ("partner", _("assigned partner")),
    ("is_test", _("test lead")),
    ("last_activity_at", _("last activity")),
]


class _Echo:
    def write(self, value: str) -> str:
        return value


def _csv_rows(leads: Iterable[Lead]) -> Iterator[str]:
    writer = csv.writer(_Echo(), delimiter=";")
    yield "\ufeff"  # BOM: Excel opens UTF-8 with umlauts correctly
    yield writer.writerow([str(label) for _name, label in CSV_COLUMNS])
    for lead in leads:
        values = []
        for name, _label in CSV_COLUMNS:
            if name == "partner":
                value = lead.assigned_partner.email if lead.assigned_partner_id else ""
            elif name in ("created_at", "last_activity_at"):
                value = getattr(lead, name)
                value = timezone.localtime(value).strftime("%d.%m.%Y %H:%M") if value else ""
            elif name == "is_test":
                value = _t("yes") if lead.is_test else _t("no")
            else:
                value = getattr(lead, name)
            values.append(csv_safe(value))
        yield writer.writerow(values)


class LeadChangeList(ChangeList):
    def get_queryset(self, request, exclude_parameters=None):
        # The offer column needs each lead's offers: one prefetch query per page, not one per row.
        return super().get_queryset(request, exclude_parameters).prefetch_related(offers_prefetch())


@admin.register(Lead)
class LeadAdmin(admin.ModelAdmin):
    list_display = (
        "public_id",
        "stage_badge",
        "score",
        "name",
        "company_name",
        "channel",
        "source",
        "status",
        "partner",
        "offer_state",
        "last_activity",
    )
    list_filter = LEAD_FILTERS
    list_select_related = ("assigned_partner",)
    list_per_page = 50
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    paginator = EstimatedCountPaginator
    search_fields = ("public_id",)
    search_help_text = _(
        "Exact search by email address, phone number or public id (SOT-LEAD-…). Names and contact data are "
        "stored encrypted, so partial matches are not possible."
    )
    actions = ["offer_to_partner", "reject_leads", "merge_leads", "rescore_leads", "export_csv"]
    change_list_template = "admin/leads/lead/change_list.html"
    change_form_template = "admin/leads/lead/change_form.html"
    readonly_fields = (
        "public_id",
        "tenant",
        "status",
        "stage",
        "score",
        "p_score",
        "i_score",
        "e_score",
        "score_breakdown",
        "score_pending",
        "decay_level",
        "assigned_partner",
        "merged_into",
        "lost_reason",
        "last_activity_at",
        "created_at",
        "updated_at",
        # Channel ids are identities: they come from the channel, not from a hand edit.
        "facebook_lead_id",
        "linkedin_response_id",
        "instagram_igsid",
    )
    fieldsets = (
        (None, {"fields": ("public_id", "tenant", "channel", "source", "status", "is_test", "merged_into")}),
        (_("Contact"), {"fields": ("first_name", "last_name", "email", "phone")}),
        (
            _("Company"),
            {
                "fields": (
                    "company_name",
                    "company_domain",
                    "job_title",
                    "industry",
                    "company_size_band",
                    "employees",
                    "revenue_band",
                    "company_linkedin_url",
                    "interest_type",
                )
            },
        ),
        (_("Location"), {"fields": ("postcode", "city", "region", "country")}),
        (_("Score"), {"fields": ("stage", "score", "p_score", "i_score", "e_score", "decay_level", "score_pending")}),
        (
            _("Attribution"),
            {
                "classes": ("collapse",),
                "fields": (
                    *ATTRIBUTION_FIELDS,
                    "facebook_lead_id",
                    "linkedin_response_id",
                    "instagram_igsid",
                ),
            },
        ),
        (_("Consent"), {"fields": ("consent_marketing", "consent_at", "opted_out_at")}),
        (_("Assignment"), {"fields": ("assigned_partner", "last_activity_at", "lost_reason")}),
        (_("Form answers"), {"classes": ("collapse",), "fields": ("attributes",)}),
        (None, {"fields": ("created_at", "updated_at")}),
    )
    add_fieldsets = (
        (None, {"fields": ("channel", "source", "is_test")}),
        (_("Contact"), {"fields": ("first_name", "last_name", "email", "phone")}),
        (_("Company"), {"fields": ("company_name", "job_title", "interest_type")}),
        (_("Location"), {"fields": ("postcode", "city", "region", "country")}),
    )

    class Media:
        css = {"all": ("leads/admin/pool.css",)}

    # --- changelist -------------------------------------------------------------------------

    def get_changelist(self, request, **kwargs):
        return LeadChangeList

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # leads are erased through the GDPR service, never deleted here
        return actions

    def has_delete_permission(self, request, obj=None):
        return False

    def get_search_results(self, request, queryset, search_term):
        # PII is encrypted: look up the blind index instead of icontains over ciphertext.
        if not search_term.strip():
            return queryset, False
        q = lead_search_q(search_term)
        if q is None:
            return queryset.none(), False
        return queryset.filter(q), False

    @admin.display(description=_("stage"), ordering="score")
    def stage_badge(self, obj: Lead) -> str:
        return format_html('<span class="lp-badge lp-stage-{}">{}</span>', obj.stage, obj.get_stage_display())

    @admin.display(description=_("name"))
    def name(self, obj: Lead) -> str:
        return obj.full_name or "–"

    @admin.display(description=_("partner"), ordering="assigned_partner__email")
    def partner(self, obj: Lead) -> str:
        return obj.assigned_partner.email if obj.assigned_partner_id else "–"

    @admin.display(description=_("offer"))
    def offer_state(self, obj: Lead) -> str:
        offers = getattr(obj, "offer_list", None)
        if offers is None:
            offers = list(obj.offers.select_related("partner").order_by("-offered_at", "-id")[:1])
        if not offers:
            return "–"
        offer = offers[0]
        if offer.status == LeadAssignment.Status.OFFERED:
            return format_html(
                '<span class="lp-badge lp-offer-offered">{}</span> {} · {} {}',
                offer.get_status_display(),
                offer.partner.email,
                _t("until"),
                timezone.localtime(offer.expires_at).strftime("%d.%m. %H:%M"),
            )
        return format_html(
            '<span class="lp-badge lp-offer-{}">{}</span> {}',
            offer.status,
            offer.get_status_display(),
            offer.partner.email,
        )

    @admin.display(description=_("last activity"), ordering="last_activity_at")
    def last_activity(self, obj: Lead) -> str:
        when = obj.last_activity_at or obj.created_at
        return _t("%(time)s ago") % {"time": timesince(when).split(",")[0]} if when else "–"

    # --- bulk actions -----------------------------------------------------------------------

    def _intermediate(self, request, queryset, *, action: str, template: str, title: str, **context):
        ids = [str(pk) for pk in queryset.values_list("pk", flat=True)]
        return TemplateResponse(
            request,
            f"admin/leads/lead/{template}",
            {
                **self.admin_site.each_context(request),
                "title": title,
                "opts": self.opts,
                "action": action,
                "selected_ids": ids,
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
                "media": self.media,
                **context,
            },
        )

    def _too_many(self, request, queryset, limit: int) -> bool:
        # Fetch at most limit + 1 ids instead of counting: "select all" may span a million leads.
        if len(queryset.values_list("pk", flat=True)[: limit + 1]) > limit:
            self.message_user(
                request, _t("Please select at most %(n)s leads for this action.") % {"n": limit}, messages.WARNING
            )
            return True
        return False

    def _report(self, request, done: int, errors: list[str], done_message: str) -> None:
        if done:
            self.message_user(request, done_message, messages.SUCCESS)
        for error in errors[:20]:
            self.message_user(request, error, messages.ERROR)
        if len(errors) > 20:
            self.message_user(request, _t("… and %(n)s more errors.") % {"n": len(errors) - 20}, messages.ERROR)

    @admin.action(description=_("Offer to a partner …"), permissions=["change"])
    def offer_to_partner(self, request, queryset):
        if self._too_many(request, queryset, MAX_OFFER_LEADS):
            return None
        form = OfferForm(request.POST if "apply" in request.POST else None)
        leads = list(queryset.order_by("-score", "created_at"))
        if form.is_bound and form.is_valid():
            partner = form.cleaned_data["partner"]
            done, errors = 0, []
            for lead in leads:
                try:
                    offer_create(lead=lead, partner=partner, actor=request.user)
                    done += 1
                except DomainError as exc:
                    errors.append(f"{lead.public_id}: {exc.message}")
            message = ngettext(
                "%(count)s lead offered to %(partner)s.", "%(count)s leads offered to %(partner)s.", done
            ) % {"count": done, "partner": partner.email}
            self._report(request, done, errors, message)
            return None
        return self._intermediate(
            request,
            queryset,
            action="offer_to_partner",
            template="action_offer.html",
            title=_t("Offer leads to a partner"),
            leads=leads,
            form=form,
            partners=_partner_rows(),
            ttl=settings.OFFER_TTL_HOURS,
        )

    @admin.action(description=_("Reject (take out of the pool) …"), permissions=["change"])
    def reject_leads(self, request, queryset):
        if self._too_many(request, queryset, MAX_REJECT_LEADS):
            return None
        form = RejectForm(request.POST if "apply" in request.POST else None)
        leads = list(queryset.order_by("created_at"))
        if form.is_bound and form.is_valid():
            done, errors = 0, []
            for lead in leads:
                try:
                    lead_pool_reject(lead=lead, actor=request.user, reason=form.reason)
                    done += 1
                except DomainError as exc:
                    errors.append(f"{lead.public_id}: {exc.message}")
            message = ngettext(
                "%(count)s lead rejected and marked lost.", "%(count)s leads rejected and marked lost.", done
            ) % {"count": done}
            self._report(request, done, errors, message)
            return None
        return self._intermediate(
            request,
            queryset,
            action="reject_leads",
            template="action_reject.html",
            title=_t("Reject leads"),
            leads=leads,
            form=form,
        )

    @admin.action(description=_("Merge selected leads …"), permissions=["change"])
    def merge_leads(self, request, queryset):
        from leads.services.merge import lead_merge

        if self._too_many(request, queryset, MAX_MERGE_LEADS):
            return None
        leads = list(queryset.filter(merged_into__isnull=True).order_by("created_at", "pk"))
        if len(leads) < 2:
            self.message_user(request, _t("Select at least two leads that are not merged yet."), messages.WARNING)
            return None
        survivor, others = leads[0], leads[1:]
        if "apply" in request.POST:
            try:
                lead_merge(survivor=survivor, others=others, actor=request.user)
            except DomainError as exc:
                self.message_user(request, exc.message, messages.ERROR)
                return None
            self.message_user(
                request,
                _t("%(count)s leads merged into %(lead)s (undo in its merge journal).")
                % {"count": len(others), "lead": survivor.public_id},
                messages.SUCCESS,
            )
            return HttpResponseRedirect(reverse("admin:leads_lead_change", args=[survivor.pk]))
        return self._intermediate(
            request,
            queryset,
            action="merge_leads",
            template="action_merge.html",
            title=_t("Merge leads"),
            survivor=survivor,
            survivor_list=[survivor],
            others=others,
        )

    @admin.action(description=_("Recalculate score"), permissions=["change"])
    def rescore_leads(self, request, queryset):
        from leads.services.scoring import lead_rescore

        if self._too_many(request, queryset, MAX_RESCORE_LEADS):
            return None
        done, errors = 0, []
        for lead in queryset.filter(merged_into__isnull=True):
            try:
                lead_rescore(lead=lead, reason=_t("Recalculated by %(user)s") % {"user": request.user.email})
                done += 1
            except DomainError as exc:
                errors.append(f"{lead.public_id}: {exc.message}")
        message = ngettext(
            "Score recalculated for %(count)s lead.", "Score recalculated for %(count)s leads.", done
        ) % {"count": done}
        self._report(request, done, errors, message)
        return None

    @admin.action(description=_("Export as CSV (decrypted)"), permissions=["change"])
    def export_csv(self, request, queryset):
        ids = list(queryset.order_by("-created_at").values_list("pk", flat=True)[: MAX_EXPORT_ROWS + 1])
        if len(ids) > MAX_EXPORT_ROWS:
            self.message_user(
                request,
                _t("At most %(n)s leads can be exported at once; narrow the filter.") % {"n": MAX_EXPORT_ROWS},
                messages.WARNING,
            )
            return None
        # Exporting decrypted PII is itself a processing step worth an audit entry (DSGVO Art. 30).
        audit_record(
            event_type="leads.exported",
            actor=request.user,
            payload={"format": "csv", "count": len(ids), "lead_ids": [str(pk) for pk in ids]},
            ip=request.META.get("REMOTE_ADDR"),
        )
        leads = (
            Lead.objects.filter(pk__in=ids).select_related("assigned_partner").order_by("-created_at").iterator(2000)
        )
        response = StreamingHttpResponse(_csv_rows(leads), content_type="text/csv; charset=utf-8")
        stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
        response["Content-Disposition"] = f'attachment; filename="leads-{stamp}.csv"'
        return response

    # --- add and change ---------------------------------------------------------------------

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = LeadAddForm if obj is None else LeadChangeForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fieldsets(self, request, obj=None):
        return self.add_fieldsets if obj is None else super().get_fieldsets(request, obj)

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.readonly_fields

    def save_model(self, request, obj, form, change):
        if change:
            # Corrections go through the service: new contact data joins the identity graph, audited.
            from leads.services.ingest import lead_update

            lead_update(
                lead=obj, data={name: form.cleaned_data[name] for name in form.changed_data}, actor=request.user
            )
            return
        from leads.services.ingest import lead_ingest

        data = {k: v for k, v in form.cleaned_data.items() if k not in ("channel", "source") and v not in ("", None)}
        result = lead_ingest(
            payload=data,
            channel=form.cleaned_data["channel"],
            source=form.cleaned_data["source"],
            actor=request.user,
            activity=None,
        )
        obj.pk = result.lead.pk
        obj.public_id = result.lead.public_id
        obj._state.adding = False
        if not result.created:
            self.message_user(
                request,
                _t("This person was already known: the data was merged into %(lead)s.")
                % {"lead": result.lead.public_id},
                messages.WARNING,
            )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        lead = self.get_object(request, unquote(object_id))
        extra_context = dict(extra_context or {})
        if lead is not None:
            extra_context.update(self._console_context(request, lead))
        return super().change_view(request, object_id, form_url, extra_context)

    def _console_context(self, request, lead: Lead) -> dict[str, Any]:
        can_change = self.has_change_permission(request, lead)
        panels = lead_console_panels(lead=lead)
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
            "partners": _partner_rows() if can_change and open_offer is None else [],
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
            self.message_user(request, _t("Please choose a partner."), messages.ERROR)
            return self._back(lead.pk)
        try:
            offer = offer_create(lead=lead, partner=form.cleaned_data["partner"], actor=request.user)
        except DomainError as exc:
            self.message_user(request, exc.message, messages.ERROR)
        else:
            self.message_user(
                request,
                _t("Lead offered to %(partner)s until %(until)s.")
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
            self.message_user(request, _t("Please give a reason."), messages.ERROR)
            return self._back(lead.pk)
        try:
            lead_pool_reject(lead=lead, actor=request.user, reason=form.reason)
        except DomainError as exc:
            self.message_user(request, exc.message, messages.ERROR)
        else:
            self.message_user(request, _t("Lead rejected and marked lost."), messages.SUCCESS)
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
            self.message_user(request, _t("Offer withdrawn; the lead is back in the pool."), messages.SUCCESS)
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
                request, _t("Merge undone: %(lead)s is a lead of its own again.") % {"lead": revived.public_id}
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
                "title": _t("Pool statistics"),
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


def _partner_rows() -> list[dict[str, Any]]:
    """Partners with capacity, used and free slots, for the offer pages (three queries)."""
    partners = list(partner_choices())
    capacities = partner_capacities([p.pk for p in partners])
    rows = []
    for partner in partners:
        capacity = capacities.get(partner.pk)
        profile = partner.partner_profile
        rows.append(
            {
                "partner": partner,
                "name": str(profile),
                "capacity": capacity.capacity if capacity else profile.capacity,
                "open_leads": capacity.open_leads if capacity else 0,
                "open_offers": capacity.open_offers if capacity else 0,
                "free": capacity.free if capacity else 0,
                "active": partner.is_active and profile.is_active,
            }
        )
    rows.sort(key=lambda r: (not r["active"], -r["free"], r["name"].lower()))
    return rows


def _charts(stats: dict[str, Any]) -> dict[str, Any]:
    days = [f"{d[8:10]}.{d[5:7]}." for d in stats["volume"]["days"]]
    partners = stats["offers"]["partners"]
    return {
        "volume": stacked_bars(
            days,
            [(c["label"], c["counts"]) for c in stats["volume"]["channels"]],
            title=_t("New pool leads per day and channel"),
        ),
        "age": horizontal_bars([(b["label"], b["count"]) for b in stats["pool_age"]], title=_t("Pool age")),
        "stages": horizontal_bars(
            [(s["label"], s["count"]) for s in stats["stages"]],
            title=_t("Pool leads per stage"),
            colours=[STAGE_COLOURS[s["stage"]] for s in stats["stages"]],
        ),
        "acceptance": horizontal_bars(
            [(p["name"], round((p["acceptance_rate"] or 0) * 100, 1)) for p in partners],
            title=_t("Acceptance rate by partner"),
            suffix=" %",
            x_max=100,
        )
        if partners
        else "",
        "time_to_accept": horizontal_bars(
            [(p["name"], p["median_hours_to_accept"] or 0) for p in partners],
            title=_t("Median time to accept by partner"),
            suffix=" h",
        )
        if partners
        else "",
        "expiries": stacked_bars(days, [(_t("expired"), stats["expiries"]["counts"])], title=_t("Expired offers")),
    }
