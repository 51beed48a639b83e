"""Read-only admin for the audit trail (the consent ledger's admin is ``compliance.admin.consent``)."""

from __future__ import annotations

from django.contrib import admin

from compliance.models import AuditEvent


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "event_type", "actor_label", "object_type", "object_id", "tenant")
    list_filter = ("event_type", "object_type")
    list_select_related = ("tenant",)
    search_fields = ("=object_id", "=event_type", "=request_id")
    date_hierarchy = "created_at"
    show_full_result_count = False
