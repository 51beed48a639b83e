"""Campaigns in the operator console: templates (editable, switchable off), partners' campaigns with their
figures, booking pending campaigns in Meta, and attaching the ids of a campaign booked by hand.

Status fields are read-only: every move goes through the booking and draft services, which write the
history and the audit trail. Meta's errors reach the admin as messages in German.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, IntegerField, OuterRef, Subquery, Sum
from django.db.models.functions import Coalesce
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.templatetags.static import static
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from campaigns.forms import AttachIdsForm
from campaigns.models import AdCampaign, AdCampaignLead, CampaignStats, CampaignStatusChange, CampaignTemplate
from campaigns.services.booking import campaign_attach_ids, campaign_book
from core.exceptions import DomainError

S = AdCampaign.Status
DRAFT_FIELDS = ["name", "budget_cents", "start_date", "end_date", "regions", "headline", "text"]


def _euros(cents: int | None) -> str:
    return "–" if cents is None else f"{cents / 100:,.2f} €".replace(",", "X").replace(".", ",").replace("X", ".")


@admin.register(CampaignTemplate)
class CampaignTemplateAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "category", "call_to_action", "is_active", "sort_order", "image_thumb"]
    list_editable = ["is_active", "sort_order"]
    list_filter = ["is_active", "category"]
    search_fields = ["name", "code", "headline"]
    readonly_fields = ["image_preview", "created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["name", "code", "category", "is_active", "sort_order"]}),
        (gettext_lazy("Ad"), {"fields": ["headline", "primary_text", "description", "call_to_action"]}),
        (gettext_lazy("Image"), {"fields": ["image", "image_preview"]}),
        (
            gettext_lazy("Lead form"),
            {"fields": ["form_questions", "privacy_policy_url", "privacy_policy_text"]},
        ),
        (gettext_lazy("Changes"), {"fields": ["created_at", "updated_at"]}),
    ]

    @admin.display(description=gettext_lazy("image"))
    def image_thumb(self, obj: CampaignTemplate) -> str:
        if not obj.image:
            return "–"
        return format_html('<img src="{}" alt="" style="height:40px;border-radius:3px">', static(obj.image))

    @admin.display(description=gettext_lazy("preview"))
    def image_preview(self, obj: CampaignTemplate) -> str:
        if obj is None or not obj.image:
            return "–"
        return format_html('<img src="{}" alt="" style="max-width:480px;border-radius:4px">', static(obj.image))

    def has_delete_permission(self, request, obj=None) -> bool:
        # Campaigns keep their template: switch it off instead.
        return False


class CampaignStatusChangeInline(admin.TabularInline):
    model = CampaignStatusChange
    extra = 0
    can_delete = False
    fields = ["at", "from_status", "to_status", "actor", "note"]
    readonly_fields = fields
    ordering = ["at", "id"]
    verbose_name_plural = gettext_lazy("status history")

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class CampaignStatsInline(admin.TabularInline):
    model = CampaignStats
    extra = 0
    can_delete = False
    fields = ["date", "spend_cents", "impressions", "clicks", "meta_leads", "synced_at"]
    readonly_fields = fields
    ordering = ["-date"]
    max_num = 0

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


def _spent_subquery() -> Subquery:
    rows = CampaignStats.objects.filter(campaign=OuterRef("pk")).order_by().values("campaign")
    return Subquery(rows.annotate(total=Sum("spend_cents")).values("total")[:1], output_field=IntegerField())


def _leads_subquery() -> Subquery:
    rows = AdCampaignLead.objects.filter(campaign=OuterRef("pk")).order_by().values("campaign")
    return Subquery(rows.annotate(n=Count("id")).values("n")[:1], output_field=IntegerField())


@admin.register(AdCampaign)
class AdCampaignAdmin(admin.ModelAdmin):
    list_display = ["name", "status", "partner", "template", "budget", "spent", "lead_count", "cpl", "start_date"]
    list_filter = ["status", "template", ("partner", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["partner", "template", "tenant"]
    search_fields = ["name", "partner__email", "meta_campaign_id", "meta_form_id"]
    show_full_result_count = False
    actions = ["book_in_meta"]
    inlines = [CampaignStatusChangeInline, CampaignStatsInline]
    readonly_fields = [
        "partner",
        "tenant",
        "template",
        "status",
        "status_reason",
        "sync_pending",
        "tos_consent",
        "attach_link",
        "meta_form_id",
        "meta_campaign_id",
        "meta_adset_id",
        "meta_image_hash",
        "meta_creative_id",
        "meta_ad_id",
        "meta_effective_status",
        "meta_issues",
        "booking_error",
        "insights_synced_through",
        "insights_synced_at",
        "submitted_at",
        "booked_at",
        "completed_at",
        "created_at",
        "updated_at",
    ]
    fieldsets = [
        (None, {"fields": ["name", "partner", "tenant", "template", "status", "status_reason", "sync_pending"]}),
        (
            gettext_lazy("Booking"),
            {"fields": ["budget_cents", "start_date", "end_date", "regions", "headline", "text", "tos_consent"]},
        ),
        (
            gettext_lazy("Meta"),
            {
                "fields": [
                    "attach_link",
                    "meta_form_id",
                    "meta_campaign_id",
                    "meta_adset_id",
                    "meta_image_hash",
                    "meta_creative_id",
                    "meta_ad_id",
                    "meta_effective_status",
                    "meta_issues",
                    "booking_error",
                    "insights_synced_through",
                    "insights_synced_at",
                ]
            },
        ),
        (gettext_lazy("Times"), {"fields": ["submitted_at", "booked_at", "completed_at", "created_at", "updated_at"]}),
    ]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                spent_cents=Coalesce(_spent_subquery(), 0),
                leads_received=Coalesce(_leads_subquery(), 0),
            )
        )

    @admin.display(description=gettext_lazy("budget"), ordering="budget_cents")
    def budget(self, obj: AdCampaign) -> str:
        return _euros(obj.budget_cents)

    @admin.display(description=gettext_lazy("spent"), ordering="spent_cents")
    def spent(self, obj: AdCampaign) -> str:
        return _euros(getattr(obj, "spent_cents", 0))

    @admin.display(description=gettext_lazy("leads"), ordering="leads_received")
    def lead_count(self, obj: AdCampaign) -> int:
        return getattr(obj, "leads_received", 0)

    @admin.display(description=gettext_lazy("cost per lead"))
    def cpl(self, obj: AdCampaign) -> str:
        leads = getattr(obj, "leads_received", 0)
        return _euros(round(getattr(obj, "spent_cents", 0) / leads)) if leads else "–"

    @admin.display(description=gettext_lazy("booked by hand"))
    def attach_link(self, obj: AdCampaign) -> str:
        if obj is None or obj.pk is None or obj.status != S.PENDING:
            return "–"
        url = reverse("admin:campaigns_adcampaign_attach_ids", args=[obj.pk])
        return format_html('<a class="button" href="{}">{}</a>', url, _("Attach Meta ids…"))

    def get_readonly_fields(self, request, obj=None):
        # The partner's draft is theirs (portal, API); what Meta has is fixed: the admin reads, books, attaches.
        return [*super().get_readonly_fields(request, obj), *DRAFT_FIELDS]

    def has_add_permission(self, request) -> bool:
        # Partners create campaigns in the portal (with the audit trail and the terms consent).
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description=gettext_lazy("Book in Meta (pending campaigns)"))
    def book_in_meta(self, request, queryset):
        if not getattr(request.user, "is_platform_admin", False):
            raise PermissionDenied
        booked = 0
        for campaign in queryset.order_by("pk"):
            if campaign.status != S.PENDING:
                messages.warning(
                    request,
                    _("%(name)s: not waiting for booking (%(status)s).")
                    % {"name": campaign.name, "status": campaign.get_status_display()},
                )
                continue
            try:
                campaign_book(campaign=campaign, actor=request.user)
            except DomainError as exc:
                messages.error(request, f"{campaign.name}: {exc.message}")
            else:
                booked += 1
        if booked:
            messages.success(request, _("%(n)d campaign(s) booked in Meta.") % {"n": booked})

    def get_urls(self):
        attach = path(
            "<int:campaign_id>/attach-ids/",
            self.admin_site.admin_view(self.attach_ids_view),
            name="campaigns_adcampaign_attach_ids",
        )
        return [attach, *super().get_urls()]

    def attach_ids_view(self, request, campaign_id: int):
        """Attach the ids of a campaign booked by hand in Ads Manager → active (platform admins only)."""
        if not getattr(request.user, "is_platform_admin", False):
            raise PermissionDenied
        campaign = AdCampaign.objects.select_related("partner", "template").filter(pk=campaign_id).first()
        if campaign is None:
            messages.error(request, _("Campaign not found."))
            return redirect("admin:campaigns_adcampaign_changelist")
        here = reverse("admin:campaigns_adcampaign_change", args=[campaign.pk])
        form = AttachIdsForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                campaign_attach_ids(campaign=campaign, ids=form.cleaned_data, actor=request.user)
            except DomainError as exc:
                messages.error(request, exc.message)
            else:
                messages.success(request, _("Meta ids attached: the campaign is active."))
                return redirect(here)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Attach Meta ids"),
            "opts": self.model._meta,
            "campaign": campaign,
            "form": form,
            "change_url": here,
        }
        return TemplateResponse(request, "admin/campaigns/adcampaign/attach_ids.html", context)
