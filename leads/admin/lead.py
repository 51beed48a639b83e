"""The lead pool console: changelist with filters, the add and change forms (bulk actions in ``actions``,
detail panels and statistics in ``console``).

Every change goes through a service (offers, rejection, merge, rescore, ingest); the admin only
validates input, reports the outcome and keeps the operator on the page they came from.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.utils import timezone
from django.utils.html import format_html
from django.utils.timesince import timesince
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.pagination import EstimatedCountPaginator
from leads.admin.actions import LeadActionsMixin
from leads.admin.console import LeadConsoleMixin
from leads.admin.filters import LEAD_FILTERS
from leads.admin.forms import LeadAddForm, LeadChangeForm
from leads.models import ATTRIBUTION_FIELDS, Lead, LeadAssignment
from leads.selectors import lead_search_q
from leads.selectors.pool import offers_prefetch


class LeadChangeList(ChangeList):
    def get_queryset(self, request, exclude_parameters=None):
        # The offer column needs each lead's offers: one prefetch query per page, not one per row.
        return super().get_queryset(request, exclude_parameters).prefetch_related(offers_prefetch())


@admin.register(Lead)
class LeadAdmin(LeadActionsMixin, LeadConsoleMixin, admin.ModelAdmin):
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
        "erasure_state",
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
    actions = [
        "offer_to_partner",
        "reject_leads",
        "merge_leads",
        "rescore_leads",
        "export_csv",
        "export_subject_data",
        "erase_subject",
    ]
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
        # The consent ledger's cache: a tick of ``consent_marketing`` is recorded there (``lead_update``).
        "consent_at",
        "opted_out_at",
        "erased_at",
        "erased_before",
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
                gettext("until"),
                timezone.localtime(offer.expires_at).strftime("%d.%m. %H:%M"),
            )
        return format_html(
            '<span class="lp-badge lp-offer-{}">{}</span> {}',
            offer.status,
            offer.get_status_display(),
            offer.partner.email,
        )

    @admin.display(description=_("GDPR"))
    def erasure_state(self, obj: Lead) -> str:
        if obj.erased_at is not None:
            return format_html('<span class="lp-badge lp-erased">{}</span>', gettext("erased"))
        if obj.erased_before is not None:
            return format_html(
                '<span class="lp-badge lp-erased-before" title="{}">{}</span>',
                gettext("The same person was erased on %(date)s.")
                % {"date": timezone.localtime(obj.erased_before).strftime("%d.%m.%Y")},
                gettext("erased before"),
            )
        return ""

    @admin.display(description=_("last activity"), ordering="last_activity_at")
    def last_activity(self, obj: Lead) -> str:
        when = obj.last_activity_at or obj.created_at
        return gettext("%(time)s ago") % {"time": timesince(when).split(",")[0]} if when else "–"

    # --- add and change ---------------------------------------------------------------------

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = LeadAddForm if obj is None else LeadChangeForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return self.add_fieldsets
        fieldsets = super().get_fieldsets(request, obj)
        if obj.erased_at is not None or obj.erased_before is not None:
            fieldsets = ((_("Data protection"), {"fields": ("erased_at", "erased_before")}), *fieldsets)
        return fieldsets

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
                gettext("This person was already known: the data was merged into %(lead)s.")
                % {"lead": result.lead.public_id},
                messages.WARNING,
            )
