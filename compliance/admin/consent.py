"""Admin of the consent ledger: versioned wordings (editable until used) and the records (read-only)."""

from __future__ import annotations

import json

from django.contrib import admin
from django.db.models import Count
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from compliance.admin.audit import ReadOnlyAdmin
from compliance.models import ConsentRecord, ConsentWording


@admin.register(ConsentWording)
class ConsentWordingAdmin(admin.ModelAdmin):
    """A wording that consents refer to is evidence: its text is read-only; a new text is a new version."""

    list_display = ("code", "version", "active", "record_count", "created_at")
    list_filter = ("code", "active")
    ordering = ("code", "-created_at", "-id")
    fields = ("code", "version", "text_de", "text_en", "active", "created_at", "new_version")
    search_fields = ("=version",)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_records=Count("records"))

    @admin.display(description=_("records"), ordering="_records")
    def record_count(self, obj: ConsentWording) -> int:
        return obj._records

    @admin.display(description=_("new version"))
    def new_version(self, obj: ConsentWording) -> str:
        if obj.pk is None:
            return "–"
        url = reverse("admin:compliance_consentwording_add") + f"?copy_from={obj.pk}"
        return format_html('<a class="button" href="{}">{}</a>', url, _("Create a new version from this text"))

    def _used(self, obj: ConsentWording | None) -> bool:
        return obj is not None and obj.pk is not None and obj.records.exists()

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ("created_at", "new_version")
        if self._used(obj):
            return ("code", "version", "text_de", "text_en", "created_at", "new_version")
        return ("code", "created_at", "new_version")

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and not self._used(obj)

    def get_changeform_initial_data(self, request):
        """``?copy_from=<id>``: a new version starts as a copy of an existing wording (code and texts)."""
        initial = super().get_changeform_initial_data(request)
        source_id = request.GET.get("copy_from", "")
        if source_id.isdigit():
            source = ConsentWording.objects.filter(pk=int(source_id)).first()
            if source is not None:
                initial.update(code=source.code, text_de=source.text_de, text_en=source.text_en, active=True)
        initial.pop("copy_from", None)
        return initial


@admin.register(ConsentRecord)
class ConsentRecordAdmin(ReadOnlyAdmin):
    """The ledger is appended by the services only. Evidence is decrypted on the detail page, never in the list."""

    list_display = ("recorded_at", "code", "action", "source", "version", "subject_lead", "subject_user", "tenant")
    list_filter = ("code", "action", "source", "lawful_basis")
    list_select_related = ("subject_user", "subject_lead", "tenant")
    search_fields = ("=subject_lead__public_id",)
    search_help_text = _("Exact public id of a lead (SOT-LEAD-…).")
    date_hierarchy = "recorded_at"
    show_full_result_count = False
    fields = (
        "code",
        "action",
        "lawful_basis",
        "source",
        "subject_lead",
        "subject_user",
        "tenant",
        "wording",
        "version",
        "text",
        "evidence_display",
        "confirms",
        "doi_token_hash",
        "expires_at",
        "recorded_at",
        "created_at",
    )
    readonly_fields = fields

    def get_queryset(self, request):
        # The list never decrypts evidence; the detail page loads it for the one record it shows.
        queryset = super().get_queryset(request)
        url_name = getattr(getattr(request, "resolver_match", None), "url_name", "") or ""
        return queryset if url_name.endswith("_change") else queryset.defer("evidence")

    @admin.display(description=_("evidence"))
    def evidence_display(self, obj: ConsentRecord) -> str:
        if not obj.evidence:
            return "–"
        return format_html("<pre>{}</pre>", json.dumps(obj.evidence, ensure_ascii=False, indent=2, sort_keys=True))
