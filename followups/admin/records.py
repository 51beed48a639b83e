"""Read-only pages of what the engine did (runs, emails, events) and the suppression list.

Personal data stays encrypted on the lists: an email's recipient and subject are decrypted on its
detail page only, an event's payload likewise; leads are linked by their public id (no decryption).
"""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.db.models import F
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from compliance.blind_index import email_index
from followups.models import EmailEvent, EmailMessage, EmailSuppression, SequenceRun
from followups.services.suppression import suppression_add, suppression_remove


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def _is_detail(request) -> bool:
    url_name = getattr(getattr(request, "resolver_match", None), "url_name", "") or ""
    return url_name.endswith("_change")


def _lead_link(lead_id, public_id) -> str:
    if not lead_id:
        return "–"
    return format_html('<a href="{}">{}</a>', reverse("admin:leads_lead_change", args=[lead_id]), public_id or lead_id)


@admin.register(SequenceRun)
class SequenceRunAdmin(ReadOnlyAdmin):
    list_display = ["enrolled_at", "sequence", "lead_link", "status", "current_step", "next_due_at", "exit_reason"]
    list_filter = ["status", "sequence", "exit_reason"]
    list_select_related = ["sequence"]
    search_fields = ["=lead__public_id"]
    search_help_text = gettext_lazy("Exact public id of a lead (SOT-LEAD-…).")
    date_hierarchy = "enrolled_at"
    show_full_result_count = False
    fields = [
        "sequence",
        "lead_link",
        "tenant",
        "partner",
        "status",
        "current_step",
        "next_due_at",
        "outcome",
        "exit_reason",
        "enrolled_by",
        "enrolled_at",
        "finished_at",
    ]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(lead_public_id=F("lead__public_id"))

    @admin.display(description=gettext_lazy("lead"), ordering="lead__public_id")
    def lead_link(self, obj: SequenceRun) -> str:
        return _lead_link(obj.lead_id, getattr(obj, "lead_public_id", ""))


class EmailEventInline(admin.TabularInline):
    model = EmailEvent
    extra = 0
    can_delete = False
    fields = ["occurred_at", "esp", "event_type", "is_bot", "url"]
    readonly_fields = fields
    ordering = ["occurred_at", "pk"]

    def get_queryset(self, request):
        return super().get_queryset(request).defer("detail")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(EmailMessage)
class EmailMessageAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "purpose", "sequence", "step_number", "lead_link", "status", "sent_at", "opens"]
    list_filter = ["status", "purpose", "kind", "sequence"]
    list_select_related = ["sequence", "step"]
    search_fields = ["=lead__public_id", "=message_id", "=to_hash"]
    search_help_text = gettext_lazy("Exact public id of a lead, Message-ID or email address.")
    date_hierarchy = "created_at"
    show_full_result_count = False
    inlines = [EmailEventInline]
    fields = [
        "message_id",
        "esp_message_id",
        "kind",
        "purpose",
        "lead_link",
        "tenant",
        "sequence",
        "step",
        "run",
        "to_email",
        "to_hash",
        "subject",
        "links",
        "status",
        "error",
        "created_at",
        "sent_at",
        "delivered_at",
        "opened_at",
        "open_count",
        "clicked_at",
        "click_count",
        "replied_at",
        "bounced_at",
        "complained_at",
        "unsubscribed_at",
    ]
    readonly_fields = fields

    def get_queryset(self, request):
        queryset = super().get_queryset(request).annotate(lead_public_id=F("lead__public_id"))
        # The list never decrypts recipient or subject; the detail page does for the one email it shows.
        return queryset if _is_detail(request) else queryset.defer("to_email", "subject")

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if "@" in term:
            return queryset.filter(to_hash=email_index(term)), False
        return super().get_search_results(request, queryset, term)

    @admin.display(description=gettext_lazy("lead"), ordering="lead__public_id")
    def lead_link(self, obj: EmailMessage) -> str:
        return _lead_link(obj.lead_id, getattr(obj, "lead_public_id", ""))

    @admin.display(description=gettext_lazy("step"), ordering="step__number")
    def step_number(self, obj: EmailMessage) -> str:
        return f"#{obj.step.number}" if obj.step_id else "–"

    @admin.display(description=gettext_lazy("opens / clicks"))
    def opens(self, obj: EmailMessage) -> str:
        return f"{obj.open_count} / {obj.click_count}"


@admin.register(EmailEvent)
class EmailEventAdmin(ReadOnlyAdmin):
    list_display = ["occurred_at", "esp", "event_type", "is_bot", "message_link", "url"]
    list_filter = ["event_type", "esp", "is_bot"]
    search_fields = ["=event_id", "=message__message_id"]
    date_hierarchy = "occurred_at"
    show_full_result_count = False
    fields = [
        "esp",
        "event_id",
        "event_type",
        "message_link",
        "recipient_hash",
        "occurred_at",
        "is_bot",
        "url",
        "detail_display",
        "created_at",
    ]
    readonly_fields = fields

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        return queryset if _is_detail(request) else queryset.defer("detail")

    @admin.display(description=gettext_lazy("email"))
    def message_link(self, obj: EmailEvent) -> str:
        if not obj.message_id:
            return "–"
        url = reverse("admin:followups_emailmessage_change", args=[obj.message_id])
        return format_html('<a href="{}">{}</a>', url, obj.message_id)

    @admin.display(description=gettext_lazy("detail"))
    def detail_display(self, obj: EmailEvent) -> str:
        if not obj.detail:
            return "–"
        return format_html("<pre>{}</pre>", json.dumps(obj.detail, ensure_ascii=False, indent=2, sort_keys=True))


# --- suppression list ----------------------------------------------------------------------------


class SuppressionAddForm(forms.ModelForm):
    address = forms.EmailField(
        label=gettext_lazy("email address"),
        help_text=gettext_lazy("Stored as a blind index only; the address itself is not kept."),
    )

    class Meta:
        model = EmailSuppression
        fields = ["reason"]

    def clean_address(self) -> str:
        address = self.cleaned_data["address"].strip()
        if EmailSuppression.objects.filter(email_hash=email_index(address)).exists():
            raise forms.ValidationError(_("This address is already on the suppression list."))
        return address


@admin.register(EmailSuppression)
class EmailSuppressionAdmin(admin.ModelAdmin):
    """Add an address by hand (hashed at once) or remove one; bounces and complaints come in by themselves."""

    list_display = ["created_at", "reason", "email_hash", "event"]
    list_filter = ["reason"]
    search_fields = ["=email_hash"]
    search_help_text = gettext_lazy("Exact email address.")
    show_full_result_count = False
    raw_id_fields = ["event"]
    actions = ["remove_selected"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = SuppressionAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        return ["address", "reason"] if obj is None else ["email_hash", "reason", "event", "created_at"]

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else ["email_hash", "reason", "event", "created_at"]

    def get_changeform_initial_data(self, request):
        return {"reason": EmailSuppression.Reason.MANUAL}

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        return queryset.filter(email_hash__in={term, email_index(term)}), False

    def save_model(self, request, obj, form, change):
        if change:
            return
        saved, _created = suppression_add(email=form.cleaned_data["address"], reason=obj.reason, actor=request.user)
        obj.pk, obj.email_hash, obj.created_at = saved.pk, saved.email_hash, saved.created_at

    def has_change_permission(self, request, obj=None):
        return False

    def delete_model(self, request, obj):
        suppression_remove(email_hash=obj.email_hash, actor=request.user)

    def delete_queryset(self, request, queryset):
        for suppression in queryset:
            suppression_remove(email_hash=suppression.email_hash, actor=request.user)

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    @admin.action(description=gettext_lazy("Remove the selected addresses from the list"), permissions=["delete"])
    def remove_selected(self, request, queryset):
        count = 0
        for suppression in queryset:
            suppression_remove(email_hash=suppression.email_hash, actor=request.user)
            count += 1
        self.message_user(request, _("%(count)d addresses removed.") % {"count": count}, messages.SUCCESS)
