"""Managed Meta lead-ad campaigns (SPEC §10): templates, a partner's campaigns, their Meta objects,
daily stats, linked leads and the Conversions API outbox.

Every Meta object id is stored as soon as Meta returns it, so a booking that failed half-way
continues where it stopped and never creates a second object.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from core.leases import Lease


class CampaignTemplate(models.Model):
    """A ready-made ad (copy, image, lead-form questions) a partner books with a budget and regions."""

    class CallToAction(models.TextChoices):
        LEARN_MORE = "LEARN_MORE", _("Learn more")
        SIGN_UP = "SIGN_UP", _("Sign up")
        GET_QUOTE = "GET_QUOTE", _("Get quote")
        APPLY_NOW = "APPLY_NOW", _("Apply now")
        CONTACT_US = "CONTACT_US", _("Contact us")
        DOWNLOAD = "DOWNLOAD", _("Download")

    code = models.SlugField(_("code"), max_length=80, unique=True)
    name = models.CharField(_("name"), max_length=200)
    category = models.CharField(_("category"), max_length=120, default="Kapitalanlage allgemein")
    headline = models.CharField(_("headline"), max_length=255)
    primary_text = models.TextField(_("primary text"))
    description = models.CharField(_("description"), max_length=255, blank=True)
    call_to_action = models.CharField(
        _("call to action"), max_length=20, choices=CallToAction.choices, default=CallToAction.LEARN_MORE
    )
    image = models.CharField(_("image"), max_length=255, help_text=_("Path under static/, e.g. campaigns/x.jpg"))
    # [{"key": "email", "type": "EMAIL"}, {"key": "budget", "type": "CUSTOM", "label": "…", "options": […]}]
    form_questions = models.JSONField(_("lead-form questions"), default=list)
    privacy_policy_url = models.URLField(_("privacy policy link"), max_length=500)
    privacy_policy_text = models.CharField(_("privacy policy link text"), max_length=200)
    is_active = models.BooleanField(_("active"), default=True)
    sort_order = models.PositiveSmallIntegerField(_("order"), default=0)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("campaign template")
        verbose_name_plural = _("campaign templates")
        ordering = ["sort_order", "name"]

    def __str__(self) -> str:
        return self.name


class AdCampaign(models.Model):
    """A partner's campaign: draft → pending (submitted) → active ⇄ paused → completed, or rejected."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        PENDING = "pending", _("Waiting for booking")
        ACTIVE = "active", _("Active")
        PAUSED = "paused", _("Paused")
        COMPLETED = "completed", _("Completed")
        REJECTED = "rejected", _("Rejected by Meta")

    class SyncAction(models.TextChoices):
        NONE = "", _("None")
        PAUSE = "pause", _("Pause")
        RESUME = "resume", _("Resume")
        COMPLETE = "complete", _("Complete")

    partner = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("partner"), on_delete=models.PROTECT, related_name="ad_campaigns"
    )
    tenant = models.ForeignKey(
        "accounts.Organization", verbose_name=_("tenant"), on_delete=models.PROTECT, related_name="ad_campaigns"
    )
    template = models.ForeignKey(
        CampaignTemplate, verbose_name=_("template"), on_delete=models.PROTECT, related_name="campaigns"
    )
    name = models.CharField(_("name"), max_length=200)
    headline = models.CharField(_("headline"), max_length=255, blank=True, help_text=_("Empty: the template's."))
    text = models.TextField(_("primary text"), blank=True, help_text=_("Empty: the template's."))
    budget_cents = models.PositiveIntegerField(_("budget (cents)"))
    start_date = models.DateField(_("start date"))
    end_date = models.DateField(_("end date"))
    # ["DE", "AT"] or [{"city_key": "2519536", "name": "Berlin", "radius_km": 25}]
    regions = models.JSONField(_("regions"), default=list)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.DRAFT)
    status_reason = models.TextField(_("status reason"), blank=True, help_text=_("Meta's review or booking message."))
    sync_pending = models.CharField(
        _("waiting for Meta"), max_length=10, choices=SyncAction.choices, blank=True, default=SyncAction.NONE
    )
    tos_consent = models.ForeignKey(
        "compliance.ConsentRecord",
        verbose_name=_("Meta ads terms consent"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    meta_form_id = models.CharField(_("Meta lead form id"), max_length=64, blank=True)
    meta_campaign_id = models.CharField(_("Meta campaign id"), max_length=64, blank=True)
    meta_adset_id = models.CharField(_("Meta ad set id"), max_length=64, blank=True)
    meta_image_hash = models.CharField(_("Meta image hash"), max_length=64, blank=True)
    meta_creative_id = models.CharField(_("Meta creative id"), max_length=64, blank=True)
    meta_ad_id = models.CharField(_("Meta ad id"), max_length=64, blank=True)
    meta_effective_status = models.CharField(_("Meta status"), max_length=40, blank=True)
    meta_issues = models.JSONField(_("Meta issues"), default=list, blank=True)
    booking_error = models.TextField(_("booking error"), blank=True)
    insights_synced_through = models.DateField(_("stats synced through"), null=True, blank=True)
    insights_synced_at = models.DateTimeField(_("stats synced at"), null=True, blank=True)
    submitted_at = models.DateTimeField(_("submitted at"), null=True, blank=True)
    booked_at = models.DateTimeField(_("booked at"), null=True, blank=True)
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("ad campaign")
        verbose_name_plural = _("ad campaigns")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["partner", "-created_at"], name="adcampaign_partner_created"),
            models.Index(fields=["status"], name="adcampaign_status"),
            models.Index(fields=["meta_form_id"], condition=~Q(meta_form_id=""), name="adcampaign_form"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(end_date__gt=models.F("start_date")), name="adcampaign_end_after_start"),
            models.CheckConstraint(condition=Q(budget_cents__gte=10000), name="adcampaign_min_budget"),
        ]

    def __str__(self) -> str:
        return self.name


class CampaignStatusChange(models.Model):
    """The status history of a campaign (API-542 ``status_history``)."""

    campaign = models.ForeignKey(
        AdCampaign, verbose_name=_("campaign"), on_delete=models.CASCADE, related_name="status_changes"
    )
    from_status = models.CharField(_("from"), max_length=10, blank=True)
    to_status = models.CharField(_("to"), max_length=10)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    note = models.TextField(_("note"), blank=True)
    at = models.DateTimeField(_("at"), auto_now_add=True)

    class Meta:
        verbose_name = _("campaign status change")
        verbose_name_plural = _("campaign status changes")
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.from_status} → {self.to_status}"


class CampaignStats(models.Model):
    """Meta's figures of one campaign and day (upserted; Meta restates recent days)."""

    campaign = models.ForeignKey(AdCampaign, verbose_name=_("campaign"), on_delete=models.CASCADE, related_name="stats")
    date = models.DateField(_("date"))
    spend_cents = models.PositiveBigIntegerField(_("spend (cents)"), default=0)
    impressions = models.PositiveBigIntegerField(_("impressions"), default=0)
    clicks = models.PositiveBigIntegerField(_("clicks"), default=0)
    meta_leads = models.PositiveIntegerField(_("leads (Meta)"), default=0)
    synced_at = models.DateTimeField(_("synced at"), auto_now=True)

    class Meta:
        verbose_name = _("campaign day")
        verbose_name_plural = _("campaign days")
        ordering = ["campaign", "date"]
        constraints = [models.UniqueConstraint(fields=["campaign", "date"], name="campaign_stats_day_unique")]

    def __str__(self) -> str:
        return f"{self.campaign_id} {self.date}"


class AdCampaignLead(models.Model):
    """A lead that came in through a campaign's lead form."""

    campaign = models.ForeignKey(AdCampaign, verbose_name=_("campaign"), on_delete=models.CASCADE, related_name="leads")
    lead = models.OneToOneField(
        "leads.Lead", verbose_name=_("lead"), on_delete=models.CASCADE, related_name="ad_campaign_link"
    )
    created_at = models.DateTimeField(_("linked at"), auto_now_add=True)

    class Meta:
        verbose_name = _("campaign lead")
        verbose_name_plural = _("campaign leads")
        indexes = [models.Index(fields=["campaign", "created_at"], name="adcampaign_lead_created")]

    def __str__(self) -> str:
        return f"{self.campaign_id} ← {self.lead_id}"


class ConversionEvent(models.Model):
    """Conversions API outbox: one row per (lead, event) sent once, in batches, retried on failure."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")

    campaign = models.ForeignKey(
        AdCampaign, verbose_name=_("campaign"), on_delete=models.CASCADE, related_name="conversion_events"
    )
    lead = models.ForeignKey("leads.Lead", verbose_name=_("lead"), on_delete=models.CASCADE, related_name="+")
    event_name = models.CharField(_("event"), max_length=64)
    event_key = models.CharField(_("event key"), max_length=160, unique=True)
    event_time = models.DateTimeField(_("event time"))
    # {"event_name", "event_time", "action_source", "user_data": {"lead_id"}, "custom_data": {…}}: no PII.
    payload = models.JSONField(_("payload"), default=dict)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    claimed_by = models.CharField(_("claimed by"), max_length=255, blank=True)
    lease_expires_at = models.DateTimeField(_("lease expires at"), null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt at"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("Conversions API event")
        verbose_name_plural = _("Conversions API events")
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["next_attempt_at", "id"], condition=Q(status="pending"), name="capi_pending"),
            models.Index(fields=["lease_expires_at"], condition=Q(status="sending"), name="capi_sending_lease"),
        ]

    def __str__(self) -> str:
        return self.event_key


CONVERSION_LEASE = Lease(
    model=ConversionEvent, ready=ConversionEvent.Status.PENDING, held=ConversionEvent.Status.SENDING
)
