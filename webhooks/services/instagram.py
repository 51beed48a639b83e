"""Instagram DMs: store the thread, detect intent, capture leads by rule or contact data, auto-reply.

A message becomes (or updates) a lead when it matches an ``InstagramRule`` or contains an email
address or phone number. The person's IGSID is an identity of the lead, so a later message with an
email merges the conversation's lead with an existing lead of that email (identity graph). Replies
go through the Send API and only inside Meta's 24-hour window after the person's last message.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from compliance.models import ConsentRecord
from compliance.selectors import consent_state
from core.transactions import on_commit
from integrations.meta.graph import (
    GraphClient,
    GraphPermanentError,
    GraphTokenError,
    GraphTransientError,
    GraphWindowClosedError,
)
from leads.intent import IntentAnalysis, analyse, find_emails, find_phones
from leads.models import Lead
from leads.services import lead_ingest, lead_intent_add
from webhooks.models import Conversation, InstagramRule, Message, MetaPageConnection, WebhookEvent
from webhooks.registry import HandlerResult, PermanentEventError
from webhooks.services.connections import meta_connection_mark_broken, meta_connection_mark_success

logger = logging.getLogger(__name__)

REPLY_WINDOW = timedelta(hours=24)
#: Meta rejects longer texts ("1000 bytes or less").
MAX_REPLY_BYTES = 1000


def _from_ms(value: Any) -> datetime:
    try:
        return datetime.fromtimestamp(int(value) / 1000, tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return timezone.now()


def _live(lead: Lead | None) -> Lead | None:
    """Follow merges to the surviving lead."""
    while lead is not None and lead.merged_into_id is not None:
        lead = Lead.objects.get(pk=lead.merged_into_id)
    return lead


def _keyword_pattern(keyword: str) -> re.Pattern[str] | None:
    keyword = keyword.strip().lower()
    if not keyword:
        return None
    # "#preis" only matches the hashtag; "preis" matches at a word start ("Preise", "#preis" too).
    return re.compile(
        r"(?<![\w#])" + re.escape(keyword) if keyword.startswith("#") else r"(?<!\w)" + re.escape(keyword)
    )


def instagram_rules_matching(text: str, connection: MetaPageConnection | None) -> list[InstagramRule]:
    """Active rules (global or of this page) with a keyword or hashtag in ``text``, by priority."""
    lowered = (text or "").lower()
    if not lowered:
        return []
    scope = Q(connection__isnull=True)
    if connection is not None:
        scope |= Q(connection=connection)
    matched = []
    for rule in InstagramRule.objects.filter(scope, active=True).order_by("priority", "id"):
        for keyword in rule.keywords or []:
            pattern = _keyword_pattern(str(keyword))
            if pattern is not None and pattern.search(lowered):
                matched.append(rule)
                break
    return matched


def window_open(conversation: Conversation, now: datetime | None = None) -> bool:
    """True while Meta lets us answer: less than 24 hours after the person's last message."""
    if conversation.last_inbound_at is None:
        return False
    return (now or timezone.now()) - conversation.last_inbound_at < REPLY_WINDOW


def _message_text(messaging: dict[str, Any]) -> tuple[str, str]:
    """Return (mid, text) of a message or an icebreaker/button postback."""
    if "postback" in messaging:
        postback = messaging.get("postback") or {}
        return str(postback.get("mid") or ""), str(postback.get("title") or postback.get("payload") or "")
    message = messaging.get("message") or {}
    return str(message.get("mid") or ""), str(message.get("text") or "")


def _capture(
    *,
    conversation: Conversation,
    connection: MetaPageConnection | None,
    analysis: IntentAnalysis,
    emails: list[str],
    phones: list[str],
    rules: list[InstagramRule],
    sent_at: datetime,
) -> Lead:
    payload: dict[str, Any] = {
        "instagram_igsid": conversation.igsid,
        "captured_at": sent_at,
        "utm_source": "instagram",
        "attributes": {"instagram_account_id": conversation.account_id},
    }
    if emails:
        payload["email"] = emails[0]
    if phones:
        payload["phone"] = phones[0]
    if analysis.interest_type:
        payload["interest_type"] = analysis.interest_type
    if rules:
        payload["attributes"]["instagram_rules"] = [rule.name for rule in rules]
    partner = connection.partner if connection else None
    # No idempotency key: for Instagram it would be the IGSID, and a second message of the same
    # person (now with an email) must merge, not be dropped as a duplicate. Retries of one message
    # are stopped earlier by the unique message id.
    result = lead_ingest(
        payload=payload,
        channel=Lead.Channel.INSTAGRAM,
        partner=partner,
        tenant=connection.organization if connection and partner is None else None,
        actor=None,
        activity="instagram_message",
    )
    return result.lead


def instagram_message_handle(event: WebhookEvent) -> HandlerResult:
    """Handler for ``message`` and ``postback`` events from ``entry[].messaging[]``."""
    item = event.item
    messaging = item.get("messaging") or {}
    sender = str((messaging.get("sender") or {}).get("id") or "")
    account_id = str(item.get("entry_id") or (messaging.get("recipient") or {}).get("id") or "")
    mid, text = _message_text(messaging)
    if not sender or not mid:
        raise PermanentEventError(_("The message has no sender or message id."), code="invalid_payload")
    sent_at = _from_ms(messaging.get("timestamp"))
    connection = (
        MetaPageConnection.objects.select_related("partner", "organization")
        .filter(instagram_account_id=account_id, active=True)
        .first()
    )
    with transaction.atomic():
        conversation, _created = Conversation.objects.get_or_create(
            account_id=account_id, igsid=sender, defaults={"connection": connection}
        )
        conversation = Conversation.objects.select_for_update().get(pk=conversation.pk)
        message, created = Message.objects.get_or_create(
            mid=mid,
            defaults={
                "conversation": conversation,
                "direction": Message.Direction.INBOUND,
                "text": text,
                "status": Message.Status.RECEIVED,
                "sent_at": sent_at,
            },
        )
        if not created:
            return HandlerResult(status=WebhookEvent.Status.DUPLICATE, lead=_live(conversation.lead))
        if conversation.last_inbound_at is None or sent_at > conversation.last_inbound_at:
            conversation.last_inbound_at = sent_at
        if connection is not None and conversation.connection_id is None:
            conversation.connection = connection

        analysis = analyse(text)
        rules = instagram_rules_matching(text, connection)
        emails, phones = find_emails(text), find_phones(text)
        lead = _live(conversation.lead)
        if (rules or emails or phones) and not (analysis.opt_out and lead is None):
            lead = _capture(
                conversation=conversation,
                connection=connection,
                analysis=analysis,
                emails=emails,
                phones=phones,
                rules=rules,
                sent_at=sent_at,
            )
        detected = analysis.level != "none" or analysis.sentiment != "neutral" or analysis.opt_out
        if lead is not None and detected:
            lead_intent_add(
                lead=lead,
                intent_level=analysis.level,
                intent_score=analysis.score,
                sentiment=analysis.sentiment,
                keywords=analysis.keywords,
                opt_out=analysis.opt_out,
                source_type="instagram_message",
                source_id=f"message:{message.pk}",
                analysis={**analysis.as_dict(), "rules": [rule.pk for rule in rules]},
            )
        if lead is not None:
            lead = _live(Lead.objects.get(pk=lead.pk))
            conversation.lead = lead
        message.analysis = {**analysis.as_dict(), "rules": [rule.pk for rule in rules]}
        message.rule = rules[0] if rules else None
        message.save(update_fields=["analysis", "rule"])
        conversation.save()
        _queue_auto_reply(conversation=conversation, lead=lead, rules=rules, analysis=analysis)
    return HandlerResult(lead=lead)


def _queue_auto_reply(
    *, conversation: Conversation, lead: Lead | None, rules: list[InstagramRule], analysis: IntentAnalysis
) -> Message | None:
    """Queue the first matching rule's reply: in the window, once per rule and thread, never after an opt-out."""
    rule = next((r for r in rules if r.auto_reply.strip()), None)
    if rule is None or analysis.opt_out or _opted_out(lead):
        return None
    if not window_open(conversation):
        logger.info("Auto-reply skipped: 24-hour window closed", extra={"conversation_id": conversation.pk})
        return None
    if Message.objects.filter(conversation=conversation, direction=Message.Direction.OUTBOUND, rule=rule).exists():
        return None
    reply = Message.objects.create(
        conversation=conversation,
        direction=Message.Direction.OUTBOUND,
        text=rule.auto_reply.strip(),
        status=Message.Status.QUEUED,
        rule=rule,
    )
    from webhooks.tasks import instagram_reply_send_task

    on_commit(instagram_reply_send_task.delay, reply.pk)
    return reply


def _opted_out(lead: Lead | None) -> bool:
    """The person said stop (an opt-out phrase, an unsubscribe): the ledger's newest record is a withdrawal."""
    return lead is not None and consent_state(lead, ConsentRecord.Code.MARKETING_EMAIL).status == "revoked"


def _truncate_bytes(text: str, limit: int = MAX_REPLY_BYTES) -> str:
    encoded = text.encode("utf-8")
    return text if len(encoded) <= limit else encoded[:limit].decode("utf-8", errors="ignore")


def instagram_reply_send(*, message_id: int) -> str:
    """Send a queued reply through the Send API; returns the message's final status.

    Claimed with a conditional update so a redelivered task never sends twice. Outside the window
    (ours or Meta's error 10/2018278) the reply is dropped as ``window_closed``, without retries.
    """
    claimed = Message.objects.filter(
        pk=message_id, direction=Message.Direction.OUTBOUND, status=Message.Status.QUEUED
    ).update(status=Message.Status.SENDING)
    if not claimed:
        return ""
    message = Message.objects.select_related("conversation__connection", "conversation__lead").get(pk=message_id)
    conversation = message.conversation
    connection = conversation.connection
    lead = _live(conversation.lead)

    def finish(status: str, error: str = "", **extra: Any) -> str:
        Message.objects.filter(pk=message_id, status=Message.Status.SENDING).update(
            status=status, error=error[:500], **extra
        )
        return status

    if not window_open(conversation):
        return finish(Message.Status.WINDOW_CLOSED, "24-hour window closed before sending")
    if _opted_out(lead):  # checked at send time, against the consent ledger
        return finish(Message.Status.FAILED, "lead opted out")
    if connection is None or not connection.access_token or connection.is_broken:
        return finish(Message.Status.FAILED, "no working page connection for this Instagram account")
    try:
        response = GraphClient(connection.access_token).send_message(conversation.igsid, _truncate_bytes(message.text))
    except GraphWindowClosedError as exc:
        return finish(Message.Status.WINDOW_CLOSED, exc.summary())
    except GraphTokenError as exc:
        meta_connection_mark_broken(connection=connection, error=exc)
        return finish(Message.Status.FAILED, exc.summary())
    except GraphPermanentError as exc:
        return finish(Message.Status.FAILED, exc.summary())
    except GraphTransientError:
        # Back in the queue for the task's retry with backoff.
        Message.objects.filter(pk=message_id, status=Message.Status.SENDING).update(status=Message.Status.QUEUED)
        raise
    now = timezone.now()
    meta_connection_mark_success(connection=connection)
    Conversation.objects.filter(pk=conversation.pk).update(last_outbound_at=now)
    # The echo Meta sends for this reply carries the same mid; it is stored as ignored.
    return finish(Message.Status.SENT, mid=str(response.get("message_id") or "")[:255], sent_at=now)
