"""Configuration of scoring and routing (platform admins change it; ops may look)."""

from __future__ import annotations

from django.contrib import admin

from leads.models import Company, IcpProfile, PipelineSettings, ScoringRule


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


@admin.register(PipelineSettings)
class PipelineSettingsAdmin(admin.ModelAdmin):
    list_display = ("tenant", "weight_p", "weight_i", "weight_e", "auto_assign_enabled", "auto_assign_mode")
    list_select_related = ("tenant",)


@admin.register(Company)
class CompanyAdmin(admin.ModelAdmin):
    list_display = ("name", "domain", "industry", "size_band", "tier", "tenant")
    list_filter = ("tier", "size_band")
    list_select_related = ("tenant",)
    search_fields = ("name", "domain")
    raw_id_fields = ("leads",)
    show_full_result_count = False
