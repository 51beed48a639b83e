"""The consent ledger (SPEC §12): versioned wordings and one record per decision.

A person (a lead or a user) decides about a purpose (``code``) again and again: they consent on a
form, confirm it by double opt-in, withdraw it with an unsubscribe link, consent again. Each of
these decisions is its own ``ConsentRecord``, appended and never changed (only the eraser wipes a
record's evidence, Art. 17); the newest record decides (``compliance.selectors.consent_state``).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from compliance.fields import EncryptedJSONField
from core.exceptions import DomainError, NotFoundError


class ConsentCode(models.TextChoices):
    """The purposes a person can consent to. Services also accept the lower-case names."""

    MARKETING_EMAIL = "MARKETING_EMAIL", _("Marketing emails")
    DATA_PROCESSING = "DATA_PROCESSING", _("Data processing")
    LEAD_SPLIT_AGREEMENT = "LEAD_SPLIT_AGREEMENT", _("Lead split agreement")
    META_ADS_TOS = "META_ADS_TOS", _("Meta ads terms")
    FORM_DISCLAIMER = "FORM_DISCLAIMER", _("Lead form disclaimer")


class ConsentWording(models.Model):
    """One version of the text a person agrees to for a purpose.

    A version that consent records point at is evidence: its text is never edited (the admin shows
    it read-only); a changed text is a new version. The newest active version of a code is what
    new consents of that code refer to unless the caller names another.
    """

    code = models.CharField(_("purpose"), max_length=40, choices=ConsentCode.choices)
    version = models.CharField(_("version"), max_length=40)
    text_de = models.TextField(_("text (German)"))
    text_en = models.TextField(_("text (English)"), blank=True)
    active = models.BooleanField(
        _("active"), default=True, help_text=_("New consents use the newest active version of their purpose.")
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("consent wording")
        verbose_name_plural = _("consent wordings")
        ordering = ["code", "-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["code", "version"], name="compliance_wording_code_version")]

    def __str__(self) -> str:
        return f"{self.code} {self.version}"


class ConsentRecord(models.Model):
    """One decision of a user or a lead about one purpose, with the wording and its evidence.

    ``recorded_at`` is when the person decided (a form's submission time, an import's consent
    date); ``created_at`` is when the platform wrote the row. ``version``/``text`` are a snapshot
    of what the person saw: the wording row when the platform owns the text, the site's or the
    provider's form text otherwise. ``evidence`` (IP, user agent, form URL, API key prefix,
    double-opt-in token hash and confirmation time, message id, …) is personal data: encrypted.
    """

    Code = ConsentCode

    class Action(models.TextChoices):
        GRANTED = "granted", _("Granted")
        REVOKED = "revoked", _("Revoked")
        CONFIRMED = "confirmed", _("Confirmed (double opt-in)")

    class LawfulBasis(models.TextChoices):
        CONSENT = "consent", _("Consent (Art. 6(1)(a) GDPR)")
        CONTRACT = "contract", _("Contract (Art. 6(1)(b) GDPR)")
        LEGITIMATE_INTEREST = "legitimate_interest", _("Legitimate interest (Art. 6(1)(f) GDPR)")
        LEGAL_OBLIGATION = "legal_obligation", _("Legal obligation (Art. 6(1)(c) GDPR)")

    class Source(models.TextChoices):
        FORM = "form", _("Form")
        IMPORT = "import", _("Import")
        API = "api", _("API")
        PORTAL = "portal", _("Partner portal")
        WEBHOOK = "webhook", _("Webhook")
        ADMIN = "admin", _("Admin")
        UNSUBSCRIBE = "unsubscribe", _("Unsubscribe link")
        EMAIL = "email", _("Email")
        MIGRATION = "migration", _("Migration")

    tenant = models.ForeignKey(
        "accounts.Organization",
        verbose_name=_("tenant"),
        on_delete=models.PROTECT,
        related_name="consents",
        null=True,
        blank=True,
    )
    # No index of its own: reads go through the (subject, code, recorded_at) indexes.
    code = models.CharField(_("purpose"), max_length=40, choices=ConsentCode.choices)
    action = models.CharField(_("action"), max_length=16, choices=Action.choices, default=Action.GRANTED)
    lawful_basis = models.CharField(
        _("lawful basis"), max_length=24, choices=LawfulBasis.choices, default=LawfulBasis.CONSENT
    )
    source = models.CharField(_("source"), max_length=16, choices=Source.choices, default=Source.API)
    subject_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="consents",
        db_index=False,  # the (subject, code, recorded_at) index serves every lookup by subject
    )
    subject_lead = models.ForeignKey(
        "leads.Lead",
        verbose_name=_("lead"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="consents",
        db_index=False,  # the (subject, code, recorded_at) index serves every lookup by subject
    )
    wording = models.ForeignKey(
        ConsentWording,
        verbose_name=_("wording"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="records",
        db_index=False,  # partial index below: most records (imports, provider forms) have none
    )
    version = models.CharField(_("text version"), max_length=40)
    text = models.TextField(_("consent text"), blank=True)
    evidence = EncryptedJSONField(_("evidence"), blank=True)
    #: The grant a ``confirmed`` record confirms (double opt-in).
    confirms = models.ForeignKey(
        "self",
        verbose_name=_("confirms"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="confirmations",
        db_index=False,  # partial index below: only confirmations have one
    )
    doi_token_hash = models.CharField(
        _("double-opt-in token (SHA-256)"), max_length=64, blank=True, default="", editable=False
    )
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    recorded_at = models.DateTimeField(_("decided at"), default=timezone.now)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("consent record")
        verbose_name_plural = _("consent records")
        ordering = ["-recorded_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(subject_user__isnull=False) & Q(subject_lead__isnull=True))
                | (Q(subject_user__isnull=True) & Q(subject_lead__isnull=False)),
                name="compliance_consent_one_subject",
            ),
        ]
        indexes = [
            # "The newest record per person and purpose": an index range per subject, read backwards.
            models.Index(fields=["subject_lead", "code", "recorded_at", "id"], name="compliance_consent_lead_newest"),
            models.Index(fields=["subject_user", "code", "recorded_at", "id"], name="compliance_consent_user_newest"),
            models.Index(
                fields=["doi_token_hash"], condition=~Q(doi_token_hash=""), name="compliance_consent_doi_token"
            ),
            models.Index(fields=["wording"], condition=Q(wording__isnull=False), name="compliance_consent_wording"),
            models.Index(fields=["confirms"], condition=Q(confirms__isnull=False), name="compliance_consent_confirms"),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.action} v{self.version}"


class ConsentTokenInvalid(NotFoundError):
    """A double-opt-in token that names no consent request (unknown or tampered): a 404."""

    code = "consent_token_invalid"


class ConsentTokenExpired(DomainError):
    """A double-opt-in token that was valid once: too old, or the person withdrew the consent since."""

    status_code = 410
    code = "consent_token_expired"
