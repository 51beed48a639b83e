"""Admin for tenants, users, partners, teams and API keys."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from accounts.models import ApiKey, Organization, PartnerProfile, Team, User
from accounts.security import login_unlock
from accounts.services import api_key_create, api_key_revoke, user_create, user_set_role

admin.site.site_header = _("Lead platform administration")
admin.site.site_title = _("Lead platform")
admin.site.index_title = _("Zone 1 – platform operations")


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "kind", "is_platform", "is_active", "created_at")
    list_filter = ("kind", "is_active")
    search_fields = ("name", "slug")
    readonly_fields = ("is_platform", "created_at", "updated_at")
    prepopulated_fields = {"slug": ("name",)}

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.is_platform:
            return False
        return super().has_delete_permission(request, obj)


class UserCreationForm(AdminUserCreationForm):
    class Meta:
        model = User
        fields = ("email", "role", "organization")


class UserEditForm(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    form = UserEditForm
    add_form = UserCreationForm
    list_display = ("email", "get_full_name", "role", "organization", "is_active", "last_login")
    list_filter = ("role", "is_active", "organization__kind")
    list_select_related = ("organization",)
    search_fields = ("email", "first_name", "last_name")
    ordering = ("email",)
    readonly_fields = ("is_staff", "last_login", "date_joined")
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        (_("Personal info"), {"fields": ("first_name", "last_name")}),
        (_("Role and tenant"), {"fields": ("role", "organization", "is_active", "is_staff", "is_superuser")}),
        (_("Important dates"), {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("email", "role", "organization", "password1", "password2")}),
    )
    filter_horizontal = ()
    actions = ["unlock_sign_in"]

    @admin.action(description=_("Unlock sign-in (lift a lockout after failed attempts)"), permissions=["change"])
    def unlock_sign_in(self, request, queryset):
        for user in queryset:
            login_unlock(user=user, actor=request.user)
        n = queryset.count()
        self.message_user(
            request, ngettext("Sign-in unlocked for %(n)d user.", "Sign-in unlocked for %(n)d users.", n) % {"n": n}
        )

    def save_model(self, request, obj, form, change):
        if not change:
            # The form has validated the password; the service creates, groups and audits.
            user = user_create(
                email=form.cleaned_data["email"],
                password=form.cleaned_data.get("password1") or None,
                role=form.cleaned_data["role"],
                organization=form.cleaned_data.get("organization"),
                actor=request.user,
                check_password=False,
            )
            obj.pk = user.pk
            obj._state.adding = False
            return
        # Role changes go through the service so that groups and the audit trail follow.
        new_role = obj.role
        if "role" in form.changed_data:
            obj.role = form.initial.get("role", obj.role)
        super().save_model(request, obj, form, change)
        if obj.role != new_role:
            user_set_role(user=obj, role=new_role, actor=request.user)


@admin.register(PartnerProfile)
class PartnerProfileAdmin(admin.ModelAdmin):
    list_display = ("__str__", "user", "capacity", "team", "is_active")
    list_filter = ("is_active", "team")
    list_select_related = ("user", "team")
    search_fields = ("display_name", "user__email")
    autocomplete_fields = ("user",)


class PartnerInline(admin.TabularInline):
    model = PartnerProfile
    fields = ("user", "capacity", "is_active")
    readonly_fields = ("user",)
    extra = 0
    can_delete = False
    show_change_link = True


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ("name", "leader", "organization", "created_at")
    list_select_related = ("leader", "organization")
    search_fields = ("name", "leader__email")
    autocomplete_fields = ("leader",)
    inlines = [PartnerInline]


class ApiKeyForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        label=_("scopes"), choices=ApiKey.Scope.choices, widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = ApiKey
        fields = ("organization", "name", "scopes", "allowed_origins", "expires_at")


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    form = ApiKeyForm
    list_display = ("name", "prefix", "organization", "scopes", "created_at", "last_used_at", "revoked_at")
    list_filter = ("organization",)
    list_select_related = ("organization",)
    search_fields = ("name", "prefix")
    readonly_fields = ("prefix", "created_by", "created_at", "last_used_at", "revoked_at")
    actions = ["revoke_keys"]

    def get_readonly_fields(self, request, obj=None):
        if obj is not None:  # the secret part never changes; only name, origins and expiry do
            return (*self.readonly_fields, "organization", "scopes")
        return self.readonly_fields

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        api_key, raw_key = api_key_create(
            organization=form.cleaned_data["organization"],
            name=form.cleaned_data["name"],
            scopes=form.cleaned_data["scopes"],
            allowed_origins=form.cleaned_data.get("allowed_origins") or [],
            expires_at=form.cleaned_data.get("expires_at"),
            actor=request.user,
        )
        obj.pk = api_key.pk
        obj._state.adding = False
        messages.warning(
            request,
            _("New API key (shown only once, copy it now): %(key)s") % {"key": raw_key},
        )

    @admin.action(description=_("Revoke selected API keys"), permissions=["change"])
    def revoke_keys(self, request, queryset):
        for api_key in queryset:
            api_key_revoke(api_key=api_key, actor=request.user)
        n = queryset.count()
        self.message_user(request, ngettext("%(n)d API key revoked.", "%(n)d API keys revoked.", n) % {"n": n})
