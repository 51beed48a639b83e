"""LinkedIn Lead Sync at ``/webhooks/linkedin/``: one event per lead notification, keyed by the response id.

LinkedIn posts one ``LEAD_ACTION`` object per request (some senders batch an array: both are
accepted). ``CREATED`` is keyed by the lead form response id, so a redelivery and a backfill of the
same lead are the same ledger event; ``DELETED`` gets its own key, or it would look like a repeat.
The signature and the challenge are checked here; the REST client and OAuth are ``integrations.linkedin.client``.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _

from core.api import error_body
from integrations.linkedin.client import owner_urn_of, response_id_of
from webhooks.models import Provider
from webhooks.providers.common import digest, key
from webhooks.registry import EventItem, WebhookProvider, register
from webhooks.selectors import linkedin_connection_health_rows
from webhooks.services.linkedin import (
    LEAD_CREATED,
    LEAD_DELETED,
    deleted_key,
    linkedin_lead_created_handle,
    linkedin_lead_deleted_handle,
)

logger = logging.getLogger(__name__)

LEAD_ACTION = "LEAD_ACTION"
SIGNATURE_HEADER = "X-LI-Signature"
#: Part of the string-to-sign (``hmacsha256=`` + raw body), and sometimes sent in front of the header value.
SIGNATURE_PREFIX = "hmacsha256="
MAX_CHALLENGE_LENGTH = 200


# --- Signature and challenge -------------------------------------------------------------------


def sign(body: bytes, secret: str) -> str:
    """Return the ``X-LI-Signature`` LinkedIn sends: hex HMAC-SHA256 of ``hmacsha256=`` + raw body."""
    return hmac.new(secret.encode(), SIGNATURE_PREFIX.encode() + body, hashlib.sha256).hexdigest()


def signature_matches(body: bytes, header: str | None, secret: str) -> bool:
    """Compare in constant time over the untouched bytes; the header may carry the ``hmacsha256=`` prefix."""
    if not header or not secret:
        return False
    received = header.strip()
    if received[: len(SIGNATURE_PREFIX)].lower() == SIGNATURE_PREFIX:
        received = received[len(SIGNATURE_PREFIX) :].strip()
    return hmac.compare_digest(received.lower().encode(), sign(body, secret).encode())


def verify_signature(request: HttpRequest, body: bytes) -> bool:
    return signature_matches(body, request.headers.get(SIGNATURE_HEADER), settings.LINKEDIN_CLIENT_SECRET)


def challenge_response(code: str, secret: str) -> str:
    """Hex HMAC-SHA256 of the challenge code, keyed with the client secret."""
    return hmac.new(secret.encode(), code.encode(), hashlib.sha256).hexdigest()


def challenge_handshake(request: HttpRequest) -> HttpResponse:
    """Answer LinkedIn's GET validation (and its re-validation every 2 hours) with the signed challenge."""
    code = request.GET.get("challengeCode", "")
    secret = settings.LINKEDIN_CLIENT_SECRET
    if not secret:
        logger.error("LinkedIn webhook validation refused: LINKEDIN_CLIENT_SECRET is not set")
        return JsonResponse(error_body("not_configured", _("LinkedIn is not configured.")), status=403)
    if not code or len(code) > MAX_CHALLENGE_LENGTH:
        return JsonResponse(error_body("invalid_challenge", _("Send a challengeCode.")), status=400)
    return JsonResponse({"challengeCode": code, "challengeResponse": challenge_response(code, secret)})


# --- Splitting ---------------------------------------------------------------------------------


def _item(notification: dict[str, Any]) -> EventItem:
    response_id = response_id_of(notification.get("leadGenFormResponse"))
    owner = owner_urn_of(notification.get("owner"))
    action = str(notification.get("leadAction") or "").upper()
    kind = str(notification.get("type") or "").upper()
    payload = {"notification": notification, "response_id": response_id, "owner": owner}
    if kind == LEAD_ACTION and response_id and action == "CREATED":
        return EventItem(event_type=LEAD_CREATED, dedup_key=key(response_id), payload=payload, object_id=owner[:64])
    if kind == LEAD_ACTION and response_id and action == "DELETED":
        return EventItem(
            event_type=LEAD_DELETED, dedup_key=key(deleted_key(response_id)), payload=payload, object_id=owner[:64]
        )
    # Anything else is kept for the record and not processed (stored as ignored, answered 200).
    event_type = f"{(kind or 'unknown').lower()}.{(action or 'unknown').lower()}"[:40]
    return EventItem(event_type=event_type, dedup_key=key(event_type, digest(notification)), payload=payload)


def split(body: Any) -> list[EventItem]:
    """A single notification object, or an array of them; anything else is answered 400."""
    notifications = body if isinstance(body, list) else [body]
    if not all(isinstance(n, dict) for n in notifications):
        raise ValueError("a notification is not an object")
    return [_item(n) for n in notifications]


PROVIDER = register(
    WebhookProvider(
        name=Provider.LINKEDIN,
        verify_signature=verify_signature,
        split=split,
        handlers={LEAD_CREATED: linkedin_lead_created_handle, LEAD_DELETED: linkedin_lead_deleted_handle},
        handshake=challenge_handshake,
        stored_headers=("Content-Type", "User-Agent", "Content-Length", "X-Request-ID", SIGNATURE_HEADER),
        health_rows=linkedin_connection_health_rows,
        allowlist_setting="WEBHOOK_IP_ALLOWLIST_LINKEDIN",
    )
)
