"""Admin for webhooks: the event ledger with replay, page connections (token write-only), health, rules, DMs."""

from __future__ import annotations

import json
from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from accounts.models import User
from core.exceptions import DomainError
from core.pagination import EstimatedCountPaginator
from integrations.linkedin.client import LinkedInOAuthError
from webhooks.mapping import IGNORE, KEEP_AS_ATTRIBUTE, TARGETS
from webhooks.models import (
    Conversation,
    InstagramRule,
    LinkedInConnection,
    Message,
    MetaPageConnection,
    WebhookEvent,
)
from webhooks.selectors import connection_health_rows, ledger_stats, webhook_event_list
from webhooks.services import meta_page_save, webhook_event_replay
from webhooks.services.instagram import window_open
from webhooks.services.linkedin_connections import (
    LinkedInConnectionBroken,
    linkedin_connection_save,
    linkedin_owner_urn_clean,
    linkedin_token_refresh,
)


class AgeFilter(admin.SimpleListFilter):
    title = _("age")
    parameter_name = "age"
    BANDS = {
        "1h": (None, timedelta(hours=1)),
        "24h": (timedelta(hours=1), timedelta(hours=24)),
        "7d": (timedelta(hours=24), timedelta(days=7)),
        "older": (timedelta(days=7), None),
    }

    def lookups(self, request, model_admin):
        return [
            ("1h", _("less than 1 hour")),
            ("24h", _("1 to 24 hours")),
            ("7d", _("1 to 7 days")),
            ("older", _("older than 7 days")),
        ]

    def queryset(self, request, queryset):
        band = self.BANDS.get(self.value() or "")
        if band is None:
            return queryset
        now = timezone.now()
        newer_than, older_than = band
        if newer_than is not None:
            queryset = queryset.filter(received_at__lte=now - newer_than)
        if older_than is not None:
            queryset = queryset.filter(received_at__gt=now - older_than)
        return queryset


def _pretty_json(text: str) -> str:
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except (TypeError, ValueError):
        return text


@admin.register(WebhookEvent)
class WebhookEventAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "provider",
        "event_type",
        "status",
        "attempts",
        "object_id",
        "dedup_key_short",
        "lead",
        "error_code",
        "duplicates",
        "received_at",
        "processed_at",
    )
    list_filter = ("status", "provider", AgeFilter, "event_type")
    list_select_related = ("lead",)
    search_fields = ("=dedup_key", "=object_id")
    search_help_text = _("Exact search by dedup key (leadgen id, message id) or page/account id.")
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    actions = ["replay"]
    readonly_fields = (
        "provider",
        "event_type",
        "dedup_key",
        "object_id",
        "status",
        "attempts",
        "error_code",
        "last_error",
        "lead",
        "received_at",
        "claimed_at",
        "claimed_by",
        "lease_expires_at",
        "next_attempt_at",
        "processed_at",
        "duplicates",
        "last_duplicate_at",
        "delivery_info",
        "payload_view",
        "raw_body_view",
    )
    fieldsets = (
        (None, {"fields": ("provider", "event_type", "dedup_key", "object_id", "status", "lead")}),
        (
            _("Processing"),
            {
                "fields": (
                    "attempts",
                    "error_code",
                    "last_error",
                    "received_at",
                    "claimed_at",
                    "claimed_by",
                    "lease_expires_at",
                    "next_attempt_at",
                    "processed_at",
                    "duplicates",
                    "last_duplicate_at",
                )
            },
        ),
        (_("Payload"), {"fields": ("delivery_info", "payload_view", "raw_body_view")}),
    )

    def get_queryset(self, request):
        return webhook_event_list()

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("dedup key"))
    def dedup_key_short(self, obj: WebhookEvent) -> str:
        return obj.dedup_key if len(obj.dedup_key) <= 40 else obj.dedup_key[:39] + "…"

    @admin.display(description=_("delivery"))
    def delivery_info(self, obj: WebhookEvent) -> str:
        delivery = obj.delivery
        if delivery is None:
            return _("none (recorded by a backfill)")
        return format_html(
            "#{} · {} · {} {} · {}",
            delivery.pk,
            delivery.received_at,
            delivery.body_size,
            _("bytes"),
            json.dumps(delivery.headers, ensure_ascii=False),
        )

    @admin.display(description=_("item payload"))
    def payload_view(self, obj: WebhookEvent) -> str:
        if not obj.payload:
            return _("not kept")
        return format_html('<pre style="white-space: pre-wrap">{}</pre>', _pretty_json(obj.payload))

    @admin.display(description=_("raw body (as received)"))
    def raw_body_view(self, obj: WebhookEvent) -> str:
        if obj.delivery is None or not obj.delivery.raw_body:
            return _("not kept")
        return format_html('<pre style="white-space: pre-wrap">{}</pre>', obj.delivery.raw_body)

    @admin.action(description=_("Replay selected failed or ignored events"), permissions=["change"])
    def replay(self, request, queryset):
        selected = list(queryset.values_list("pk", flat=True))
        count = webhook_event_replay(event_ids=selected, actor=request.user)
        self.message_user(
            request,
            ngettext("%(count)d event queued again.", "%(count)d events queued again.", count) % {"count": count},
            messages.SUCCESS if count else messages.WARNING,
        )
        if count < len(selected):
            self.message_user(
                request, _("Only failed or ignored events can be replayed; the others were left alone."), messages.INFO
            )


class MetaPageConnectionForm(forms.ModelForm):
    new_access_token = forms.CharField(
        label=_("Page access token"),
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text=_("Write-only. Leave empty to keep the stored token; a new token clears the broken state."),
    )

    class Meta:
        model = MetaPageConnection
        fields = ("page_id", "name", "instagram_account_id", "partner", "organization", "field_overrides", "active")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "partner" in self.fields:
            self.fields["partner"].queryset = User.objects.filter(role__in=User.PARTNER_ROLES).order_by("email")

    def clean_page_id(self) -> str:
        page_id = (self.cleaned_data.get("page_id") or "").strip()
        if not page_id.isdigit():
            raise forms.ValidationError(_("A page id consists of digits only."))
        return page_id

    def clean_field_overrides(self) -> dict:
        overrides = self.cleaned_data.get("field_overrides") or {}
        allowed = set(TARGETS) | {KEEP_AS_ATTRIBUTE, IGNORE}
        if not isinstance(overrides, dict) or not all(isinstance(v, dict) for v in overrides.values()):
            raise forms.ValidationError(_('Use {"<form id or *>": {"<field name>": "<target>"}}.'))
        for scope, mapping in overrides.items():
            for name, target in mapping.items():
                if target not in allowed:
                    raise forms.ValidationError(
                        _("Form %(form)s, field %(field)s: unknown target %(target)s. Allowed: %(allowed)s.")
                        % {"form": scope, "field": name, "target": target, "allowed": ", ".join(sorted(allowed))}
                    )
        return overrides

    def clean(self):
        cleaned = super().clean()
        if self.instance.pk is None and not cleaned.get("new_access_token"):
            self.add_error("new_access_token", _("A new connection needs the page access token."))
        return cleaned


@admin.register(MetaPageConnection)
class MetaPageConnectionAdmin(admin.ModelAdmin):
    form = MetaPageConnectionForm
    list_display = (
        "name",
        "page_id",
        "instagram_account_id",
        "partner",
        "active",
        "status_badge",
        "last_success_at",
        "last_error_at",
    )
    list_filter = ("status", "active")
    list_select_related = ("partner", "organization")
    search_fields = ("=page_id", "name", "=instagram_account_id")
    readonly_fields = (
        "token_state",
        "status",
        "broken_at",
        "last_success_at",
        "last_error_at",
        "last_error",
        "created_at",
        "updated_at",
    )
    fieldsets = (
        (None, {"fields": ("page_id", "name", "instagram_account_id", "active")}),
        (_("Owner"), {"fields": ("partner", "organization")}),
        (_("Token"), {"fields": ("new_access_token", "token_state")}),
        (_("Field mapping"), {"fields": ("field_overrides",)}),
        (
            _("Health"),
            {"fields": ("status", "broken_at", "last_success_at", "last_error_at", "last_error")},
        ),
        (None, {"fields": ("created_at", "updated_at")}),
    )
    change_list_template = "admin/webhooks/metapageconnection/change_list.html"

    @admin.display(description=_("status"), ordering="status")
    def status_badge(self, obj: MetaPageConnection) -> str:
        color = "#ba2121" if obj.is_broken else "#447e36"
        return format_html('<strong style="color: {}">{}</strong>', color, obj.get_status_display())

    @admin.display(description=_("token"))
    def token_state(self, obj: MetaPageConnection) -> str:
        return _("stored (encrypted)") if obj.access_token else _("missing")

    def save_model(self, request, obj, form, change):
        meta_page_save(
            connection=obj, access_token=form.cleaned_data.get("new_access_token") or None, actor=request.user
        )

    def get_urls(self):
        urls = super().get_urls()
        health = path(
            "health/",
            self.admin_site.admin_view(self.health_view),
            name="webhooks_metapageconnection_health",
        )
        return [health, *urls]

    def health_view(self, request):
        """Connection health: pages and tokens, last success and error, broken tokens first."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        rows = sorted(connection_health_rows(), key=lambda row: (not row.broken, not row.active, row.name.lower()))
        context = {
            **self.admin_site.each_context(request),
            "title": _("Connection health"),
            "opts": self.model._meta,
            "rows": rows,
            "ledger": ledger_stats(),
        }
        return TemplateResponse(request, "admin/webhooks/connection_health.html", context)


class InstagramRuleForm(forms.ModelForm):
    class Meta:
        model = InstagramRule
        fields = ("name", "keywords", "auto_reply", "connection", "priority", "active")

    def clean_keywords(self) -> list[str]:
        keywords = self.cleaned_data.get("keywords")
        if (
            not isinstance(keywords, list)
            or not keywords
            or not all(isinstance(k, str) and k.strip() for k in keywords)
        ):
            raise forms.ValidationError(_('Give a list of keywords or hashtags, e.g. ["preis", "#besichtigung"].'))
        return [k.strip().lower() for k in keywords]

    def clean_auto_reply(self) -> str:
        text = (self.cleaned_data.get("auto_reply") or "").strip()
        if len(text.encode("utf-8")) > 1000:
            raise forms.ValidationError(_("Instagram accepts at most 1000 bytes per message."))
        return text


@admin.register(InstagramRule)
class InstagramRuleAdmin(admin.ModelAdmin):
    form = InstagramRuleForm
    list_display = ("name", "keyword_list", "has_auto_reply", "connection", "priority", "active")
    list_filter = ("active",)
    list_select_related = ("connection",)
    ordering = ("priority", "id")

    @admin.display(description=_("keywords"))
    def keyword_list(self, obj: InstagramRule) -> str:
        return ", ".join(obj.keywords or [])

    @admin.display(description=_("auto-reply"), boolean=True)
    def has_auto_reply(self, obj: InstagramRule) -> bool:
        return bool(obj.auto_reply)


class MessageInline(admin.TabularInline):
    model = Message
    fields = ("created_at", "direction", "text", "status", "rule", "intent_summary", "error")
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ("created_at",)

    def has_add_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("rule")

    @admin.display(description=_("intent"))
    def intent_summary(self, obj: Message) -> str:
        analysis = obj.analysis or {}
        if not analysis:
            return "–"
        return f"{analysis.get('level', '–')} / {analysis.get('sentiment', '–')}" + (
            " · opt-out" if analysis.get("opt_out") else ""
        )


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ("__str__", "lead", "connection", "last_inbound_at", "last_outbound_at", "window_state")
    list_select_related = ("lead", "connection")
    search_fields = ("=igsid", "=account_id")
    readonly_fields = (
        "account_id",
        "igsid",
        "connection",
        "lead",
        "last_inbound_at",
        "last_outbound_at",
        "created_at",
        "updated_at",
    )
    inlines = [MessageInline]
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    @admin.display(description=_("reply window open"), boolean=True)
    def window_state(self, obj: Conversation) -> bool:
        return window_open(obj)


# --- LinkedIn ---------------------------------------------------------------------------------


class LinkedInConnectionForm(forms.ModelForm):
    class Meta:
        model = LinkedInConnection
        fields = ("owner_urn", "name", "partner", "organization", "active")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "partner" in self.fields:
            self.fields["partner"].queryset = User.objects.filter(role__in=User.PARTNER_ROLES).order_by("email")

    def clean_owner_urn(self) -> str:
        try:
            return linkedin_owner_urn_clean(self.cleaned_data.get("owner_urn") or "")
        except DomainError as exc:
            raise forms.ValidationError(exc.message) from None


@admin.register(LinkedInConnection)
class LinkedInConnectionAdmin(admin.ModelAdmin):
    """Tokens come from the OAuth flow or ``connect_linkedin`` only: never shown, never typed in here."""

    form = LinkedInConnectionForm
    list_display = (
        "__str__",
        "owner_urn",
        "partner",
        "active",
        "status_badge",
        "access_token_expires_at",
        "refresh_token_expires_at",
        "last_success_at",
        "last_error_at",
    )
    list_filter = ("status", "active")
    list_select_related = ("partner", "organization")
    search_fields = ("=owner_urn", "name")
    readonly_fields = (
        "oauth_link",
        "token_state",
        "access_token_expires_at",
        "refresh_token_expires_at",
        "token_refreshed_at",
        "scopes",
        "connected_by",
        "status",
        "broken_at",
        "last_success_at",
        "last_error_at",
        "last_error",
        "created_at",
        "updated_at",
    )
    fieldsets = (
        (None, {"fields": ("owner_urn", "name", "active")}),
        (_("Owner"), {"fields": ("partner", "organization")}),
        (
            _("Token"),
            {
                "fields": (
                    "oauth_link",
                    "token_state",
                    "access_token_expires_at",
                    "refresh_token_expires_at",
                    "token_refreshed_at",
                    "scopes",
                    "connected_by",
                )
            },
        ),
        (_("Health"), {"fields": ("status", "broken_at", "last_success_at", "last_error_at", "last_error")}),
        (None, {"fields": ("created_at", "updated_at")}),
    )
    actions = ["refresh_tokens"]
    change_list_template = "admin/webhooks/linkedinconnection/change_list.html"

    @admin.display(description=_("status"), ordering="status")
    def status_badge(self, obj: LinkedInConnection) -> str:
        color = "#ba2121" if obj.is_broken else "#447e36"
        return format_html('<strong style="color: {}">{}</strong>', color, obj.get_status_display())

    @admin.display(description=_("token"))
    def token_state(self, obj: LinkedInConnection) -> str:
        if not obj.access_token:
            return _("missing")
        return _("stored (encrypted), with refresh token") if obj.refresh_token else _("stored (encrypted)")

    @admin.display(description=_("connect"))
    def oauth_link(self, obj: LinkedInConnection) -> str:
        if obj.pk is None:
            return _("Save first, then connect with LinkedIn.")
        url = f"{reverse('linkedin-connect')}?owner={obj.owner_urn}"
        return format_html('<a class="button" href="{}">{}</a>', url, _("Connect with LinkedIn"))

    def save_model(self, request, obj, form, change):
        linkedin_connection_save(connection=obj, actor=request.user)

    @admin.action(description=_("Refresh the tokens of the selected connections now"), permissions=["change"])
    def refresh_tokens(self, request, queryset):
        refreshed, failed = 0, []
        for connection in queryset:
            try:
                linkedin_token_refresh(connection=connection)
            except (LinkedInConnectionBroken, LinkedInOAuthError) as exc:
                failed.append(f"{connection}: {getattr(exc, 'message', exc)}")
            else:
                refreshed += 1
        if refreshed:
            self.message_user(
                request,
                ngettext("%(count)d token refreshed.", "%(count)d tokens refreshed.", refreshed) % {"count": refreshed},
                messages.SUCCESS,
            )
        for failure in failed:
            self.message_user(request, failure, messages.ERROR)
