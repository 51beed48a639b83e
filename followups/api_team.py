"""DRF API of reminders, escalations and team templates (API-567–570, 572–576, 579).

Thin views: validate, call one selector or service, serialize. Partners only; another user's reminder
and a template of another team are a 404.
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import api_path
from core.api_schema import READ_ERRORS, WRITE_ERRORS, error_responses
from core.pagination import DefaultPagination
from core.permissions import IsPartner
from followups.selectors.reminders import reminder_get_for, reminders_open_for
from followups.selectors.team import template_get_for, template_performance, templates_for
from followups.serializers_team import (
    EscalationOutputSerializer,
    EscalationPageSerializer,
    ReminderCompleteInputSerializer,
    ReminderCreateInputSerializer,
    ReminderOutputSerializer,
    ReminderPageSerializer,
    ReminderSnoozeInputSerializer,
    ReminderSnoozeOutputSerializer,
    TeamTemplateCloneOutputSerializer,
    TeamTemplateInputSerializer,
    TeamTemplateOutputSerializer,
    TeamTemplatePageSerializer,
    TeamTemplatePerformanceSerializer,
    TeamTemplatePushInputSerializer,
    TeamTemplatePushOutputSerializer,
)
from followups.services.escalations import escalations_for_leader
from followups.services.reminders import reminder_complete, reminder_create, reminder_snooze
from followups.services.team import template_clone, template_publish, template_push
from leads.selectors import lead_get_for

REMINDER_TAGS = ["follow-ups: reminders"]
TEAM_TAGS = ["follow-ups: team"]
PAGE = [
    OpenApiParameter("page", OpenApiTypes.INT),
    OpenApiParameter("page_size", OpenApiTypes.INT, description="1–200, default 50."),
]


def _paginated(view: APIView, request, qs, serializer_class) -> Response:
    paginator = DefaultPagination()
    page = paginator.paginate_queryset(qs, request, view=view)
    return paginator.get_paginated_response(serializer_class(page, many=True).data)


# --- Reminders --------------------------------------------------------------------------------


class ReminderListCreateApi(APIView):
    """API-567 (my open reminders) and API-568 (schedule one)."""

    permission_classes = [IsPartner]

    @extend_schema(
        operation_id="API-567_reminder_list",
        summary="API-567 My open reminders",
        description="Soonest first. `due_before` (ISO date-time): only those due by then.",
        parameters=[OpenApiParameter("due_before", OpenApiTypes.DATETIME), *PAGE],
        responses={200: ReminderPageSerializer, **error_responses(*READ_ERRORS)},
        tags=REMINDER_TAGS,
    )
    def get(self, request):
        due_before = None
        raw = request.query_params.get("due_before")
        if raw:
            try:
                due_before = serializers.DateTimeField().to_internal_value(raw)
            except serializers.ValidationError as exc:
                raise serializers.ValidationError({"due_before": exc.detail}) from exc
        qs = reminders_open_for(request.user, due_before=due_before)
        return _paginated(self, request, qs, ReminderOutputSerializer)

    @extend_schema(
        operation_id="API-568_reminder_create",
        summary="API-568 Schedule a reminder",
        description="Without `scheduled_for` the lead's best time is chosen. Every time is moved out of the "
        "user's quiet hours (default 20–8 h and weekends) and spread so that no hour holds more than the "
        "user's `max_per_hour` reminders.",
        request=ReminderCreateInputSerializer,
        responses={201: ReminderOutputSerializer, **error_responses(*WRITE_ERRORS)},
        tags=REMINDER_TAGS,
    )
    def post(self, request):
        serializer = ReminderCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        lead = lead_get_for(request.user, data["lead"])
        reminder = reminder_create(
            user=request.user,
            lead=lead,
            action_type=data["action_type"],
            priority=data.get("priority"),
            scheduled_for=data.get("scheduled_for"),
            note=data.get("note", ""),
            actor=request.user,
        )
        return Response(ReminderOutputSerializer(reminder).data, status=status.HTTP_201_CREATED)


class ReminderSnoozeApi(APIView):
    permission_classes = [IsPartner]

    @extend_schema(
        operation_id="API-569_reminder_snooze",
        summary="API-569 Snooze a reminder",
        description="The new time follows the user's snooze pattern (default: a day later at the same hour), "
        "outside the quiet hours. `warning` is null until the third snooze of the same reminder. A closed "
        "reminder: 409.",
        request=ReminderSnoozeInputSerializer,
        responses={200: ReminderSnoozeOutputSerializer, **error_responses(*WRITE_ERRORS)},
        tags=REMINDER_TAGS,
    )
    def post(self, request, reminder_id: str):
        reminder = reminder_get_for(request.user, reminder_id)
        serializer = ReminderSnoozeInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = reminder_snooze(reminder=reminder, actor=request.user, reason=serializer.validated_data["reason"])
        return Response(ReminderSnoozeOutputSerializer(result).data)


class ReminderCompleteApi(APIView):
    permission_classes = [IsPartner]

    @extend_schema(
        operation_id="API-570_reminder_complete",
        summary="API-570 Complete (or dismiss) a reminder",
        description='`{"dismiss": true}` dismisses it. A closed reminder: 409.',
        request=ReminderCompleteInputSerializer,
        responses={200: ReminderOutputSerializer, **error_responses(*WRITE_ERRORS)},
        tags=REMINDER_TAGS,
    )
    def post(self, request, reminder_id: str):
        reminder = reminder_get_for(request.user, reminder_id)
        serializer = ReminderCompleteInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        reminder = reminder_complete(
            reminder=reminder, actor=request.user, dismiss=serializer.validated_data["dismiss"]
        )
        return Response(ReminderOutputSerializer(reminder).data)


# --- Team templates ---------------------------------------------------------------------------


class TeamTemplateListCreateApi(APIView):
    """API-572 (templates I lead or my team published) and API-573 (a leader publishes one)."""

    permission_classes = [IsPartner]

    @extend_schema(
        operation_id="API-572_team_template_list",
        summary="API-572 Team templates",
        description="A leader: the templates they published; a member: the published templates of their team.",
        parameters=PAGE,
        responses={200: TeamTemplatePageSerializer, **error_responses(*READ_ERRORS)},
        tags=TEAM_TAGS,
    )
    def get(self, request):
        return _paginated(self, request, templates_for(request.user), TeamTemplateOutputSerializer)

    @extend_schema(
        operation_id="API-573_team_template_publish",
        summary="API-573 Publish a team template",
        description="Leaders only (403 otherwise). Visible to the leader's team only. A config of the wrong "
        "shape: 400 with the offending path in `fields` (e.g. `config.sequences[0].steps[1].kind`).",
        request=TeamTemplateInputSerializer,
        responses={201: TeamTemplateOutputSerializer, **error_responses(*WRITE_ERRORS)},
        tags=TEAM_TAGS,
    )
    def post(self, request):
        serializer = TeamTemplateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        template = template_publish(
            leader=request.user,
            name=data["name"],
            description=data["description"],
            config=data["config"],
            actor=request.user,
        )
        return Response(TeamTemplateOutputSerializer(template).data, status=status.HTTP_201_CREATED)


class TeamTemplateCloneApi(APIView):
    permission_classes = [IsPartner]

    @extend_schema(
        operation_id="API-574_team_template_clone",
        summary="API-574 Clone a team template",
        description="A member of the template's team copies its sequences and message templates (one "
        "transaction). Cloning again is idempotent: the existing clone, 200.",
        request=None,
        responses={
            201: TeamTemplateCloneOutputSerializer,
            200: TeamTemplateCloneOutputSerializer,
            **error_responses(*WRITE_ERRORS),
        },
        tags=TEAM_TAGS,
    )
    def post(self, request, template_id: str):
        template = template_get_for(request.user, template_id)
        clone, created = template_clone(template=template, user=request.user, actor=request.user)
        return Response(
            TeamTemplateCloneOutputSerializer(clone).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class TeamTemplatePushApi(APIView):
    permission_classes = [IsPartner]

    @extend_schema(
        operation_id="API-575_team_template_push",
        summary="API-575 Push a new version to the clones",
        description="The leader's new `config` becomes version + 1; every clone still in sync is updated, the "
        "members who edited their copy are skipped and told that a new version is available.",
        request=TeamTemplatePushInputSerializer,
        responses={200: TeamTemplatePushOutputSerializer, **error_responses(*WRITE_ERRORS)},
        tags=TEAM_TAGS,
    )
    def post(self, request, template_id: str):
        template = template_get_for(request.user, template_id, leader_only=True)
        serializer = TeamTemplatePushInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = template_push(
            template=template, leader=request.user, config=serializer.validated_data["config"], actor=request.user
        )
        return Response(TeamTemplatePushOutputSerializer(result).data)


class TeamTemplatePerformanceApi(APIView):
    permission_classes = [IsPartner]

    @extend_schema(
        operation_id="API-576_team_template_performance",
        summary="API-576 Performance of a team template",
        description="The team's leader only (others 404): clones, response and conversion rates of the runs of "
        "the cloned sequences, per member, best and worst member.",
        responses={200: TeamTemplatePerformanceSerializer, **error_responses(*READ_ERRORS)},
        tags=TEAM_TAGS,
    )
    def get(self, request, template_id: str):
        template = template_get_for(request.user, template_id, leader_only=True)
        return Response(TeamTemplatePerformanceSerializer(template_performance(template=template)).data)


class EscalationListApi(APIView):
    permission_classes = [IsPartner]

    @extend_schema(
        operation_id="API-579_escalation_list",
        summary="API-579 Escalations of my team",
        description="Leaders: their team members' leads not reached for 7 days (one per lead and week), newest "
        "first. Others: an empty list.",
        parameters=PAGE,
        responses={200: EscalationPageSerializer, **error_responses(*READ_ERRORS)},
        tags=TEAM_TAGS,
    )
    def get(self, request):
        return _paginated(self, request, escalations_for_leader(request.user), EscalationOutputSerializer)


REMINDER_ID = r"(?P<reminder_id>[0-9]+)"
TEMPLATE_ID = r"(?P<template_id>[0-9]+)"

# Mounted at the root (``followups.urls``); with and without the trailing slash (SPEC §9).
urlpatterns = [
    api_path("followups/reminders", ReminderListCreateApi.as_view(), name="api-reminder-list"),
    api_path(f"followups/reminders/{REMINDER_ID}/snooze", ReminderSnoozeApi.as_view(), name="api-reminder-snooze"),
    api_path(
        f"followups/reminders/{REMINDER_ID}/complete", ReminderCompleteApi.as_view(), name="api-reminder-complete"
    ),
    api_path("followups/team/templates", TeamTemplateListCreateApi.as_view(), name="api-team-template-list"),
    api_path(
        f"followups/team/templates/{TEMPLATE_ID}/clone", TeamTemplateCloneApi.as_view(), name="api-team-template-clone"
    ),
    api_path(
        f"followups/team/templates/{TEMPLATE_ID}/push", TeamTemplatePushApi.as_view(), name="api-team-template-push"
    ),
    api_path(
        f"followups/team/templates/{TEMPLATE_ID}/performance",
        TeamTemplatePerformanceApi.as_view(),
        name="api-team-template-performance",
    ),
    api_path("followups/escalations", EscalationListApi.as_view(), name="api-escalation-list"),
]
