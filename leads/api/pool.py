"""Pool API for admins and ops (API-550–553); the partners' side of offers is ``leads.api.inbox``.

Thin views: validate input, call one selector or service, serialize.
"""

from __future__ import annotations

from typing import Any

import django_filters
from django.urls import re_path
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import User
from core.pagination import KeysetPagination
from core.permissions import IsStaffRole
from leads.api.leads import LeadOutputSerializer
from leads.models import Lead, LeadAssignment
from leads.selectors import lead_search_q
from leads.selectors.pool import (
    ACTIVITY_BAND_CHOICES,
    OFFER_STATUS_CHOICES,
    SCORE_BAND_CHOICES,
    activity_band_q,
    lead_get_for_staff,
    lead_pool_list,
    offer_status_q,
    offered_to_q,
    partner_choices,
    pool_stats,
    score_band_q,
)
from leads.services.offers import lead_pool_reject, offer_create

UUID_RE = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"


# --- Serializers shared by the views ----------------------------------------------------------


class PartnerRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.EmailField()


class OfferOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    lead = serializers.UUIDField(source="lead_id")
    partner = PartnerRefSerializer()
    status = serializers.CharField()
    offered_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
    responded_at = serializers.DateTimeField(allow_null=True)
    reason = serializers.CharField()
    automatic = serializers.SerializerMethodField()

    def get_automatic(self, offer: LeadAssignment) -> bool:
        return offer.decision_id is not None


class PoolLeadOutputSerializer(LeadOutputSerializer):
    """The lead JSON every API shows, plus where its offers stand."""

    offer_status = serializers.SerializerMethodField()
    open_offer = serializers.SerializerMethodField()

    class Meta(LeadOutputSerializer.Meta):
        fields = [*LeadOutputSerializer.Meta.fields, "offer_status", "open_offer"]
        read_only_fields = fields

    @extend_schema_field(serializers.ChoiceField(choices=LeadAssignment.Status.choices, allow_null=True))
    def get_offer_status(self, lead: Lead) -> str | None:
        """Status of the latest offer; null: never offered."""
        offers = getattr(lead, "offer_list", None) or []
        return offers[0].status if offers else None

    @extend_schema_field(OfferOutputSerializer(allow_null=True))
    def get_open_offer(self, lead: Lead) -> dict[str, Any] | None:
        for offer in getattr(lead, "offer_list", None) or []:
            if offer.status == LeadAssignment.Status.OFFERED:
                return OfferOutputSerializer(offer).data
        return None


# --- Keyset pagination (API-550) --------------------------------------------------------------


class LeadKeysetPagination(KeysetPagination):
    model = Lead
    orderings = {
        "-created_at": ("-created_at", "-id"),
        "created_at": ("created_at", "id"),
        "-score": ("-score", "-created_at", "-id"),
        "score": ("score", "created_at", "id"),
    }
    default_ordering = "-created_at"


# --- Admin/ops: the pool (API-550–553) --------------------------------------------------------


class PoolFilter(django_filters.FilterSet):
    """The admin changelist's filters, with the same meaning (shared ``Q`` builders)."""

    stage = django_filters.ChoiceFilter(choices=Lead.Stage.choices)
    score_band = django_filters.ChoiceFilter(choices=SCORE_BAND_CHOICES, method="filter_score_band")
    channel = django_filters.ChoiceFilter(choices=Lead.Channel.choices)
    source = django_filters.ChoiceFilter(choices=Lead.Source.choices)
    status = django_filters.ChoiceFilter(choices=Lead.Status.choices)
    activity = django_filters.ChoiceFilter(choices=ACTIVITY_BAND_CHOICES, method="filter_activity")
    offer_status = django_filters.ChoiceFilter(choices=OFFER_STATUS_CHOICES, method="filter_offer_status")
    partner = django_filters.NumberFilter(method="filter_partner")
    is_test = django_filters.BooleanFilter()
    q = django_filters.CharFilter(method="filter_search")

    class Meta:
        model = Lead
        fields: list[str] = []

    def filter_score_band(self, queryset, name, value):
        return queryset.filter(score_band_q(value))

    def filter_activity(self, queryset, name, value):
        return queryset.filter(activity_band_q(value))

    def filter_offer_status(self, queryset, name, value):
        return queryset.filter(offer_status_q(value))

    def filter_partner(self, queryset, name, value):
        return queryset.filter(offered_to_q(int(value)))

    def filter_search(self, queryset, name, value):
        # PII is encrypted: exact match through the blind index, nothing partial.
        q = lead_search_q(value)
        return queryset.filter(q) if q is not None else queryset.none()


def _choice_param(name: str, choices, description: str = "") -> OpenApiParameter:
    return OpenApiParameter(name, OpenApiTypes.STR, enum=[c[0] for c in choices], description=description)


POOL_LIST_PARAMETERS = [
    _choice_param("stage", Lead.Stage.choices),
    _choice_param("score_band", SCORE_BAND_CHOICES),
    _choice_param("channel", Lead.Channel.choices),
    _choice_param("source", Lead.Source.choices),
    _choice_param("status", Lead.Status.choices),
    _choice_param("activity", ACTIVITY_BAND_CHOICES, "Whole days since the last activity (or creation)."),
    _choice_param("offer_status", OFFER_STATUS_CHOICES, "`none`: never offered; else: has an offer in that status."),
    OpenApiParameter("partner", OpenApiTypes.INT, description="Has an open offer to this partner (user id)."),
    OpenApiParameter("is_test", OpenApiTypes.BOOL),
    OpenApiParameter("q", OpenApiTypes.STR, description="Exact email, phone or public id (blind index)."),
    _choice_param("ordering", [(k, k) for k in LeadKeysetPagination.orderings]),
    OpenApiParameter("cursor", OpenApiTypes.STR, description="The `next` link's cursor."),
    OpenApiParameter("page_size", OpenApiTypes.INT, description="1–200, default 50."),
]


class PoolPageSerializer(serializers.Serializer):
    next = serializers.URLField(allow_null=True)
    results = PoolLeadOutputSerializer(many=True)


class PoolListApi(APIView):
    permission_classes = [IsStaffRole]

    @extend_schema(
        operation_id="pool_list",
        summary="API-550 List the lead pool",
        description="Pool leads (platform-owned, unassigned, not merged), filtered like the admin, keyset-paginated.",
        parameters=POOL_LIST_PARAMETERS,
        responses=PoolPageSerializer,
        tags=["pool"],
    )
    def get(self, request):
        filterset = PoolFilter(request.query_params, queryset=lead_pool_list())
        if not filterset.is_valid():
            raise ValidationError(filterset.errors)
        paginator = LeadKeysetPagination(request)
        leads = paginator.paginate(filterset.qs)
        return paginator.response(PoolLeadOutputSerializer(leads, many=True).data)


class PoolLeadAssignApi(APIView):
    permission_classes = [IsStaffRole]

    @extend_schema_serializer(component_name="PoolAssignInput")
    class InputSerializer(serializers.Serializer):
        partner = serializers.CharField(help_text="The partner's user id or email address.")

        def validate_partner(self, value: str) -> User:
            value = value.strip()
            partners = partner_choices()
            partner = (
                partners.filter(pk=int(value)).first()
                if value.isascii() and value.isdigit()  # "²".isdigit() is true, int("²") fails
                else partners.filter(email=value.lower()).first()
            )
            if partner is None:
                raise serializers.ValidationError(_("No sales partner with this id or email address."))
            return partner

    @extend_schema(
        operation_id="pool_lead_assign",
        summary="API-551 Offer a pool lead to a partner",
        request=InputSerializer,
        responses={201: OfferOutputSerializer},
        tags=["pool"],
    )
    def post(self, request, lead_id):
        lead = lead_get_for_staff(lead_id=lead_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        offer = offer_create(lead=lead, partner=serializer.validated_data["partner"], actor=request.user)
        return Response(OfferOutputSerializer(offer).data, status=status.HTTP_201_CREATED)


class PoolLeadRejectApi(APIView):
    permission_classes = [IsStaffRole]

    @extend_schema_serializer(component_name="PoolRejectInput")
    class InputSerializer(serializers.Serializer):
        reason = serializers.CharField(max_length=255, help_text="Why the lead leaves the pool, e.g. spam.")

    @extend_schema(
        operation_id="pool_lead_reject",
        summary="API-552 Reject a pool lead (marks it lost)",
        request=InputSerializer,
        responses=LeadOutputSerializer,
        tags=["pool"],
    )
    def post(self, request, lead_id):
        lead = lead_get_for_staff(lead_id=lead_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        lead = lead_pool_reject(lead=lead, actor=request.user, reason=serializer.validated_data["reason"])
        return Response(LeadOutputSerializer(lead).data)


class _BucketSerializer(serializers.Serializer):
    bucket = serializers.CharField(required=False)
    stage = serializers.CharField(required=False)
    label = serializers.CharField()
    count = serializers.IntegerField()


class _ChannelSeriesSerializer(serializers.Serializer):
    channel = serializers.CharField()
    label = serializers.CharField()
    counts = serializers.ListField(child=serializers.IntegerField())
    total = serializers.IntegerField()


class _PartnerOutcomeSerializer(serializers.Serializer):
    partner_id = serializers.IntegerField()
    email = serializers.EmailField()
    name = serializers.CharField()
    offers = serializers.IntegerField()
    accepted = serializers.IntegerField()
    rejected = serializers.IntegerField()
    expired = serializers.IntegerField()
    revoked = serializers.IntegerField()
    open = serializers.IntegerField()
    acceptance_rate = serializers.FloatField(allow_null=True)
    median_hours_to_accept = serializers.FloatField(allow_null=True)


class _VolumeSerializer(serializers.Serializer):
    days = serializers.ListField(child=serializers.DateField())
    channels = _ChannelSeriesSerializer(many=True)
    total = serializers.IntegerField()


class _OfferTotalsSerializer(serializers.Serializer):
    offers = serializers.IntegerField()
    accepted = serializers.IntegerField()
    rejected = serializers.IntegerField()
    expired = serializers.IntegerField()
    revoked = serializers.IntegerField()
    open = serializers.IntegerField()
    acceptance_rate = serializers.FloatField(allow_null=True)


class _OffersSerializer(serializers.Serializer):
    partners = _PartnerOutcomeSerializer(many=True)
    totals = _OfferTotalsSerializer()


class _ExpiriesSerializer(serializers.Serializer):
    days = serializers.ListField(child=serializers.DateField())
    counts = serializers.ListField(child=serializers.IntegerField())
    total = serializers.IntegerField()


# "from" is a keyword, so this one is built with type().
_RangeSerializer = type(
    "PoolStatsRangeSerializer",
    (serializers.Serializer,),
    {"from": serializers.DateField(), "to": serializers.DateField()},
)


class _PoolSizeSerializer(serializers.Serializer):
    size = serializers.IntegerField()


class PoolStatsOutputSerializer(serializers.Serializer):
    """Documents API-553's response (the view returns the selector's dict as is)."""

    range = _RangeSerializer()
    generated_at = serializers.DateTimeField(help_text="When the figures were counted (cached for two minutes).")
    pool = _PoolSizeSerializer()
    volume = _VolumeSerializer()
    pool_age = _BucketSerializer(many=True)
    stages = _BucketSerializer(many=True)
    offers = _OffersSerializer()
    expiries = _ExpiriesSerializer()


class PoolStatsApi(APIView):
    permission_classes = [IsStaffRole]

    class InputSerializer(serializers.Serializer):
        date_from = serializers.DateField(required=False)
        date_to = serializers.DateField(required=False)

    @extend_schema(
        operation_id="pool_stats",
        summary="API-553 Pool statistics",
        description=(
            "Volume by channel and day, pool age, leads per stage, acceptance rate and median time to accept by "
            "partner, expiries. `from`/`to` are inclusive local dates (default: the last 30 days, at most a year)."
        ),
        parameters=[
            OpenApiParameter("from", OpenApiTypes.DATE),
            OpenApiParameter("to", OpenApiTypes.DATE),
        ],
        responses=PoolStatsOutputSerializer,
        tags=["pool"],
    )
    def get(self, request):
        params = request.query_params
        data = {key: params[name] for key, name in (("date_from", "from"), ("date_to", "to")) if params.get(name)}
        serializer = self.InputSerializer(data=data)
        serializer.is_valid(raise_exception=True)
        return Response(pool_stats(**serializer.validated_data))


urlpatterns = [
    re_path(r"^admin/leads/pool/?$", PoolListApi.as_view(), name="pool-list"),
    re_path(r"^admin/leads/pool/stats/?$", PoolStatsApi.as_view(), name="pool-stats"),
    re_path(rf"^admin/leads/pool/(?P<lead_id>{UUID_RE})/assign/?$", PoolLeadAssignApi.as_view(), name="pool-assign"),
    re_path(rf"^admin/leads/pool/(?P<lead_id>{UUID_RE})/reject/?$", PoolLeadRejectApi.as_view(), name="pool-reject"),
]
