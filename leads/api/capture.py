"""API-580 ``POST /api/capture/``: website forms (Zone 3) hand their leads to the pool.

Authentication is an API key with the ``capture`` scope (``X-Api-Key``); its organization is the
tenant (a platform key fills the Zone 1 pool). The body is JSON, form-encoded or multipart. Every
lead goes through ``lead_ingest`` (channel ``website``, source ``zone1_pool``), so it is normalized,
deduplicated, enriched and scored like any other.

Browsers (CORS): a form on another site posts with a custom header, so the browser first sends an
``OPTIONS`` preflight, and a preflight never carries the key. The preflight is therefore answered
for every origin that is listed on at least one usable capture key (those origin lists are public
by nature: they are the sites showing the form); the ``POST`` itself is checked against the
origins of the key it carries, and a foreign origin is refused with 403 and no CORS headers.
Requests without an ``Origin`` (server to server) are not subject to CORS.

Bots: the hidden honeypot field (``fax``) is answered exactly like a success (200 and a public id
that belongs to nobody), and nothing is stored. Success is always 200 with the same body, whether
the person was new or already known, so the endpoint cannot be used to test who is in the pool.
"""

from __future__ import annotations

import base64
import logging
import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

from django.db import transaction
from django.db.models import Q
from django.http import HttpRequest
from django.urls import re_path
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import ApiKeyAuthentication, ApiKeyPrincipal
from accounts.models import ApiKey
from compliance.models import ConsentRecord
from core.permissions import require_scope
from core.ratelimit import client_ip, rate_limit_exceeded
from core.validation import SAFE_PARSERS, SafeCharField, SafeDictField, text_problem
from leads.api.serializers import LeadContactInputSerializer
from leads.models import PUBLIC_ID_PREFIX, Lead
from leads.normalize import normalize_payload
from leads.services import lead_ingest
from leads.services.consent import ConsentContext

logger = logging.getLogger(__name__)

HONEYPOT_FIELD = "fax"
MAX_BODY_BYTES = 64 * 1024
MAX_EXTRA_FIELDS = 30
MAX_EXTRA_LENGTH = 2000
PREFLIGHT_MAX_AGE_SECONDS = 600
UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
#: Request fields that are not lead answers (never copied into ``attributes``).
CONTROL_FIELDS = frozenset({HONEYPOT_FIELD, "csrfmiddlewaretoken", "api_key", "g-recaptcha-response"})


class RateLimited(exceptions.Throttled):
    default_detail = _("Too many requests.")
    default_code = "rate_limited"


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = _("The request body is too large.")
    default_code = "payload_too_large"


class OriginNotAllowed(exceptions.PermissionDenied):
    default_detail = _("This website is not allowed to use this API key.")
    default_code = "origin_not_allowed"


def normalize_origin(origin: str) -> str:
    """``https://www.Example.de/`` → ``https://www.example.de`` (scheme, host and port only)."""
    text = (origin or "").strip()
    parts = urlsplit(text)
    if not parts.scheme or not parts.netloc:
        return text.lower().rstrip("/")
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def origin_allowed(api_key: ApiKey, origin: str) -> bool:
    wanted = normalize_origin(origin)
    return any(normalize_origin(o) == wanted for o in (api_key.allowed_origins or []) if isinstance(o, str))


def origin_known(origin: str) -> bool:
    """Is ``origin`` listed on any usable capture key? Decides the key-less preflight."""
    now = timezone.now()
    keys = ApiKey.objects.filter(
        Q(expires_at__isnull=True) | Q(expires_at__gt=now),
        revoked_at__isnull=True,
        organization__is_active=True,
        scopes__contains=[ApiKey.Scope.CAPTURE.value],
    ).only("allowed_origins")
    return any(origin_allowed(key, origin) for key in keys.iterator())


def _fake_public_id() -> str:
    return PUBLIC_ID_PREFIX + base64.b32encode(os.urandom(5)).decode("ascii")


def _utm_from_url(url: str) -> dict[str, str]:
    """UTM parameters of the landing page's query string (``?utm_source=…``)."""
    try:
        query = parse_qs(urlsplit(url).query)
    except ValueError:
        return {}
    return {name: query[name][0] for name in UTM_FIELDS if query.get(name) and query[name][0]}


class CaptureApi(APIView):
    """API-580: a website form posts a lead with a capture API key; it lands in the pool."""

    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [require_scope(ApiKey.Scope.CAPTURE.value)]
    parser_classes = SAFE_PARSERS
    throttle_classes: list[Any] = []

    class InputSerializer(LeadContactInputSerializer):
        class Meta:
            ref_name = "CaptureInput"

        message = SafeCharField(required=False, allow_blank=True, max_length=5000)
        consent = serializers.BooleanField(
            required=False, default=False, help_text="Marketing consent checkbox (true/on/1)."
        )
        consent_text = SafeCharField(
            required=False, allow_blank=True, max_length=5000, help_text="The consent text the visitor saw."
        )
        consent_version = SafeCharField(
            required=False, allow_blank=True, max_length=40, help_text="Version of that text; required with consent."
        )
        utm_source = SafeCharField(required=False, allow_blank=True, max_length=255)
        utm_medium = SafeCharField(required=False, allow_blank=True, max_length=255)
        utm_campaign = SafeCharField(required=False, allow_blank=True, max_length=255)
        utm_term = SafeCharField(required=False, allow_blank=True, max_length=255)
        utm_content = SafeCharField(required=False, allow_blank=True, max_length=255)
        referrer = SafeCharField(
            required=False, allow_blank=True, max_length=1000, help_text="document.referrer of the page."
        )
        landing_page = SafeCharField(
            required=False,
            allow_blank=True,
            max_length=1000,
            help_text="URL of the page with the form (default: the Referer header).",
        )
        attributes = SafeDictField(
            required=False, help_text="Further form answers (JSON bodies); unknown form fields are kept too."
        )
        fax = SafeCharField(
            required=False, allow_blank=True, help_text="Honeypot: leave empty and hide it from humans."
        )

        def validate(self, data: dict[str, Any]) -> dict[str, Any]:
            errors: dict[str, list[str]] = {}
            email, phone = data.get("email", "").strip(), data.get("phone", "").strip()
            if not email and not phone:
                message = str(_("Provide an email address or a phone number."))
                errors["email"], errors["phone"] = [message], [message]
            else:
                # The pipeline's own checks decide (the same as for every other channel).
                invalid = normalize_payload({"email": email, "phone": phone}, channel="website").attributes
                invalid = invalid.get("_invalid", {})
                if "email" in invalid:
                    errors["email"] = [str(_("Enter a valid email address."))]
                if "phone" in invalid:
                    errors["phone"] = [str(_("Enter a valid phone number."))]
            if data.get("consent") and not data.get("consent_version", "").strip():
                errors["consent_version"] = [str(_("Required when consent is given."))]
            if errors:
                raise serializers.ValidationError(errors)
            return data

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "CaptureOutput"

        status = serializers.CharField()
        public_id = serializers.CharField()

    # --- request plumbing: rate limit first, key-less preflight, CORS headers -------------------

    _cors_origin: str | None = None

    def get_authenticators(self):
        if self._is_preflight():
            return []
        return super().get_authenticators()

    def get_permissions(self):
        if self._is_preflight():
            return []
        return super().get_permissions()

    def _is_preflight(self) -> bool:
        request = getattr(self, "request", None)
        return request is not None and request.method == "OPTIONS"

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        group = "capture.preflight" if request.method == "OPTIONS" else "capture"
        retry_after = rate_limit_exceeded(request, group=group)
        if retry_after is not None:
            raise RateLimited(wait=retry_after)
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > MAX_BODY_BYTES:
            raise PayloadTooLarge()
        super().initial(request, *args, **kwargs)
        origin = request.headers.get("Origin")
        if origin and request.method != "OPTIONS":
            principal = request.user
            if not isinstance(principal, ApiKeyPrincipal) or not origin_allowed(principal.api_key, origin):
                raise OriginNotAllowed()
            self._cors_origin = origin

    def finalize_response(self, request: HttpRequest, response: Response, *args: Any, **kwargs: Any) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)
        origin = request.headers.get("Origin")
        if origin and (
            self._cors_origin == origin
            # Refusals before the key is known: let the page read them when the site is one of ours.
            or (self._cors_origin is None and response.status_code in (401, 413, 415, 429) and origin_known(origin))
        ):
            response["Access-Control-Allow-Origin"] = origin
            response["Access-Control-Expose-Headers"] = "Retry-After"
        response["Vary"] = "Origin"
        return response

    @extend_schema(exclude=True)
    def options(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """CORS preflight: answered for origins listed on some usable capture key (it carries no key)."""
        origin = request.headers.get("Origin", "")
        if not origin or not origin_known(origin):
            raise exceptions.PermissionDenied(_("This website is not allowed to use the capture API."))
        response = Response(status=status.HTTP_204_NO_CONTENT)
        response["Access-Control-Allow-Origin"] = origin
        response["Access-Control-Allow-Methods"] = "POST, OPTIONS"
        response["Access-Control-Allow-Headers"] = "X-Api-Key, Content-Type, Idempotency-Key"
        response["Access-Control-Max-Age"] = str(PREFLIGHT_MAX_AGE_SECONDS)
        return response

    # --- the capture ------------------------------------------------------------------------------

    @extend_schema(
        operation_id="API-580_capture",
        summary="API-580 Capture a website lead (Zone 3)",
        description=(
            "For website forms. Authenticate with `X-Api-Key` (scope `capture`); browsers may call it "
            "from the origins configured on the key (CORS). JSON, form-encoded or multipart body. "
            "Needs an email address or a phone number. Fields that are not listed are kept as form "
            "answers (`attributes`). `consent=true` with `consent_text` and `consent_version` records a "
            "marketing consent. UTM parameters come from the fields or from the landing page URL; the "
            "landing page defaults to the `Referer` header. The honeypot field `fax` must stay empty: a "
            "filled one is answered like a success and nothing is stored. Every success is 200 with the "
            "lead's public id, whether the person is new or known. Rate limited per client IP (429 with "
            "`Retry-After`). An optional `Idempotency-Key` header makes retries of one submission safe."
        ),
        request={
            "application/json": InputSerializer,
            "application/x-www-form-urlencoded": InputSerializer,
            "multipart/form-data": InputSerializer,
        },
        responses={
            200: OutputSerializer,
            400: OpenApiResponse(description="Validation error, with field details in `error.fields`"),
            401: OpenApiResponse(description="Missing, invalid, expired or revoked API key"),
            403: OpenApiResponse(description="Key without the `capture` scope, or an origin not on the key"),
            413: OpenApiResponse(description="Body larger than 64 KiB"),
            415: OpenApiResponse(description="Unsupported content type"),
            429: OpenApiResponse(description="Rate limit per client IP exceeded; see `Retry-After`"),
        },
        examples=[
            OpenApiExample(
                "Form with consent",
                request_only=True,
                value={
                    "email": "anna.mueller@example.de",
                    "full_name": "Anna Müller",
                    "phone": "+49 151 23456789",
                    "interest_type": "kauf",
                    "consent": True,
                    "consent_text": "Ich möchte Informationen per E-Mail erhalten.",
                    "consent_version": "2026-01",
                    "landing_page": "https://www.example.de/kapitalanlage?utm_source=google",
                },
            )
        ],
        tags=["capture"],
    )
    def post(self, request: Request) -> Response:
        data = request.data
        # A JSON body that is not an object (a list, a string) is the serializer's 400, not a crash.
        if isinstance(data, Mapping) and str(data.get(HONEYPOT_FIELD) or "").strip():
            logger.info("capture honeypot filled", extra={"api_key": request.user.api_key.prefix})
            return Response({"status": "ok", "public_id": _fake_public_id()})
        serializer = self.InputSerializer(data=data)
        serializer.is_valid(raise_exception=True)
        fields = dict(serializer.validated_data)
        principal: ApiKeyPrincipal = request.user
        payload = self._payload(request, dict(fields))
        # The consent box goes to the ledger with the text the visitor saw and the evidence of the
        # submission (pending until the double opt-in is confirmed).
        consent = ConsentContext(
            source=ConsentRecord.Source.FORM,
            version=fields.get("consent_version", "").strip(),
            text=fields.get("consent_text", ""),
            actor=principal,
            evidence={
                "channel": "website_form",
                "api_key": principal.api_key.prefix,
                "origin": request.headers.get("Origin", ""),
                "page": payload.get("landing_page", ""),
                "ip": client_ip(request),
                "user_agent": request.headers.get("User-Agent", "")[:300],
                "at": timezone.now().isoformat(),
            },
        )
        with transaction.atomic():
            result = lead_ingest(
                payload=payload,
                channel=Lead.Channel.WEBSITE,
                source=Lead.Source.ZONE1_POOL,
                tenant=principal.organization,
                idempotency_key=request.headers.get("Idempotency-Key", "")[:200],
                actor=None,
                consent=consent,
            )
        return Response(self.OutputSerializer({"status": "ok", "public_id": result.lead.public_id}).data)

    def _payload(self, request: Request, fields: dict[str, Any]) -> dict[str, Any]:
        """The ``lead_ingest`` payload: known fields, the rest of the form as answers, attribution."""
        consent = fields.pop("consent", False)
        for name in ("consent_text", "consent_version", HONEYPOT_FIELD):
            fields.pop(name, None)
        attributes = dict(fields.pop("attributes", None) or {})
        message = fields.pop("message", "")
        if message:
            attributes["message"] = message
        attributes.update(self._extra_answers(request))
        payload = {name: value for name, value in fields.items() if value not in ("", None)}
        if consent:
            payload["consent_marketing"], payload["consent_at"] = True, timezone.now().isoformat()
        if not payload.get("landing_page") and request.headers.get("Referer"):
            payload["landing_page"] = request.headers["Referer"][:1000]
        for name, value in _utm_from_url(payload.get("landing_page", "")).items():
            payload.setdefault(name, value[:255])
        if attributes:
            payload["attributes"] = attributes
        return payload

    def _extra_answers(self, request: Request) -> dict[str, Any]:
        """Form fields the serializer does not know are the site's own questions: kept, size-limited."""
        known = set(self.InputSerializer().fields) | CONTROL_FIELDS
        data = request.data
        answers: dict[str, Any] = {}
        for key in list(data.keys())[: MAX_EXTRA_FIELDS + len(known)]:
            if key in known or len(answers) >= MAX_EXTRA_FIELDS or len(str(key)) > 100:
                continue
            values = data.getlist(key) if hasattr(data, "getlist") else [data[key]]
            values = [v for v in values if isinstance(v, str | int | float | bool) and str(v).strip()]
            if not values:
                continue
            # The site's own questions are stored as they come: refuse what PostgreSQL would choke on.
            problem = text_problem(str(key)) or next(filter(None, (text_problem(str(v)) for v in values)), None)
            if problem:
                name = str(key) if not text_problem(str(key)) else "attributes"  # never echo a hostile name
                raise exceptions.ValidationError({name: [problem]})
            if len(values) == 1:
                answers[str(key)] = str(values[0])[:MAX_EXTRA_LENGTH]
            else:
                answers[str(key)] = [str(v)[:MAX_EXTRA_LENGTH] for v in values[:20]]
        return answers


# Mounted under /api/; the path works with and without its trailing slash (SPEC §9).
urlpatterns = [re_path(r"^capture/?$", CaptureApi.as_view(), name="api-capture")]
