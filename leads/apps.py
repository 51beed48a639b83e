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
        from compliance.signals import consent_recorded  # the lead's consent cache follows the ledger
        from leads.services.consent import consent_recorded_receiver

        consent_recorded.connect(consent_recorded_receiver, dispatch_uid="leads_consent_cache")
        from leads.retention import register_retention_policy  # inactive leads are anonymised (compliance)

        register_retention_policy()
        from leads import subject_data  # the resolver, export and eraser of data subjects (compliance)

        subject_data.register()
