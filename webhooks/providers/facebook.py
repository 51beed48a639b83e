"""Facebook Lead Ads at ``/webhooks/facebook/``: one event per ``leadgen`` change, keyed by ``leadgen_id``."""

from __future__ import annotations

from typing import Any

from webhooks.models import Provider
from webhooks.providers.common import as_id, digest, key, require_envelope
from webhooks.providers.meta import SIGNATURE_HEADER, subscription_handshake, verify_app_signature
from webhooks.registry import EventItem, WebhookProvider, register
from webhooks.selectors import meta_page_health_rows
from webhooks.services.facebook import LEADGEN, facebook_leadgen_handle

ID_FIELDS = ("leadgen_id", "page_id", "form_id", "adgroup_id", "ad_id")


def split(body: Any) -> list[EventItem]:
    """Every change of every entry (Meta batches up to 1000); non-leadgen changes become ignored events."""
    items = []
    obj = str(body.get("object") or "") if isinstance(body, dict) else ""
    for entry in require_envelope(body):
        entry_id = as_id(entry.get("id"))
        context = {"object": obj, "entry_id": entry_id, "entry_time": entry.get("time")}
        for change in entry.get("changes") or []:
            if not isinstance(change, dict):
                raise ValueError("a change is not an object")
            field = str(change.get("field") or "unknown")
            value = change.get("value")
            if obj == "page" and field == LEADGEN and isinstance(value, dict) and as_id(value.get("leadgen_id")):
                value = {**value, **{name: as_id(value[name]) for name in ID_FIELDS if name in value}}
                items.append(
                    EventItem(
                        event_type=LEADGEN,
                        dedup_key=value["leadgen_id"],
                        object_id=value.get("page_id") or entry_id,
                        payload={**context, "field": field, "value": value},
                    )
                )
            else:
                event_type = field if obj == "page" else f"{obj or 'unknown'}.{field}"
                items.append(
                    EventItem(
                        event_type=event_type,
                        dedup_key=key(event_type, digest([entry_id, entry.get("time"), change])),
                        object_id=entry_id,
                        payload={**context, "field": field, "value": value},
                    )
                )
    return items


PROVIDER = register(
    WebhookProvider(
        name=Provider.FACEBOOK,
        verify_signature=verify_app_signature,
        split=split,
        handlers={LEADGEN: facebook_leadgen_handle},
        handshake=subscription_handshake,
        stored_headers=("Content-Type", "User-Agent", "Content-Length", "X-Request-ID", SIGNATURE_HEADER),
        health_rows=meta_page_health_rows,
        allowlist_setting="WEBHOOK_IP_ALLOWLIST_FACEBOOK",
    )
)
