"""Admin for leads: exact search through blind indexes, read-only status and score."""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from leads.models import Company, IcpProfile, Lead, LeadActivity, LeadScoreHistory, ScoringRule
from leads.selectors import lead_search_q


class ActivityInline(admin.TabularInline):
    model = LeadActivity
    fields = ("occurred_at", "activity_type", "channel", "score_delta", "detail")
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ("-occurred_at",)

    def has_add_permission(self, request, obj=None):
        return False


class ScoreHistoryInline(admin.TabularInline):
    model = LeadScoreHistory
    fields = ("created_at", "old_score", "new_score", "delta", "new_stage", "reason")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Lead)
class LeadAdmin(admin.ModelAdmin):
    list_display = (
        "public_id",
        "stage",
        "score",
        "full_name",
        "company_name",
        "channel",
        "source",
        "status",
        "assigned_partner",
        "created_at",
    )
    list_filter = ("stage", "status", "channel", "source", "is_test")
    list_select_related = ("tenant", "assigned_partner")
    search_fields = ("public_id",)
    search_help_text = _(
        "Exact search by email address, phone number or public id (SOT-LEAD-…). "
        "Names and emails are encrypted, so partial matches are not possible."
    )
    show_full_result_count = False
    readonly_fields = (
        "public_id",
        "status",
        "stage",
        "score",
        "p_score",
        "i_score",
        "e_score",
        "score_breakdown",
        "merged_into",
        "created_at",
        "updated_at",
    )
    raw_id_fields = ("assigned_partner",)
    inlines = [ScoreHistoryInline, ActivityInline]
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
        (_("Score"), {"fields": ("stage", "score", "p_score", "i_score", "e_score", "score_breakdown")}),
        (
            _("Attribution"),
            {
                "classes": ("collapse",),
                "fields": (
                    "utm_source",
                    "utm_medium",
                    "utm_campaign",
                    "utm_term",
                    "utm_content",
                    "referrer",
                    "landing_page",
                    "source_campaign",
                    "facebook_lead_id",
                    "linkedin_response_id",
                ),
            },
        ),
        (_("Consent"), {"fields": ("consent_marketing", "consent_at", "opted_out_at")}),
        (_("Assignment"), {"fields": ("assigned_partner", "last_activity_at", "lost_reason")}),
        (_("Form answers"), {"classes": ("collapse",), "fields": ("attributes",)}),
        (None, {"fields": ("created_at", "updated_at")}),
    )

    @admin.display(description=_("name"))
    def full_name(self, obj: Lead) -> str:
        return obj.full_name

    def get_search_results(self, request, queryset, search_term):
        # PII is encrypted: look up the blind index instead of icontains over ciphertext.
        q = lead_search_q(search_term)
        if not search_term.strip():
            return queryset, False
        if q is None:
            return queryset.none(), False
        return queryset.filter(q), False


@admin.register(ScoringRule)
class ScoringRuleAdmin(admin.ModelAdmin):
    list_display = ("code", "component", "points", "description", "tenant", "active")
    list_editable = ("points", "active")
    list_filter = ("component", "active", "tenant")
    list_select_related = ("tenant",)
    search_fields = ("code", "description")


@admin.register(IcpProfile)
class IcpProfileAdmin(admin.ModelAdmin):
    list_display = ("tenant", "updated_at")
    list_select_related = ("tenant",)


@admin.register(Company)
class CompanyAdmin(admin.ModelAdmin):
    list_display = ("name", "domain", "industry", "size_band", "tier", "tenant")
    list_filter = ("tier", "size_band")
    list_select_related = ("tenant",)
    search_fields = ("name", "domain")
    raw_id_fields = ("leads",)
