"""The consent ledger (SPEC §12)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class ConsentRecord(models.Model):
    """A consent given (or withdrawn) by a user or a lead, with the text version and evidence."""

    class Code(models.TextChoices):
        MARKETING_EMAIL = "MARKETING_EMAIL", _("Marketing emails")
        DATA_PROCESSING = "DATA_PROCESSING", _("Data processing")
        LEAD_SPLIT_AGREEMENT = "LEAD_SPLIT_AGREEMENT", _("Lead split agreement")
        META_ADS_TOS = "META_ADS_TOS", _("Meta ads terms")
        FORM_DISCLAIMER = "FORM_DISCLAIMER", _("Lead form disclaimer")

    tenant = models.ForeignKey(
        "accounts.Organization",
        verbose_name=_("tenant"),
        on_delete=models.PROTECT,
        related_name="consents",
        null=True,
        blank=True,
    )
    code = models.CharField(_("code"), max_length=40, choices=Code.choices, db_index=True)
    subject_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="consents",
    )
    subject_lead = models.ForeignKey(
        "leads.Lead",
        verbose_name=_("lead"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="consents",
    )
    version = models.CharField(_("text version"), max_length=40)
    text = models.TextField(_("consent text"), blank=True)
    granted_at = models.DateTimeField(_("granted at"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    evidence = models.JSONField(_("evidence"), default=dict, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("consent record")
        verbose_name_plural = _("consent records")
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(subject_user__isnull=False) & Q(subject_lead__isnull=True))
                | (Q(subject_user__isnull=True) & Q(subject_lead__isnull=False)),
                name="compliance_consent_one_subject",
            ),
        ]
        indexes = [
            models.Index(fields=["subject_lead", "code"]),
            models.Index(fields=["subject_user", "code"]),
        ]

    def __str__(self) -> str:
        return f"{self.code} v{self.version}"

    @property
    def is_active(self) -> bool:
        return self.granted_at is not None and self.revoked_at is None
