"""Should the partner follow up with a lead now? (SPEC §11, API-571; the suggestions of API-560 ask it too.)

No, with a reason code, in this order:

``opted_out``
    The consent ledger's newest marketing record is a withdrawal, ``lead.opted_out_at`` is set, the
    person's data was erased, or the lead asked not to be contacted in a reply: an Instagram DM, an
    inbound message or email reply recorded as an activity with its text, the note of a logged
    contact ("will nicht mehr angerufen werden"), or a message intent stored with an opt-out. A DM
    analysed by an older version of the rules (``leads.intent.ANALYSER_VERSION``) is read again with
    the current ones (``leads.intent.opt_out_cues``), so a better analyser also catches old messages.
    A reply's stop request no longer counts once the person consented again after it.
``lost``
    The lead's status is ``lost``.
``too_many_unanswered``
    More than ``MAX_UNANSWERED`` outbound touches since the lead last answered: sent Instagram DMs,
    logged contacts (a reached call or booked appointment is an answer too), sent sequence or
    personal emails, done follow-up tasks.
``contacted_recently``
    The last outbound touch is less than ``RECENT_CONTACT`` old; ``detail["next_allowed_at"]`` says
    from when a follow-up may be suggested.

``should_followup_many`` answers for many leads with a constant number of queries (the suggestions
list asks it for hundreds of leads); ``should_followup`` is its single form. Both read only: no LLM
call here (the offline verdict is deterministic and fast; LLM verdicts stored as ``LeadIntent`` rows
count through their ``opt_out_detected`` flag).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q
from django.utils import timezone

from compliance.selectors.consent import REVOKED, consent_states
from followups.models import EmailMessage, FollowupTask
from leads.intent import ANALYSER_VERSION, opt_out_cues
from leads.models import Lead, LeadActivity, LeadIntent
from leads.services.work import CONTACT_ACTIVITY, ContactOutcome
from webhooks.models import Message

OPTED_OUT = "opted_out"
LOST = "lost"
TOO_MANY_UNANSWERED = "too_many_unanswered"
CONTACTED_RECENTLY = "contacted_recently"
REASONS = (OPTED_OUT, LOST, TOO_MANY_UNANSWERED, CONTACTED_RECENTLY)

#: "> 5 unanswered messages" (SPEC §11).
MAX_UNANSWERED = 5
RECENT_CONTACT = dt.timedelta(hours=24)
#: The same touch recorded twice (a task marked done and the contact logged for it) counts once.
SAME_TOUCH = dt.timedelta(minutes=10)

#: Activities that are the lead answering; their detail may carry the text ("text", "body", "message").
INBOUND_ACTIVITIES = ("email_replied", "message_received")
TEXT_KEYS = ("text", "body", "message", "reply", "snippet")
#: Logged contacts in which the lead answered (the call was taken, a callback or meeting agreed).
ANSWERED_OUTCOMES = frozenset(
    outcome.value for outcome in (ContactOutcome.REACHED, ContactOutcome.CALLBACK, ContactOutcome.APPOINTMENT)
)
#: Emails that reached (or were handed to) the recipient; a bounce or a suppressed send is no touch.
SENT_EMAIL = (EmailMessage.Status.SENT, EmailMessage.Status.DELIVERED, EmailMessage.Status.COMPLAINED)
FOLLOWUP_EMAIL = (EmailMessage.Purpose.SEQUENCE, EmailMessage.Purpose.PERSONAL)


@dataclass(frozen=True)
class FollowupDecision:
    """``ok``: a follow-up is fine; else ``reason`` (one of ``REASONS``). ``detail``: the evidence
    (counts, times, the source of an opt-out; never message text)."""

    ok: bool
    reason: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "reason": self.reason}


@dataclass
class _History:
    """What the queries found for one lead, before deciding."""

    inbound: list[dt.datetime] = field(default_factory=list)
    #: (time, source) of each outbound touch.
    outbound: list[tuple[dt.datetime, str]] = field(default_factory=list)
    #: (time, source, cues) of each reply or record that asked for no more contact.
    stop_requests: list[tuple[dt.datetime, str, list[str]]] = field(default_factory=list)


def should_followup(lead: Lead, *, now: dt.datetime | None = None) -> FollowupDecision:
    """May the partner follow up with ``lead`` now? (API-571)"""
    return should_followup_many([lead], now=now)[lead.pk]


def should_followup_many(leads: Iterable[Lead], *, now: dt.datetime | None = None) -> dict[Any, FollowupDecision]:
    """``should_followup`` for many leads, keyed by lead id: at most seven queries whatever their number."""
    leads = list(leads)
    if not leads:
        return {}
    now = now or timezone.now()
    ids = [lead.pk for lead in leads]
    consents = consent_states(leads, "MARKETING_EMAIL", at=now)
    history: dict[Any, _History] = defaultdict(_History)
    _read_instagram(ids, history, now)
    _read_activities(ids, history, now)
    _read_emails(ids, history, now)
    _read_tasks(ids, history, now)
    _read_intents(ids, history, now)
    return {lead.pk: _decide(lead, consents[lead.pk], history[lead.pk], now) for lead in leads}


def _decide(lead: Lead, consent, history: _History, now: dt.datetime) -> FollowupDecision:
    opted_out = _opt_out(lead, consent, history)
    if opted_out is not None:
        return FollowupDecision(ok=False, reason=OPTED_OUT, detail=opted_out)
    if lead.status == Lead.Status.LOST:
        return FollowupDecision(ok=False, reason=LOST, detail={"status": lead.status})

    touches = _touches(history.outbound)
    last_answer = max(history.inbound, default=None)
    unanswered = sum(1 for at in touches if last_answer is None or at > last_answer)
    last_touch = max(touches, default=None)
    detail: dict[str, Any] = {
        "unanswered": unanswered,
        "last_contact_at": last_touch,
        "last_reply_at": last_answer,
    }
    if unanswered > MAX_UNANSWERED:
        return FollowupDecision(ok=False, reason=TOO_MANY_UNANSWERED, detail=detail)
    if last_touch is not None and now - last_touch < RECENT_CONTACT:
        detail["next_allowed_at"] = last_touch + RECENT_CONTACT
        return FollowupDecision(ok=False, reason=CONTACTED_RECENTLY, detail=detail)
    return FollowupDecision(ok=True, detail=detail)


def _opt_out(lead: Lead, consent, history: _History) -> dict[str, Any] | None:
    """The evidence of an opt-out, or None."""
    if lead.erased_at is not None:
        return {"source": "erased", "at": lead.erased_at}
    if consent.status == REVOKED:
        return {"source": "consent", "at": consent.since}
    if lead.opted_out_at is not None:
        return {"source": "lead", "at": lead.opted_out_at}
    # A consent given after the stop request (newer than it) stands: the person changed their mind.
    regranted = consent.since if consent.granted else None
    for at, source, cues in sorted(history.stop_requests, key=lambda item: item[0], reverse=True):
        if regranted is None or at > regranted:
            return {"source": source, "at": at, "cues": cues}
    return None


def _touches(outbound: list[tuple[dt.datetime, str]]) -> list[dt.datetime]:
    """Outbound times, a touch recorded by two sources within ``SAME_TOUCH`` counted once."""
    kept: list[tuple[dt.datetime, str]] = []
    for at, source in sorted(outbound):
        if kept and kept[-1][1] != source and at - kept[-1][0] <= SAME_TOUCH:
            continue
        kept.append((at, source))
    return [at for at, _source in kept]


#: Opt-out cues of activities already read in this process, by activity id (cue words only, no text):
#: the suggestions list asks for the same leads again and again. Bounded; cleared when full.
_ACTIVITY_CUES: dict[Any, list[str]] = {}
_ACTIVITY_CUES_MAX = 50_000


def _stop(history: _History, at: dt.datetime, source: str, text: str, *, key: Any = None) -> None:
    if key is not None and key in _ACTIVITY_CUES:
        cues = _ACTIVITY_CUES[key]
    else:
        cues = opt_out_cues(text) if text else []
        if key is not None:
            if len(_ACTIVITY_CUES) >= _ACTIVITY_CUES_MAX:
                _ACTIVITY_CUES.clear()
            _ACTIVITY_CUES[key] = cues
    if cues:
        history.stop_requests.append((at, source, cues))


def _read_instagram(ids: list[Any], history: dict[Any, _History], now: dt.datetime) -> None:
    """DMs in and out; only the texts of inbound DMs analysed by older rules are fetched (and decrypted)."""
    when = Q(sent_at__lte=now) | Q(sent_at__isnull=True, created_at__lte=now)
    rows = Message.objects.filter(when, conversation__lead_id__in=ids).values_list(
        "pk", "conversation__lead_id", "direction", "status", "analysis", "sent_at", "created_at"
    )
    reread: dict[Any, tuple[Any, dt.datetime]] = {}
    for pk, lead_id, direction, status, analysis, sent_at, created_at in rows:
        at = sent_at or created_at
        if direction == Message.Direction.INBOUND:
            history[lead_id].inbound.append(at)
            analysis = analysis or {}
            if analysis.get("opt_out"):
                history[lead_id].stop_requests.append((at, "instagram", list(analysis.get("keywords") or [])))
            elif analysis.get("version") != ANALYSER_VERSION:  # read by older rules: read it again
                reread[pk] = (lead_id, at)
        elif status == Message.Status.SENT:
            history[lead_id].outbound.append((at, "instagram"))
    if reread:
        for pk, text in Message.objects.filter(pk__in=list(reread)).values_list("pk", "text"):
            lead_id, at = reread[pk]
            _stop(history[lead_id], at, "instagram", text)


def _activity_text(detail: dict[str, Any]) -> str:
    return " ".join(str(detail[key]) for key in TEXT_KEYS if isinstance(detail.get(key), str))


def _read_activities(ids: list[Any], history: dict[Any, _History], now: dt.datetime) -> None:
    rows = LeadActivity.objects.filter(
        lead_id__in=ids, activity_type__in=(CONTACT_ACTIVITY, *INBOUND_ACTIVITIES), occurred_at__lte=now
    ).values_list("pk", "lead_id", "activity_type", "detail", "occurred_at")
    for pk, lead_id, activity_type, detail, at in rows:
        detail = detail if isinstance(detail, dict) else {}
        if activity_type == CONTACT_ACTIVITY:
            history[lead_id].outbound.append((at, "contact"))
            if detail.get("outcome") in ANSWERED_OUTCOMES:
                history[lead_id].inbound.append(at)
            _stop(history[lead_id], at, "contact_note", str(detail.get("note") or ""), key=pk)
        else:
            history[lead_id].inbound.append(at)
            _stop(history[lead_id], at, activity_type, _activity_text(detail), key=pk)


def _read_emails(ids: list[Any], history: dict[Any, _History], now: dt.datetime) -> None:
    rows = EmailMessage.objects.filter(
        lead_id__in=ids, purpose__in=FOLLOWUP_EMAIL, status__in=SENT_EMAIL, sent_at__isnull=False, sent_at__lte=now
    ).values_list("lead_id", "sent_at", "replied_at")
    for lead_id, sent_at, replied_at in rows:
        history[lead_id].outbound.append((sent_at, "email"))
        if replied_at is not None and replied_at <= now:
            history[lead_id].inbound.append(replied_at)


def _read_tasks(ids: list[Any], history: dict[Any, _History], now: dt.datetime) -> None:
    rows = FollowupTask.objects.filter(
        lead_id__in=ids, status=FollowupTask.Status.DONE, completed_at__isnull=False, completed_at__lte=now
    ).values_list("lead_id", "completed_at")
    for lead_id, completed_at in rows:
        history[lead_id].outbound.append((completed_at, "task"))


def _read_intents(ids: list[Any], history: dict[Any, _History], now: dt.datetime) -> None:
    rows = LeadIntent.objects.filter(lead_id__in=ids, opt_out_detected=True, created_at__lte=now).values_list(
        "lead_id", "source_type", "created_at"
    )
    for lead_id, source_type, created_at in rows:
        history[lead_id].stop_requests.append((created_at, source_type or "intent", []))
