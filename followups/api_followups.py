"""DRF API of smart follow-ups: suggestions, sequences and runs, messages (API-560–566, 571, 577, 578).

Thin views: validate, call one selector or service, serialize. Partners only; another tenant's lead or
run is a 404, also when its id is in the body.
"""

from __future__ import annotations

from django.db.models import Count, Q
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.throttling import UserRateThrottle
from rest_framework.views import APIView

from core.api import api_path
from core.api_schema import READ_ERRORS, WRITE_ERRORS, error_responses
from core.exceptions import ConflictError, NotFoundError
from core.pagination import DefaultPagination
from core.permissions import IsPartner
from followups import serializers_followups as s
from followups.models import Sequence, SequenceRun
from followups.selectors.runs import run_get_for, runs_for_partner
from followups.selectors.should import should_followup
from followups.selectors.suggestions import PRIORITIES, followup_suggestions
from followups.selectors.tasks import message_actions
from followups.services.engine import run_respond, run_stop, sequence_enrol
from followups.services.messages import batch_send, generate_message, message_preview, templates_for
from leads.selectors import lead_get_for

TAGS = ["followups"]
RUN_ID = r"(?P<run_id>\d{1,18})"
LEAD_ID = r"(?P<lead_id>[^/]+)"


def _sequences_for(user) -> list[Sequence]:
    """API-563: platform nurture and YAML sequences, and the user's own (cloned team templates)."""
    return list(
        Sequence.objects.filter(Q(owner__isnull=True) | Q(owner_id=user.pk), is_active=True)
        .filter(Q(organization__is_platform=True) | Q(owner_id=user.pk))
        .select_related("next_sequence")
        .annotate(step_count=Count("steps", filter=Q(steps__is_active=True)))
        .order_by("kind", "name")
    )


class SuggestionListApi(APIView):
    permission_classes = [IsPartner]

    @extend_schema(
        operation_id="API-560_followup_suggestions",
        summary="API-560 My next follow-ups",
        description="The partner's own leads to follow up with, by priority (urgent, high, normal, low, scheduled), "
        "then score, then longest without a touch; each with reason, suggested time and channel, template, a "
        "rule-based message and a confidence. Leads that opted out or are lost are left out.",
        parameters=[
            OpenApiParameter("limit", OpenApiTypes.INT, description="1–100, default 20."),
            OpenApiParameter("priority", OpenApiTypes.STR, enum=list(PRIORITIES)),
        ],
        responses={200: s.SuggestionListSerializer, **error_responses(*READ_ERRORS)},
        tags=TAGS,
    )
    def get(self, request):
        params = request.query_params
        try:
            limit = int(params.get("limit") or 20)
        except ValueError:
            raise ValidationError({"limit": [_("A number from 1 to 100.")]}) from None
        if not 1 <= limit <= 100:
            raise ValidationError({"limit": [_("A number from 1 to 100.")]})
        priority = params.get("priority") or None
        if priority is not None and priority not in PRIORITIES:
            raise ValidationError({"priority": [f"One of: {', '.join(PRIORITIES)}."]})
        suggestions = followup_suggestions(request.user, limit=limit, priority=priority)
        data = s.SuggestionSerializer(suggestions, many=True, context={"user_id": request.user.pk}).data
        return Response({"results": data})


class BatchSendThrottle(UserRateThrottle):
    """API-561 on top of the general budget: a few batches a minute per partner."""

    scope = "followups_batch"
    rate = "6/min"

    def get_rate(self) -> str:
        return self.rate


class BatchSendApi(APIView):
    permission_classes = [IsPartner]

    def get_throttles(self):
        return [*super().get_throttles(), BatchSendThrottle()]

    @extend_schema(
        operation_id="API-561_followup_batch_send",
        summary="API-561 Send a template to several leads",
        description="Email: sent now as the partner's personal email (marketing rules: consent, opt-out, "
        "suppression, frequency cap; one-click unsubscribe). Other channels: a task with the rendered message "
        "and one-click actions. Leads that opted out, are lost, have too many unanswered messages or were "
        "contacted in the last 24 h are skipped with the reason. At most 50 leads; rate-limited.",
        request=s.BatchSendInputSerializer,
        responses={200: s.BatchSendOutputSerializer, **error_responses(*WRITE_ERRORS)},
        tags=TAGS,
    )
    def post(self, request):
        serializer = s.BatchSendInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        refs = list(dict.fromkeys(serializer.validated_data["leads"]))
        leads = [lead_get_for(request.user, ref) for ref in refs]
        results = batch_send(user=request.user, leads=leads, template_code=serializer.validated_data["template"])
        return Response({"results": s.BatchResultSerializer(results, many=True).data})


class SequenceStartApi(APIView):
    permission_classes = [IsPartner]

    @extend_schema(
        operation_id="API-562_followup_sequence_start",
        summary="API-562 Enrol a lead in a sequence",
        description="`sequence` is a code from API-563. Refused (409) when the lead is in it already, is lost or "
        "converted, or the sequence's re-enrolment rule says no.",
        request=s.SequenceStartInputSerializer,
        responses={201: s.RunSerializer, **error_responses(*WRITE_ERRORS)},
        tags=TAGS,
    )
    def post(self, request):
        serializer = s.SequenceStartInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        lead = lead_get_for(request.user, serializer.validated_data["lead"])
        code = serializer.validated_data["sequence"]
        sequence = next((seq for seq in _sequences_for(request.user) if seq.code == code), None)
        if sequence is None:
            raise NotFoundError(_("Sequence not found."))
        run = sequence_enrol(lead=lead, sequence=sequence, actor=request.user)
        if run is None:
            raise ConflictError(_("The lead cannot be enrolled in this sequence now."), code="enrolment_refused")
        return Response(s.RunSerializer(run).data, status=status.HTTP_201_CREATED)


class SequenceListApi(APIView):
    permission_classes = [IsPartner]

    @extend_schema(
        operation_id="API-563_followup_sequences",
        summary="API-563 Sequences available to me",
        parameters=[OpenApiParameter("page", OpenApiTypes.INT), OpenApiParameter("page_size", OpenApiTypes.INT)],
        responses={200: s.SequenceSerializer(many=True), **error_responses(*READ_ERRORS)},
        tags=TAGS,
    )
    def get(self, request):
        paginator = DefaultPagination()
        page = paginator.paginate_queryset(_sequences_for(request.user), request, view=self)
        return paginator.get_paginated_response(s.SequenceSerializer(page, many=True).data)


class RunListApi(APIView):
    permission_classes = [IsPartner]

    @extend_schema(
        operation_id="API-564_followup_runs",
        summary="API-564 My sequence runs",
        parameters=[
            OpenApiParameter("lead", OpenApiTypes.STR, description="The lead's id or public id."),
            OpenApiParameter("status", OpenApiTypes.STR, enum=SequenceRun.Status.values),
            OpenApiParameter("page", OpenApiTypes.INT),
            OpenApiParameter("page_size", OpenApiTypes.INT),
        ],
        responses={200: s.RunSerializer(many=True), **error_responses(*READ_ERRORS)},
        tags=TAGS,
    )
    def get(self, request):
        status_value = request.query_params.get("status") or ""
        if status_value and status_value not in SequenceRun.Status.values:
            raise ValidationError({"status": [f"One of: {', '.join(SequenceRun.Status.values)}."]})
        lead_ref = (request.query_params.get("lead") or "").strip()
        lead = lead_get_for(request.user, lead_ref) if lead_ref else None
        qs = runs_for_partner(request.user, lead=lead, status=status_value)
        paginator = DefaultPagination()
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(s.RunSerializer(page, many=True).data)


class RunStopApi(APIView):
    permission_classes = [IsPartner]

    @extend_schema(
        operation_id="API-565_followup_run_stop",
        summary="API-565 Stop a run",
        request=None,
        responses={200: s.RunSerializer, **error_responses(*WRITE_ERRORS)},
        tags=TAGS,
    )
    def post(self, request, run_id):
        run = run_get_for(request.user, run_id)
        return Response(s.RunSerializer(run_stop(run=run, actor=request.user)).data)


class RunResponseApi(APIView):
    permission_classes = [IsPartner]

    @extend_schema(
        operation_id="API-566_followup_run_response",
        summary="API-566 Report the lead's response",
        description="The current step's `on_response` branch decides: next step, end, move to nurture, wait, "
        "or a call task.",
        request=s.RunResponseInputSerializer,
        responses={200: s.RunSerializer, **error_responses(*WRITE_ERRORS)},
        tags=TAGS,
    )
    def post(self, request, run_id):
        serializer = s.RunResponseInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        run = run_get_for(request.user, run_id)
        run = run_respond(run=run, outcome=serializer.validated_data["outcome"], actor=request.user)
        return Response(s.RunSerializer(run).data)


class ShouldFollowupApi(APIView):
    permission_classes = [IsPartner]

    @extend_schema(
        operation_id="API-571_followup_should",
        summary="API-571 Should I follow up with this lead now?",
        responses={200: s.ShouldFollowupSerializer, **error_responses(*READ_ERRORS)},
        tags=TAGS,
    )
    def get(self, request, lead_id):
        decision = should_followup(lead_get_for(request.user, lead_id))
        return Response(
            {"ok": decision.ok, "reason": decision.reason, "next_allowed_at": decision.detail.get("next_allowed_at")}
        )


class MessageTemplateListApi(APIView):
    permission_classes = [IsPartner]

    @extend_schema(
        operation_id="API-577_followup_message_templates",
        summary="API-577 My message templates",
        description="The partner's own templates and the platform defaults they have no copy of.",
        parameters=[OpenApiParameter("page", OpenApiTypes.INT), OpenApiParameter("page_size", OpenApiTypes.INT)],
        responses={200: s.MessageTemplateSerializer(many=True), **error_responses(*READ_ERRORS)},
        tags=TAGS,
    )
    def get(self, request):
        paginator = DefaultPagination()
        page = paginator.paginate_queryset(templates_for(request.user), request, view=self)
        return paginator.get_paginated_response(s.MessageTemplateSerializer(page, many=True).data)


class MessagePreviewApi(APIView):
    permission_classes = [IsPartner]

    @extend_schema(
        operation_id="API-578_followup_message_preview",
        summary="API-578 Preview a message for a lead",
        description="The template rendered with the lead's data; with `personalise` and an LLM configured, a "
        "personalised suggestion (no contact data is sent to the LLM). A suggestion only: nothing is sent.",
        request=s.MessagePreviewInputSerializer,
        responses={200: s.MessagePreviewSerializer, **error_responses(*WRITE_ERRORS)},
        tags=TAGS,
    )
    def post(self, request):
        serializer = s.MessagePreviewInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        lead = lead_get_for(request.user, data["lead"])
        if data["personalise"]:
            generated = generate_message(
                lead=lead, reason=data["reason"] or data["template"], template_code=data["template"], user=request.user
            )
        else:
            generated = message_preview(user=request.user, lead=lead, template_code=data["template"])
        actions = message_actions(
            channel=generated.channel, phone=lead.phone or "", message=generated.body, country=lead.country or ""
        )
        return Response(
            {
                "subject": generated.subject,
                "body": generated.body,
                "template": generated.template,
                "channel": generated.channel,
                "source": generated.source,
                "actions": actions,
            }
        )


urlpatterns = [
    api_path("followups/smart-suggestions/", SuggestionListApi.as_view(), "api-followup-suggestions"),
    api_path("followups/batch-send/", BatchSendApi.as_view(), "api-followup-batch-send"),
    api_path("followups/sequence/start/", SequenceStartApi.as_view(), "api-followup-sequence-start"),
    api_path("followups/sequences/", SequenceListApi.as_view(), "api-followup-sequences"),
    api_path("followups/runs/", RunListApi.as_view(), "api-followup-runs"),
    api_path(f"followups/runs/{RUN_ID}/stop/", RunStopApi.as_view(), "api-followup-run-stop"),
    api_path(f"followups/runs/{RUN_ID}/response/", RunResponseApi.as_view(), "api-followup-run-response"),
    api_path(f"followups/should-followup/{LEAD_ID}/", ShouldFollowupApi.as_view(), "api-followup-should"),
    api_path("followups/message-templates/", MessageTemplateListApi.as_view(), "api-followup-message-templates"),
    api_path("followups/messages/preview/", MessagePreviewApi.as_view(), "api-followup-message-preview"),
]
