"""Smart follow-up suggestions (SPEC §11, API-560): who to contact next, why, when, how and with what.

For the partner's own leads (their tenant, assigned to them; a leader sees only their own leads here).
Bounded: at most ``CANDIDATES`` leads by an indexed query (the best-scored ones), plus the leads a signal
names (an open Instagram window, a reminder or a sequence step due soon, a pool offer about to run out).
Every step reads all candidates at once: the number of queries does not depend on ``limit`` or on how many
leads the partner has.

Reasons, from the lead's data: ``showed_interest`` (a reply or DM waiting, a new untouched lead),
``hot_lead`` (the score rose into hot/burning), ``watched_video``, ``objection_handled``,
``call_scheduled`` (a reminder), ``offer_expiring`` (a pool offer runs out within a day), ``no_response``
(a sequence step due, or 2–14 days without a touch), ``periodic_checkin`` (14–30 days), ``reactivation``
(30+ days, or too many unanswered messages). Leads ``should_followup`` refuses as ``opted_out`` or
``lost`` are left out; a lead contacted in the last 24 h is suggested no earlier than ``next_allowed_at``.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import F, Subquery
from django.utils import timezone

from compliance.selectors.consent import REVOKED
from followups.models import DueStep, FollowupPreference, Reminder, SequenceRun
from followups.selectors import should
from followups.services.guardrails import recipient_time_zone
from leads.models import Lead, LeadActivity, LeadAssignment, LeadScoreHistory
from leads.services.work import CONTACT_ACTIVITY
from webhooks.models import Conversation, Message

#: How many leads (best score first) a suggestion list considers at most, besides the signalled ones.
CANDIDATES = 500
SIGNALLED_MAX = 200
PRIORITIES = ("urgent", "high", "normal", "low", "scheduled")
REASONS = (
    "no_response",
    "showed_interest",
    "watched_video",
    "objection_handled",
    "call_scheduled",
    "periodic_checkin",
    "reactivation",
    "offer_expiring",
    "hot_lead",
)
BASE_CONFIDENCE = {
    "offer_expiring": 0.9,
    "showed_interest": 0.85,
    "hot_lead": 0.8,
    "call_scheduled": 0.8,
    "watched_video": 0.75,
    "objection_handled": 0.7,
    "no_response": 0.6,
    "periodic_checkin": 0.5,
    "reactivation": 0.4,
}
#: Earliest time per priority (urgent = today, high = within 24 h, normal = 2–3 days, low = this week).
PRIORITY_DELAY = {
    "urgent": dt.timedelta(0),
    "high": dt.timedelta(0),
    "normal": dt.timedelta(days=2),
    "low": dt.timedelta(days=4),
    "scheduled": dt.timedelta(0),
}
INSTAGRAM_WINDOW = dt.timedelta(hours=24)
#: Defaults when neither the lead nor the partner has enough replies: Tue–Thu, 10:00 and 18:00.
DEFAULT_HOURS = (10, 18)
DEFAULT_WEEKDAYS = frozenset({1, 2, 3})
MIN_REPLIES = 3
INBOUND_TYPES = should.INBOUND_ACTIVITIES
ANSWERED = should.ANSWERED_OUTCOMES
SIGNAL_TYPES = ("video_watched", "objection_handled", *INBOUND_TYPES)
#: Contact channels (leads.services.work) → suggestion channels.
CONTACT_CHANNELS = {"phone": "call", "whatsapp": "whatsapp", "email": "email", "social": "instagram"}


@dataclass
class Suggestion:
    lead: Lead
    priority: str
    reason: str
    suggested_time: dt.datetime
    suggested_channel: str
    template: str
    message: str = ""
    subject: str = ""
    confidence: float = 0.5
    last_touch_at: dt.datetime | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Facts:
    """What the batch queries found about one lead."""

    signals: list[tuple[str, str, dt.datetime | None, str]] = field(default_factory=list)  # reason, prio, at, tpl
    replies: list[tuple[dt.datetime, str]] = field(default_factory=list)  # (time, channel)
    outbound: Counter = field(default_factory=Counter)
    answered: Counter = field(default_factory=Counter)
    instagram_open: bool = False


# --- Optimal time ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QuietHours:
    start: dt.time
    end: dt.time
    weekends: bool
    tz: ZoneInfo

    @classmethod
    def for_user(cls, user: Any, pref: FollowupPreference | None = None) -> QuietHours:
        if pref is None and getattr(user, "pk", None) is not None:
            pref = FollowupPreference.objects.filter(user_id=user.pk).first()
        if pref is None:
            return cls(dt.time(20), dt.time(8), True, ZoneInfo("Europe/Berlin"))
        start = pref.quiet_start if isinstance(pref.quiet_start, dt.time) else dt.time.fromisoformat(pref.quiet_start)
        end = pref.quiet_end if isinstance(pref.quiet_end, dt.time) else dt.time.fromisoformat(pref.quiet_end)
        try:
            tz = ZoneInfo(pref.timezone or "Europe/Berlin")
        except (KeyError, ValueError):
            tz = ZoneInfo("Europe/Berlin")
        return cls(start, end, pref.quiet_weekends, tz)

    def contains(self, at: dt.datetime) -> bool:
        local = at.astimezone(self.tz)
        if self.weekends and local.weekday() >= 5:
            return True
        now = local.time()
        if self.start == self.end:
            return False
        if self.start > self.end:  # overnight, e.g. 20:00–08:00
            return now >= self.start or now < self.end
        return self.start <= now < self.end


def _pattern(times: list[dt.datetime], tz: ZoneInfo) -> tuple[list[int], frozenset[int]]:
    """The reply hours (most frequent first, top 3) and weekdays (top 3) of ``times`` in ``tz``."""
    local = [t.astimezone(tz) for t in times]
    hours = [hour for hour, _count in Counter(t.hour for t in local).most_common(3)]
    days = frozenset(day for day, _count in Counter(t.weekday() for t in local).most_common(3))
    return hours, days


def _nearby(hours: list[int]) -> list[int]:
    """Working hours (7–20 h), the ones closest to the preferred ``hours`` first."""
    return sorted(range(7, 21), key=lambda h: (min((abs(h - p) for p in hours), default=0), h))


def _slot(
    earliest: dt.datetime, tz: ZoneInfo, hours: list[int], weekdays: frozenset[int] | None, quiet: QuietHours
) -> dt.datetime:
    """The first preferred hour on a preferred weekday from ``earliest`` on, outside quiet hours; else the
    nearest working hour on a preferred weekday; else on any day (within two weeks)."""
    local = earliest.astimezone(tz)
    for pass_hours, pass_days in ((hours, weekdays), (_nearby(hours), weekdays), (_nearby(hours), None)):
        for offset in range(14):
            day = local.date() + dt.timedelta(days=offset)
            if pass_days and day.weekday() not in pass_days:
                continue
            for hour in pass_hours:
                slot = dt.datetime.combine(day, dt.time(hour), tzinfo=tz)
                if slot >= earliest and not quiet.contains(slot):
                    return slot.astimezone(dt.UTC)
    return earliest


def optimal_time(
    lead: Any,
    *,
    earliest: dt.datetime,
    replies: list[dt.datetime],
    partner_replies: list[dt.datetime],
    quiet: QuietHours,
    urgent: bool = False,
) -> dt.datetime:
    """The time from the lead's replies (≥ 3), else the partner's leads' replies, else Tue–Thu 10/18 h.

    ``urgent``: today if at all possible: a preferred hour later today, else right away (outside quiet
    hours, 7–21 h the lead's time), else the next working hour."""
    tz = recipient_time_zone(lead)
    if len(replies) >= MIN_REPLIES:
        hours, days = _pattern(replies, tz)
    elif len(partner_replies) >= MIN_REPLIES:
        hours, days = _pattern(partner_replies, tz)
    else:
        hours, days = list(DEFAULT_HOURS), DEFAULT_WEEKDAYS
    if urgent:
        local = earliest.astimezone(tz)
        for hour in hours:
            slot = dt.datetime.combine(local.date(), dt.time(hour), tzinfo=tz)
            if slot >= earliest and not quiet.contains(slot):
                return slot.astimezone(dt.UTC)
        if 7 <= local.hour < 21 and not quiet.contains(earliest):
            return earliest
        days = None
    return _slot(earliest, tz, hours, days, quiet)


def _reply_times(lead_ids: list[Any], *, since: dt.datetime | None = None) -> dict[Any, list[tuple[dt.datetime, str]]]:
    """Inbound replies (activities and Instagram DMs) of the leads, with their channel: two queries."""
    result: dict[Any, list[tuple[dt.datetime, str]]] = defaultdict(list)
    if not lead_ids:
        return result
    activities = LeadActivity.objects.filter(lead_id__in=lead_ids, activity_type__in=INBOUND_TYPES)
    if since is not None:
        activities = activities.filter(occurred_at__gte=since)
    for lead_id, at, channel, activity_type in activities.values_list(
        "lead_id", "occurred_at", "channel", "activity_type"
    )[:5000]:
        default = "email" if activity_type == "email_replied" else "whatsapp"
        result[lead_id].append((at, CONTACT_CHANNELS.get(channel, channel or default)))
    messages = Message.objects.filter(conversation__lead_id__in=lead_ids, direction=Message.Direction.INBOUND)
    if since is not None:
        messages = messages.filter(created_at__gte=since)
    for lead_id, at in messages.values_list("conversation__lead_id", "created_at")[:5000]:
        result[lead_id].append((at, "instagram"))
    return result


def _partner_reply_times(partner: Any, *, now: dt.datetime) -> list[dt.datetime]:
    """Reply times of the partner's 300 most recently active leads in the last 180 days: one query."""
    if getattr(partner, "pk", None) is None:
        return []
    recent_leads = Lead.objects.filter(assigned_partner_id=partner.pk).order_by(
        F("last_activity_at").desc(nulls_last=True)
    )
    rows = LeadActivity.objects.filter(
        lead_id__in=Subquery(recent_leads.values("pk")[:300]),
        activity_type__in=INBOUND_TYPES,
        occurred_at__gte=now - dt.timedelta(days=180),
    ).values_list("occurred_at", flat=True)[:500]
    return list(rows)


def calculate_optimal_time(lead: Any, *, now: dt.datetime | None = None, partner: Any = None) -> dt.datetime:
    """When to follow up with ``lead``: its reply pattern, else its partner's leads', else Tue–Thu 10/18 h,
    in the lead's time zone and never in the partner's quiet hours."""
    now = now or timezone.now()
    partner = partner if partner is not None else getattr(lead, "assigned_partner", None)
    replies = [at for at, _channel in _reply_times([lead.pk]).get(lead.pk, [])]
    partner_replies = _partner_reply_times(partner, now=now) if len(replies) < MIN_REPLIES else []
    return optimal_time(
        lead, earliest=now, replies=replies, partner_replies=partner_replies, quiet=QuietHours.for_user(partner)
    )


# --- Channel --------------------------------------------------------------------------------------------------


def _open_instagram(lead_ids: list[Any], now: dt.datetime) -> set[Any]:
    """Leads whose Instagram thread is inside Meta's 24-hour reply window: one query."""
    return set(
        Conversation.objects.filter(lead_id__in=lead_ids, last_inbound_at__gt=now - INSTAGRAM_WINDOW).values_list(
            "lead_id", flat=True
        )
    )


def _contact_rates(lead_ids: list[Any]) -> tuple[dict[Any, Counter], dict[Any, Counter]]:
    """Logged contacts per channel and how many of them the lead answered: one query."""
    outbound: dict[Any, Counter] = defaultdict(Counter)
    answered: dict[Any, Counter] = defaultdict(Counter)
    rows = LeadActivity.objects.filter(lead_id__in=lead_ids, activity_type=CONTACT_ACTIVITY).values_list(
        "lead_id", "channel", "detail"
    )
    for lead_id, channel, detail in rows[:5000]:
        channel = CONTACT_CHANNELS.get(channel, channel)
        outbound[lead_id][channel] += 1
        if (detail or {}).get("outcome") in ANSWERED:
            answered[lead_id][channel] += 1
    return outbound, answered


def _available(lead: Any, *, instagram_open: bool, consent_revoked: bool) -> list[str]:
    channels = []
    if instagram_open:
        channels.append("instagram")
    if getattr(lead, "phone", ""):
        channels += ["whatsapp", "call"]
    # A personal 1:1 email by the partner: the lead has an address and did not opt out.
    if getattr(lead, "email", "") and lead.opted_out_at is None and not consent_revoked:
        channels.append("email")
    return channels


def channel_choice(lead: Any, facts: _Facts, *, consent_revoked: bool = False) -> str:
    """The last channel the lead answered on, else the best response rate, else the first available one."""
    available = _available(lead, instagram_open=facts.instagram_open, consent_revoked=consent_revoked)
    if not available:
        return "message"
    if facts.instagram_open:
        return "instagram"
    for _at, channel in sorted(facts.replies, key=lambda item: item[0], reverse=True):
        if channel in available:
            return channel
    rates = {
        channel: facts.answered[channel] / facts.outbound[channel]
        for channel in available
        if facts.outbound.get(channel) and facts.answered.get(channel)
    }
    if rates:
        return max(rates, key=lambda channel: (rates[channel], -available.index(channel)))
    return available[0]


def suggest_channels(leads: Iterable[Any], *, now: dt.datetime | None = None) -> dict[Any, str]:
    """``suggest_channel`` for many leads: four queries whatever their number."""
    from compliance.selectors.consent import consent_states

    leads = list(leads)
    now = now or timezone.now()
    ids = [lead.pk for lead in leads]
    facts = _facts_for(ids, now=now)
    states = consent_states(leads, "MARKETING_EMAIL", at=now) if leads else {}
    return {
        lead.pk: channel_choice(lead, facts[lead.pk], consent_revoked=states[lead.pk].status == REVOKED)
        for lead in leads
    }


def suggest_channel(lead: Any, *, now: dt.datetime | None = None) -> str:
    """The channel to follow up with ``lead`` on: ``instagram``, ``whatsapp``, ``call``, ``email`` or ``message``."""
    return suggest_channels([lead], now=now)[lead.pk]


def _facts_for(ids: list[Any], *, now: dt.datetime) -> dict[Any, _Facts]:
    facts: dict[Any, _Facts] = defaultdict(_Facts)
    for lead_id, replies in _reply_times(ids).items():
        facts[lead_id].replies = replies
    outbound, answered = _contact_rates(ids)
    for lead_id in ids:
        facts[lead_id].outbound, facts[lead_id].answered = outbound[lead_id], answered[lead_id]
    for lead_id in _open_instagram(ids, now):
        facts[lead_id].instagram_open = True
    return facts


# --- Suggestions ----------------------------------------------------------------------------------------------


#: The columns phase 1 reads: no encrypted field (nothing to decrypt for 500 leads).
META_FIELDS = ("pk", "score", "created_at", "last_activity_at", "assigned_partner_id")


def _candidates(user: Any, *, now: dt.datetime) -> tuple[dict[Any, dict], dict[Any, LeadAssignment], set[Any]]:
    """Phase 1: the partner's best-scored open leads, the leads a signal names (as plain column values),
    pool offers about to run out, and the leads whose Instagram window is open."""
    own = Lead.objects.filter(
        tenant_id=user.organization_id,
        assigned_partner_id=user.pk,
        merged_into__isnull=True,
        erased_at__isnull=True,
        opted_out_at__isnull=True,
        status__in=(Lead.Status.NEW, Lead.Status.CONTACTED, Lead.Status.QUALIFIED),
    )
    leads = {row["pk"]: row for row in own.order_by("-score", "-created_at").values(*META_FIELDS)[:CANDIDATES]}
    soon = now + dt.timedelta(hours=24)
    # Leads a signal names, each from its own small indexed table (no OR over joins on the lead table).
    signalled = set(
        Reminder.objects.filter(user_id=user.pk, status=Reminder.Status.OPEN, scheduled_for__lte=soon).values_list(
            "lead_id", flat=True
        )[:SIGNALLED_MAX]
    )
    signalled |= set(
        SequenceRun.objects.filter(
            partner_id=user.pk, status=SequenceRun.Status.ACTIVE, next_due_at__lte=soon
        ).values_list("lead_id", flat=True)[:SIGNALLED_MAX]
    )
    instagram = set(
        Conversation.objects.filter(
            lead_id__in=Subquery(Lead.objects.filter(assigned_partner_id=user.pk).values("pk")),
            last_inbound_at__gt=now - INSTAGRAM_WINDOW,
        ).values_list("lead_id", flat=True)[:SIGNALLED_MAX]
    )
    signalled |= instagram
    signalled -= set(leads)
    if signalled:
        for row in own.filter(pk__in=list(signalled)[:SIGNALLED_MAX]).values(*META_FIELDS):
            leads[row["pk"]] = row
    offers = {
        offer.lead_id: offer
        for offer in LeadAssignment.objects.filter(
            partner_id=user.pk, status=LeadAssignment.Status.OFFERED, expires_at__gt=now, expires_at__lte=soon
        )
        .select_related("lead")
        .order_by("expires_at")[:50]
    }
    for lead_id, offer in offers.items():
        lead = offer.lead
        leads.setdefault(lead_id, {name: getattr(lead, name) for name in META_FIELDS})
    return leads, offers, instagram


def _signals(ids: list[Any], user: Any, facts: dict[Any, _Facts], *, now: dt.datetime) -> None:
    """Recent score jumps, videos, objections, unanswered replies, reminders, due steps: four queries."""
    recent = now - dt.timedelta(hours=48)
    for lead_id, stage, at in LeadScoreHistory.objects.filter(
        lead_id__in=ids, created_at__gte=recent, new_stage__in=(Lead.Stage.HOT, Lead.Stage.BURNING)
    ).values_list("lead_id", "new_stage", "created_at"):
        prio = "urgent" if stage == Lead.Stage.BURNING else "high"
        facts[lead_id].signals.append(("hot_lead", prio, at, ""))
    rows = LeadActivity.objects.filter(
        lead_id__in=ids, activity_type__in=SIGNAL_TYPES, occurred_at__gte=now - dt.timedelta(days=7)
    ).values_list("lead_id", "activity_type", "occurred_at")
    for lead_id, activity_type, at in rows[:5000]:
        if activity_type == "video_watched" and at >= now - dt.timedelta(hours=72):
            facts[lead_id].signals.append(("watched_video", "high", at, ""))
        elif activity_type == "objection_handled":
            facts[lead_id].signals.append(("objection_handled", "normal", at, ""))
        elif activity_type in INBOUND_TYPES and at >= recent:
            facts[lead_id].signals.append(("showed_interest", "urgent", at, ""))
    for lead_id, _action, at in Reminder.objects.filter(
        user_id=user.pk, status=Reminder.Status.OPEN, scheduled_for__lte=now + dt.timedelta(days=1)
    ).values_list("lead_id", "action_type", "scheduled_for")[:SIGNALLED_MAX]:
        facts[lead_id].signals.append(("call_scheduled", "scheduled", at, ""))
    for lead_id, at, template in DueStep.objects.filter(
        run__partner_id=user.pk,
        run__status=SequenceRun.Status.ACTIVE,
        status=DueStep.Status.PENDING,
        due_at__lte=now + dt.timedelta(days=1),
    ).values_list("run__lead_id", "due_at", "step__template_code")[:SIGNALLED_MAX]:
        facts[lead_id].signals.append(("no_response", "high", at, template or ""))


def _by_touch(created_at: dt.datetime, last_touch: dt.datetime | None, now: dt.datetime) -> tuple[str, str] | None:
    """The reason and priority from the time since the last touch, or None (touched lately, nothing to do)."""
    if last_touch is None:
        fresh = now - created_at < dt.timedelta(hours=24)
        return "showed_interest", "urgent" if fresh else "high"
    days = (now - last_touch).days
    if days >= 30:
        return "reactivation", "low"
    if days >= 14:
        return "periodic_checkin", "low"
    if days >= 2:
        return "no_response", "normal"
    return None


def _shortlist_size(limit: int) -> int:
    return max(3 * limit, 60)


def _provisional(meta: dict, lead_facts: _Facts, now: dt.datetime, last_touch: Any = None) -> tuple | None:
    """(reason, priority, at, template) from the signals, else from the time since the last touch."""
    rank = {name: index for index, name in enumerate(PRIORITIES)}
    signals = sorted(lead_facts.signals, key=lambda s: (rank[s[1]], -BASE_CONFIDENCE[s[0]]))
    if lead_facts.instagram_open:
        signals.insert(0, ("showed_interest", "urgent", None, ""))
    if signals:
        return signals[0]
    touch = _by_touch(meta["created_at"], last_touch if last_touch is not None else meta["last_activity_at"], now)
    return None if touch is None else (*touch, None, "")


def followup_suggestions(
    user: Any, *, limit: int = 20, priority: str | None = None, now: dt.datetime | None = None, use_llm: bool = False
) -> list[Suggestion]:
    """API-560: the partner's next follow-ups, by priority, then score, then longest without a touch.

    Two phases, a constant number of queries: phase 1 ranks up to ``CANDIDATES`` leads on plain columns
    and cheap signal queries (nothing decrypted); phase 2 loads the best ``max(3 × limit, 60)`` of them,
    asks ``should_followup_many`` (drops opted-out and lost leads, moves recently contacted ones to
    ``next_allowed_at``) and computes time, channel and message for the ``limit`` that remain.
    """
    from compliance.selectors.consent import consent_states
    from followups.rendering import partner_signature
    from followups.services.messages import generate_message, render_template, templates_by_code

    now = now or timezone.now()
    if not getattr(user, "is_partner", False) or getattr(user, "organization_id", None) is None:
        return []
    metas, offers, instagram = _candidates(user, now=now)
    if not metas:
        return []
    ids = list(metas)
    facts: dict[Any, _Facts] = defaultdict(_Facts)
    for lead_id in instagram & set(metas):
        facts[lead_id].instagram_open = True
    _signals(ids, user, facts, now=now)
    for lead_id, offer in offers.items():
        facts[lead_id].signals.append(("offer_expiring", "urgent", offer.expires_at, ""))
    rank = {name: index for index, name in enumerate(PRIORITIES)}
    far_past = dt.datetime.min.replace(tzinfo=dt.UTC)
    ranked = []
    for lead_id, meta in metas.items():
        first = _provisional(meta, facts[lead_id], now)
        if first is not None:
            ranked.append((rank[first[1]], -meta["score"], meta["last_activity_at"] or far_past, lead_id))
    ranked.sort(key=lambda row: row[:3])
    # Phase 2: the shortlist, loaded whole (decrypted) and checked.
    shortlist = [row[3] for row in ranked][: _shortlist_size(limit)]
    if not shortlist:
        return []
    loaded = {lead.pk: lead for lead in Lead.objects.filter(pk__in=shortlist).defer("score_breakdown")}
    leads = [loaded[pk] for pk in shortlist if pk in loaded]
    decisions = should.should_followup_many(leads, now=now)
    for lead_id, lead_facts in _facts_for([lead.pk for lead in leads], now=now).items():
        facts[lead_id].replies, facts[lead_id].outbound = lead_facts.replies, lead_facts.outbound
        facts[lead_id].answered = lead_facts.answered
    chosen: list[Suggestion] = []
    for lead in leads:
        decision = decisions[lead.pk]
        if decision.reason in (should.OPTED_OUT, should.LOST):
            continue
        last_touch = decision.detail.get("last_contact_at") or lead.last_activity_at
        picked = _provisional(metas[lead.pk], facts[lead.pk], now, last_touch=last_touch)
        if decision.reason == should.TOO_MANY_UNANSWERED and (picked is None or not facts[lead.pk].signals):
            picked = ("reactivation", "low", None, "")
        if picked is None:
            continue
        reason, prio, at, template = picked
        if priority and prio != priority:
            continue
        chosen.append(
            Suggestion(
                lead=lead,
                priority=prio,
                reason=reason,
                suggested_time=at if prio == "scheduled" and at else now,
                suggested_channel="",
                template=template or reason,
                last_touch_at=last_touch,
                detail={"should": decision.reason, "next_allowed_at": decision.detail.get("next_allowed_at")},
            )
        )
    chosen.sort(key=lambda s: (rank[s.priority], -s.lead.score, s.last_touch_at or far_past))
    chosen = chosen[: max(0, limit)]
    if not chosen:
        return []
    # Only the chosen ones get a time, a channel and a message.
    quiet = QuietHours.for_user(user)
    # The partner's pattern from the shortlisted leads' replies (read already): no query more.
    partner_replies = [at for lead in leads for at, _channel in facts[lead.pk].replies]
    templates = templates_by_code(user, {s.template for s in chosen} | {s.reason for s in chosen})
    states = consent_states([s.lead for s in chosen], "MARKETING_EMAIL", at=now)
    signature = partner_signature(user)
    for suggestion in chosen:
        lead_facts = facts[suggestion.lead.pk]
        earliest = max(now, suggestion.suggested_time) + PRIORITY_DELAY[suggestion.priority]
        next_allowed = suggestion.detail.get("next_allowed_at")
        if next_allowed is not None:
            earliest = max(earliest, next_allowed)
        if suggestion.priority == "scheduled":
            suggested = max(suggestion.suggested_time, earliest)
        else:
            suggested = optimal_time(
                suggestion.lead,
                earliest=earliest,
                replies=[at for at, _channel in lead_facts.replies],
                partner_replies=partner_replies,
                quiet=quiet,
                urgent=suggestion.priority in ("urgent", "high"),
            )
        suggestion.suggested_time = max(suggested, next_allowed) if next_allowed is not None else suggested
        if suggestion.lead.assigned_partner_id != user.pk:
            # A pool offer: the partner sees no contact data before accepting; the action is in the inbox.
            suggestion.suggested_channel, suggestion.suggested_time = "inbox", max(now, earliest)
            suggestion.detail["offer_expires_at"] = offers[suggestion.lead.pk].expires_at
            suggestion.confidence = BASE_CONFIDENCE["offer_expiring"]
            continue
        revoked = states[suggestion.lead.pk].status == REVOKED
        suggestion.suggested_channel = channel_choice(suggestion.lead, lead_facts, consent_revoked=revoked)
        template = templates.get(suggestion.template) or templates.get(suggestion.reason)
        if template is not None:
            suggestion.template = template.code
            if use_llm:
                generated = generate_message(
                    lead=suggestion.lead, reason=suggestion.reason, template_code=template.code, user=user
                )
                suggestion.subject, suggestion.message = generated.subject, generated.body
            else:
                suggestion.subject, suggestion.message = render_template(
                    template, lead=suggestion.lead, partner=user, signature=signature
                )
        confidence = BASE_CONFIDENCE[suggestion.reason] + suggestion.lead.score / 1000
        if len(lead_facts.replies) >= MIN_REPLIES:
            confidence += 0.05
        if suggestion.suggested_channel == "message":
            confidence -= 0.2
        suggestion.confidence = round(min(1.0, max(0.0, confidence)), 2)
    return chosen
