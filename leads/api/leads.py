"""Lead API: list (API-500), manual creation (API-505), activity tracking (API-506), merge (API-507)."""

from __future__ import annotations

import datetime as dt

import django_filters
from django.urls import re_path
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import User
from compliance.models import ConsentRecord
from core.api_schema import error_responses
from core.pagination import DefaultPagination
from core.permissions import IsPartner, IsStaffRole, require_scope
from core.validation import SAFE_PARSERS, SafeCharField, SafeDictField
from leads.api.serializers import LeadContactInputSerializer
from leads.models import Lead
from leads.selectors import lead_get_for
from leads.selectors.work import DEFAULT_LEAD_ORDERING, LEAD_ORDERINGS, lead_list_for
from leads.services import lead_ingest, lead_merge, lead_track_activity
from leads.services.consent import ConsentContext

UUID_OR_PUBLIC_ID = r"(?P<lead_id>[0-9a-fA-F-]{36}|SOT-LEAD-[A-Z2-7]{8})"


class LeadOutputSerializer(serializers.ModelSerializer):
    """The lead as every API shows it (SPEC §9), with the score explained."""

    email = serializers.CharField()
    phone = serializers.CharField()
    first_name = serializers.CharField()
    last_name = serializers.CharField()
    assigned_partner = serializers.PrimaryKeyRelatedField(read_only=True)
    score_breakdown = serializers.JSONField()
    # Blank until known: the schema must admit "" besides the choices.
    interest_type = serializers.ChoiceField(choices=Lead.InterestType.choices, allow_blank=True)

    class Meta:
        model = Lead
        fields = [
            "id",
            "public_id",
            "channel",
            "source",
            "status",
            "stage",
            "score",
            "p_score",
            "i_score",
            "e_score",
            "score_breakdown",
            "email",
            "phone",
            "first_name",
            "last_name",
            "company_name",
            "job_title",
            "interest_type",
            "postcode",
            "city",
            "assigned_partner",
            "is_test",
            "consent_marketing",
            "opted_out_at",
            # The same person was erased on this date (a tombstone matched on arrival); null otherwise.
            "erased_before",
            "last_activity_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class CanCreateLead(BasePermission):
    def has_permission(self, request, view) -> bool:
        return IsStaffRole().has_permission(request, view) or IsPartner().has_permission(request, view)


class LeadListFilter(django_filters.FilterSet):
    """API-500's filters; an unknown choice is a 400, not an empty page."""

    status = django_filters.ChoiceFilter(choices=Lead.Status.choices)
    stage = django_filters.ChoiceFilter(choices=Lead.Stage.choices)
    channel = django_filters.ChoiceFilter(choices=Lead.Channel.choices)
    source = django_filters.ChoiceFilter(choices=Lead.Source.choices)
    q = django_filters.CharFilter(max_length=120)
    ordering = django_filters.ChoiceFilter(choices=[(key, key) for key in LEAD_ORDERINGS])

    class Meta:
        model = Lead
        fields: list[str] = []


class LeadPageSerializer(serializers.Serializer):
    class Meta:
        ref_name = "LeadPage"

    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = LeadOutputSerializer(many=True)


class LeadCreateApi(APIView):
    """API-500: a partner lists own and accepted leads. API-505: a partner records an own lead (theirs, no
    split); staff add a lead to the pool."""

    permission_classes = [CanCreateLead]
    parser_classes = SAFE_PARSERS

    @extend_schema(
        operation_id="API-500_lead_list",
        summary="API-500 List my leads",
        description="Own and accepted leads (staff: every live lead), filtered, paginated. `q` is an exact email, "
        "phone or public id (PII is encrypted) or part of the company name.",
        parameters=[
            OpenApiParameter("status", OpenApiTypes.STR, enum=Lead.Status.values),
            OpenApiParameter("stage", OpenApiTypes.STR, enum=Lead.Stage.values),
            OpenApiParameter("channel", OpenApiTypes.STR, enum=Lead.Channel.values),
            OpenApiParameter("source", OpenApiTypes.STR, enum=Lead.Source.values),
            OpenApiParameter("q", OpenApiTypes.STR),
            OpenApiParameter("ordering", OpenApiTypes.STR, enum=list(LEAD_ORDERINGS)),
            OpenApiParameter("page", OpenApiTypes.INT),
            OpenApiParameter("page_size", OpenApiTypes.INT, description="1–200, default 50."),
        ],
        responses={200: LeadPageSerializer, **error_responses(400, 401, 403, 404)},
        tags=["leads"],
    )
    def get(self, request):
        filterset = LeadListFilter(request.query_params, queryset=Lead.objects.none())
        if not filterset.is_valid():
            raise ValidationError(filterset.errors)
        data = {key: value for key, value in filterset.form.cleaned_data.items() if value}
        data["ordering"] = data.get("ordering") or DEFAULT_LEAD_ORDERING
        paginator = DefaultPagination()
        page = paginator.paginate_queryset(lead_list_for(request.user, **data), request, view=self)
        return paginator.get_paginated_response(LeadOutputSerializer(page, many=True).data)

    class InputSerializer(LeadContactInputSerializer):
        class Meta:
            ref_name = "LeadCreateInput"

        channel = serializers.ChoiceField(choices=Lead.Channel.choices, default=Lead.Channel.MANUAL)
        consent_marketing = serializers.BooleanField(required=False)
        attributes = SafeDictField(required=False)

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "LeadCreateOutput"

        created = serializers.BooleanField()
        merged = serializers.BooleanField()
        lead = LeadOutputSerializer()

    @extend_schema(
        operation_id="API-505_lead_create",
        summary="API-505 Create a manual lead",
        description="Through `lead_ingest`: a partner's lead is theirs (no split), staff add it to the pool. "
        "A person already known in the tenant is merged (200, `merged`).",
        request=InputSerializer,
        responses={201: OutputSerializer, 200: OutputSerializer, **error_responses(400, 401, 403, 409, 422)},
        tags=["leads"],
    )
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        channel = data.pop("channel")
        user: User = request.user
        result = lead_ingest(
            payload=data,
            channel=channel,
            source=Lead.Source.MANUAL,
            partner=user if user.is_partner else None,
            actor=user,
            activity=None,
            # ``consent_marketing`` is the caller's statement: recorded as such (wording unknown).
            consent=ConsentContext(source=ConsentRecord.Source.API, evidence={"recorded_by_user_id": user.pk}),
        )
        body = self.OutputSerializer(
            {"created": result.created, "merged": result.merged or result.duplicate, "lead": result.lead}
        ).data
        return Response(body, status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK)


class CanTrackActivity(BasePermission):
    def has_permission(self, request, view) -> bool:
        return (
            IsStaffRole().has_permission(request, view)
            or IsPartner().has_permission(request, view)
            or require_scope("activities")().has_permission(request, view)
        )


class LeadActivityCreateApi(APIView):
    """API-506: website tracking or a user records an activity; the lead is rescored at once."""

    permission_classes = [CanTrackActivity]
    parser_classes = SAFE_PARSERS

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "LeadActivityInput"

        type = serializers.RegexField(r"^[a-z0-9][a-z0-9_]{1,63}$", max_length=64)
        channel = SafeCharField(required=False, allow_blank=True, max_length=20, default="")
        detail = SafeDictField(required=False, default=dict)
        occurred_at = serializers.DateTimeField(required=False)

        def validate_occurred_at(self, value: dt.datetime) -> dt.datetime:
            if value > timezone.now() + dt.timedelta(minutes=5):
                raise serializers.ValidationError(_("An activity cannot lie in the future."))
            return value

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "LeadActivityOutput"

        activity_id = serializers.IntegerField()
        score_delta = serializers.IntegerField()
        lead = LeadOutputSerializer()

    @extend_schema(
        operation_id="API-506_lead_activity_create",
        summary="API-506 Track an activity and rescore",
        request=InputSerializer,
        responses={201: OutputSerializer, 404: OpenApiResponse(description="Unknown or foreign lead")},
        tags=["leads"],
    )
    def post(self, request, lead_id: str):
        lead = lead_get_for(request.user, lead_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        activity, lead = lead_track_activity(
            lead=lead,
            activity_type=data["type"],
            actor=request.user,
            channel=data.get("channel", ""),
            detail=data.get("detail") or {},
            occurred_at=data.get("occurred_at"),
        )
        body = self.OutputSerializer(
            {"activity_id": activity.pk, "score_delta": activity.score_delta, "lead": lead}
        ).data
        return Response(body, status=status.HTTP_201_CREATED)


class LeadMergeApi(APIView):
    """API-507: platform staff merge other leads into this one (undo stays possible in the admin)."""

    permission_classes = [IsStaffRole]

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "LeadMergeInput"

        leads = serializers.ListField(child=serializers.CharField(max_length=40), min_length=1, max_length=50)

    @extend_schema(
        operation_id="API-507_lead_merge",
        summary="API-507 Merge leads into this lead",
        request=InputSerializer,
        responses={200: LeadOutputSerializer},
        tags=["leads"],
    )
    def post(self, request, lead_id: str):
        survivor = lead_get_for(request.user, lead_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        others = [lead_get_for(request.user, ref) for ref in serializer.validated_data["leads"]]
        lead = lead_merge(survivor=survivor, others=others, actor=request.user)
        return Response(LeadOutputSerializer(Lead.objects.get(pk=lead.pk)).data)


# Mounted under /api/; every path works with and without its trailing slash (SPEC §9).
urlpatterns = [
    re_path(r"^leads/?$", LeadCreateApi.as_view(), name="api-lead-create"),
    re_path(rf"^leads/{UUID_OR_PUBLIC_ID}/activities/?$", LeadActivityCreateApi.as_view(), name="api-lead-activities"),
    re_path(rf"^leads/{UUID_OR_PUBLIC_ID}/merge/?$", LeadMergeApi.as_view(), name="api-lead-merge"),
]
