"""Partner inbox API (API-510–512): a partner's open pool offers, accepting and rejecting them.

Thin views: validate input, call one selector or service, serialize. Partners only ever see their
own offers; anything else is a 404 (SPEC §6). Before acceptance an offer shows no contact data.
"""

from __future__ import annotations

from django.urls import re_path
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core.pagination import DefaultPagination
from core.permissions import IsPartner
from leads.api.leads import LeadOutputSerializer
from leads.api.pool import UUID_RE
from leads.selectors.offers import offer_get_for_partner, partner_open_offers
from leads.services.offers import offer_accept, offer_reject


class InboxLeadSerializer(serializers.Serializer):
    """What a partner sees of an offered lead before accepting: no name, email or phone."""

    id = serializers.UUIDField()
    public_id = serializers.CharField()
    channel = serializers.CharField()
    source = serializers.CharField()
    stage = serializers.CharField()
    score = serializers.IntegerField()
    company_name = serializers.CharField()
    company_size_band = serializers.CharField()
    industry = serializers.CharField()
    job_title = serializers.CharField()
    interest_type = serializers.CharField()
    postcode = serializers.CharField()
    city = serializers.CharField()
    region = serializers.CharField()
    country = serializers.CharField()
    created_at = serializers.DateTimeField()


class InboxOfferSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    offered_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
    responded_at = serializers.DateTimeField(allow_null=True)
    reason = serializers.CharField()
    lead = InboxLeadSerializer()


class InboxListApi(APIView):
    permission_classes = [IsPartner]

    @extend_schema(
        operation_id="inbox_list",
        summary="API-510 My open pool offers",
        responses=InboxOfferSerializer(many=True),
        tags=["inbox"],
    )
    def get(self, request):
        paginator = DefaultPagination()
        page = paginator.paginate_queryset(partner_open_offers(partner=request.user), request, view=self)
        return paginator.get_paginated_response(InboxOfferSerializer(page, many=True).data)


class AcceptedOutputSerializer(serializers.Serializer):
    offer = InboxOfferSerializer()
    lead = LeadOutputSerializer()


class InboxAcceptApi(APIView):
    permission_classes = [IsPartner]

    @extend_schema(
        operation_id="inbox_accept",
        summary="API-511 Accept a pool offer",
        description="Records the 1/3 : 2/3 split agreement and moves the lead to the partner. Idempotent.",
        request=None,
        responses=AcceptedOutputSerializer,
        tags=["inbox"],
    )
    def post(self, request, lead_id):
        offer = offer_get_for_partner(lead_id=lead_id, partner=request.user)
        offer = offer_accept(offer=offer, actor=request.user)
        offer.lead.refresh_from_db()
        return Response(AcceptedOutputSerializer({"offer": offer, "lead": offer.lead}).data)


class InboxRejectApi(APIView):
    permission_classes = [IsPartner]

    @extend_schema_serializer(component_name="InboxRejectInput")
    class InputSerializer(serializers.Serializer):
        reason = serializers.CharField(max_length=500)

    @extend_schema(
        operation_id="inbox_reject",
        summary="API-512 Reject a pool offer",
        description="The lead goes back to the pool and is never offered to you again.",
        request=InputSerializer,
        responses=InboxOfferSerializer,
        tags=["inbox"],
    )
    def post(self, request, lead_id):
        offer = offer_get_for_partner(lead_id=lead_id, partner=request.user)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        offer = offer_reject(offer=offer, actor=request.user, reason=serializer.validated_data["reason"])
        return Response(InboxOfferSerializer(offer).data)


urlpatterns = [
    re_path(r"^leads/inbox/?$", InboxListApi.as_view(), name="inbox-list"),
    re_path(rf"^leads/inbox/(?P<lead_id>{UUID_RE})/accept/?$", InboxAcceptApi.as_view(), name="inbox-accept"),
    re_path(rf"^leads/inbox/(?P<lead_id>{UUID_RE})/reject/?$", InboxRejectApi.as_view(), name="inbox-reject"),
]
