"""Leads and everything known about them (SPEC §3)."""

from __future__ import annotations

import base64
import json
import secrets
import uuid
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from compliance.blind_index import email_index, phone_index
from compliance.fields import EncryptedJSONField, EncryptedTextField

PUBLIC_ID_PREFIX = "SOT-LEAD-"
#: Where a lead came from (campaign tags and pages); merged, restored, exported and shown together.
ATTRIBUTION_FIELDS = (
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
    "referrer",
    "landing_page",
    "source_campaign",
)

#: A person's contact, company and location fields: what deliveries bring, edits change and merges fill.
PERSON_FIELDS = (
    "email",
    "phone",
    "first_name",
    "last_name",
    "company_name",
    "company_domain",
    "company_size_band",
    "industry",
    "employees",
    "revenue_band",
    "company_linkedin_url",
    "job_title",
    "interest_type",
    "postcode",
    "city",
    "region",
    "country",
)


def generate_public_id() -> str:
    """Return ``SOT-LEAD-`` + 8 random base32 characters (≈ 1.1e12 values; unique constraint).

    5 random bytes are exactly 8 base32 characters: one read of the system's randomness, where
    drawing each character with ``secrets.choice`` cost about 30 µs per lead (imports build thousands).
    """
    return PUBLIC_ID_PREFIX + base64.b32encode(secrets.token_bytes(5)).decode("ascii")


def score_field(verbose_name):
    return models.PositiveSmallIntegerField(
        verbose_name, default=0, validators=[MinValueValidator(0), MaxValueValidator(100)], editable=False
    )


class Lead(models.Model):
    """A person who showed interest. PII is encrypted; search goes through blind indexes."""

    class Channel(models.TextChoices):
        FACEBOOK = "facebook", _("Facebook")
        INSTAGRAM = "instagram", _("Instagram")
        LINKEDIN = "linkedin", _("LinkedIn")
        WEBSITE = "website", _("Website")
        IMPORT = "import", _("Import")
        MANUAL = "manual", _("Manual")
        REFERRAL = "referral", _("Referral")

    class Source(models.TextChoices):
        ZONE1_POOL = "zone1_pool", _("Zone 1 pool")
        META_SELF = "meta_self", _("Own Meta campaign")
        META_PROPERTY = "meta_property", _("Property campaign")
        REFERRAL = "referral", _("Referral")
        MANUAL = "manual", _("Manual")

    class Status(models.TextChoices):
        NEW = "new", _("New")
        CONTACTED = "contacted", _("Contacted")
        QUALIFIED = "qualified", _("Qualified")
        CONVERTED = "converted", _("Converted")
        LOST = "lost", _("Lost")

    class Stage(models.TextChoices):
        COLD = "cold", _("Cold")
        WARM = "warm", _("Warm")
        HOT = "hot", _("Hot")
        BURNING = "burning", _("Burning")

        @classmethod
        def for_score(cls, score: int) -> Lead.Stage:
            """Map a 0–100 score to its stage: cold 0–30, warm 31–60, hot 61–80, burning 81–100."""
            if score >= 81:
                return cls.BURNING
            if score >= 61:
                return cls.HOT
            if score >= 31:
                return cls.WARM
            return cls.COLD

    class InterestType(models.TextChoices):
        BUY = "buy", _("Buy")
        FINANCE = "finance", _("Finance")
        CONSULT = "consult", _("Consulting")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Lean on writes: every index below is paid for by each ingested or imported lead, so the
    # foreign keys that lead a composite index (tenant, assigned partner, merged into) get no
    # index of their own, and exact-match columns get no LIKE (pattern-ops) twin.
    tenant = models.ForeignKey(
        "accounts.Organization",
        verbose_name=_("tenant"),
        on_delete=models.PROTECT,
        related_name="leads",
        db_index=False,
    )
    public_id = models.CharField(_("public id"), max_length=17, default=generate_public_id, editable=False)
    channel = models.CharField(_("channel"), max_length=20, choices=Channel.choices)
    source = models.CharField(_("source"), max_length=20, choices=Source.choices, default=Source.ZONE1_POOL)

    # PII: encrypted at rest, exact search through the blind indexes below.
    email = EncryptedTextField(_("email"), blank=True, default="")
    phone = EncryptedTextField(_("phone"), blank=True, default="")
    first_name = EncryptedTextField(_("first name"), blank=True, default="")
    last_name = EncryptedTextField(_("last name"), blank=True, default="")
    email_hash = models.CharField(_("email blind index"), max_length=64, blank=True, default="", editable=False)
    phone_hash = models.CharField(_("phone blind index"), max_length=64, blank=True, default="", editable=False)

    # Company and role.
    company_name = models.CharField(_("company"), max_length=255, blank=True)
    company_domain = models.CharField(_("company domain"), max_length=255, blank=True)
    company_size_band = models.CharField(_("company size band"), max_length=20, blank=True)
    industry = models.CharField(_("industry"), max_length=120, blank=True)
    employees = models.PositiveIntegerField(_("employees"), null=True, blank=True)
    revenue_band = models.CharField(_("revenue band"), max_length=40, blank=True)
    company_linkedin_url = models.URLField(_("company LinkedIn URL"), max_length=500, blank=True)
    job_title = models.CharField(_("job title"), max_length=255, blank=True)
    interest_type = models.CharField(_("interest type"), max_length=20, choices=InterestType.choices, blank=True)

    # Location, for routing by region/postcode.
    postcode = models.CharField(_("postcode"), max_length=16, blank=True)
    city = models.CharField(_("city"), max_length=120, blank=True)
    region = models.CharField(_("region"), max_length=120, blank=True)
    country = models.CharField(_("country"), max_length=2, blank=True, help_text=_("ISO 3166-1 alpha-2"))

    # Free-text form answers ("Ihre Nachricht", budgets with names, a second phone), the refused raw
    # values under "_invalid" and LinkedIn's per-response keys: encrypted as one JSON value. No
    # filter reads a key of it in SQL (scoring, enrichment, merges and the LinkedIn mapping read it
    # in Python), so no key is kept in a clear column of its own.
    attributes = EncryptedJSONField(
        _("attributes"),
        default=dict,
        blank=True,
        help_text=_("Unmapped form answers (encrypted; not searchable)"),
    )

    # Attribution.
    utm_source = models.CharField("utm_source", max_length=255, blank=True)
    utm_medium = models.CharField("utm_medium", max_length=255, blank=True)
    utm_campaign = models.CharField("utm_campaign", max_length=255, blank=True)
    utm_term = models.CharField("utm_term", max_length=255, blank=True)
    utm_content = models.CharField("utm_content", max_length=255, blank=True)
    referrer = models.URLField(_("referrer"), max_length=1000, blank=True)
    landing_page = models.URLField(_("landing page"), max_length=1000, blank=True)
    source_campaign = models.CharField(_("source campaign"), max_length=255, blank=True)
    facebook_lead_id = models.CharField(_("Facebook lead id"), max_length=64, blank=True)
    linkedin_response_id = models.CharField(_("LinkedIn response id"), max_length=255, blank=True)
    instagram_igsid = models.CharField(_("Instagram user id (IGSID)"), max_length=64, blank=True)

    # Lifecycle and score (changed only through services).
    status = models.CharField(_("status"), max_length=20, choices=Status.choices, default=Status.NEW, editable=False)
    score = score_field(_("score"))
    p_score = score_field(_("P-score (profile)"))
    i_score = score_field(_("I-score (intent)"))
    e_score = score_field(_("E-score (engagement)"))
    stage = models.CharField(_("stage"), max_length=10, choices=Stage.choices, default=Stage.COLD, editable=False)
    score_breakdown = models.JSONField(_("score breakdown"), default=dict, blank=True, editable=False)
    score_pending = models.BooleanField(
        _("scoring pending"),
        default=False,
        editable=False,
        help_text=_("Imported; scoring, offline enrichment and analysis follow in a queued batch."),
    )
    # Typed by the partner ("Herr … hat kein Interesse"): free text about the person, so encrypted.
    lost_reason = EncryptedTextField(_("lost reason"), blank=True, default="")

    assigned_partner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("assigned partner"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="assigned_leads",
        db_index=False,
    )
    is_test = models.BooleanField(_("test lead"), default=False)
    merged_into = models.ForeignKey(
        "self",
        verbose_name=_("merged into"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="merged_leads",
        editable=False,
        db_index=False,
    )

    # Consent.
    consent_marketing = models.BooleanField(_("marketing consent"), default=False)
    consent_at = models.DateTimeField(_("consent given at"), null=True, blank=True)
    opted_out_at = models.DateTimeField(_("opted out at"), null=True, blank=True)

    # Data-subject rights (SPEC §12): the person's data was destroyed on ``erased_at`` (the row stays
    # as an anonymous statistic); ``erased_before`` flags a lead that arrived for a person erased
    # earlier (a tombstone matched), for an admin to decide.
    erased_at = models.DateTimeField(_("personal data erased at"), null=True, blank=True, editable=False)
    erased_before = models.DateTimeField(
        _("person erased before"),
        null=True,
        blank=True,
        editable=False,
        help_text=_("The same person was erased on this date; an admin decides whether to keep this lead."),
    )

    last_activity_at = models.DateTimeField(_("last activity"), null=True, blank=True)
    first_contacted_at = models.DateTimeField(
        _("first contacted at"),
        null=True,
        blank=True,
        editable=False,
        help_text=_("When the partner first reached out (call, message, email); the reports' funnel reads it."),
    )
    decay_level = models.PositiveSmallIntegerField(
        _("inactivity decay applied"),
        default=0,
        editable=False,
        help_text=_("0: none, 1: 7 days without activity, 2: 30 days without activity."),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("lead")
        verbose_name_plural = _("leads")
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(score__lte=100), name="leads_lead_score_range"),
            models.CheckConstraint(condition=Q(p_score__lte=100), name="leads_lead_p_score_range"),
            models.CheckConstraint(condition=Q(i_score__lte=100), name="leads_lead_i_score_range"),
            models.CheckConstraint(condition=Q(e_score__lte=100), name="leads_lead_e_score_range"),
            models.CheckConstraint(condition=~Q(merged_into=models.F("id")), name="leads_lead_not_merged_into_self"),
            # A constraint rather than unique=True: the same index without a LIKE twin.
            models.UniqueConstraint(fields=["public_id"], name="leads_lead_public_id_unique"),
        ]
        indexes = [
            # The pool and the partner lists filter by tenant plus one of these, newest or best first.
            models.Index(fields=["tenant", "stage", "-score"], name="lead_tenant_stage_score"),
            models.Index(fields=["tenant", "status", "-created_at"], name="lead_tenant_status_created"),
            models.Index(fields=["tenant", "channel", "-created_at"], name="lead_tenant_channel_created"),
            models.Index(fields=["tenant", "source", "-created_at"], name="lead_tenant_source_created"),
            models.Index(fields=["tenant", "-last_activity_at"], name="lead_tenant_last_activity"),
            models.Index(
                fields=["tenant", "first_contacted_at"],
                name="lead_tenant_first_contacted",
                condition=Q(first_contacted_at__isnull=False),
            ),
            # Best first, with the keyset tie-breakers: API-550's "-score" pages start at their cursor.
            models.Index(fields=["tenant", "-score", "-created_at", "-id"], name="lead_tenant_score_keyset"),
            # The admin sorts the whole table by score (platform staff see every tenant).
            models.Index(fields=["-score", "-id"], name="lead_score_id"),
            # …and filters it by days since the last activity (leads without one count from created_at).
            models.Index(fields=["last_activity_at"], name="lead_last_activity"),
            # Partial where most rows hold nothing: every lookup is an equality on a real value, and a
            # pool or imported lead (no partner, no merge, no Meta/LinkedIn id) writes none of these.
            models.Index(
                fields=["assigned_partner", "status"],
                name="lead_partner_status",
                condition=Q(assigned_partner__isnull=False),
            ),
            models.Index(fields=["email_hash"], name="lead_email_hash", condition=~Q(email_hash="")),
            models.Index(fields=["phone_hash"], name="lead_phone_hash", condition=~Q(phone_hash="")),
            models.Index(fields=["merged_into"], name="lead_merged_into", condition=Q(merged_into__isnull=False)),
            models.Index(
                fields=["-erased_before"], name="lead_erased_before", condition=Q(erased_before__isnull=False)
            ),
            # Imported leads waiting for their scoring batch: the sweeper finds the ones a lost task left.
            models.Index(fields=["created_at"], name="lead_score_pending", condition=Q(score_pending=True)),
            models.Index(fields=["facebook_lead_id"], name="lead_facebook_lead_id", condition=~Q(facebook_lead_id="")),
            models.Index(
                fields=["linkedin_response_id"],
                name="lead_linkedin_response_id",
                condition=~Q(linkedin_response_id=""),
            ),
        ]

    def __str__(self) -> str:
        return self.public_id

    def save(self, *args, **kwargs):
        self.refresh_blind_indexes()
        update_fields = kwargs.get("update_fields")
        if update_fields is not None:
            extra = set()
            if "email" in update_fields:
                extra.add("email_hash")
            if "phone" in update_fields:
                extra.add("phone_hash")
            if extra:
                kwargs["update_fields"] = {*update_fields, *extra}
        super().save(*args, **kwargs)

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def is_merged(self) -> bool:
        return self.merged_into_id is not None

    def refresh_blind_indexes(self) -> None:
        """Recompute the blind indexes from the current email and phone (bulk paths call this)."""
        self.email_hash = email_index(self.email)
        self.phone_hash = phone_index(self.phone)


class LeadActivity(models.Model):
    """Something the lead did or we did with the lead; may move the score."""

    lead = models.ForeignKey(Lead, verbose_name=_("lead"), on_delete=models.CASCADE, related_name="activities")
    activity_type = models.CharField(_("activity type"), max_length=64, db_index=True)
    # Notes, contact outcomes, status reasons and whatever API-506 clients send: free text about the
    # person, encrypted as one JSON value. The one key read in SQL, the planned follow-up date (the
    # lead lists sort and flag by it), is kept in the clear column ``next_follow_up`` below.
    detail = EncryptedJSONField(_("detail"), default=dict, blank=True)
    next_follow_up = models.DateField(
        _("next follow-up"),
        null=True,
        blank=True,
        editable=False,
        help_text=_("The follow-up date this activity planned (a copy of the detail's, for the lead lists)."),
    )
    channel = models.CharField(_("channel"), max_length=20, blank=True)
    score_delta = models.SmallIntegerField(_("score delta"), default=0)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("actor"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    occurred_at = models.DateTimeField(_("occurred at"))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("lead activity")
        verbose_name_plural = _("lead activities")
        ordering = ["-occurred_at"]
        indexes = [models.Index(fields=["lead", "-occurred_at"], name="activity_lead_occurred")]

    def __str__(self) -> str:
        return self.activity_type


class LeadScoreHistory(models.Model):
    """Every score change with a human reason, e.g. "Budget Calculator verwendet (+25)"."""

    lead = models.ForeignKey(
        Lead, verbose_name=_("lead"), on_delete=models.CASCADE, related_name="score_history", db_index=False
    )  # (lead, -created_at) below serves it
    old_score = models.PositiveSmallIntegerField(_("old score"))
    new_score = models.PositiveSmallIntegerField(_("new score"))
    delta = models.SmallIntegerField(_("delta"))
    old_stage = models.CharField(_("old stage"), max_length=10, choices=Lead.Stage.choices, blank=True)
    new_stage = models.CharField(_("new stage"), max_length=10, choices=Lead.Stage.choices, blank=True)
    reason = models.CharField(_("reason"), max_length=500)
    breakdown = models.JSONField(_("breakdown"), default=dict, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("score history entry")
        verbose_name_plural = _("score history")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["lead", "-created_at"], name="scorehistory_lead_created")]

    def __str__(self) -> str:
        return f"{self.old_score} → {self.new_score}"


class LeadVerification(models.Model):
    """Result of checking a lead's email and phone (offline: syntax, domain lists, E.164)."""

    lead = models.ForeignKey(Lead, verbose_name=_("lead"), on_delete=models.CASCADE, related_name="verifications")
    email_valid = models.BooleanField(_("email valid"), null=True)
    email_reason = models.CharField(_("email check result"), max_length=255, blank=True)
    email_domain = models.CharField(_("email domain"), max_length=255, blank=True)
    email_disposable = models.BooleanField(_("disposable email domain"), default=False)
    email_free = models.BooleanField(_("free-mail domain"), default=False)
    phone_valid = models.BooleanField(_("phone valid"), null=True)
    phone_type = models.CharField(_("phone type"), max_length=30, blank=True)
    phone_region = models.CharField(_("phone region"), max_length=2, blank=True)
    method = models.CharField(_("method"), max_length=40, default="offline")
    details = models.JSONField(_("details"), default=dict, blank=True)
    checked_at = models.DateTimeField(_("checked at"), auto_now_add=True)

    class Meta:
        verbose_name = _("lead verification")
        verbose_name_plural = _("lead verifications")
        ordering = ["-checked_at"]

    def __str__(self) -> str:
        return f"{self.lead_id} @ {self.checked_at:%Y-%m-%d}"


class LeadIntent(models.Model):
    """Buying intent and sentiment detected in a message or form answer."""

    class Level(models.TextChoices):
        NONE = "none", _("None")
        LOW = "low", _("Low")
        MEDIUM = "medium", _("Medium")
        HIGH = "high", _("High")

    class Sentiment(models.TextChoices):
        POSITIVE = "positive", _("Positive")
        NEUTRAL = "neutral", _("Neutral")
        NEGATIVE = "negative", _("Negative")

    lead = models.ForeignKey(Lead, verbose_name=_("lead"), on_delete=models.CASCADE, related_name="intents")
    intent_level = models.CharField(_("intent level"), max_length=10, choices=Level.choices, default=Level.NONE)
    intent_score = models.PositiveSmallIntegerField(_("intent score"), default=0, validators=[MaxValueValidator(100)])
    sentiment = models.CharField(_("sentiment"), max_length=10, choices=Sentiment.choices, default=Sentiment.NEUTRAL)
    # The LLM analyser's buying signals and advice are free text drawn from the lead's answers:
    # keywords and analysis are encrypted (nothing filters on them; level and sentiment stay clear).
    keywords = EncryptedJSONField(_("detected keywords"), default=list, blank=True)
    opt_out_detected = models.BooleanField(_("opt-out detected"), default=False)
    source_type = models.CharField(_("source type"), max_length=40, blank=True, help_text=_("e.g. instagram_message"))
    source_id = models.CharField(_("source id"), max_length=64, blank=True)
    analysis = EncryptedJSONField(_("analysis"), default=dict, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("lead intent")
        verbose_name_plural = _("lead intents")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.intent_level}/{self.sentiment}"


class LeadEnrichment(models.Model):
    """Company data and ICP fit found by an enrichment provider (or the AI analyser)."""

    lead = models.ForeignKey(Lead, verbose_name=_("lead"), on_delete=models.CASCADE, related_name="enrichments")
    provider = models.CharField(_("provider"), max_length=40)
    company_data = models.JSONField(_("company data"), default=dict, blank=True)
    icp_match_score = models.PositiveSmallIntegerField(
        _("ICP match score"), null=True, blank=True, validators=[MaxValueValidator(100)]
    )
    icp_reasons = models.JSONField(_("ICP reasons"), default=list, blank=True)
    # The provider's answer as received (it may name people or carry addresses): encrypted. The
    # mapped firmographics in ``company_data`` stay clear, like the lead's own company fields.
    raw_response = EncryptedJSONField(_("raw response"), default=dict, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("lead enrichment")
        verbose_name_plural = _("lead enrichments")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.provider


class LeadMagnet(models.Model):
    """A guide, calculator or quiz the lead used, with the quiz results."""

    class Kind(models.TextChoices):
        GUIDE = "guide", _("Guide")
        CALCULATOR = "calculator", _("Calculator")
        QUIZ = "quiz", _("Quiz")
        CHECKLIST = "checklist", _("Checklist")
        WEBINAR = "webinar", _("Webinar")

    lead = models.ForeignKey(Lead, verbose_name=_("lead"), on_delete=models.CASCADE, related_name="magnets")
    magnet_type = models.CharField(_("type"), max_length=20, choices=Kind.choices)
    name = models.CharField(_("name"), max_length=200)
    quiz_results = EncryptedJSONField(_("quiz results"), default=dict, blank=True)  # the person's answers
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("lead magnet")
        verbose_name_plural = _("lead magnets")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name


class Company(models.Model):
    """An account: firmographics per domain and tenant, linked to its leads."""

    class Tier(models.TextChoices):
        NONE = "", _("No target account")
        TIER1 = "tier1", _("Tier 1")
        TIER2 = "tier2", _("Tier 2")
        TIER3 = "tier3", _("Tier 3")

    tenant = models.ForeignKey(
        "accounts.Organization", verbose_name=_("tenant"), on_delete=models.CASCADE, related_name="companies"
    )
    domain = models.CharField(_("domain"), max_length=255)
    name = models.CharField(_("name"), max_length=255, blank=True)
    industry = models.CharField(_("industry"), max_length=120, blank=True)
    size_band = models.CharField(_("size band"), max_length=20, blank=True)
    employees = models.PositiveIntegerField(_("employees"), null=True, blank=True)
    revenue_band = models.CharField(_("revenue band"), max_length=40, blank=True)
    country = models.CharField(_("country"), max_length=2, blank=True)
    linkedin_url = models.URLField(_("LinkedIn URL"), max_length=500, blank=True)
    tier = models.CharField(_("target account tier"), max_length=10, choices=Tier.choices, blank=True, default="")
    leads = models.ManyToManyField(Lead, verbose_name=_("leads"), related_name="companies", blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("company")
        verbose_name_plural = _("companies")
        ordering = ["name", "domain"]
        constraints = [models.UniqueConstraint(fields=["tenant", "domain"], name="leads_company_unique_domain")]

    def __str__(self) -> str:
        return self.name or self.domain

    def save(self, *args, **kwargs):
        self.domain = (self.domain or "").strip().lower()
        super().save(*args, **kwargs)


class ScoringRule(models.Model):
    """Points for an activity code; editable by platform admins (SPEC §7)."""

    class Component(models.TextChoices):
        PROFILE = "p", _("P-score (profile)")
        INTENT = "i", _("I-score (intent)")
        ENGAGEMENT = "e", _("E-score (engagement)")

    tenant = models.ForeignKey(
        "accounts.Organization",
        verbose_name=_("tenant"),
        on_delete=models.CASCADE,
        related_name="scoring_rules",
        null=True,
        blank=True,
        help_text=_("Empty: the default rule for every tenant."),
    )
    code = models.SlugField(_("activity code"), max_length=64)
    component = models.CharField(_("component"), max_length=1, choices=Component.choices)
    points = models.SmallIntegerField(_("points"), validators=[MinValueValidator(-100), MaxValueValidator(100)])
    description = models.CharField(_("description"), max_length=255, help_text=_("Shown as the reason, in German."))
    active = models.BooleanField(_("active"), default=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("scoring rule")
        verbose_name_plural = _("scoring rules")
        ordering = ["component", "-points", "code"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "code"], name="leads_scoringrule_tenant_code"),
            models.UniqueConstraint(
                fields=["code"], condition=Q(tenant__isnull=True), name="leads_scoringrule_default_code"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} ({self.points:+d})"


class IcpProfile(models.Model):
    """A tenant's ideal customer profile, used for the ICP match and the P-score."""

    tenant = models.OneToOneField(
        "accounts.Organization", verbose_name=_("tenant"), on_delete=models.CASCADE, related_name="icp_profile"
    )
    industries = models.JSONField(_("industries"), default=list, blank=True)
    size_bands = models.JSONField(_("company size bands"), default=list, blank=True)
    roles = models.JSONField(_("roles"), default=list, blank=True, help_text=_("Job title keywords, e.g. CEO"))
    regions = models.JSONField(_("regions"), default=list, blank=True)
    weights = models.JSONField(
        _("weights"),
        default=dict,
        blank=True,
        help_text=_('Points per criterion, e.g. {"industry": 30, "size": 25, "role": 30, "region": 15}'),
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("ICP profile")
        verbose_name_plural = _("ICP profiles")

    def __str__(self) -> str:
        return str(self.tenant)


class LeadIdentity(models.Model):
    """One identity of a person in a tenant; the unique key makes dedup race-free (SPEC §3/§4.3)."""

    class Kind(models.TextChoices):
        EMAIL = "email", _("Email")
        PHONE = "phone", _("Phone")
        FACEBOOK_LEAD_ID = "facebook_lead_id", _("Facebook lead id")
        LINKEDIN_RESPONSE_ID = "linkedin_response_id", _("LinkedIn response id")
        INSTAGRAM_IGSID = "instagram_igsid", _("Instagram user id")
        IMPORT_KEY = "import_key", _("Import key")
        EXTERNAL_KEY = "external_key", _("External key")

    # The lead's tenant, copied for the unique key; the unique (tenant, kind, value_hash) index serves
    # tenant lookups. No constraint of its own: the identity's lead references the tenant already
    # (identity → lead → tenant), and checking it again locked the organization row once per
    # identity (1.6 million times in a 1M-row import). Django still cascades deletes.
    tenant = models.ForeignKey(
        "accounts.Organization",
        verbose_name=_("tenant"),
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    kind = models.CharField(_("kind"), max_length=24, choices=Kind.choices)
    value_hash = models.CharField(_("value (blind index)"), max_length=64)
    lead = models.ForeignKey(Lead, verbose_name=_("lead"), on_delete=models.CASCADE, related_name="identities")
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("lead identity")
        verbose_name_plural = _("lead identities")
        constraints = [
            models.UniqueConstraint(fields=["tenant", "kind", "value_hash"], name="leads_identity_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.kind}:{self.value_hash[:12]}…"


class LeadMerge(models.Model):
    """Merge journal: what a merge changed and moved, so ``lead_unmerge`` can undo it exactly."""

    class Kind(models.TextChoices):
        INGEST = "ingest", _("Incoming data matched")
        MANUAL = "manual", _("Merged by hand")

    survivor = models.ForeignKey(Lead, verbose_name=_("survivor"), on_delete=models.CASCADE, related_name="merges")
    merged_lead = models.ForeignKey(
        Lead,
        verbose_name=_("merged lead"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="merged_by",
        help_text=_("Empty when an incoming delivery was merged."),
    )
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    channel = models.CharField(_("channel"), max_length=20, blank=True)
    # Field values before/after and alternative answers contain PII: stored encrypted, as JSON.
    changes = EncryptedTextField(_("field changes"), blank=True, default="")
    moved_rows = models.JSONField(_("moved rows"), default=dict, blank=True)
    identities = models.JSONField(_("identities added"), default=list, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("actor"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(_("merged at"), auto_now_add=True)
    undone_at = models.DateTimeField(_("undone at"), null=True, blank=True)
    undone_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("undone by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    split_lead = models.ForeignKey(
        Lead,
        verbose_name=_("lead split off on undo"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        verbose_name = _("merge journal entry")
        verbose_name_plural = _("merge journal")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["survivor", "-created_at"], name="merge_survivor_created")]

    def __str__(self) -> str:
        return f"{self.kind} → {self.survivor_id}"

    @property
    def change_data(self) -> dict:
        """The decrypted journal: ``fields`` {name: [before, after]}, ``alternatives``, ``payload``."""
        return json.loads(self.changes) if self.changes else {}


class PipelineSettings(models.Model):
    """Per-tenant pipeline configuration: score weights and auto-assignment (off by default)."""

    class AssignmentMode(models.TextChoices):
        ROUND_ROBIN = "round_robin", _("Round robin")
        WEIGHTED = "weighted", _("Weighted by free capacity")

    tenant = models.OneToOneField(
        "accounts.Organization", verbose_name=_("tenant"), on_delete=models.CASCADE, related_name="pipeline_settings"
    )
    weight_p = models.DecimalField(_("weight P-score"), max_digits=3, decimal_places=2, default=Decimal("0.40"))
    weight_i = models.DecimalField(_("weight I-score"), max_digits=3, decimal_places=2, default=Decimal("0.35"))
    weight_e = models.DecimalField(_("weight E-score"), max_digits=3, decimal_places=2, default=Decimal("0.25"))
    auto_assign_enabled = models.BooleanField(_("auto-assignment on"), default=False)
    auto_assign_mode = models.CharField(
        _("auto-assignment mode"), max_length=20, choices=AssignmentMode.choices, default=AssignmentMode.ROUND_ROBIN
    )
    auto_assign_min_score = models.PositiveSmallIntegerField(
        _("minimum score for auto-assignment"), default=0, validators=[MaxValueValidator(100)]
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("pipeline settings")
        verbose_name_plural = _("pipeline settings")
        constraints = [
            models.CheckConstraint(
                condition=Q(weight_p__gte=0) & Q(weight_i__gte=0) & Q(weight_e__gte=0),
                name="leads_settings_weights_pos",
            )
        ]

    def __str__(self) -> str:
        return str(self.tenant)

    def clean(self):
        if (self.weight_p or 0) + (self.weight_i or 0) + (self.weight_e or 0) != Decimal("1.00"):
            raise ValidationError(_("The three weights must add up to 1.00."))

    @property
    def weights(self) -> dict[str, Decimal]:
        return {"p": self.weight_p, "i": self.weight_i, "e": self.weight_e}


class LeadAssignment(models.Model):
    """A pool offer of a lead to a partner (SPEC §8); at most one open offer per lead."""

    class Status(models.TextChoices):
        OFFERED = "offered", _("Offered")
        ACCEPTED = "accepted", _("Accepted")
        REJECTED = "rejected", _("Rejected")
        EXPIRED = "expired", _("Expired")
        REVOKED = "revoked", _("Revoked")

    lead = models.ForeignKey(Lead, verbose_name=_("lead"), on_delete=models.CASCADE, related_name="offers")
    partner = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("partner"), on_delete=models.CASCADE, related_name="lead_offers"
    )
    offered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("offered by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("Empty: offered by automatic assignment."),
    )
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.OFFERED, editable=False
    )
    offered_at = models.DateTimeField(_("offered at"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires at"))
    responded_at = models.DateTimeField(_("responded at"), null=True, blank=True)
    # Typed by the partner or the admin; may name the person: encrypted.
    reason = EncryptedTextField(_("reason"), blank=True, default="")
    decision = models.ForeignKey(
        "AssignmentDecision",
        verbose_name=_("automatic decision"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="offers",
    )

    class Meta:
        verbose_name = _("offer")
        verbose_name_plural = _("offers")
        ordering = ["-offered_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["lead"], condition=Q(status="offered"), name="leads_offer_one_open_per_lead"
            )
        ]
        indexes = [
            models.Index(fields=["partner", "status", "-offered_at"], name="offer_partner_status"),
            models.Index(fields=["status", "expires_at"], name="offer_status_expires"),
        ]

    def __str__(self) -> str:
        return f"{self.lead_id} → {self.partner_id} ({self.status})"


class AssignmentDecision(models.Model):
    """Why an automatic offer went to whom: every candidate with its weight and free capacity."""

    tenant = models.ForeignKey(
        "accounts.Organization", verbose_name=_("tenant"), on_delete=models.CASCADE, related_name="+"
    )
    lead = models.ForeignKey(
        Lead, verbose_name=_("lead"), on_delete=models.CASCADE, related_name="assignment_decisions"
    )
    mode = models.CharField(_("mode"), max_length=20, choices=PipelineSettings.AssignmentMode.choices)
    candidates = models.JSONField(_("candidates"), default=list, blank=True)
    winner = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("chosen partner"), on_delete=models.SET_NULL, null=True, blank=True
    )
    rule = models.CharField(_("winning rule"), max_length=255)
    created_at = models.DateTimeField(_("decided at"), auto_now_add=True)

    class Meta:
        verbose_name = _("assignment decision")
        verbose_name_plural = _("assignment decisions")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["lead", "-created_at"], name="decision_lead_created")]

    def __str__(self) -> str:
        return f"{self.lead_id}: {self.rule}"


class LeadAlert(models.Model):
    """One hot-lead alert per crossing into ``burning``; each channel is sent at most once."""

    lead = models.ForeignKey(Lead, verbose_name=_("lead"), on_delete=models.CASCADE, related_name="alerts")
    score_change = models.OneToOneField(
        LeadScoreHistory, verbose_name=_("score change"), on_delete=models.CASCADE, related_name="alert"
    )
    score = models.PositiveSmallIntegerField(_("score"))
    email_sent_at = models.DateTimeField(_("email sent at"), null=True, blank=True)
    slack_sent_at = models.DateTimeField(_("Slack sent at"), null=True, blank=True)
    notified_at = models.DateTimeField(_("in-app notice at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("hot-lead alert")
        verbose_name_plural = _("hot-lead alerts")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.lead_id} @ {self.score}"


class LeadFormRoute(models.Model):
    """Where the leads of one lead form go: a booked campaign's form routes to the booking partner.

    Campaigns (a higher floor) write the route when they book a form; ingest (this floor) reads it,
    so a webhook never needs to know about campaigns. ``ref`` names what registered the route
    ("campaign:<id>"), and ``lead_routed`` tells that owner about each lead it routed.
    """

    form_id = models.CharField(_("lead form id"), max_length=64, unique=True)
    page_id = models.CharField(_("page id"), max_length=64, blank=True)
    partner = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("partner"), on_delete=models.CASCADE, related_name="form_routes"
    )
    tenant = models.ForeignKey(
        "accounts.Organization", verbose_name=_("tenant"), on_delete=models.CASCADE, related_name="form_routes"
    )
    source = models.CharField(_("source"), max_length=20, choices=Lead.Source.choices, default=Lead.Source.META_SELF)
    ref = models.CharField(_("registered by"), max_length=80)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("lead form route")
        verbose_name_plural = _("lead form routes")

    def __str__(self) -> str:
        return f"{self.form_id} → {self.partner_id}"


class PoolDailyStat(models.Model):
    """One day's pool figures, kept by beat so statistics over any range read a few hundred rows.

    ``metric`` names the figure ("volume", "offers", "expiries", …), ``key`` what it is per (a channel,
    a partner id, or "" for the whole pool), and ``values`` holds the counts (and whatever a range needs to
    combine days exactly). Past days are final; today is recomputed on each tick.
    """

    day = models.DateField(_("day"))
    metric = models.CharField(_("metric"), max_length=32)
    key = models.CharField(_("key"), max_length=64, blank=True)
    values = models.JSONField(_("values"), default=dict)
    computed_at = models.DateTimeField(_("computed at"), auto_now=True)

    class Meta:
        verbose_name = _("daily pool figure")
        verbose_name_plural = _("daily pool figures")
        constraints = [models.UniqueConstraint(fields=["day", "metric", "key"], name="leads_pooldailystat_unique")]
        indexes = [models.Index(fields=["metric", "day"], name="pooldailystat_metric_day")]

    def __str__(self) -> str:
        return f"{self.day} {self.metric} {self.key}"
