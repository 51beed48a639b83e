"""The webhooks app in the subject data registry: ledger items that carried the person and their Instagram threads.

The ledger is keyed by the channels' own ids (``(provider, dedup_key)`` is unique): a Facebook leadgen
item by the leadgen id, a LinkedIn one by the response id (``deleted:<id>`` for its withdrawal), an
Instagram message by ``<type>:<mid>``. Those ids are read from the person's leads and merge journal
(the leads eraser, which blanks them, runs after this one) and from their conversations' messages,
so every lookup is an index hit. Erasure sets the items' payloads and their deliveries' raw bodies to
NULL (a delivery may hold other people's items too: its copy goes, their items keep theirs), empties
the message texts and analyses and replaces the thread's IGSID by a neutral placeholder; statuses,
ids, dedup keys and times stay, so a redelivery is still recognised as a duplicate.
"""

from __future__ import annotations

import json
from typing import Any

from django.db.models import CharField, Q, Value
from django.db.models.functions import Cast, Concat

from compliance.registry import ErasureContext, Subject, register_subject_data
from leads.selectors.subjects import jsonable, subject_raw_provider_ids
from leads.services.erasure import holding
from webhooks.models import Conversation, Message, Provider, WebhookDelivery, WebhookEvent
from webhooks.services.linkedin import deleted_key

ORDER = 30
SECTIONS = ("webhook_items", "instagram_conversations")
#: What an erased thread's IGSID becomes (unique per account: the conversation's own id follows).
ERASED_IGSID_PREFIX = "erased-"
#: Instagram event types keyed by ``<type>:<mid>`` (``webhooks.providers.instagram``), plain and as standby.
INSTAGRAM_MID_TYPES = ("message", "postback", "echo", "message_deleted", "message_unsupported")


def _conversations(lead_ids: list[str]):
    return Conversation.objects.filter(lead_id__in=lead_ids)


def _event_keys(lead_ids: list[str]) -> Q | None:
    """The ledger items of the person: (provider, dedup key) pairs, one index scan per provider."""
    ids = subject_raw_provider_ids(lead_ids)
    linkedin = ids["linkedin_response_id"]
    mids = set(Message.objects.filter(conversation__lead_id__in=lead_ids).exclude(mid="").values_list("mid", flat=True))
    instagram = {f"{kind}:{mid}" for kind in INSTAGRAM_MID_TYPES for mid in mids}
    keys = {
        Provider.FACEBOOK: ids["facebook_lead_id"],
        Provider.LINKEDIN: linkedin | {deleted_key(response_id) for response_id in linkedin},
        Provider.INSTAGRAM: instagram | {f"standby:{key}" for key in instagram},
    }
    q = Q()
    for provider, values in keys.items():
        if values:
            q |= Q(provider=provider, dedup_key__in=sorted(values))
    return q or None


def _events(lead_ids: list[str]):
    q = _event_keys(lead_ids)
    return WebhookEvent.objects.filter(q) if q is not None else WebhookEvent.objects.none()


def _item(payload: str | None) -> Any:
    if not payload:
        return None
    try:
        return json.loads(payload)
    except ValueError:
        return payload


def subject_webhooks_export(subject: Subject) -> dict[str, list[Any]]:
    """The ledger items that carried the person (their payloads decrypted) and their Instagram threads.

    A delivery's raw body is not exported: it may hold other people's items; the person's own item is.
    """
    ids = list(subject.lead_ids)
    if not ids:
        return {section: [] for section in SECTIONS}
    events = _events(ids).order_by("received_at", "pk")
    items = [
        jsonable(
            {
                "id": event.pk,
                "provider": event.provider,
                "event_type": event.event_type,
                "dedup_key": event.dedup_key,
                "object_id": event.object_id,
                "delivery_id": event.delivery_id,
                "lead_id": event.lead_id,
                "status": event.status,
                "received_at": event.received_at,
                "processed_at": event.processed_at,
                "item": _item(event.payload),
            }
        )
        for event in events.only(
            "pk",
            "provider",
            "event_type",
            "dedup_key",
            "object_id",
            "delivery_id",
            "lead_id",
            "status",
            "received_at",
            "processed_at",
            "payload",
        )
    ]
    conversations = list(
        _conversations(ids)
        .order_by("created_at", "pk")
        .values("id", "account_id", "igsid", "lead_id", "last_inbound_at", "last_outbound_at", "created_at")
    )
    messages: dict[int, list[dict[str, Any]]] = {row["id"]: [] for row in conversations}
    message_fields = (
        "id",
        "conversation_id",
        "direction",
        "mid",
        "text",
        "status",
        "analysis",
        "sent_at",
        "created_at",
    )
    for row in (
        Message.objects.filter(conversation_id__in=list(messages))
        .order_by("conversation_id", "created_at", "pk")
        .values(*message_fields)
    ):
        messages[row["conversation_id"]].append(jsonable(row))
    threads = [{**jsonable(row), "messages": messages[row["id"]]} for row in conversations]
    return {"webhook_items": items, "instagram_conversations": threads}


def subject_webhooks_erase(subject: Subject, context: ErasureContext) -> dict[str, int]:
    """NULL the payloads and raw bodies, empty the messages, neutralise the IGSIDs; idempotent."""
    ids = list(subject.lead_ids)
    counts = {"events": 0, "deliveries": 0, "messages": 0, "conversations": 0}
    if not ids:
        return counts
    events = _events(ids)
    delivery_ids = sorted({pk for pk in events.values_list("delivery_id", flat=True) if pk is not None})
    counts["events"] = events.filter(payload__isnull=False).update(payload=None)
    if delivery_ids:
        counts["deliveries"] = WebhookDelivery.objects.filter(pk__in=delivery_ids, raw_body__isnull=False).update(
            raw_body=None
        )
    conversations = _conversations(ids)
    counts["messages"] = holding(Message.objects.filter(conversation__lead_id__in=ids), "text", "analysis").update(
        text="", analysis={}
    )
    counts["conversations"] = conversations.exclude(igsid__startswith=ERASED_IGSID_PREFIX).update(
        igsid=Concat(Value(ERASED_IGSID_PREFIX), Cast("id", output_field=CharField()), output_field=CharField())
    )
    return counts


def register() -> None:
    """Called from ``WebhooksConfig.ready``."""
    register_subject_data(
        "webhooks", sections=SECTIONS, exporter=subject_webhooks_export, eraser=subject_webhooks_erase, order=ORDER
    )
