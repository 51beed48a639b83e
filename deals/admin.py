"""Deals in the operator console: read the pipeline; the one write is a platform admin reopening a closed deal."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.exceptions import DomainError
from core.portal import domain_message
from deals.forms import DealReopenForm
from deals.models import DealStageChange, PartnerDeal
from deals.selectors import deal_get_for
from deals.services import deal_reopen


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
        "reopen_link",
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
        "reopen_link",
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

    @admin.display(description=gettext_lazy("reopen"))
    def reopen_link(self, obj: PartnerDeal) -> str:
        if obj is None or obj.pk is None or obj.is_open:
            return "–"
        url = reverse("admin:deals_partnerdeal_reopen", args=[obj.pk])
        return format_html('<a class="button" href="{}">{}</a>', url, _("Reopen deal…"))

    def get_fields(self, request, obj=None):
        fields = super().get_fields(request, obj)
        if not getattr(request.user, "is_platform_admin", False):
            fields = [name for name in fields if name != "reopen_link"]  # reopening is a platform admin's
        return fields

    def get_urls(self):
        reopen = path(
            "<uuid:deal_id>/reopen/",
            self.admin_site.admin_view(self.reopen_view),
            name="deals_partnerdeal_reopen",
        )
        return [reopen, *super().get_urls()]

    def reopen_view(self, request, deal_id):
        """Reopen a won or lost deal to an open stage (platform admins only; ``deal_reopen`` audits it)."""
        if not getattr(request.user, "is_platform_admin", False):
            raise PermissionDenied
        deal = deal_get_for(request.user, deal_id)
        here = reverse("admin:deals_partnerdeal_change", args=[deal.pk])
        form = DealReopenForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                deal_reopen(
                    deal=deal, to=form.cleaned_data["stage"], actor=request.user, reason=form.cleaned_data["reason"]
                )
            except DomainError as exc:
                messages.error(request, domain_message(exc, dict(PartnerDeal.Stage.choices)))
            else:
                messages.success(request, _("The deal is open again."))
            return redirect(here)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Reopen deal"),
            "opts": self.model._meta,
            "deal": deal,
            "form": form,
            "change_url": here,
        }
        return TemplateResponse(request, "admin/deals/partnerdeal/reopen.html", context)

    def has_add_permission(self, request) -> bool:
        # Deals are born from a lead conversion (lead_convert), never typed in.
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        # View-only: stage, value and split change through the partner's services, audited.
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
