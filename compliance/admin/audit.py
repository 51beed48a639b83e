"""Read-only admin for the audit trail and consent records."""

from __future__ import annotations

from django.contrib import admin

from compliance.models import AuditEvent, ConsentRecord


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


@admin.register(ConsentRecord)
class ConsentRecordAdmin(ReadOnlyAdmin):
    list_display = ("code", "version", "subject_user", "subject_lead", "granted_at", "revoked_at")
    list_filter = ("code",)
    list_select_related = ("subject_user", "subject_lead")
    raw_id_fields = ("subject_user", "subject_lead")
    show_full_result_count = False
