"""The one webhook receiver for every provider (``/webhooks/<provider>/``).

Receiver → handler → ``lead_ingest`` goes through the importlib registry in ``webhooks/registry.py``: the
provider is looked up by its path segment with ``get_provider()`` (unknown: 404), among the modules of
``webhooks.providers`` that ``WebhooksConfig.ready`` imported and that registered themselves.

Order, cheapest and safest first: IP allowlist (403) → rate limit (429, decided without a round
trip; the hit is counted on the way out, see ``RateLimitHit``) → GET handshake →
body size (413) → JSON content type (415) → signature over the raw bytes (401) → parse (400) →
strip what PostgreSQL cannot store (NUL, lone surrogates) → store one event per item (a duplicate is
"already received": 200) → enqueue after commit → 200.
Without a commit the answer is 503, so the provider retries instead of losing the delivery.
"""

from __future__ import annotations

import json
import logging

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from core.api import error_body
from core.ratelimit import RateLimitHit, client_ip, ip_allowed
from core.validation import strip_unstorable
from webhooks.registry import WebhookProvider, get_provider
from webhooks.services import webhook_delivery_store

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024


def _refuse(provider: str, status: int, code: str, message: str, reason: str) -> JsonResponse:
    # The reason is for operators; never the body, headers or IP (personal data).
    logger.warning("Webhook refused", extra={"provider": provider, "status": status, "reason": reason})
    return JsonResponse(error_body(code, message), status=status)


@csrf_exempt
def webhook_receive(request: HttpRequest, provider: str) -> HttpResponse:
    """Accept one delivery for any registered provider; 200 only once it is committed to the ledger."""
    spec = get_provider(provider)
    if spec is None:
        return JsonResponse(error_body("not_found", _("Not found.")), status=404)

    ip = client_ip(request)
    if spec.allowlist_setting and not ip_allowed(ip, getattr(settings, spec.allowlist_setting, ())):
        return _refuse(provider, 403, "forbidden", _("This address may not send webhooks."), "ip_not_allowed")
    hit = RateLimitHit(request, group=f"webhooks.{provider}", ip=ip)
    retry_after = hit.blocked()
    if retry_after is not None:
        response = _refuse(provider, 429, "rate_limited", _("Too many requests."), "rate_limited")
        response["Retry-After"] = str(retry_after)
        return response
    try:
        return _receive(request, provider, spec, hit)
    finally:
        hit.count()  # unless the enqueue already counted it, in the same round trip


def _receive(request: HttpRequest, provider: str, spec: WebhookProvider, hit: RateLimitHit) -> HttpResponse:
    if request.method == "GET" and spec.handshake is not None:
        return spec.handshake(request)
    if request.method != "POST":
        response = _refuse(provider, 405, "method_not_allowed", _("Method not allowed."), "method")
        response["Allow"] = "GET, POST" if spec.handshake else "POST"
        return response

    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > MAX_BODY_BYTES:
        return _refuse(provider, 413, "payload_too_large", _("The body is larger than 1 MiB."), "too_large")
    if request.content_type != "application/json":
        return _refuse(provider, 415, "unsupported_media_type", _("Send application/json."), "content_type")
    body = request.body
    if len(body) > MAX_BODY_BYTES:
        return _refuse(provider, 413, "payload_too_large", _("The body is larger than 1 MiB."), "too_large")

    if not spec.verify_signature(request, body):
        return _refuse(provider, 401, "invalid_signature", _("Missing or invalid signature."), "signature")

    try:
        # A visitor's NUL or lone surrogate would fail the insert (a 500, or a 503 the provider retries
        # forever): stripped from the items, while the encrypted ledger keeps the raw body (issue 23).
        items = spec.split(strip_unstorable(json.loads(body)))
    except (ValueError, UnicodeDecodeError, RecursionError):
        return _refuse(provider, 400, "invalid_payload", _("The body is not a valid notification."), "parse")

    headers = {name: request.headers[name] for name in spec.stored_headers if name in request.headers}
    try:
        result = webhook_delivery_store(provider=provider, body=body, headers=headers, items=items, rate_hit=hit)
    except DatabaseError:
        logger.exception("Webhook not stored: database unavailable", extra={"provider": provider})
        response = JsonResponse(error_body("unavailable", _("Temporarily unavailable, try again.")), status=503)
        response["Retry-After"] = "30"
        return response
    return JsonResponse(
        {"status": "ok", "received": len(result.new), "duplicates": result.duplicates, "ignored": result.ignored}
    )
