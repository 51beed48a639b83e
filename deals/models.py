"""Partner deals: a converted lead moving through the sales pipeline (SPEC §3)."""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from compliance.fields import EncryptedTextField


class PartnerDeal(models.Model):
    """One sales opportunity of a partner, created from a lead and carrying its frozen commission split."""

    class Stage(models.TextChoices):
        LEAD = "lead", _("Lead")
        QUALIFIED = "qualified", _("Qualified")
        PROPOSAL = "proposal", _("Proposal")
        NEGOTIATION = "negotiation", _("Negotiation")
        CLOSING = "closing", _("Closing")
        WON = "won", _("Won")
        LOST = "lost", _("Lost")

    #: Stages a deal can still move out of (the kanban's working columns).
    OPEN_STAGES = (Stage.LEAD, Stage.QUALIFIED, Stage.PROPOSAL, Stage.NEGOTIATION, Stage.CLOSING)
    CLOSED_STAGES = (Stage.WON, Stage.LOST)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(
        "accounts.Organization", verbose_name=_("tenant"), on_delete=models.PROTECT, related_name="deals"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("partner"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="deals",
    )
    lead = models.OneToOneField(
        "leads.Lead", verbose_name=_("lead"), on_delete=models.PROTECT, related_name="deal", editable=False
    )
    # The lead's name when it has no company (deals.services.deal_create), or what staff typed: encrypted
    # like the contact fields below, so not searchable (the admin searches company and public id).
    title = EncryptedTextField(_("title"))
    # Contact data copied from the lead at conversion; PII stays encrypted at rest.
    contact_name = EncryptedTextField(_("contact name"), blank=True, default="")
    contact_email = EncryptedTextField(_("contact email"), blank=True, default="")
    contact_phone = EncryptedTextField(_("contact phone"), blank=True, default="")
    company_name = models.CharField(_("company"), max_length=255, blank=True)
    listing_id = models.CharField(_("listing id"), max_length=64, blank=True)
    stage = models.CharField(_("stage"), max_length=12, choices=Stage.choices, default=Stage.LEAD, editable=False)
    deal_value = models.DecimalField(
        _("deal value (EUR)"),
        max_digits=14,
        decimal_places=2,
        default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0"))],
    )
    commission_split = models.JSONField(
        _("commission split"),
        default=dict,
        editable=False,
        help_text=_('Shares as decimal strings, e.g. {"platform": "0.3333", "partner": "0.6667"}.'),
    )
    expected_close_date = models.DateField(_("expected close date"), null=True, blank=True)
    lost_reason = EncryptedTextField(_("lost reason"), blank=True, default="", editable=False)  # free text
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("deal")
        verbose_name_plural = _("deals")
        ordering = ["-updated_at"]
        constraints = [
            models.CheckConstraint(condition=Q(deal_value__gte=0), name="deals_deal_value_not_negative"),
        ]
        indexes = [
            # The kanban and the KPIs: one tenant's deals per stage, most recently touched first.
            models.Index(fields=["tenant", "stage", "-updated_at"], name="deal_tenant_stage_updated"),
            models.Index(fields=["owner", "stage", "-updated_at"], name="deal_owner_stage_updated"),
            # Reports: closed deals by month.
            models.Index(fields=["tenant", "closed_at"], name="deal_tenant_closed"),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_open(self) -> bool:
        return self.stage in self.OPEN_STAGES

    @property
    def partner_share(self) -> Decimal:
        return Decimal((self.commission_split or {}).get("partner", "1"))

    @property
    def platform_share(self) -> Decimal:
        return Decimal((self.commission_split or {}).get("platform", "0"))


class DealStageChange(models.Model):
    """One move of a deal on the board: the history the detail page and the reports read."""

    deal = models.ForeignKey(PartnerDeal, verbose_name=_("deal"), on_delete=models.CASCADE, related_name="changes")
    from_stage = models.CharField(_("from"), max_length=12, choices=PartnerDeal.Stage.choices, blank=True)
    to_stage = models.CharField(_("to"), max_length=12, choices=PartnerDeal.Stage.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    reason = EncryptedTextField(_("reason"), blank=True, default="")  # free text typed by the partner
    created_at = models.DateTimeField(_("at"), auto_now_add=True)

    class Meta:
        verbose_name = _("deal stage change")
        verbose_name_plural = _("deal stage changes")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["deal", "-created_at"], name="dealchange_deal_created")]

    def __str__(self) -> str:
        return f"{self.from_stage or '–'} → {self.to_stage}"
