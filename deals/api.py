"""Deal API for partners (API-520–525): list, create from a lead, detail, move, win, lose; and the lead side of
deals: a lead with its deal (API-501) and converting a lead (API-503).

Thin views: validate, call one selector or service, serialize. Another partner's deal or lead is a 404.
"""

from __future__ import annotations

import django_filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api_schema import READ_ERRORS, WRITE_ERRORS, error_responses
from core.pagination import DefaultPagination
from core.permissions import IsPartner
from deals.models import PartnerDeal
from deals.selectors import deal_get_for, deal_history, deal_list_for
from deals.services import START_STAGE_CHOICES, deal_lose, deal_move_stage, deal_win, lead_convert
from leads.api.leads import LeadOutputSerializer
from leads.api.partner import ActivityOutputSerializer
from leads.models import Lead
from leads.selectors import lead_get_for
from leads.selectors.work import lead_next_follow_up, lead_timeline

# --- Serializers ------------------------------------------------------------------------------


class CommissionSplitSerializer(serializers.Serializer):
    class Meta:
        ref_name = "DealCommissionSplit"

    platform = serializers.CharField(help_text="Platform share as a decimal string, e.g. 0.3333.")
    partner = serializers.CharField(help_text="Partner share as a decimal string, e.g. 0.6667.")


class DealOutputSerializer(serializers.ModelSerializer):
    """A deal as the API shows it; contact data is decrypted for its owner only."""

    lead = serializers.UUIDField(source="lead_id", read_only=True)
    lead_public_id = serializers.CharField(source="lead.public_id", read_only=True)
    owner = serializers.IntegerField(source="owner_id", read_only=True, allow_null=True)
    contact_name = serializers.CharField(read_only=True)
    contact_email = serializers.CharField(read_only=True)
    contact_phone = serializers.CharField(read_only=True)
    deal_value = serializers.DecimalField(max_digits=14, decimal_places=2, read_only=True)
    commission_split = CommissionSplitSerializer(read_only=True)

    class Meta:
        model = PartnerDeal
        ref_name = "DealOutput"
        fields = [
            "id",
            "lead",
            "lead_public_id",
            "owner",
            "title",
            "contact_name",
            "contact_email",
            "contact_phone",
            "company_name",
            "listing_id",
            "stage",
            "deal_value",
            "commission_split",
            "expected_close_date",
            "lost_reason",
            "closed_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class DealStageChangeSerializer(serializers.Serializer):
    class Meta:
        ref_name = "DealStageChange"

    from_stage = serializers.CharField()
    to_stage = serializers.CharField()
    actor = serializers.EmailField(source="actor.email", allow_null=True, default=None)
    reason = serializers.CharField()
    created_at = serializers.DateTimeField()


class DealDetailSerializer(DealOutputSerializer):
    history = serializers.SerializerMethodField()

    class Meta(DealOutputSerializer.Meta):
        ref_name = "DealDetail"
        fields = [*DealOutputSerializer.Meta.fields, "history"]
        read_only_fields = fields

    @extend_schema_field(DealStageChangeSerializer(many=True))
    def get_history(self, deal: PartnerDeal) -> list[dict]:
        return DealStageChangeSerializer(deal_history(deal=deal), many=True).data


class DealPageSerializer(serializers.Serializer):
    class Meta:
        ref_name = "DealPage"

    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = DealOutputSerializer(many=True)


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


# --- Views ------------------------------------------------------------------------------------


DEAL_ORDERINGS = ["-updated_at", "updated_at", "-deal_value", "deal_value", "expected_close_date"]


class DealFilter(django_filters.FilterSet):
    stage = django_filters.ChoiceFilter(choices=PartnerDeal.Stage.choices)
    lead = django_filters.CharFilter()
    ordering = django_filters.ChoiceFilter(choices=[(o, o) for o in DEAL_ORDERINGS])

    class Meta:
        model = PartnerDeal
        fields: list[str] = []


# What a new deal starts with, opened from the deal list (API-521) or converted (API-503). A comment, not a
# docstring: the schema would show it as the description of both inputs.
class DealTermsInputSerializer(serializers.Serializer):
    stage = serializers.ChoiceField(choices=START_STAGE_CHOICES, default=PartnerDeal.Stage.LEAD)
    deal_value = serializers.DecimalField(
        max_digits=14, decimal_places=2, min_value=0, max_value=999_999_999_999, required=False, default=0
    )
    expected_close_date = serializers.DateField(required=False, allow_null=True, default=None)
    listing_id = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")


class DealListCreateApi(APIView):
    """API-520 (list my deals) and API-521 (open a deal by converting a lead)."""

    permission_classes = [IsPartner]

    class InputSerializer(DealTermsInputSerializer):
        class Meta:
            ref_name = "DealCreateInput"

        lead = serializers.CharField(max_length=40, help_text="The lead's id or public id (SOT-LEAD-…).")

    @extend_schema(
        operation_id="API-520_deal_list",
        summary="API-520 List my deals",
        parameters=[
            OpenApiParameter("stage", OpenApiTypes.STR, enum=PartnerDeal.Stage.values),
            OpenApiParameter("lead", OpenApiTypes.STR, description="Only the deal of this lead (id or public id)."),
            OpenApiParameter("ordering", OpenApiTypes.STR, enum=DEAL_ORDERINGS),
            OpenApiParameter("page", OpenApiTypes.INT),
            OpenApiParameter("page_size", OpenApiTypes.INT, description="1–200, default 50."),
        ],
        responses={200: DealPageSerializer, **error_responses(*READ_ERRORS)},
        tags=["deals"],
    )
    def get(self, request):
        filterset = DealFilter(request.query_params, queryset=PartnerDeal.objects.none())
        if not filterset.is_valid():
            raise ValidationError(filterset.errors)
        data = filterset.form.cleaned_data
        qs = deal_list_for(
            request.user,
            stage=data.get("stage") or "",
            lead=(data.get("lead") or "").strip(),
            ordering=data.get("ordering") or "-updated_at",
        )
        paginator = DefaultPagination()
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(DealOutputSerializer(page, many=True).data)

    @extend_schema(
        operation_id="API-521_deal_create",
        summary="API-521 Open a deal for a qualified lead",
        description="Converts the lead (status `converted`) and opens its deal with the lead's commission split. "
        "Converting the same lead again returns its deal (200).",
        request=InputSerializer,
        responses={201: DealOutputSerializer, 200: DealOutputSerializer, **error_responses(*WRITE_ERRORS)},
        tags=["deals"],
    )
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        lead = lead_get_for(request.user, data["lead"])
        had_deal = PartnerDeal.objects.filter(lead=lead).exists()
        deal = lead_convert(
            lead=lead,
            actor=request.user,
            stage=data["stage"],
            deal_value=data["deal_value"],
            expected_close_date=data["expected_close_date"],
            listing_id=data["listing_id"],
        )
        return Response(
            DealOutputSerializer(deal).data, status=status.HTTP_200_OK if had_deal else status.HTTP_201_CREATED
        )


class DealDetailApi(APIView):
    permission_classes = [IsPartner]

    @extend_schema(
        operation_id="API-522_deal_detail",
        summary="API-522 A deal with its stage history",
        responses={200: DealDetailSerializer, **error_responses(*READ_ERRORS)},
        tags=["deals"],
    )
    def get(self, request, deal_id):
        return Response(DealDetailSerializer(deal_get_for(request.user, deal_id)).data)


class DealStageApi(APIView):
    permission_classes = [IsPartner]

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "DealStageInput"

        stage = serializers.ChoiceField(choices=PartnerDeal.Stage.choices)
        reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")

    @extend_schema(
        operation_id="API-523_deal_move_stage",
        summary="API-523 Move a deal to another stage",
        description="Any open stage may move to any other stage, forward or back, and close as `won` or `lost` "
        "(with a reason). Won and lost are final (409; a platform admin can reopen in the admin). A move to the "
        "current stage changes nothing.",
        request=InputSerializer,
        responses={200: DealOutputSerializer, **error_responses(*WRITE_ERRORS)},
        tags=["deals"],
    )
    def post(self, request, deal_id):
        deal = deal_get_for(request.user, deal_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        deal = deal_move_stage(deal=deal, to=data["stage"], actor=request.user, reason=data["reason"])
        return Response(DealOutputSerializer(deal).data)


class DealWinApi(APIView):
    permission_classes = [IsPartner]

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "DealWinInput"

        deal_value = serializers.DecimalField(
            max_digits=14, decimal_places=2, min_value=0, max_value=999_999_999_999, required=False, allow_null=True
        )

    @extend_schema(
        operation_id="API-524_deal_win",
        summary="API-524 Close a deal as won",
        description="From any open stage, optionally with the final deal value. A won or lost deal is final (409).",
        request=InputSerializer,
        responses={200: DealOutputSerializer, **error_responses(*WRITE_ERRORS)},
        tags=["deals"],
    )
    def post(self, request, deal_id):
        deal = deal_get_for(request.user, deal_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        deal = deal_win(deal=deal, actor=request.user, deal_value=serializer.validated_data.get("deal_value"))
        return Response(DealOutputSerializer(deal).data)


class DealLoseApi(APIView):
    permission_classes = [IsPartner]

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "DealLoseInput"

        reason = serializers.CharField(max_length=500)

    @extend_schema(
        operation_id="API-525_deal_lose",
        summary="API-525 Close a deal as lost",
        request=InputSerializer,
        responses={200: DealOutputSerializer, **error_responses(*WRITE_ERRORS)},
        tags=["deals"],
    )
    def post(self, request, deal_id):
        deal = deal_get_for(request.user, deal_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        deal = deal_lose(deal=deal, actor=request.user, reason=serializer.validated_data["reason"])
        return Response(DealOutputSerializer(deal).data)


# --- The lead side of deals (API-501, API-503) -----------------------------------------------


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


class LeadConvertApi(APIView):
    permission_classes = [IsPartner]

    class InputSerializer(DealTermsInputSerializer):
        class Meta:
            ref_name = "PartnerLeadConvertInput"

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
