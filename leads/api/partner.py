"""Partner lead API: qualify a lead (API-502) and log a contact (API-504).

API-500 (the list) shares its path with API-505 and lives beside it in ``leads.api.leads``; the lead
detail with its deal (API-501) and converting a lead into a deal (API-503) belong to ``deals.api``,
the reports (API-530, 531) to ``portal.api``. Thin views: validate, call one selector or service,
serialize; another partner's lead is a 404.
"""

from __future__ import annotations

from django.urls import re_path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api_schema import WRITE_ERRORS, error_responses
from core.permissions import IsPartner
from leads.api.leads import UUID_OR_PUBLIC_ID, LeadOutputSerializer
from leads.models import Lead, LeadActivity
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


class ContactOutputSerializer(serializers.Serializer):
    class Meta:
        ref_name = "PartnerLeadContactOutput"

    activity = ActivityOutputSerializer()
    lead = LeadOutputSerializer()


def _lead_fresh(lead: Lead) -> Lead:
    return Lead.objects.select_related("tenant", "assigned_partner").get(pk=lead.pk)


# --- Lead work (API-502, API-504) -------------------------------------------------------------


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


# Mounted under /api/ before ``leads.api.leads`` (same prefix); with and without trailing slash.
urlpatterns = [
    re_path(rf"^leads/{UUID_OR_PUBLIC_ID}/qualify/?$", LeadQualifyApi.as_view(), name="api-lead-qualify"),
    re_path(rf"^leads/{UUID_OR_PUBLIC_ID}/contact/?$", LeadContactApi.as_view(), name="api-lead-contact"),
]
