"""The data-subject API (API-590/591): admin-only access and erasure requests.

Thin views: validate the input, call ``compliance.services.subjects``, answer. Only platform admins
see these endpoints; any other signed-in principal (partner, ops, API key) gets 404, so that neither
the endpoint nor whether a person is held leaks. Mounted under /api/ by ``compliance.urls``.
"""

from __future__ import annotations

from typing import Any

from django.urls import re_path
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from compliance.registry import STANDARD_SECTIONS, SubjectNotFound, SubjectQuery
from compliance.services.subjects import DEFAULT_EXPORT_REASON, ErasureOutcome, subject_erase, subject_export
from core.api_schema import ErrorOutputSerializer, error_responses
from core.permissions import IsPlatformAdmin

UUID_RE = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
TAGS = ["data-subjects"]


class IsPlatformAdminElseNotFound(BasePermission):
    """Platform admins pass; other signed-in principals get 404 (not 403); no credentials stay a 401."""

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and getattr(user, "is_authenticated", False)):
            return False
        if not IsPlatformAdmin().has_permission(request, view):
            raise NotFound()
        return True


# --- Serializers -------------------------------------------------------------------------------


class SubjectQueryOutputSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["lead", "email", "phone", "linkedin_response_id"])
    value = serializers.CharField(help_text="The lead id, or the normalized email (lower-case) or phone (E.164).")


class SubjectContentsSerializer(serializers.Serializer):
    section = serializers.CharField()
    count = serializers.IntegerField()


SubjectExportOutputSerializer = type(
    "SubjectExportOutputSerializer",
    (serializers.Serializer,),
    {
        "__doc__": "API-590's document: one list per section, decrypted; apps may add further sections.",
        "generated_at": serializers.DateTimeField(),
        "query": SubjectQueryOutputSerializer(),
        "contents": SubjectContentsSerializer(many=True, help_text="Table of contents: every section and its size."),
        **{name: serializers.ListField(child=serializers.DictField()) for name in STANDARD_SECTIONS},
    },
)


class SubjectExportQuerySerializer(serializers.Serializer):
    email = serializers.CharField(required=False, max_length=254, help_text="Exactly one of email and phone.")
    phone = serializers.CharField(required=False, max_length=64)
    reason = serializers.CharField(required=False, allow_blank=True, max_length=500, default=DEFAULT_EXPORT_REASON)


class LeadExportQuerySerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=500, default=DEFAULT_EXPORT_REASON)


class LeadEraseInputSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=1000, help_text="Why (kept encrypted on the erasure record).")


class SubjectEraseInputSerializer(serializers.Serializer):
    email = serializers.CharField(required=False, max_length=254, help_text="Exactly one of email and phone.")
    phone = serializers.CharField(required=False, max_length=64)
    reason = serializers.CharField(max_length=1000, help_text="Why (kept encrypted on the erasure record).")


class SubjectErasureOutputSerializer(serializers.Serializer):
    erasure_id = serializers.UUIDField(allow_null=True, help_text="null: nobody is held under this email or phone.")
    # A plain string: a ChoiceField named "status" collides with the other status enums of the schema.
    status = serializers.CharField(
        help_text="`completed` (now or before: see `already_erased`), or `not_found`: nothing was held, nothing erased."
    )
    already_erased = serializers.BooleanField(help_text="The person was erased before; nothing changed now.")
    leads = serializers.IntegerField(
        help_text="How many leads of the person (in every tenant) were erased (by the earlier request: already erased)."
    )
    counts = serializers.DictField(
        child=serializers.DictField(child=serializers.IntegerField()),
        help_text="Per app: what was destroyed and how many.",
    )


def _one_of_email_phone(data: dict[str, Any]) -> SubjectQuery:
    given = [name for name in ("email", "phone") if (data.get(name) or "").strip()]
    if len(given) != 1:
        message = _("Give exactly one of email and phone.")
        raise serializers.ValidationError({"non_field_errors": [message]})
    return SubjectQuery(kind=given[0], value=data[given[0]])


# --- Views -------------------------------------------------------------------------------------

NOT_FOUND = OpenApiResponse(ErrorOutputSerializer, description="Unknown lead, or not a platform admin")
EXPORT_RESPONSE = OpenApiResponse(
    SubjectExportOutputSerializer,
    description='A download: `Content-Disposition: attachment; filename="subject-export-<date>.json"`, not cached.',
)


def _export_response(document: dict[str, Any]) -> Response:
    filename = f"subject-export-{timezone.localdate().isoformat()}.json"
    response = Response(document)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


def _erasure_response(outcome: ErasureOutcome) -> Response:
    erasure = outcome.erasure
    status = "completed" if erasure is not None or outcome.already_erased else "not_found"
    return Response(
        {
            "erasure_id": str(erasure.pk) if erasure is not None else None,
            "status": status,
            "already_erased": outcome.already_erased,
            "leads": outcome.lead_count,
            "counts": outcome.counts,
        }
    )


class LeadExportApi(APIView):
    permission_classes = [IsPlatformAdminElseNotFound]

    @extend_schema(
        operation_id="API-590_lead_export",
        summary="API-590 Export everything held about a lead's person",
        description=(
            "Art. 15/20 DSGVO: one JSON document with every lead of the person (in every tenant) and everything "
            "each app holds about them, decrypted, with a table of contents (`contents`) and `generated_at`. "
            "Audited as `subject.exported`. Platform admins only (anyone else: 404)."
        ),
        parameters=[LeadExportQuerySerializer],
        responses={200: EXPORT_RESPONSE, **error_responses(400, 401), 404: NOT_FOUND},
        tags=TAGS,
    )
    def get(self, request, lead_id: str):
        params = LeadExportQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        try:
            document = subject_export(
                SubjectQuery(kind="lead", value=str(lead_id)),
                actor=request.user,
                reason=params.validated_data["reason"],
            )
        except SubjectNotFound:
            raise NotFound(_("No such lead.")) from None
        return _export_response(document)


class SubjectExportApi(APIView):
    permission_classes = [IsPlatformAdminElseNotFound]

    @extend_schema(
        operation_id="API-590_subject_export",
        summary="API-590 Export everything held about a person, found by email or phone",
        description=(
            "Exactly one of `email` and `phone`; the person is found through the blind index in every tenant "
            "(pool and partners). A value that matches nobody answers 200 with empty lists. Audited as "
            "`subject.exported` (the query's kind only, never its value). Platform admins only (anyone else: 404)."
        ),
        parameters=[SubjectExportQuerySerializer],
        responses={200: EXPORT_RESPONSE, **error_responses(400, 401), 404: NOT_FOUND},
        tags=TAGS,
    )
    def get(self, request):
        params = SubjectExportQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        query = _one_of_email_phone(params.validated_data)
        document = subject_export(query, actor=request.user, reason=params.validated_data["reason"])
        return _export_response(document)


class LeadEraseApi(APIView):
    permission_classes = [IsPlatformAdminElseNotFound]

    @extend_schema(
        operation_id="API-591_lead_erase",
        summary="API-591 Erase a lead's person",
        description=(
            "Art. 17 DSGVO: destroys the person's data in every app (all their leads in every tenant), keeps the "
            "leads as anonymous statistics and the audit trail, and leaves a tombstone so that the person arriving "
            "again is flagged. Idempotent: an erased person answers 200 with `already_erased` and nothing changes. "
            "Audited as `subject.erased`. Platform admins only (anyone else: 404)."
        ),
        request=LeadEraseInputSerializer,
        responses={200: SubjectErasureOutputSerializer, **error_responses(400, 401), 404: NOT_FOUND},
        tags=TAGS,
    )
    def post(self, request, lead_id: str):
        serializer = LeadEraseInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            outcome = subject_erase(
                SubjectQuery(kind="lead", value=str(lead_id)),
                actor=request.user,
                reason=serializer.validated_data["reason"],
            )
        except SubjectNotFound:
            raise NotFound(_("No such lead.")) from None
        return _erasure_response(outcome)


class SubjectEraseApi(APIView):
    permission_classes = [IsPlatformAdminElseNotFound]

    @extend_schema(
        operation_id="API-591_subject_erase",
        summary="API-591 Erase a person, found by email or phone",
        description=(
            'Body `{"email" | "phone", "reason"}`: every lead of the person in every tenant is erased like '
            "`POST /api/admin/leads/{id}/erase/`. Nobody held under the value: 200 with `status` `not_found`. "
            "Platform admins only (anyone else: 404)."
        ),
        request=SubjectEraseInputSerializer,
        responses={200: SubjectErasureOutputSerializer, **error_responses(400, 401), 404: NOT_FOUND},
        tags=TAGS,
    )
    def post(self, request):
        serializer = SubjectEraseInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        query = _one_of_email_phone(serializer.validated_data)
        outcome = subject_erase(query, actor=request.user, reason=serializer.validated_data["reason"])
        return _erasure_response(outcome)


# Mounted under /api/ (compliance.urls); every path works with and without its trailing slash (SPEC §9).
urlpatterns = [
    re_path(rf"^admin/leads/(?P<lead_id>{UUID_RE})/export/?$", LeadExportApi.as_view(), name="api-lead-export"),
    re_path(rf"^admin/leads/(?P<lead_id>{UUID_RE})/erase/?$", LeadEraseApi.as_view(), name="api-lead-erase"),
    re_path(r"^admin/data-subjects/export/?$", SubjectExportApi.as_view(), name="api-subject-export"),
    re_path(r"^admin/data-subjects/erase/?$", SubjectEraseApi.as_view(), name="api-subject-erase"),
]
