from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save
from django.utils.translation import gettext_lazy as _


class LeadsConfig(AppConfig):
    name = "leads"
    verbose_name = _("Leads")

    def ready(self) -> None:
        from leads.models import IcpProfile, PipelineSettings, ScoringRule
        from leads.services.config import config_changed

        for model in (ScoringRule, IcpProfile, PipelineSettings):
            post_save.connect(config_changed, sender=model, dispatch_uid=f"leads_config_save_{model.__name__}")
            post_delete.connect(config_changed, sender=model, dispatch_uid=f"leads_config_delete_{model.__name__}")
