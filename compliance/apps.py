from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ComplianceConfig(AppConfig):
    name = "compliance"
    verbose_name = _("Compliance (GDPR)")

    def ready(self) -> None:
        # compliance's own share of a person's data: the consent ledger and the audit trail about them.
        # The eraser wipes consent evidence only; the audit trail is kept (its payloads hold no PII).
        from compliance.registry import register_subject_data
        from compliance.selectors.subjects import subject_compliance_export
        from compliance.services.subjects import subject_consents_erase

        register_subject_data(
            "compliance",
            sections=("consents", "audit"),
            exporter=subject_compliance_export,
            eraser=subject_consents_erase,
            order=80,
        )
        from compliance.services.retention import audit_retention_register  # RETENTION_AUDIT_DAYS

        audit_retention_register()
