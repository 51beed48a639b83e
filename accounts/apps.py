from django.apps import AppConfig
from django.contrib.admin.apps import AdminConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = _("Accounts and partners")

    def ready(self) -> None:
        from accounts import roles, security, signals  # noqa: F401

        post_migrate.connect(roles.sync_role_groups, dispatch_uid="accounts_sync_role_groups")
        from accounts import subject_data  # notices about data subjects' leads (compliance registry)

        subject_data.register()


class StaffAdminConfig(AdminConfig):
    """``django.contrib.admin`` with our site as the default: lockout messages and staff two-factor."""

    default_site = "accounts.admin_site.StaffAdminSite"
