from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = _("Accounts and partners")

    def ready(self) -> None:
        from accounts import roles, signals  # noqa: F401

        post_migrate.connect(roles.sync_role_groups, dispatch_uid="accounts_sync_role_groups")
