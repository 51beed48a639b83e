from importlib import import_module

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

#: Modules that register a provider with the shared webhook layer (``webhooks.registry``).
PROVIDER_MODULES = ("webhooks.providers.facebook", "webhooks.providers.instagram", "webhooks.providers.linkedin")


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = _("Webhooks")

    def ready(self) -> None:
        for module in PROVIDER_MODULES:
            import_module(module)
        import_module("webhooks.retention").register_retention_policy()  # raw bodies are blanked (compliance)
        import_module("webhooks.subject_data").register()  # ledger items and threads of data subjects
