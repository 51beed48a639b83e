"""Admin pages for data-subject requests: erasures and tombstones (read-only: the services write them)."""

from __future__ import annotations

import json

from django.contrib import admin
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from compliance.admin.audit import ReadOnlyAdmin
from compliance.blind_index import email_index, phone_index
from compliance.models import ErasureTombstone, SubjectErasure
from compliance.selectors.subjects import erasure_steps_in_order


def _search_hashes(term: str) -> list[str]:
    """An email, phone or lead id typed into the search box, as the hashes the rows hold (exact match only)."""
    term = term.strip()
    if not term:
        return []
    candidates = {term, email_index(term) if "@" in term else phone_index(term)}
    return sorted(candidate for candidate in candidates if candidate)


class _HashSearchMixin:
    hash_field = "value_hash"

    def get_search_results(self, request, queryset, search_term):
        if not search_term.strip():
            return queryset, False
        return queryset.filter(**{f"{self.hash_field}__in": _search_hashes(search_term)}), False


@admin.register(SubjectErasure)
class SubjectErasureAdmin(_HashSearchMixin, ReadOnlyAdmin):
    list_display = ("created_at", "status", "query_kind", "lead_count", "step_count", "attempts", "requested_by_label")
    list_filter = ("status", "query_kind")
    list_select_related = ("requested_by",)
    search_fields = ("=query_hash",)  # an email, phone or lead id, matched through its blind index
    search_help_text = _("Exact email address, phone number or lead id.")
    hash_field = "query_hash"
    date_hierarchy = "created_at"
    show_full_result_count = False
    # ``reason`` is decrypted on the detail page only; the list never loads it.
    fields = (
        "id",
        "status",
        "query_kind",
        "query_hash",
        "reason",
        "requested_by",
        "actor_label",
        "lead_ids",
        "hashes",
        "steps_display",
        "attempts",
        "created_at",
        "completed_at",
    )
    readonly_fields = fields

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.resolver_match and request.resolver_match.url_name.endswith("_changelist"):
            queryset = queryset.defer("reason")
        return queryset

    @admin.display(description=_("leads"))
    def lead_count(self, obj: SubjectErasure) -> int:
        return len(obj.lead_ids or [])

    @admin.display(description=_("steps done"))
    def step_count(self, obj: SubjectErasure) -> int:
        return len(obj.steps or {})

    @admin.display(description=_("requested by"), ordering="actor_label")
    def requested_by_label(self, obj: SubjectErasure) -> str:
        return obj.actor_label or (str(obj.requested_by) if obj.requested_by_id else "")

    @admin.display(description=_("steps done"))
    def steps_display(self, obj: SubjectErasure) -> str:
        steps = dict(erasure_steps_in_order(obj))
        return format_html("<pre>{}</pre>", json.dumps(steps, indent=2, ensure_ascii=False))


@admin.register(ErasureTombstone)
class ErasureTombstoneAdmin(_HashSearchMixin, ReadOnlyAdmin):
    list_display = ("erased_at", "kind", "value_hash", "reason", "erasure")
    list_filter = ("kind", "reason")
    list_select_related = ("erasure",)
    search_fields = ("=value_hash",)  # an email or phone, matched through its blind index
    search_help_text = _("Exact email address or phone number.")
    date_hierarchy = "erased_at"
    show_full_result_count = False
    raw_id_fields = ("erasure",)
