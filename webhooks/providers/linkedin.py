"""LinkedIn Lead Sync at ``/webhooks/linkedin/``: one event per lead notification, keyed by the response id.

LinkedIn posts one ``LEAD_ACTION`` object per request (some senders batch an array: both are
accepted). ``CREATED`` is keyed by the lead form response id, so a redelivery and a backfill of the
same lead are the same ledger event; ``DELETED`` gets its own key, or it would look like a repeat.
"""

from __future__ import annotations

from typing import Any

from webhooks.models import Provider
from webhooks.providers.common import digest, key
from webhooks.providers.linkedin_client import (
    SIGNATURE_HEADER,
    challenge_handshake,
    owner_urn_of,
    response_id_of,
    verify_signature,
)
from webhooks.registry import EventItem, WebhookProvider, register
from webhooks.selectors import linkedin_connection_health_rows
from webhooks.services.linkedin import (
    LEAD_CREATED,
    LEAD_DELETED,
    deleted_key,
    linkedin_lead_created_handle,
    linkedin_lead_deleted_handle,
)

LEAD_ACTION = "LEAD_ACTION"


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
