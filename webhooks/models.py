"""Inbound webhooks (SPEC §3, §5–6): the webhook ledger, Meta page connections and Instagram threads."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from compliance.fields import EncryptedTextField
from core.leases import Lease


class Provider(models.TextChoices):
    FACEBOOK = "facebook", _("Facebook Lead Ads")
    INSTAGRAM = "instagram", _("Instagram")
    LINKEDIN = "linkedin", _("LinkedIn")


class WebhookDelivery(models.Model):
    """One accepted POST exactly as received: raw bytes (encrypted, they may hold PII) and headers."""

    provider = models.CharField(_("provider"), max_length=20, choices=Provider.choices)
    received_at = models.DateTimeField(_("received at"), auto_now_add=True, db_index=True)
    headers = models.JSONField(_("headers (subset)"), default=dict, blank=True)
    raw_body = EncryptedTextField(
        _("raw body"), null=True, blank=True, default="", help_text=_("Emptied (NULL) after the retention period.")
    )
    body_size = models.PositiveIntegerField(_("body size (bytes)"), default=0)
    signature_valid = models.BooleanField(_("signature valid"), default=False)
    item_count = models.PositiveIntegerField(_("items"), default=0)

    class Meta:
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        ordering = ["-received_at"]
        indexes = [
            # Retention: only rows still holding a body, so the purge finds any backlog (a lowered
            # period, missed runs) without walking the blanked history.
            models.Index(fields=["received_at"], name="webhookdelivery_body_held", condition=Q(raw_body__isnull=False)),
        ]

    def __str__(self) -> str:
        return f"{self.provider} #{self.pk}"


class WebhookEvent(models.Model):
    """One item of a delivery (a leadgen change, a DM, a LinkedIn lead action): the unit of processing.

    ``(provider, dedup_key)`` is unique, so a provider's retry is recognised by the database, not by
    a read-then-write check.
    """

    class Status(models.TextChoices):
        RECEIVED = "received", _("Received")
        PROCESSING = "processing", _("Processing")
        PROCESSED = "processed", _("Processed")
        FAILED = "failed", _("Failed")
        DUPLICATE = "duplicate", _("Duplicate")
        IGNORED = "ignored", _("Ignored")

    provider = models.CharField(_("provider"), max_length=20, choices=Provider.choices)
    event_type = models.CharField(_("event type"), max_length=40)
    dedup_key = models.CharField(_("dedup key"), max_length=255)
    object_id = models.CharField(
        _("object id"), max_length=64, blank=True, help_text=_("Page, Instagram account or LinkedIn owner id.")
    )
    # No index on the two foreign keys: nothing looks events up by delivery or lead, and every index
    # costs time on the webhook's insert path.
    delivery = models.ForeignKey(
        WebhookDelivery,
        verbose_name=_("delivery"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        db_index=False,
        related_name="events",
        help_text=_("Empty for events recorded by a backfill."),
    )
    payload = EncryptedTextField(
        _("item payload (JSON)"), null=True, blank=True, default="", help_text=_("Emptied after the retention period.")
    )
    status = models.CharField(_("status"), max_length=20, choices=Status.choices, default=Status.RECEIVED)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    error_code = models.CharField(_("error code"), max_length=40, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    lead = models.ForeignKey(
        "leads.Lead",
        verbose_name=_("lead"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        db_index=False,
        related_name="+",
    )
    received_at = models.DateTimeField(_("received at"), auto_now_add=True)
    claimed_at = models.DateTimeField(_("claimed at"), null=True, blank=True)
    # The lease of the processing claim (core.leases): who holds it and until when; past that a
    # redelivered task or the sweeper takes the event over. ``claimed_by`` stays as the last claimant.
    # db_default: the webhook hot path inserts events with an explicit column list that leaves it out.
    claimed_by = models.CharField(_("claimed by"), max_length=255, blank=True, default="", db_default="")
    lease_expires_at = models.DateTimeField(_("lease expires at"), null=True, blank=True)
    next_attempt_at = models.DateTimeField(
        _("next attempt at"), null=True, blank=True, help_text=_("The sweeper enqueues received events from here on.")
    )
    processed_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    duplicates = models.PositiveIntegerField(_("duplicate deliveries"), default=0)
    last_duplicate_at = models.DateTimeField(_("last duplicate at"), null=True, blank=True)

    class Meta:
        verbose_name = _("webhook event")
        verbose_name_plural = _("webhook events")
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "dedup_key"], name="webhooks_event_provider_dedup_key"),
        ]
        indexes = [
            models.Index(fields=["-received_at"], name="webhookevent_received"),
            models.Index(fields=["status", "-received_at"], name="webhookevent_status_received"),
            # The sweeper's two queries: due received events, processing events whose lease expired.
            models.Index(fields=["next_attempt_at"], condition=Q(status="received"), name="webhookevent_due_received"),
            models.Index(
                fields=["lease_expires_at"], condition=Q(status="processing"), name="webhookevent_lease_expiry"
            ),
            models.Index(fields=["provider", "object_id", "-received_at"], name="webhookevent_object"),
            # Retention: finished events still holding their payload.
            models.Index(
                fields=["received_at"],
                name="webhookevent_payload_held",
                condition=Q(payload__isnull=False) & ~Q(status__in=["received", "processing"]),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.provider}:{self.event_type}:{self.dedup_key}"

    @property
    def item(self) -> dict[str, Any]:
        """The parsed item payload (envelope context plus the provider's item)."""
        return json.loads(self.payload) if self.payload else {}


#: Processing claims of ledger events (``webhooks.services.ledger``): received → processing under a lease.
EVENT_LEASE = Lease(model=WebhookEvent, ready=WebhookEvent.Status.RECEIVED, held=WebhookEvent.Status.PROCESSING)


class MetaPageConnection(models.Model):
    """A Facebook page (and its Instagram account) whose leads and DMs we receive, with its page token."""

    class Status(models.TextChoices):
        OK = "ok", _("OK")
        BROKEN = "broken", _("Token broken")

    page_id = models.CharField(_("page id"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=200, blank=True)
    instagram_account_id = models.CharField(
        _("Instagram account id"),
        max_length=64,
        blank=True,
        help_text=_("The Instagram professional account linked to this page (entry id of Instagram webhooks)."),
    )
    access_token = EncryptedTextField(_("page access token"), blank=True, default="")
    organization = models.ForeignKey(
        "accounts.Organization",
        verbose_name=_("owning organization"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="meta_pages",
    )
    partner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owning partner"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="meta_pages",
        help_text=_("Leads from a partner's own page go straight to that partner (meta_self)."),
    )
    field_overrides = models.JSONField(
        _("form field mapping overrides"),
        default=dict,
        blank=True,
        help_text=_(
            'Per form: {"<form id or *>": {"<field name>": "<lead field, attributes or ignore>"}}. '
            "Used before the standard names."
        ),
    )
    active = models.BooleanField(_("active"), default=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.OK)
    last_success_at = models.DateTimeField(_("last success"), null=True, blank=True)
    last_error_at = models.DateTimeField(_("last error at"), null=True, blank=True)
    last_error = models.CharField(_("last error"), max_length=500, blank=True)
    broken_at = models.DateTimeField(_("broken since"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("Meta page connection")
        verbose_name_plural = _("Meta page connections")
        ordering = ["name", "page_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["instagram_account_id"],
                condition=~Q(instagram_account_id=""),
                name="webhooks_metapage_unique_instagram_account",
            )
        ]

    def __str__(self) -> str:
        return self.name or self.page_id

    @property
    def is_broken(self) -> bool:
        return self.status == self.Status.BROKEN


class InstagramRule(models.Model):
    """Keywords or hashtags that make an Instagram DM a lead, with an optional automatic answer."""

    name = models.CharField(_("name"), max_length=120)
    keywords = models.JSONField(
        _("keywords and hashtags"),
        default=list,
        help_text=_("Matched at the start of a word, case-insensitive; '#tag' only matches the hashtag."),
    )
    auto_reply = models.TextField(
        _("automatic reply"), blank=True, help_text=_("Sent only inside Meta's 24-hour window; empty: no reply.")
    )
    connection = models.ForeignKey(
        MetaPageConnection,
        verbose_name=_("only for page"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="instagram_rules",
        help_text=_("Empty: applies to every connected Instagram account."),
    )
    priority = models.PositiveSmallIntegerField(_("priority"), default=100, help_text=_("Lower runs first."))
    active = models.BooleanField(_("active"), default=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("Instagram rule")
        verbose_name_plural = _("Instagram rules")
        ordering = ["priority", "id"]

    def __str__(self) -> str:
        return self.name


class Conversation(models.Model):
    """An Instagram DM thread between one of our accounts and one person (IGSID)."""

    account_id = models.CharField(_("Instagram account id"), max_length=64)
    igsid = models.CharField(_("Instagram-scoped user id"), max_length=64)
    connection = models.ForeignKey(
        MetaPageConnection,
        verbose_name=_("page connection"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="conversations",
    )
    lead = models.ForeignKey(
        "leads.Lead",
        verbose_name=_("lead"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="instagram_conversations",
    )
    last_inbound_at = models.DateTimeField(
        _("last message from the person"), null=True, blank=True, help_text=_("Opens Meta's 24-hour reply window.")
    )
    last_outbound_at = models.DateTimeField(_("last message from us"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("Instagram conversation")
        verbose_name_plural = _("Instagram conversations")
        ordering = ["-updated_at"]
        constraints = [
            models.UniqueConstraint(fields=["account_id", "igsid"], name="webhooks_conversation_account_igsid")
        ]

    def __str__(self) -> str:
        return f"{self.account_id}/{self.igsid}"


class Message(models.Model):
    """One Instagram DM, in or out; the text is encrypted at rest."""

    class Direction(models.TextChoices):
        INBOUND = "in", _("Inbound")
        OUTBOUND = "out", _("Outbound")

    class Status(models.TextChoices):
        RECEIVED = "received", _("Received")
        QUEUED = "queued", _("Queued")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        WINDOW_CLOSED = "window_closed", _("Not sent: 24-hour window closed")
        FAILED = "failed", _("Failed")

    conversation = models.ForeignKey(
        Conversation, verbose_name=_("conversation"), on_delete=models.CASCADE, related_name="messages"
    )
    direction = models.CharField(_("direction"), max_length=3, choices=Direction.choices)
    mid = models.CharField(_("message id"), max_length=255, blank=True)
    text = EncryptedTextField(_("text"), blank=True, default="")
    status = models.CharField(_("status"), max_length=20, choices=Status.choices, default=Status.RECEIVED)
    rule = models.ForeignKey(
        InstagramRule, verbose_name=_("rule"), on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    analysis = models.JSONField(
        _("analysis"), default=dict, blank=True, help_text=_("Intent, sentiment and matched rules; no message text.")
    )
    error = models.CharField(_("error"), max_length=500, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("Instagram message")
        verbose_name_plural = _("Instagram messages")
        ordering = ["conversation", "created_at"]
        constraints = [models.UniqueConstraint(fields=["mid"], condition=~Q(mid=""), name="webhooks_message_mid")]
        indexes = [models.Index(fields=["conversation", "-created_at"], name="message_conversation_created")]

    def __str__(self) -> str:
        return self.mid or f"{self.direction}#{self.pk}"


class LinkedInConnection(models.Model):
    """A LinkedIn ad account or organization whose Lead Gen Form leads we receive, with its member tokens.

    Tokens come from the OAuth flow (``/integrations/linkedin/connect/``) or ``connect_linkedin``;
    they are encrypted and never shown again. Access tokens live 60 days, refresh tokens (approved
    partners only) a year that does not reset on use; the beat task refreshes before expiry.
    """

    class Status(models.TextChoices):
        OK = "ok", _("OK")
        BROKEN = "broken", _("Token broken")

    owner_urn = models.CharField(
        _("owner URN"),
        max_length=64,
        unique=True,
        help_text=_("urn:li:sponsoredAccount:<id> (ad account) or urn:li:organization:<id> (company page)."),
    )
    name = models.CharField(_("name"), max_length=200, blank=True)
    access_token = EncryptedTextField(_("access token"), blank=True, default="")
    access_token_expires_at = models.DateTimeField(_("access token expires at"), null=True, blank=True)
    refresh_token = EncryptedTextField(_("refresh token"), blank=True, default="")
    refresh_token_expires_at = models.DateTimeField(_("refresh token expires at"), null=True, blank=True)
    scopes = models.CharField(_("granted scopes"), max_length=500, blank=True)
    token_refreshed_at = models.DateTimeField(_("token last refreshed"), null=True, blank=True)
    organization = models.ForeignKey(
        "accounts.Organization",
        verbose_name=_("owning organization"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="linkedin_connections",
    )
    partner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owning partner"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="linkedin_connections",
        help_text=_("Leads from a partner's own ad account go straight to that partner."),
    )
    connected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("connected by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    active = models.BooleanField(_("active"), default=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.OK)
    last_success_at = models.DateTimeField(_("last success"), null=True, blank=True)
    last_error_at = models.DateTimeField(_("last error at"), null=True, blank=True)
    last_error = models.CharField(_("last error"), max_length=500, blank=True)
    broken_at = models.DateTimeField(_("broken since"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("LinkedIn connection")
        verbose_name_plural = _("LinkedIn connections")
        ordering = ["name", "owner_urn"]

    def __str__(self) -> str:
        return self.name or self.owner_urn

    @property
    def is_broken(self) -> bool:
        return self.status == self.Status.BROKEN

    def can_refresh(self, now) -> bool:
        """A refresh token is stored and (as far as we know) still valid."""
        return bool(self.refresh_token) and (
            self.refresh_token_expires_at is None or self.refresh_token_expires_at > now
        )

    def access_token_expired(self, now) -> bool:
        return self.access_token_expires_at is not None and self.access_token_expires_at <= now
