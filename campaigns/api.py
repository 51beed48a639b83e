"""Campaigns API (API-540–549): a partner's Meta lead-ad campaigns, and booking them (admin).

Thin views: validate, call one selector or service, serialize. Another partner's campaign is a 404;
staff see every campaign. Pause, resume, complete and booking run H5's booking services through
which answer Meta's failures as 502 ``upstream_error`` and its refusals of our parameters as 422.
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from campaigns.models import AdCampaign
from campaigns.selectors.campaigns import (
    campaign_get_for,
    campaign_list_for,
    campaign_template_get_active,
    campaign_template_list_active,
)
from campaigns.selectors.stats import campaign_figures, campaign_stats
from campaigns.serializers import (
    BookInputSerializer,
    CampaignCreateInputSerializer,
    CampaignDetailSerializer,
    CampaignOutputSerializer,
    CampaignPageSerializer,
    CampaignUpdateInputSerializer,
    StatsOutputSerializer,
    SubmitInputSerializer,
    TemplateOutputSerializer,
)
from campaigns.services import booking
from campaigns.services.drafts import campaign_create, campaign_submit, campaign_update_draft
from compliance.models import ConsentRecord
from core.api_schema import READ_ERRORS, WRITE_ERRORS, ErrorOutputSerializer, error_responses
from core.pagination import DefaultPagination
from core.permissions import IsPartner, IsPlatformAdmin, IsStaffRole
from core.ratelimit import client_ip

PARTNER_OR_STAFF = [IsPartner | IsStaffRole]
UPSTREAM = {502: OpenApiResponse(ErrorOutputSerializer, description="Meta failed or is not reachable")}
TAGS = ["campaigns"]


def _detail(campaign: AdCampaign) -> dict:
    return CampaignDetailSerializer(campaign, context={"figures": campaign_figures([campaign.pk])}).data


class CampaignListFilter(serializers.Serializer):
    class Meta:
        ref_name = "CampaignListFilter"

    status = serializers.ChoiceField(choices=AdCampaign.Status.choices, required=False)
    partner = serializers.IntegerField(min_value=1, max_value=2**63 - 1, required=False)


class CampaignListCreateApi(APIView):
    """API-540 (list) and API-541 (create a draft)."""

    permission_classes = PARTNER_OR_STAFF

    @extend_schema(
        operation_id="API-540_campaign_list",
        summary="API-540 List campaigns",
        description="A partner sees their own campaigns; admins and ops see all (filter by `partner`, a user id). "
        "Each row carries `spent_cents`, `leads` and `cost_per_lead_cents`.",
        parameters=[
            OpenApiParameter("status", OpenApiTypes.STR, enum=AdCampaign.Status.values),
            OpenApiParameter("partner", OpenApiTypes.INT, description="Staff only: the partner's user id."),
            OpenApiParameter("page", OpenApiTypes.INT),
            OpenApiParameter("page_size", OpenApiTypes.INT, description="1–200."),
        ],
        responses={200: CampaignPageSerializer, **error_responses(*READ_ERRORS)},
        tags=TAGS,
    )
    def get(self, request):
        params = CampaignListFilter(data=request.query_params)
        if not params.is_valid():
            raise ValidationError(params.errors)
        data = params.validated_data
        qs = campaign_list_for(request.user, status=data.get("status", ""), partner=data.get("partner") or "")
        paginator = DefaultPagination()
        page = paginator.paginate_queryset(qs, request, view=self)
        figures = campaign_figures([campaign.pk for campaign in page])
        return paginator.get_paginated_response(
            CampaignOutputSerializer(page, many=True, context={"figures": figures}).data
        )

    @extend_schema(
        operation_id="API-541_campaign_create",
        summary="API-541 Create a campaign draft",
        description="Budget ≥ 10000 cents (100 €), a start not in the past, an end after the start, regions "
        '`DE`/`AT`/`CH` or `{"city_key", "name"?, "radius_km" ≥ 15}`. Meta\'s housing category forbids age, '
        "gender and postcode targeting: such keys are refused (400).",
        request=CampaignCreateInputSerializer,
        responses={201: CampaignDetailSerializer, **error_responses(*WRITE_ERRORS)},
        tags=TAGS,
    )
    def post(self, request):
        if not getattr(request.user, "is_partner", False):
            raise PermissionDenied(_("Campaigns are created by sales partners."))
        serializer = CampaignCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        template = campaign_template_get_active(data.pop("template"))
        campaign = campaign_create(partner=request.user, actor=request.user, template=template, **data)
        return Response(_detail(campaign), status=status.HTTP_201_CREATED)


class CampaignDetailApi(APIView):
    permission_classes = PARTNER_OR_STAFF

    @extend_schema(
        operation_id="API-542_campaign_detail",
        summary="API-542 A campaign with its Meta ids and status history",
        responses={200: CampaignDetailSerializer, **error_responses(*READ_ERRORS)},
        tags=TAGS,
    )
    def get(self, request, campaign_id):
        return Response(_detail(campaign_get_for(request.user, campaign_id)))

    @extend_schema(
        operation_id="API-542_campaign_update",
        summary="API-542 Change a draft",
        description="Only a draft can be changed (409 `not_a_draft`).",
        request=CampaignUpdateInputSerializer(partial=True),
        responses={200: CampaignDetailSerializer, **error_responses(*WRITE_ERRORS)},
        tags=TAGS,
    )
    def patch(self, request, campaign_id):
        campaign = campaign_get_for(request.user, campaign_id)
        serializer = CampaignUpdateInputSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        changes = {key: value for key, value in serializer.validated_data.items() if key in request.data}
        if "template" in changes:
            changes["template"] = campaign_template_get_active(changes["template"])
        campaign = campaign_update_draft(campaign=campaign, actor=request.user, **changes)
        return Response(_detail(campaign))


def _action_view(action: str, operation_id: str, summary: str, description: str) -> type[APIView]:
    """API-543/544/548: one POST that runs a booking service on a reachable campaign."""

    class CampaignActionApi(APIView):
        permission_classes = PARTNER_OR_STAFF

        @extend_schema(
            operation_id=operation_id,
            summary=summary,
            description=description,
            request=None,
            responses={200: CampaignDetailSerializer, **error_responses(*WRITE_ERRORS), **UPSTREAM},
            tags=TAGS,
        )
        def post(self, request, campaign_id):
            campaign = campaign_get_for(request.user, campaign_id)
            campaign = getattr(booking, action)(campaign=campaign, actor=request.user)
            return Response(_detail(campaign))

    CampaignActionApi.__name__ = f"Campaign{action.split('_')[-1].title()}Api"
    return CampaignActionApi


CampaignPauseApi = _action_view(
    "campaign_pause",
    "API-543_campaign_pause",
    "API-543 Pause a campaign",
    "active → paused, mirrored to Meta (or queued for Meta when it is not reachable).",
)
CampaignResumeApi = _action_view(
    "campaign_resume",
    "API-544_campaign_resume",
    "API-544 Resume a campaign",
    "paused → active, mirrored to Meta.",
)
CampaignCompleteApi = _action_view(
    "campaign_complete",
    "API-548_campaign_complete",
    "API-548 End a campaign",
    "active or paused → completed (final); in Meta paused, then archived.",
)


class StatsQuerySerializer(serializers.Serializer):
    class Meta:
        ref_name = "CampaignStatsQuery"

    # ``from`` is a keyword: mapped below.
    date_from = serializers.DateField(required=False, allow_null=True)
    date_to = serializers.DateField(required=False, allow_null=True)


STATS_PARAMS = {"date_from": "from", "date_to": "to", "non_field_errors": "non_field_errors"}
STATS_YEARS = (2000, 2100)


class CampaignStatsApi(APIView):
    permission_classes = PARTNER_OR_STAFF

    @extend_schema(
        operation_id="API-545_campaign_stats",
        summary="API-545 Daily and total figures of a campaign",
        description="Spend, impressions, clicks, Meta's lead count, leads received, qualified, deals, won, won "
        "value, cost per lead and per won lead (cents; null without leads). Default range: the whole runtime.",
        parameters=[
            OpenApiParameter("from", OpenApiTypes.DATE, description="First day (YYYY-MM-DD)."),
            OpenApiParameter("to", OpenApiTypes.DATE, description="Last day (YYYY-MM-DD)."),
        ],
        responses={200: StatsOutputSerializer, **error_responses(*READ_ERRORS)},
        tags=TAGS,
    )
    def get(self, request, campaign_id):
        campaign = campaign_get_for(request.user, campaign_id)
        params = request.query_params
        query = StatsQuerySerializer(
            data={"date_from": params.get("from") or None, "date_to": params.get("to") or None}
        )
        if not query.is_valid():
            raise ValidationError({STATS_PARAMS[key]: value for key, value in query.errors.items()})
        data = query.validated_data
        for key, value in data.items():
            if value is not None and not STATS_YEARS[0] <= value.year <= STATS_YEARS[1]:
                raise ValidationError({STATS_PARAMS[key]: [_("Choose a date between 2000 and 2100.")]})
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            raise ValidationError({"to": [_("The end of the range must not be before its start.")]})
        stats = campaign_stats(campaign=campaign, date_from=data.get("date_from"), date_to=data.get("date_to"))
        return Response(StatsOutputSerializer(stats).data)


class CampaignSubmitApi(APIView):
    permission_classes = [IsPartner]

    @extend_schema(
        operation_id="API-546_campaign_submit",
        summary="API-546 Submit a draft for booking",
        description='draft → pending. The partner\'s first submission needs `{"accept_tos": true}`: it records the '
        "`META_ADS_TOS` consent (wording version, IP, user agent) once per partner; without it 409 `tos_required`.",
        request=SubmitInputSerializer,
        responses={200: CampaignDetailSerializer, **error_responses(*WRITE_ERRORS)},
        tags=TAGS,
    )
    def post(self, request, campaign_id):
        campaign = campaign_get_for(request.user, campaign_id)
        serializer = SubmitInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        campaign = campaign_submit(
            campaign=campaign,
            actor=request.user,
            accept_tos=serializer.validated_data["accept_tos"],
            ip=client_ip(request),
            user_agent=request.headers.get("User-Agent", ""),
            source=ConsentRecord.Source.API,
        )
        return Response(_detail(campaign))


class CampaignBookApi(APIView):
    permission_classes = [IsStaffRole, IsPlatformAdmin]

    @extend_schema(
        operation_id="API-547_campaign_book",
        summary="API-547 Book a campaign in Meta, or attach ids booked by hand",
        description="Without a body: books the pending campaign through the Marketing API (lead form, campaign, ad "
        "set, creative, ad; idempotent). With all four `meta_*_id`: attaches them (whatever the settings) → "
        "`active`. Meta refusing our parameters: 422 with Meta's message; Meta failing: 502 `upstream_error`.",
        request=BookInputSerializer,
        responses={200: CampaignDetailSerializer, **error_responses(*WRITE_ERRORS), **UPSTREAM},
        tags=TAGS,
    )
    def post(self, request, campaign_id):
        campaign = campaign_get_for(request.user, campaign_id)
        serializer = BookInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        ids = {name: value for name, value in serializer.validated_data.items() if value}
        if ids:
            campaign = booking.campaign_attach_ids(campaign=campaign, ids=ids, actor=request.user)
        else:
            campaign = booking.campaign_book(campaign=campaign, actor=request.user)
        return Response(_detail(campaign))


class CampaignTemplateListApi(APIView):
    permission_classes = PARTNER_OR_STAFF

    @extend_schema(
        operation_id="API-549_campaign_template_list",
        summary="API-549 The active campaign templates",
        responses={200: TemplateOutputSerializer(many=True), **error_responses(401, 403)},
        tags=TAGS,
    )
    def get(self, request):
        return Response(TemplateOutputSerializer(campaign_template_list_active(), many=True).data)
