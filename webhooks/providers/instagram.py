"""Instagram DMs at ``/webhooks/instagram/``: one event per ``entry[].messaging[]`` item, keyed by type and mid."""

from __future__ import annotations

from typing import Any

from webhooks.models import Provider
from webhooks.providers.common import as_id, digest, key, require_envelope
from webhooks.providers.meta import SIGNATURE_HEADER, subscription_handshake, verify_instagram_signature
from webhooks.registry import EventItem, WebhookProvider, register
from webhooks.services.instagram import instagram_message_handle

MESSAGE = "message"
POSTBACK = "postback"


def messaging_type(messaging: dict[str, Any]) -> str:
    """Name a messaging item: echoes, deletions, reactions and reads are stored but not processed."""
    if "message" in messaging:
        message = messaging.get("message") or {}
        if message.get("is_echo"):
            return "echo"
        if message.get("is_deleted"):
            return "message_deleted"
        if message.get("is_unsupported"):
            return "message_unsupported"
        return MESSAGE
    for kind in ("reaction", "postback", "read", "referral", "optin"):
        if kind in messaging:
            return kind
    return "unknown"


def _messaging_key(event_type: str, messaging: dict[str, Any]) -> str:
    sender = as_id((messaging.get("sender") or {}).get("id"))
    inner = messaging.get(event_type if event_type in ("reaction", "postback", "read", "referral") else "message")
    mid = as_id(inner.get("mid")) if isinstance(inner, dict) else ""
    if event_type == "reaction" and isinstance(inner, dict):
        return key(event_type, mid, inner.get("action", ""), sender, messaging.get("timestamp", ""))
    if mid and event_type != "read":
        return key(event_type, mid)
    return key(event_type, sender, messaging.get("timestamp", ""), digest(messaging))


def split(body: Any) -> list[EventItem]:
    """Messaging (and standby) items of every entry; comments and mentions are stored as ignored."""
    items = []
    obj = str(body.get("object") or "") if isinstance(body, dict) else ""
    for entry in require_envelope(body):
        entry_id = as_id(entry.get("id"))
        context = {"object": obj, "entry_id": entry_id, "entry_time": entry.get("time")}
        for list_name in ("messaging", "standby"):
            for messaging in entry.get(list_name) or []:
                if not isinstance(messaging, dict):
                    raise ValueError(f"a {list_name} item is not an object")
                event_type = messaging_type(messaging)
                dedup_key = _messaging_key(event_type, messaging)
                if list_name == "standby":
                    # Another app owns the thread: keep it for the record, never answer it.
                    event_type, dedup_key = f"standby_{event_type}", f"standby:{dedup_key}"
                elif obj != "instagram":
                    event_type = f"{obj or 'unknown'}.{event_type}"
                items.append(
                    EventItem(
                        event_type=event_type,
                        dedup_key=key(dedup_key),
                        object_id=entry_id,
                        payload={**context, "messaging": messaging},
                    )
                )
        for change in entry.get("changes") or []:
            if not isinstance(change, dict):
                raise ValueError("a change is not an object")
            field = str(change.get("field") or "unknown")
            items.append(
                EventItem(
                    event_type=field,
                    dedup_key=key(field, digest([entry_id, entry.get("time"), change])),
                    object_id=entry_id,
                    payload={**context, "field": field, "value": change.get("value")},
                )
            )
    return items


PROVIDER = register(
    WebhookProvider(
        name=Provider.INSTAGRAM,
        verify_signature=verify_instagram_signature,
        split=split,
        handlers={MESSAGE: instagram_message_handle, POSTBACK: instagram_message_handle},
        handshake=subscription_handshake,
        stored_headers=("Content-Type", "User-Agent", "Content-Length", "X-Request-ID", SIGNATURE_HEADER),
        allowlist_setting="WEBHOOK_IP_ALLOWLIST_INSTAGRAM",
    )
)
