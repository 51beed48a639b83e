"""Meta (Facebook/Instagram) webhook side: the signature over the raw body and the subscription handshake.

The Graph API client that fetches leads and sends messages is ``integrations.meta.graph``.
"""

from __future__ import annotations

import hashlib
import hmac
import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _

from core.api import error_body

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Hub-Signature-256"


def signature_matches(body: bytes, header: str | None, secrets: list[str]) -> bool:
    """Check ``sha256=<hex>`` against each configured secret, in constant time, over the raw bytes.

    Meta escapes non-ASCII, ``@`` and ``/`` on the wire; the bytes must never be re-serialized.
    """
    if not header or not header.startswith("sha256="):
        return False
    received = header[len("sha256=") :].strip().lower()
    matched = False
    for secret in secrets:
        if secret:
            expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
            matched |= hmac.compare_digest(received, expected)
    return matched


def verify_app_signature(request: HttpRequest, body: bytes) -> bool:
    return signature_matches(body, request.headers.get(SIGNATURE_HEADER), [settings.META_APP_SECRET])


def verify_instagram_signature(request: HttpRequest, body: bytes) -> bool:
    """Instagram-Login webhooks are signed with the Instagram app secret, page-routed ones with the Meta one."""
    secrets = [settings.META_APP_SECRET, settings.META_INSTAGRAM_APP_SECRET]
    return signature_matches(body, request.headers.get(SIGNATURE_HEADER), secrets)


def subscription_handshake(request: HttpRequest) -> HttpResponse:
    """Answer Meta's GET: echo ``hub.challenge`` as plain text when the verify token matches, else 403."""
    expected = settings.META_VERIFY_TOKEN
    token = request.GET.get("hub.verify_token", "")
    if (
        request.GET.get("hub.mode") == "subscribe"
        and expected
        and hmac.compare_digest(token.encode(), expected.encode())
        and "hub.challenge" in request.GET
    ):
        return HttpResponse(request.GET["hub.challenge"], content_type="text/plain")
    logger.warning("Webhook handshake refused", extra={"reason": "verify_token", "path": request.path})
    return JsonResponse(error_body("forbidden", _("Verification failed.")), status=403)
