"""Events of our emails: ESP webhooks (bounce, complaint, unsubscribe, delivery, open, click) and our own
open pixel and click redirect (SPEC §11; protocols §2.3–§2.8).

Receiving an event only writes rows, in the caller's transaction: the ``EmailEvent`` (unique per
ESP and event id, so a retried webhook is a duplicate and changes nothing), the email's status and
timestamps, the suppression entry of a hard bounce or complaint. Everything that touches other
apps — runs exit, the score, the consent ledger — runs in ``email_event_process`` from a task after
commit, so a slow or failing side effect never turns a webhook into an error the ESP retries.

Opens and clicks are weak signals: mail privacy proxies and link scanners load pixels and follow
every link. A hit within seconds of the send, from a known scanner or proxy user agent, or clicks on
several links of one email within seconds are stored with ``is_bot`` and neither counted nor
scored. The first human open (click) of an email scores ``email_opened`` (``email_clicked``) once;
opens are never a branch condition of a sequence.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from compliance.blind_index import email_index
from compliance.models import ConsentRecord
from core.exceptions import DomainError
from core.transactions import on_commit
from followups.models import EmailEvent, EmailMessage, EmailSuppression
from followups.services.engine import runs_exit
from followups.services.suppression import suppression_add
from leads.models import Lead, LeadActivity
from leads.services.activity import lead_track_activity
from leads.services.consent import lead_marketing_consent_revoke

logger = logging.getLogger(__name__)

#: ``EmailEvent.esp`` of our own pixel and click redirect.
TRACKING_ESP = "tracking"
#: A hit this soon after the send is a machine (a gateway scanning the delivered mail, a prefetch).
BOT_SECONDS_AFTER_SEND = 5
#: Clicks on different links of one email within this many seconds: a scanner following every link.
CLICK_BURST_SECONDS = 5
#: User-agent fragments of scanners, security gateways, image proxies and HTTP libraries (lower case).
BOT_USER_AGENTS = (
    "bot",
    "crawler",
    "spider",
    "preview",
    "scanner",
    "googleimageproxy",
    "yahoomailproxy",
    "safelinks",
    "barracuda",
    "mimecast",
    "proofpoint",
    "messagelabs",
    "symantec",
    "forcepoint",
    "trendmicro",
    "sophos",
    "ironport",
    "cloudmark",
    "zscaler",
    "headless",
    "phantomjs",
    "python-requests",
    "python-urllib",
    "aiohttp",
    "curl/",
    "wget/",
    "go-http-client",
    "okhttp",
    "java/",
    "apache-httpclient",
    "libwww",
    "facebookexternalhit",
    "whatsapp",
)
#: Postmark bounce types that mean the address is gone (anymail reports ``SoftBounce`` as bounced too).
POSTMARK_HARD_BOUNCES = ("HardBounce", "BadEmailAddress")
#: Metadata keys our sender may put on a message to tie ESP events back to it.
TOKEN_METADATA_KEYS = ("email_token", "message_token", "token")

#: anymail's normalized event types → ours (bounces are refined per ESP in ``_event_type``).
ANYMAIL_TYPES = {
    "delivered": EmailEvent.Type.DELIVERED,
    "opened": EmailEvent.Type.OPENED,
    "clicked": EmailEvent.Type.CLICKED,
    "bounced": EmailEvent.Type.BOUNCED,
    "deferred": EmailEvent.Type.DEFERRED,
    "complained": EmailEvent.Type.COMPLAINED,
    "unsubscribed": EmailEvent.Type.UNSUBSCRIBED,
    "rejected": EmailEvent.Type.REJECTED,
}
#: The types ``email_event_process`` acts on after commit.
PROCESSED_TYPES = (
    EmailEvent.Type.BOUNCED,
    EmailEvent.Type.COMPLAINED,
    EmailEvent.Type.UNSUBSCRIBED,
    EmailEvent.Type.OPENED,
    EmailEvent.Type.CLICKED,
)
#: Statuses a later event may move forward (a bounce or complaint is never overwritten by a delivery).
_OPEN_STATUSES = (EmailMessage.Status.QUEUED, EmailMessage.Status.SENDING, EmailMessage.Status.SENT)


@dataclass
class IncomingEvent:
    """One ESP event in our terms, ready to store (built from anymail's ``AnymailTrackingEvent``)."""

    esp: str
    event_id: str
    event_type: str
    occurred_at: dt.datetime
    message_ids: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    recipient: str = ""
    user_agent: str = ""
    url: str = ""
    payload: Any = None


# --- Normalising anymail's events -------------------------------------------------------------


def esp_key(esp_name: str) -> str:
    """anymail's display name → our key: ``Amazon SES`` → ``amazon_ses``."""
    return re.sub(r"[^a-z0-9]+", "_", (esp_name or "").lower()).strip("_")[:40] or "unknown"


def _short_hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:16] if value else "-"


def _event_type(esp: str, anymail_type: str, raw: dict[str, Any], reject_reason: str | None) -> str:
    """Our type; a soft bounce the ESP retries is only counted, never suppressed."""
    if anymail_type == "rejected" and reject_reason == "invalid":
        return EmailEvent.Type.BOUNCED  # Postmark "BadEmailAddress": the address does not exist
    kind = ANYMAIL_TYPES.get(anymail_type, EmailEvent.Type.OTHER)
    if kind != EmailEvent.Type.BOUNCED:
        return kind
    if esp == "postmark":
        hard = raw.get("Type") in POSTMARK_HARD_BOUNCES
    elif esp == "amazon_ses":
        hard = (raw.get("bounce") or {}).get("bounceType") == "Permanent"
    elif esp == "mailgun":
        severity = (raw.get("event-data") or {}).get("severity") or raw.get("severity")
        hard = severity in (None, "permanent")
    else:
        hard = True
    return EmailEvent.Type.BOUNCED if hard else EmailEvent.Type.SOFT_BOUNCED


def _dedup_key(esp: str, event: Any, raw: dict[str, Any], kind: str, recipient: str, at: dt.datetime) -> str:
    """The ESP's own id of the event (protocols §2.3–§2.5), or a stable key from its content.

    SES: the bounce's or complaint's ``feedbackId``, else the SNS ``MessageId``; one notification may
    name several recipients, so the recipient's hash is part of the key. Mailgun: ``event-data.id``
    (anymail's ``event_id`` is the signature token). Postmark: ``ID`` (bounces only), else the
    message, record type and time.
    """
    recipient_part = _short_hash(recipient.lower())
    key = ""
    if esp == "amazon_ses":
        feedback = (raw.get("bounce") or raw.get("complaint") or {}).get("feedbackId")
        key = f"{feedback or event.event_id or ''}:{recipient_part}" if (feedback or event.event_id) else ""
    elif esp == "mailgun":
        key = str((raw.get("event-data") or {}).get("id") or event.event_id or "")
    elif esp == "postmark":
        key = str(event.event_id or "")
    elif event.event_id:
        key = str(event.event_id)
    if not key:
        key = ":".join([str(event.message_id or ""), kind, at.isoformat(), recipient_part])
    return key if len(key) <= 255 else hashlib.sha256(key.encode()).hexdigest()


def _raw_message_ids(esp: str, event: Any, raw: dict[str, Any]) -> list[str]:
    ids = [str(event.message_id)] if event.message_id else []
    if esp == "amazon_ses":
        mail = raw.get("mail") or {}
        common = (mail.get("commonHeaders") or {}).get("messageId")
        if common:
            ids.append(str(common))
        for header in mail.get("headers") or []:
            if str(header.get("name", "")).lower() == "message-id" and header.get("value"):
                ids.append(str(header["value"]))
    return ids


def incoming_from_anymail(*, esp_name: str, event: Any, now: dt.datetime | None = None) -> IncomingEvent:
    """anymail's ``AnymailTrackingEvent`` → ``IncomingEvent`` (the type refined, a dedup key always set)."""
    esp = esp_key(esp_name)
    raw = event.esp_event if isinstance(event.esp_event, dict) else {}
    kind = _event_type(esp, str(event.event_type or ""), raw, event.reject_reason)
    occurred_at = event.timestamp or now or timezone.now()
    recipient = str(event.recipient or "")
    metadata = event.metadata if isinstance(event.metadata, dict) else {}
    return IncomingEvent(
        esp=esp,
        event_id=_dedup_key(esp, event, raw, kind, recipient, occurred_at),
        event_type=kind,
        occurred_at=occurred_at,
        message_ids=_raw_message_ids(esp, event, raw),
        metadata=metadata,
        recipient=recipient,
        user_agent=str(event.user_agent or ""),
        url=str(event.click_url or "")[:2000],
        payload=raw if raw else None,
    )


# --- Matching ----------------------------------------------------------------------------------


def email_message_match(*, message_ids: list[str], metadata: dict[str, Any] | None = None) -> EmailMessage | None:
    """Our email an event is about: by the ESP's message id, our Message-ID (with or without angle
    brackets) or the token our sender put in the metadata."""
    candidates: set[str] = set()
    for value in message_ids:
        bare = value.strip().strip("<>").strip()
        if bare:
            candidates |= {bare, f"<{bare}>"}
    q = Q()
    if candidates:
        q |= Q(esp_message_id__in=sorted(candidates)) | Q(message_id__in=sorted(candidates))
    metadata = metadata or {}
    for key in TOKEN_METADATA_KEYS:
        token = metadata.get(key)
        if isinstance(token, str) and token:
            q |= Q(token=token[:32])
    if not q:
        return None
    return EmailMessage.objects.filter(q).order_by("pk").first()


def _metadata_lead_id(metadata: dict[str, Any]) -> str | None:
    value = metadata.get("lead_id")
    try:
        lead_id = uuid.UUID(str(value))
    except (TypeError, ValueError):
        return None
    return str(lead_id) if Lead.objects.filter(pk=lead_id).exists() else None


# --- Recording ---------------------------------------------------------------------------------


def email_event_insert(**fields: Any) -> EmailEvent | None:
    """Insert an event; None when (esp, event_id) is stored already (a retry): the savepoint keeps the
    caller's transaction usable, like ``INSERT … ON CONFLICT DO NOTHING``."""
    try:
        with transaction.atomic():
            return EmailEvent.objects.create(**fields)
    except IntegrityError:
        if EmailEvent.objects.filter(esp=fields["esp"], event_id=fields["event_id"]).exists():
            return None
        raise


def _message_apply(message: EmailMessage, event: EmailEvent) -> None:
    """Move the email's status and first timestamps forward with conditional updates (retries and
    out-of-order events are harmless: a delivery never overwrites a bounce)."""
    rows = EmailMessage.objects.filter(pk=message.pk)
    at = event.occurred_at
    kind = event.event_type
    if kind == EmailEvent.Type.DELIVERED:
        rows.filter(delivered_at__isnull=True).update(delivered_at=at)
        rows.filter(status__in=_OPEN_STATUSES).update(status=EmailMessage.Status.DELIVERED)
    elif kind == EmailEvent.Type.BOUNCED:
        rows.filter(bounced_at__isnull=True).update(bounced_at=at)
        rows.exclude(status=EmailMessage.Status.COMPLAINED).update(status=EmailMessage.Status.BOUNCED)
    elif kind == EmailEvent.Type.COMPLAINED:
        rows.filter(complained_at__isnull=True).update(complained_at=at)
        rows.update(status=EmailMessage.Status.COMPLAINED)
    elif kind == EmailEvent.Type.UNSUBSCRIBED:
        rows.filter(unsubscribed_at__isnull=True).update(unsubscribed_at=at)
    elif kind == EmailEvent.Type.REJECTED:
        rows.filter(status__in=_OPEN_STATUSES).update(status=EmailMessage.Status.FAILED)
    elif kind in (EmailEvent.Type.OPENED, EmailEvent.Type.CLICKED) and not event.is_bot:
        _engagement_apply(message, event)


def _engagement_apply(message: EmailMessage, event: EmailEvent) -> None:
    """Count a human open or click; the first sets ``opened_at``/``clicked_at`` (the score's marker)."""
    rows = EmailMessage.objects.filter(pk=message.pk)
    if event.event_type == EmailEvent.Type.OPENED:
        rows.update(open_count=F("open_count") + 1)
        rows.filter(opened_at__isnull=True).update(opened_at=event.occurred_at)
    else:
        rows.update(click_count=F("click_count") + 1)
        rows.filter(clicked_at__isnull=True).update(clicked_at=event.occurred_at)


def is_bot_hit(*, user_agent: str, at: dt.datetime, sent_at: dt.datetime | None) -> bool:
    """A scanner, proxy or prefetch rather than a person (protocols §2.8): no or a known machine user
    agent, or a hit within seconds of the send."""
    agent = (user_agent or "").strip().lower()
    if not agent or any(fragment in agent for fragment in BOT_USER_AGENTS):
        return True
    return sent_at is not None and dt.timedelta(0) <= at - sent_at < dt.timedelta(seconds=BOT_SECONDS_AFTER_SEND)


def _click_burst(message: EmailMessage, url: str, at: dt.datetime) -> bool:
    """Other links of this email clicked within seconds: a gateway following every link. The earlier
    clicks of the burst are flagged as well (they were stored as human a moment ago)."""
    window = Q(occurred_at__gte=at - dt.timedelta(seconds=CLICK_BURST_SECONDS), occurred_at__lte=at)
    others = EmailEvent.objects.filter(window, message=message, event_type=EmailEvent.Type.CLICKED).exclude(url=url)
    if not others.exists():
        return False
    flagged = others.filter(is_bot=False).update(is_bot=True)
    if flagged:
        EmailMessage.objects.filter(pk=message.pk, click_count__gte=flagged).update(
            click_count=F("click_count") - flagged
        )
    return True


def _enqueue(event: EmailEvent) -> None:
    if event.event_type not in PROCESSED_TYPES:
        return
    if event.event_type in (EmailEvent.Type.OPENED, EmailEvent.Type.CLICKED):
        # Only the first human open (click) of an email scores: later ones need no task.
        marker = SCORING[event.event_type][1]
        if event.is_bot or event.message_id is None:
            return
        if not EmailMessage.objects.filter(pk=event.message_id, **{marker: event.occurred_at}).exists():
            return
    from followups.esp import email_event_process_task  # the task lives with the receiver (thin wrappers)

    on_commit(email_event_process_task.delay, event.pk)


@transaction.atomic
def email_event_record(*, incoming: IncomingEvent) -> EmailEvent | None:
    """Store one ESP event and its row-level effects; None for a duplicate (nothing changes).

    Hard bounce and complaint put the recipient's blind index on the suppression list here, in the
    same transaction as the event: the next send already sees it even before the task ran.
    """
    message = email_message_match(message_ids=incoming.message_ids, metadata=incoming.metadata)
    recipient_hash = email_index(incoming.recipient) if incoming.recipient else ""
    if not recipient_hash and message is not None:
        recipient_hash = message.to_hash
    is_bot = False
    if incoming.event_type in (EmailEvent.Type.OPENED, EmailEvent.Type.CLICKED):
        is_bot = is_bot_hit(
            user_agent=incoming.user_agent,
            at=incoming.occurred_at,
            sent_at=message.sent_at if message is not None else None,
        )
    detail: dict[str, Any] = {"payload": incoming.payload}
    if message is None:
        lead_id = _metadata_lead_id(incoming.metadata)
        if lead_id:
            detail["lead_id"] = lead_id
    event = email_event_insert(
        esp=incoming.esp,
        event_id=incoming.event_id,
        event_type=incoming.event_type,
        message=message,
        recipient_hash=recipient_hash,
        occurred_at=incoming.occurred_at,
        is_bot=is_bot,
        url=incoming.url if incoming.url.startswith(("http://", "https://")) else "",
        detail=detail,
    )
    if event is None:
        return None
    if message is not None:
        _message_apply(message, event)
    if recipient_hash and event.event_type in (EmailEvent.Type.BOUNCED, EmailEvent.Type.COMPLAINED):
        reason = (
            EmailSuppression.Reason.BOUNCED
            if event.event_type == EmailEvent.Type.BOUNCED
            else EmailSuppression.Reason.COMPLAINED
        )
        suppression_add(email_hash=recipient_hash, reason=reason, actor=None, event=event)
    _enqueue(event)
    return event


def esp_event_receive(*, esp_name: str, event: Any) -> EmailEvent | None:
    """The tracking signal's work: never raises for a business error (anymail would answer 400 and the
    ESP retry for ever). A database outage still raises: then a retry is what we want."""
    try:
        incoming = incoming_from_anymail(esp_name=esp_name, event=event)
    except (AttributeError, KeyError, TypeError, ValueError):
        logger.exception("Unreadable %s tracking event; stored nothing", esp_name)
        return None
    try:
        return email_event_record(incoming=incoming)
    except DomainError:
        logger.exception("%s event %s not applied", incoming.esp, incoming.event_type)
        return None


# --- Our own pixel and click redirect --------------------------------------------------------


def _tracking_event_id(kind: str, message: EmailMessage, at: dt.datetime, index: int | None = None) -> str:
    """One event per email, link and second: a pixel loaded twice in the same second counts once."""
    second = int(at.timestamp())
    return f"{kind}:{message.pk}:{index}:{second}" if index is not None else f"{kind}:{message.pk}:{second}"


@transaction.atomic
def tracking_open_record(*, token: str, user_agent: str = "", now: dt.datetime | None = None) -> EmailEvent | None:
    """A load of the open pixel; None for an unknown token or a repeat within the same second."""
    message = EmailMessage.objects.filter(token=token).first()
    if message is None:
        return None
    at = now or timezone.now()
    event = email_event_insert(
        esp=TRACKING_ESP,
        event_id=_tracking_event_id("open", message, at),
        event_type=EmailEvent.Type.OPENED,
        message=message,
        recipient_hash=message.to_hash,
        occurred_at=at,
        is_bot=is_bot_hit(user_agent=user_agent, at=at, sent_at=message.sent_at),
        detail={"user_agent": user_agent[:300]},
    )
    if event is not None:
        _message_apply(message, event)
        _enqueue(event)
    return event


def tracking_link(*, token: str, index: int) -> tuple[EmailMessage, str] | None:
    """The email and the URL of its link ``index``; None for anything else (never an open redirect)."""
    message = EmailMessage.objects.filter(token=token).only("pk", "links", "sent_at", "to_hash").first()
    if message is None or not isinstance(message.links, list) or not 0 <= index < len(message.links):
        return None
    url = message.links[index]
    if isinstance(url, dict):
        url = url.get("url")
    if not isinstance(url, str) or not url.lower().startswith(("http://", "https://")):
        return None
    return message, url


@transaction.atomic
def tracking_click_record(
    *, message: EmailMessage, index: int, url: str, user_agent: str = "", now: dt.datetime | None = None
) -> EmailEvent | None:
    """A click through the redirect; None for a repeat of the same link within the same second."""
    at = now or timezone.now()
    is_bot = is_bot_hit(user_agent=user_agent, at=at, sent_at=message.sent_at)
    if not is_bot and _click_burst(message, url, at):
        is_bot = True
    event = email_event_insert(
        esp=TRACKING_ESP,
        event_id=_tracking_event_id("click", message, at, index),
        event_type=EmailEvent.Type.CLICKED,
        message=message,
        recipient_hash=message.to_hash,
        occurred_at=at,
        is_bot=is_bot,
        url=url[:2000],
        detail={"user_agent": user_agent[:300], "index": index},
    )
    if event is not None:
        _message_apply(message, event)
        _enqueue(event)
    return event


# --- After commit: runs, score, consent ------------------------------------------------------

#: The scoring rule of an event type, applied once per email.
SCORING = {
    EmailEvent.Type.BOUNCED: ("email_bounced", "bounced_at"),
    EmailEvent.Type.OPENED: ("email_opened", "opened_at"),
    EmailEvent.Type.CLICKED: ("email_clicked", "clicked_at"),
}
#: An address matched to no email reaches at most this many leads (one person, a few tenants).
MAX_LEADS_PER_ADDRESS = 20
EXIT_REASONS = {
    EmailEvent.Type.BOUNCED: "bounced",
    EmailEvent.Type.COMPLAINED: "complained",
    EmailEvent.Type.UNSUBSCRIBED: "unsubscribed",
}


def _live_lead(lead_id: Any) -> Lead | None:
    """The lead, or the one it was merged into; None when gone or erased."""
    lead = Lead.objects.filter(pk=lead_id).first()
    for _hop in range(10):
        if lead is None or lead.merged_into_id is None:
            break
        lead = Lead.objects.filter(pk=lead.merged_into_id).first()
    if lead is None or lead.erased_at is not None or lead.merged_into_id is not None:
        return None
    return lead


def _event_leads(event: EmailEvent, message: EmailMessage | None) -> list[Lead]:
    """The leads an event is about: the email's lead, else the lead named in the ESP metadata, else
    the live leads with the recipient's address (an unsubscribe must not get lost because the ESP
    did not send back our message id)."""
    lead_id = message.lead_id if message is not None else (event.detail or {}).get("lead_id")
    if lead_id:
        lead = _live_lead(lead_id)
        return [lead] if lead is not None else []
    if message is not None or not event.recipient_hash:
        return []
    return list(
        Lead.objects.filter(email_hash=event.recipient_hash, merged_into__isnull=True, erased_at__isnull=True).order_by(
            "created_at"
        )[:MAX_LEADS_PER_ADDRESS]
    )


def _score_once(*, lead: Lead, activity_type: str, at: dt.datetime, event: EmailEvent) -> bool:
    """Apply a scoring rule once per email: the activity carries the email's first timestamp, so a
    second event (or a redelivered task) finds it and scores nothing."""
    if LeadActivity.objects.filter(lead=lead, activity_type=activity_type, channel="email", occurred_at=at).exists():
        return False
    lead_track_activity(
        lead=lead,
        activity_type=activity_type,
        actor=None,
        channel="email",
        detail={"email_id": event.message_id, "email_event_id": event.pk, "esp": event.esp},
        occurred_at=at,
    )
    return True


@transaction.atomic
def email_event_process(*, event_id: int) -> None:
    """The cross-app effects of one stored event (run from a task after commit; safe to run twice).

    Hard bounce: the lead's runs exit ("bounced") and ``email_bounced`` (−50) scores once per email.
    Complaint: runs exit ("complained"). Unsubscribe at the ESP: the same opt-out as our one-click
    link (a withdrawal in the consent ledger, source ``unsubscribe``) and runs exit ("unsubscribed").
    First human open/click: ``email_opened``/``email_clicked`` once per email.
    """
    event = EmailEvent.objects.filter(pk=event_id).first()
    if event is None or event.event_type not in PROCESSED_TYPES:
        return
    message = None
    if event.message_id is not None:
        # Serialises the events of one email: two first-open tasks cannot both score.
        message = EmailMessage.objects.select_for_update().filter(pk=event.message_id).first()
    leads = _event_leads(event, message)
    if not leads:
        return
    if event.event_type in EXIT_REASONS:
        if event.event_type == EmailEvent.Type.UNSUBSCRIBED:
            # The same withdrawal as our one-click link (``followups.services.email.email_unsubscribe``).
            evidence = {"via": "esp", "esp": event.esp, "email_event_id": event.pk}
            if message is not None:
                evidence["message_id"] = message.message_id
            for lead in leads:
                lead_marketing_consent_revoke(
                    lead=lead, actor=None, source=ConsentRecord.Source.UNSUBSCRIBE, evidence=evidence
                )
        runs_exit(lead_ids=[lead.pk for lead in leads], reason=EXIT_REASONS[event.event_type], actor=None)
    if event.event_type not in SCORING or event.is_bot:
        return
    activity_type, marker = SCORING[event.event_type]
    at = (getattr(message, marker, None) if message is not None else None) or event.occurred_at
    for lead in leads:
        try:
            _score_once(lead=lead, activity_type=activity_type, at=at, event=event)
        except DomainError:
            logger.warning("Email event %s: rule %s not applied to lead %s", event.pk, activity_type, lead.pk)


@transaction.atomic
def email_reply_receive(*, reply_to_ids: list[str], occurred_at: dt.datetime | None = None) -> EmailMessage | None:
    """A reply to one of our emails (its ``In-Reply-To``/``References`` name our Message-ID): the email
    is marked replied once and the lead gets an ``email_replied`` activity (scored; it ends its runs)."""
    message = email_message_match(message_ids=reply_to_ids)
    if message is None or message.lead_id is None:
        return None
    at = occurred_at or timezone.now()
    if not EmailMessage.objects.filter(pk=message.pk, replied_at__isnull=True).update(replied_at=at):
        return message  # a redelivered inbound webhook: recorded already
    lead = _live_lead(message.lead_id)
    if lead is not None:
        lead_track_activity(
            lead=lead,
            activity_type="email_replied",
            actor=None,
            channel="email",
            detail={"message_id": message.message_id},
            occurred_at=at,
        )
    return message
