"""Serializers of the campaigns API (API-540–549): plain input shapes and the campaign/template JSON."""

from __future__ import annotations

from typing import Any

from django.templatetags.static import static
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from campaigns.models import AdCampaign, CampaignTemplate
from campaigns.selectors.campaigns import campaign_history

# --- Output -------------------------------------------------------------------------------------


class TemplateOutputSerializer(serializers.ModelSerializer):
    image_url = serializers.SerializerMethodField()

    class Meta:
        model = CampaignTemplate
        ref_name = "CampaignTemplateOutput"
        fields = [
            "code",
            "name",
            "category",
            "headline",
            "primary_text",
            "description",
            "call_to_action",
            "image_url",
            "form_questions",
            "privacy_policy_url",
            "privacy_policy_text",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.CharField())
    def get_image_url(self, template: CampaignTemplate) -> str:
        return static(template.image) if template.image else ""


class CampaignOutputSerializer(serializers.ModelSerializer):
    """A campaign as a list row; ``spent_cents``, ``leads`` and CPL come from the ``figures`` context."""

    template = serializers.CharField(source="template.code", read_only=True)
    partner = serializers.IntegerField(source="partner_id", read_only=True)
    spent_cents = serializers.SerializerMethodField()
    leads = serializers.SerializerMethodField()
    cost_per_lead_cents = serializers.SerializerMethodField()

    class Meta:
        model = AdCampaign
        ref_name = "CampaignOutput"
        fields = [
            "id",
            "name",
            "status",
            "status_reason",
            "template",
            "partner",
            "budget_cents",
            "start_date",
            "end_date",
            "regions",
            "headline",
            "text",
            "spent_cents",
            "leads",
            "cost_per_lead_cents",
            "submitted_at",
            "booked_at",
            "completed_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def _figures(self, campaign: AdCampaign) -> dict[str, Any]:
        return (self.context.get("figures") or {}).get(campaign.pk) or {}

    @extend_schema_field(serializers.IntegerField())
    def get_spent_cents(self, campaign: AdCampaign) -> int:
        return int(self._figures(campaign).get("spend_cents") or 0)

    @extend_schema_field(serializers.IntegerField())
    def get_leads(self, campaign: AdCampaign) -> int:
        return int(self._figures(campaign).get("leads") or 0)

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_cost_per_lead_cents(self, campaign: AdCampaign) -> int | None:
        return self._figures(campaign).get("cost_per_lead_cents")


class StatusChangeSerializer(serializers.Serializer):
    class Meta:
        ref_name = "CampaignStatusChange"

    status = serializers.CharField(source="to_status")
    at = serializers.DateTimeField()
    by = serializers.EmailField(source="actor.email", allow_null=True, default=None)
    note = serializers.CharField()


class CampaignDetailSerializer(CampaignOutputSerializer):
    """API-542: the row plus the Meta ids, Meta's status and issues, the terms consent and the status history."""

    tos_accepted = serializers.SerializerMethodField()
    status_history = serializers.SerializerMethodField()

    class Meta(CampaignOutputSerializer.Meta):
        ref_name = "CampaignDetail"
        fields = [
            *CampaignOutputSerializer.Meta.fields,
            "sync_pending",
            "meta_form_id",
            "meta_campaign_id",
            "meta_adset_id",
            "meta_creative_id",
            "meta_ad_id",
            "meta_effective_status",
            "meta_issues",
            "insights_synced_through",
            "tos_accepted",
            "status_history",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.BooleanField())
    def get_tos_accepted(self, campaign: AdCampaign) -> bool:
        return campaign.tos_consent_id is not None

    @extend_schema_field(StatusChangeSerializer(many=True))
    def get_status_history(self, campaign: AdCampaign) -> list[dict]:
        return StatusChangeSerializer(campaign_history(campaign=campaign), many=True).data


class CampaignPageSerializer(serializers.Serializer):
    class Meta:
        ref_name = "CampaignPage"

    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = CampaignOutputSerializer(many=True)


class StatsFiguresSerializer(serializers.Serializer):
    class Meta:
        ref_name = "CampaignStatsFigures"

    spend_cents = serializers.IntegerField()
    impressions = serializers.IntegerField()
    clicks = serializers.IntegerField()
    meta_leads = serializers.IntegerField()
    leads = serializers.IntegerField()
    qualified = serializers.IntegerField()
    deals = serializers.IntegerField()
    won = serializers.IntegerField()
    won_value = serializers.CharField()
    cost_per_lead_cents = serializers.IntegerField(allow_null=True)
    cost_per_qualified_cents = serializers.IntegerField(allow_null=True)
    cost_per_won_cents = serializers.IntegerField(allow_null=True)


class StatsDaySerializer(StatsFiguresSerializer):
    class Meta:
        ref_name = "CampaignStatsDay"

    date = serializers.DateField()


class StatsOutputSerializer(serializers.Serializer):
    class Meta:
        ref_name = "CampaignStats"

    totals = StatsFiguresSerializer()
    days = StatsDaySerializer(many=True)


# --- Input --------------------------------------------------------------------------------------


class RegionsField(serializers.JSONField):
    """A list of ``"DE"``/``"AT"``/``"CH"`` or ``{"city_key", "name"?, "radius_km" ≥ 15}``; checked by the service."""


class CampaignCreateInputSerializer(serializers.Serializer):
    class Meta:
        ref_name = "CampaignCreateInput"

    template = serializers.CharField(max_length=80, help_text="A template code from API-549.")
    budget_cents = serializers.IntegerField(min_value=10_000, max_value=100_000_000, help_text="Lifetime budget.")
    start_date = serializers.DateField()
    end_date = serializers.DateField()
    regions = RegionsField(help_text='["DE", "AT", "CH"] or [{"city_key": "…", "name": "…", "radius_km": 25}].')
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    headline = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    text = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")


class CampaignUpdateInputSerializer(CampaignCreateInputSerializer):
    class Meta:
        ref_name = "CampaignUpdateInput"


class SubmitInputSerializer(serializers.Serializer):
    class Meta:
        ref_name = "CampaignSubmitInput"

    accept_tos = serializers.BooleanField(
        required=False, default=False, help_text="Accept Meta's lead ads terms (needed once per partner)."
    )


class BookInputSerializer(serializers.Serializer):
    class Meta:
        ref_name = "CampaignBookInput"

    meta_campaign_id = serializers.RegexField(r"^[0-9]{1,40}$", required=False)
    meta_adset_id = serializers.RegexField(r"^[0-9]{1,40}$", required=False)
    meta_ad_id = serializers.RegexField(r"^[0-9]{1,40}$", required=False)
    meta_form_id = serializers.RegexField(r"^[0-9]{1,40}$", required=False)

    IDS = ("meta_campaign_id", "meta_adset_id", "meta_ad_id", "meta_form_id")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        given = [name for name in self.IDS if attrs.get(name)]
        if given and len(given) != len(self.IDS):
            missing = [name for name in self.IDS if name not in given]
            raise serializers.ValidationError(
                {name: [_("Required when attaching ids booked by hand.")] for name in missing}
            )
        return attrs
