"""DRF API of the followups app: API-592, the one-click unsubscribe endpoint (no login).

The endpoint answers HTML (the confirmation and done pages) and the empty 200 of RFC 8058; its
logic lives in ``followups.views.unsubscribe_view``. It is a DRF view so that the OpenAPI schema
documents it under its API-ID. No authentication (a mailbox provider's POST has no cookies and no
credentials: the signed token is the authority), no CSRF (the same reason), no throttle per IP
(Gmail and Yahoo post the unsubscribes of many people from few addresses; the token is unforgeable).
"""

from __future__ import annotations

from django.urls import re_path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer, StaticHTMLRenderer
from rest_framework.views import APIView

from core.api_schema import ErrorOutputSerializer
from followups.views import unsubscribe_view

TAGS = ["unsubscribe"]
TOKEN = OpenApiParameter(
    "token", OpenApiTypes.STR, OpenApiParameter.PATH, description="The signed token of the email's unsubscribe link."
)
UNSUBSCRIBE_BODY = inline_serializer(
    name="UnsubscribeInput",
    fields={
        "List-Unsubscribe": serializers.CharField(
            required=False, help_text="`One-Click` (RFC 8058): opt out of all marketing emails at once."
        ),
        "scope": serializers.ChoiceField(
            choices=["all", "sequence"],
            required=False,
            help_text="The confirmation page's choice: all marketing emails, or only this email's sequence.",
        ),
    },
)
NOT_FOUND = OpenApiResponse(ErrorOutputSerializer, description="Unknown or tampered token")


class UnsubscribeApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []
    renderer_classes = [JSONRenderer, StaticHTMLRenderer]

    def perform_content_negotiation(self, request, force=False):
        # The answers are pages and empty bodies whatever the client accepts (a 406 helps nobody).
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(
        operation_id="API-592_unsubscribe_page",
        summary="API-592 Unsubscribe confirmation page",
        description=(
            "The `List-Unsubscribe` link and the visible link of every marketing email. Shows a German page with "
            "the choice (all marketing emails / only this sequence). A GET never opts out: mail scanners and "
            "link previews follow every link. Unknown or tampered token: 404."
        ),
        parameters=[TOKEN],
        responses={(200, "text/html"): OpenApiTypes.STR, (404, "text/html"): OpenApiTypes.STR},
        tags=TAGS,
        auth=[],
    )
    def get(self, request, token: str):
        return unsubscribe_view(request._request, token)

    @extend_schema(
        operation_id="API-592_unsubscribe",
        summary="API-592 One-click unsubscribe (RFC 8058) or the page's choice",
        description=(
            "Body `List-Unsubscribe=One-Click` (form-urlencoded or multipart, no login, no cookies): opts the "
            "person out of all marketing emails at once (a withdrawal in the consent ledger, every sequence run "
            "ends) and answers 200 with an empty body, never a redirect. Body `scope=all|sequence` (the page's "
            "form): does the chosen thing and answers the done page. Repeating is harmless (200). Anything else: "
            "400. Unknown or tampered token: 404."
        ),
        parameters=[TOKEN],
        request={
            "application/x-www-form-urlencoded": UNSUBSCRIBE_BODY,
            "multipart/form-data": UNSUBSCRIBE_BODY,
        },
        responses={
            (200, "text/plain"): OpenApiResponse(OpenApiTypes.STR, description="One-click: done, empty body"),
            (200, "text/html"): OpenApiResponse(OpenApiTypes.STR, description="The page's choice: done page"),
            400: OpenApiResponse(ErrorOutputSerializer, description="Neither the one-click body nor a choice"),
            404: NOT_FOUND,
        },
        examples=[
            OpenApiExample(
                "One-click",
                value={"List-Unsubscribe": "One-Click"},
                request_only=True,
                media_type="multipart/form-data",
            )
        ],
        tags=TAGS,
        auth=[],
    )
    def post(self, request, token: str):
        return unsubscribe_view(request._request, token)


# Mounted at the root (``followups.urls``); with and without the trailing slash (SPEC §9).
urlpatterns = [
    re_path(r"^api/unsubscribe/(?P<token>[^/]+)/?$", UnsubscribeApi.as_view(), name="unsubscribe"),
]
