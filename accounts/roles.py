"""Roles → Django groups and permissions, kept in sync after every migration.

Platform admins get every permission of the product's apps; internal ops may view everything
and work operational records, but not change configuration (SPEC §1: "no configuration rights").
Partners and team leaders work in the portal, never in Django Admin, so their groups hold no model
permissions: what they see is decided by tenant scoping in selectors.
"""

from __future__ import annotations

from django.apps import apps as global_apps
from django.contrib.auth.models import Group, Permission
from django.db.models import Q

PRODUCT_APPS = ("accounts", "compliance", "leads", "deals", "campaigns", "webhooks", "followups")

#: Models that hold configuration: ops may look, only platform admins may change.
CONFIG_MODELS = frozenset(
    {
        "accounts.organization",
        "accounts.apikey",
        "accounts.team",
        "accounts.user",
        "leads.scoringrule",
        "leads.icpprofile",
        "leads.pipelinesettings",
        "webhooks.metapageconnection",
        "webhooks.linkedinconnection",
        "webhooks.instagramrule",
        "followups.emailsequence",
        "followups.emailsequencestep",
        "followups.messagetemplate",
        "campaigns.campaigntemplate",
    }
)
#: Append-only records: nobody adds, changes or deletes them through the admin.
APPEND_ONLY_MODELS = frozenset({"compliance.auditevent"})

GROUP_FOR_ROLE = {
    "platform_admin": "platform_admin",
    "internal_ops": "internal_ops",
    "sales_partner": "sales_partner",
    "team_leader": "team_leader",
}


def _label(perm: Permission) -> str:
    return f"{perm.content_type.app_label}.{perm.content_type.model}"


def permissions_for_role(role: str) -> list[Permission]:
    """Return the model permissions a role's group should hold."""
    if role not in ("platform_admin", "internal_ops"):
        return []
    perms = Permission.objects.select_related("content_type").filter(
        Q(content_type__app_label__in=PRODUCT_APPS) | Q(content_type__app_label="admin", codename="view_logentry")
    )
    selected = []
    for perm in perms:
        label = _label(perm)
        action = perm.codename.split("_", 1)[0]
        if label in APPEND_ONLY_MODELS and action != "view":
            continue
        if role == "platform_admin" or action == "view" or (label not in CONFIG_MODELS and action in ("add", "change")):
            selected.append(perm)
    return selected


def sync_role_groups(app_config=None, **kwargs) -> None:
    """Create the role groups and set their permissions; runs after ``migrate`` (idempotent).

    post_migrate fires once per app, and permissions are created app by app, so the sync waits
    for the last app: only then do the permissions of every product app exist.
    """
    if app_config is not None:
        with_models = [c for c in global_apps.get_app_configs() if c.models_module is not None]
        if with_models and app_config is not with_models[-1]:
            return
    for role, group_name in GROUP_FOR_ROLE.items():
        group, _ = Group.objects.get_or_create(name=group_name)
        group.permissions.set(permissions_for_role(role))


def assign_role_group(user) -> None:
    """Put the user in exactly the group of their role."""
    role_groups = Group.objects.filter(name__in=GROUP_FOR_ROLE.values())
    user.groups.remove(*role_groups.exclude(name=GROUP_FOR_ROLE[user.role]))
    group, _ = Group.objects.get_or_create(name=GROUP_FOR_ROLE[user.role])
    user.groups.add(group)
