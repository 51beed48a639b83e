from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CampaignsConfig(AppConfig):
    name = "campaigns"
    verbose_name = _("Campaigns")

    def ready(self) -> None:
        # Routed leads, lead and deal changes for the Conversions API; what we hold about a person.
        from campaigns import receivers, subject_data  # noqa: F401
