"""Deals in the operator console: read the pipeline, never move stages by hand (services do)."""

from __future__ import annotations

from django.contrib import admin

from deals.models import DealStageChange, PartnerDeal


class DealStageChangeInline(admin.TabularInline):
    model = DealStageChange
    extra = 0
    can_delete = False
    fields = ["created_at", "from_stage", "to_stage", "actor", "reason"]
    readonly_fields = fields
    ordering = ["-created_at", "-id"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(PartnerDeal)
class PartnerDealAdmin(admin.ModelAdmin):
    list_display = ["title", "stage", "deal_value", "owner", "tenant", "expected_close_date", "updated_at"]
    list_filter = ["stage"]
    list_select_related = ["owner", "tenant", "lead"]
    search_fields = ["company_name", "lead__public_id"]  # the title is encrypted (it may be the person's name)
    show_full_result_count = False
    inlines = [DealStageChangeInline]
    readonly_fields = [
        "lead",
        "tenant",
        "owner",
        "stage",
        "commission_split",
        "lost_reason",
        "closed_at",
        "created_at",
        "updated_at",
    ]
    fields = [
        "title",
        "lead",
        "tenant",
        "owner",
        "stage",
        "deal_value",
        "commission_split",
        "expected_close_date",
        "listing_id",
        "company_name",
        "lost_reason",
        "closed_at",
        "created_at",
        "updated_at",
    ]

    def has_add_permission(self, request) -> bool:
        # Deals are born from a lead conversion (lead_convert), never typed in.
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        # View-only: stage, value and split change through the partner's services, audited.
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
