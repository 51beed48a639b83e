"""Partner lead API: detail (API-501), qualify (502), convert (503), log a contact (504), reports (530, 531).

API-500 (the list) shares its path with API-505 and lives beside it in ``leads.api.leads``. Thin
views: validate, call one selector or service, serialize; another partner's lead is a 404.
"""

from __future__ import annotations

from django.urls import re_path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from core.permissions import IsPartner, IsStaffRole
from deals.api import READ_ERRORS, WRITE_ERRORS, DealOutputSerializer, error_responses
from deals.models import PartnerDeal
from deals.services import START_STAGE_CHOICES, lead_convert
from leads.api.leads import UUID_OR_PUBLIC_ID, LeadOutputSerializer
from leads.models import Lead, LeadActivity
from leads.portal.selectors import (
    FUNNEL_STEPS,
    lead_next_follow_up,
    lead_timeline,
    report_first_contact,
    report_funnel,
    report_months,
    report_range,
    report_sources,
)
from leads.selectors import lead_get_for
from leads.services import lead_contact_log, lead_qualify
from leads.services.work import ContactChannel, ContactOutcome

# --- Serializers ------------------------------------------------------------------------------


class ActivityOutputSerializer(serializers.Serializer):
    class Meta:
        ref_name = "PartnerLeadActivity"

    id = serializers.IntegerField()
    type = serializers.CharField(source="activity_type")
    channel = serializers.CharField()
    detail = serializers.DictField()
    score_delta = serializers.IntegerField()
    actor = serializers.EmailField(source="actor.email", allow_null=True, default=None)
    occurred_at = serializers.DateTimeField()


class LeadDetailOutputSerializer(LeadOutputSerializer):
    """The lead JSON plus what working it needs: its deal, the next follow-up and the latest activities."""

    deal = serializers.SerializerMethodField()
    next_follow_up = serializers.SerializerMethodField()
    activities = serializers.SerializerMethodField()

    class Meta(LeadOutputSerializer.Meta):
        ref_name = "PartnerLeadDetail"
        fields = [*LeadOutputSerializer.Meta.fields, "deal", "next_follow_up", "activities"]
        read_only_fields = fields

    @extend_schema_field(serializers.UUIDField(allow_null=True))
    def get_deal(self, lead: Lead) -> str | None:
        deal_id = PartnerDeal.objects.filter(lead=lead).values_list("pk", flat=True).first()
        return str(deal_id) if deal_id else None

    @extend_schema_field(serializers.DateField(allow_null=True))
    def get_next_follow_up(self, lead: Lead) -> str | None:
        value = lead_next_follow_up(lead=lead)
        return value.isoformat() if value else None

    @extend_schema_field(ActivityOutputSerializer(many=True))
    def get_activities(self, lead: Lead) -> list[dict]:
        return ActivityOutputSerializer(lead_timeline(lead=lead, limit=20), many=True).data


class ContactOutputSerializer(serializers.Serializer):
    class Meta:
        ref_name = "PartnerLeadContactOutput"

    activity = ActivityOutputSerializer()
    lead = LeadOutputSerializer()


def _lead_fresh(lead: Lead) -> Lead:
    return Lead.objects.select_related("tenant", "assigned_partner").get(pk=lead.pk)


# --- Lead work (API-501–504) ------------------------------------------------------------------


class LeadDetailApi(APIView):
    permission_classes = [IsPartner]

    @extend_schema(
        operation_id="API-501_lead_detail",
        summary="API-501 One of my leads, with its deal, next follow-up and latest activities",
        responses={200: LeadDetailOutputSerializer, **error_responses(*READ_ERRORS)},
        tags=["leads"],
    )
    def get(self, request, lead_id: str):
        return Response(LeadDetailOutputSerializer(lead_get_for(request.user, lead_id)).data)


class LeadQualifyApi(APIView):
    permission_classes = [IsPartner]

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "PartnerLeadQualifyInput"

        note = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")

    @extend_schema(
        operation_id="API-502_lead_qualify",
        summary="API-502 Qualify a lead",
        description="`new`/`contacted` → `qualified` (audited `lead.qualified`); converted and lost leads: 409.",
        request=InputSerializer,
        responses={200: LeadOutputSerializer, **error_responses(*WRITE_ERRORS)},
        tags=["leads"],
    )
    def post(self, request, lead_id: str):
        lead = lead_get_for(request.user, lead_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        lead = lead_qualify(lead=lead, actor=request.user, note=serializer.validated_data["note"])
        return Response(LeadOutputSerializer(_lead_fresh(lead)).data)


class LeadConvertApi(APIView):
    permission_classes = [IsPartner]

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "PartnerLeadConvertInput"

        stage = serializers.ChoiceField(choices=START_STAGE_CHOICES, default=PartnerDeal.Stage.LEAD)
        deal_value = serializers.DecimalField(
            max_digits=14, decimal_places=2, min_value=0, max_value=999_999_999_999, required=False, default=0
        )
        expected_close_date = serializers.DateField(required=False, allow_null=True, default=None)
        listing_id = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")

    @extend_schema(
        operation_id="API-503_lead_convert",
        summary="API-503 Convert a qualified lead into a deal",
        description="The lead becomes `converted` (audited `lead.converted`) and its deal carries the lead's split: "
        'pool leads {"platform": "0.3333", "partner": "0.6667"}, own leads {"platform": "0", "partner": "1"}. '
        "Converting again returns the existing deal (200).",
        request=InputSerializer,
        responses={201: DealOutputSerializer, 200: DealOutputSerializer, **error_responses(*WRITE_ERRORS)},
        tags=["leads"],
    )
    def post(self, request, lead_id: str):
        lead = lead_get_for(request.user, lead_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        had_deal = PartnerDeal.objects.filter(lead=lead).exists()
        deal = lead_convert(lead=lead, actor=request.user, **serializer.validated_data)
        return Response(
            DealOutputSerializer(deal).data, status=status.HTTP_200_OK if had_deal else status.HTTP_201_CREATED
        )


class LeadContactApi(APIView):
    permission_classes = [IsPartner]

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "PartnerLeadContactInput"

        channel = serializers.ChoiceField(choices=ContactChannel.choices)
        outcome = serializers.ChoiceField(choices=ContactOutcome.choices)
        note = serializers.CharField(max_length=4000, required=False, allow_blank=True, default="")
        next_follow_up = serializers.DateField(required=False, allow_null=True, default=None)

    @extend_schema(
        operation_id="API-504_lead_contact",
        summary="API-504 Log a contact with a lead",
        description="Adds the contact to the timeline; the first contact moves a `new` lead to `contacted`. "
        "`next_follow_up` (today or later) plans the next touch.",
        request=InputSerializer,
        responses={201: ContactOutputSerializer, **error_responses(*WRITE_ERRORS)},
        tags=["leads"],
    )
    def post(self, request, lead_id: str):
        lead = lead_get_for(request.user, lead_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        activity: LeadActivity = lead_contact_log(lead=lead, actor=request.user, **serializer.validated_data)
        body = ContactOutputSerializer({"activity": activity, "lead": _lead_fresh(lead)}).data
        return Response(body, status=status.HTTP_201_CREATED)


# --- Reports (API-530, API-531) ---------------------------------------------------------------


class CanReadReports(BasePermission):
    def has_permission(self, request, view) -> bool:
        return IsPartner().has_permission(request, view) or IsStaffRole().has_permission(request, view)


class RangeInputSerializer(serializers.Serializer):
    date_from = serializers.DateField(required=False)
    date_to = serializers.DateField(required=False)


RANGE_PARAMETERS = [
    OpenApiParameter("from", OpenApiTypes.DATE, description="First day (inclusive); default: twelve months back."),
    OpenApiParameter("to", OpenApiTypes.DATE, description="Last day (inclusive); default: today."),
]


def _range_from(request):
    params = request.query_params
    data = {key: params[name] for key, name in (("date_from", "from"), ("date_to", "to")) if params.get(name)}
    serializer = RangeInputSerializer(data=data)
    serializer.is_valid(raise_exception=True)
    return report_range(**serializer.validated_data)


ReportRangeSerializer = type(
    "ReportRangeSerializer",
    (serializers.Serializer,),
    {
        "from": serializers.DateField(source="date_from"),
        "to": serializers.DateField(source="date_to"),
        "Meta": type("Meta", (), {"ref_name": "PartnerReportRange"}),
    },
)


class FunnelStepSerializer(serializers.Serializer):
    class Meta:
        ref_name = "ReportFunnelStep"

    step = serializers.ChoiceField(choices=[(s, s) for s in FUNNEL_STEPS])
    label = serializers.CharField()
    count = serializers.IntegerField()
    rate = serializers.FloatField(allow_null=True, help_text="Share of all leads in %.")


class FunnelRowSerializer(serializers.Serializer):
    class Meta:
        ref_name = "ReportFunnelRow"

    key = serializers.CharField(required=False)
    label = serializers.CharField(required=False)
    leads = serializers.IntegerField()
    contacted = serializers.IntegerField()
    qualified = serializers.IntegerField()
    converted = serializers.IntegerField()
    won = serializers.IntegerField()
    won_value = serializers.DecimalField(max_digits=16, decimal_places=2)
    qualification_rate = serializers.FloatField(allow_null=True)
    conversion_rate = serializers.FloatField(allow_null=True)
    win_rate = serializers.FloatField(allow_null=True, help_text="Won deals per converted lead, in %.")


class FirstContactSerializer(serializers.Serializer):
    class Meta:
        ref_name = "ReportFirstContact"

    count = serializers.IntegerField()
    average_hours = serializers.FloatField(allow_null=True)
    median_hours = serializers.FloatField(allow_null=True)
    within_24h_rate = serializers.FloatField(allow_null=True)


class MonthSerializer(serializers.Serializer):
    class Meta:
        ref_name = "ReportMonth"

    month = serializers.DateField()
    leads = serializers.IntegerField()
    converted = serializers.IntegerField()
    won = serializers.IntegerField()
    lost = serializers.IntegerField()
    win_rate = serializers.FloatField(allow_null=True)
    won_value = serializers.DecimalField(max_digits=16, decimal_places=2)


class ConversionReportSerializer(serializers.Serializer):
    class Meta:
        ref_name = "ConversionReport"

    range = ReportRangeSerializer()
    steps = FunnelStepSerializer(many=True)
    totals = FunnelRowSerializer()
    by_channel = FunnelRowSerializer(many=True)
    time_to_first_contact = FirstContactSerializer()
    months = MonthSerializer(many=True)


class SourcesReportSerializer(serializers.Serializer):
    class Meta:
        ref_name = "SourcesReport"

    range = ReportRangeSerializer()
    channels = FunnelRowSerializer(many=True)
    sources = FunnelRowSerializer(many=True)
    campaigns = FunnelRowSerializer(many=True)


class ConversionReportApi(APIView):
    permission_classes = [CanReadReports]

    @extend_schema(
        operation_id="API-530_report_conversion",
        summary="API-530 Conversion funnel",
        description="Lead → contacted → qualified → converted → won for leads received in the range, per channel, "
        "time to first contact and deals won/lost per month. Partners see their own leads, admins all.",
        parameters=RANGE_PARAMETERS,
        responses={200: ConversionReportSerializer, **error_responses(400, 401, 403)},
        tags=["reports"],
    )
    def get(self, request):
        rng = _range_from(request)
        funnel = report_funnel(request.user, rng)
        body = {
            "range": rng,
            "steps": funnel["steps"],
            "totals": funnel["totals"],
            "by_channel": [{**row, "key": row["channel"]} for row in funnel["by_channel"]],
            "time_to_first_contact": report_first_contact(request.user, rng),
            "months": report_months(request.user, rng),
        }
        return Response(ConversionReportSerializer(body).data)


class SourcesReportApi(APIView):
    permission_classes = [CanReadReports]

    @extend_schema(
        operation_id="API-531_report_sources",
        summary="API-531 Lead sources",
        description="Leads, qualification and conversion rates, won deals and value by channel, source and campaign.",
        parameters=RANGE_PARAMETERS,
        responses={200: SourcesReportSerializer, **error_responses(400, 401, 403)},
        tags=["reports"],
    )
    def get(self, request):
        rng = _range_from(request)
        return Response(SourcesReportSerializer({"range": rng, **report_sources(request.user, rng)}).data)


# Mounted under /api/ before ``leads.api.leads`` (same prefix); with and without trailing slash.
urlpatterns = [
    re_path(r"^leads/reports/conversion/?$", ConversionReportApi.as_view(), name="api-report-conversion"),
    re_path(r"^leads/reports/sources/?$", SourcesReportApi.as_view(), name="api-report-sources"),
    re_path(rf"^leads/{UUID_OR_PUBLIC_ID}/?$", LeadDetailApi.as_view(), name="api-lead-detail"),
    re_path(rf"^leads/{UUID_OR_PUBLIC_ID}/qualify/?$", LeadQualifyApi.as_view(), name="api-lead-qualify"),
    re_path(rf"^leads/{UUID_OR_PUBLIC_ID}/convert/?$", LeadConvertApi.as_view(), name="api-lead-convert"),
    re_path(rf"^leads/{UUID_OR_PUBLIC_ID}/contact/?$", LeadContactApi.as_view(), name="api-lead-contact"),
]
