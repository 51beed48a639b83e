"""Report API (API-530 conversion funnel, API-531 lead sources) for partners (their own leads) and staff (all).

Thin views: validate the range, call the report selectors, serialize. Mounted under /api/ by
``config.urls`` (``/api/leads/reports/…``, with or without trailing slash).
"""

from __future__ import annotations

from django.urls import re_path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api_schema import error_responses
from core.permissions import IsPartner, IsStaffRole
from portal.selectors import (
    FUNNEL_STEPS,
    report_first_contact,
    report_funnel,
    report_months,
    report_range,
    report_sources,
)


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


urlpatterns = [
    re_path(r"^leads/reports/conversion/?$", ConversionReportApi.as_view(), name="api-report-conversion"),
    re_path(r"^leads/reports/sources/?$", SourcesReportApi.as_view(), name="api-report-sources"),
]
