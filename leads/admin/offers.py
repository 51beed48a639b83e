"""Offers, automatic assignment decisions, the merge journal and hot-lead alerts: read-only records."""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from core.exceptions import DomainError
from core.pagination import EstimatedCountPaginator
from leads.models import AssignmentDecision, LeadAlert, LeadAssignment, LeadMerge
from leads.services.offers import offer_revoke


class ReadOnlyMixin:
    """Records written by services only: viewable, never added, edited or deleted by hand."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class OfferPartnerFilter(admin.SimpleListFilter):
    title = _("partner")
    parameter_name = "partner"

    def lookups(self, request, model_admin):
        from leads.selectors.pool import partner_choices

        return [(str(p.pk), str(p.partner_profile)) for p in partner_choices()]

    def queryset(self, request, queryset):
        value = self.value()
        return queryset.filter(partner_id=int(value)) if value and value.isdigit() else queryset


class OfferStatusListFilter(admin.SimpleListFilter):
    title = _("status")
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return LeadAssignment.Status.choices

    def queryset(self, request, queryset):
        value = self.value()
        return queryset.filter(status=value) if value in LeadAssignment.Status.values else queryset


@admin.register(LeadAssignment)
class LeadAssignmentAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = (
        "lead_link",
        "partner",
        "status",
        "offered_at",
        "expires_at",
        "responded_at",
        "offered_by",
        "automatic",
    )
    list_filter = (OfferStatusListFilter, OfferPartnerFilter)
    list_select_related = ("lead", "partner", "offered_by")
    search_fields = ("=lead__public_id", "=partner__email")
    search_help_text = _("Exact public id of the lead (SOT-LEAD-…) or the partner's email address.")
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    paginator = EstimatedCountPaginator
    actions = ["revoke_offers"]
    fields = (
        "lead",
        "partner",
        "status",
        "offered_by",
        "offered_at",
        "expires_at",
        "responded_at",
        "reason",
        "decision",
    )

    @admin.display(description=_("lead"), ordering="lead__public_id")
    def lead_link(self, obj: LeadAssignment) -> str:
        return format_html('<a href="../lead/{}/change/">{}</a>', obj.lead_id, obj.lead.public_id)

    @admin.display(description=_("automatic"), boolean=True)
    def automatic(self, obj: LeadAssignment) -> bool:
        return obj.decision_id is not None

    def has_revoke_permission(self, request) -> bool:
        return request.user.has_perm("leads.change_lead")

    @admin.action(description=_("Withdraw selected open offers"), permissions=["revoke"])
    def revoke_offers(self, request, queryset):
        done, errors = 0, []
        for offer in queryset.filter(status=LeadAssignment.Status.OFFERED)[:500]:
            try:
                offer_revoke(offer=offer, actor=request.user)
                done += 1
            except DomainError as exc:
                errors.append(exc.message)
        if done:
            message = ngettext("%(count)s offer withdrawn.", "%(count)s offers withdrawn.", done) % {"count": done}
            self.message_user(request, message, messages.SUCCESS)
        for error in errors[:20]:
            self.message_user(request, error, messages.ERROR)


@admin.register(AssignmentDecision)
class AssignmentDecisionAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("created_at", "lead", "mode", "winner", "rule")
    list_filter = ("mode",)
    list_select_related = ("lead", "winner")
    search_fields = ("=lead__public_id",)
    show_full_result_count = False
    paginator = EstimatedCountPaginator


@admin.register(LeadMerge)
class LeadMergeAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("created_at", "survivor", "merged_lead", "kind", "channel", "actor", "undone_at")
    list_filter = ("kind",)
    list_select_related = ("survivor", "merged_lead", "actor")
    search_fields = ("=survivor__public_id", "=merged_lead__public_id")
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    exclude = ("changes",)  # encrypted journal; shown decrypted in the lead's merge panel
    actions = ["undo_merges"]

    def has_undo_permission(self, request) -> bool:
        return request.user.has_perm("leads.change_lead")

    @admin.action(description=_("Undo selected merges"), permissions=["undo"])
    def undo_merges(self, request, queryset):
        from leads.services.merge import lead_unmerge

        for entry in queryset.filter(undone_at__isnull=True).order_by("-created_at")[:50]:
            try:
                revived = lead_unmerge(merge=entry, actor=request.user)
            except DomainError as exc:
                self.message_user(request, exc.message, messages.ERROR)
            else:
                self.message_user(
                    request, gettext("%(lead)s restored.") % {"lead": revived.public_id}, messages.SUCCESS
                )


@admin.register(LeadAlert)
class LeadAlertAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("created_at", "lead", "score", "notified_at", "email_sent_at", "slack_sent_at")
    list_select_related = ("lead",)
    search_fields = ("=lead__public_id",)
    show_full_result_count = False
    paginator = EstimatedCountPaginator
