"""Smart reminders (SPEC §11): chosen times, quiet hours, a per-hour cap, snoozes that learn, due notices.

Times: an omitted time comes from ``followups.selectors.suggestions.calculate_optimal_time`` (the
lead's best hour) when that module exists; otherwise from the private fallback ``_next_working_slot``
(the next full hour at least an hour from now). Every time, chosen or given, is then moved out of the
user's quiet hours (``FollowupPreference``: default 20–8 h and weekends, in the user's time zone) and
spread so that no clock hour holds more than ``max_per_hour`` open reminders of the user: a full hour
pushes the reminder into the next hour with room, at a spaced minute (never stacked on one time).

Snoozes: the new time follows the user's own pattern (their snooze history across reminders: the
number of days they usually put a reminder off and the hour they usually put it to) once there are
``SNOOZE_LEARN_MIN`` snoozes; before that, one day later at the reminder's hour. From the third
snooze of the same reminder the answer carries a warning.
"""

from __future__ import annotations

import datetime as dt
import logging
import statistics
from collections import Counter
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count
from django.db.models.functions import TruncHour
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from accounts.models import Notification, User
from compliance.services.audit import audit_record
from core.exceptions import ConflictError
from followups.models import FollowupPreference, Reminder
from followups.selectors.reminders import preference_for, preferences_for, snooze_history_for
from leads.models import Lead

logger = logging.getLogger(__name__)

#: From this snooze of the same reminder on, the answer warns.
SNOOZE_WARN_AT = 3
#: Snoozes (across the user's reminders) needed before the pattern replaces the default (+1 day).
SNOOZE_LEARN_MIN = 3
#: How far ahead the per-hour spreading looks for a free hour.
SPREAD_HORIZON = dt.timedelta(days=21)
#: Due reminders notified per beat tick.
NOTIFY_BATCH = 500
DEFAULT_TIME_ZONE = "Europe/Berlin"
#: How far ahead a reminder may be scheduled.
MAX_AHEAD = dt.timedelta(days=2 * 365)


def snooze_warning() -> str:
    return _("Snoozed 3 times already – maybe call or close it?")


# --- Quiet hours ------------------------------------------------------------------------------


def _tz(pref: FollowupPreference) -> ZoneInfo:
    try:
        return ZoneInfo(pref.timezone or DEFAULT_TIME_ZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_TIME_ZONE)


def _as_time(value: Any) -> dt.time:
    return value if isinstance(value, dt.time) else dt.time.fromisoformat(str(value))


def is_quiet(at: dt.datetime, pref: FollowupPreference) -> bool:
    """Whether ``at`` falls in the user's quiet hours (or on a weekend when weekends are quiet)."""
    local = at.astimezone(_tz(pref))
    if pref.quiet_weekends and local.weekday() >= 5:
        return True
    start, end, now = _as_time(pref.quiet_start), _as_time(pref.quiet_end), local.time()
    if start == end:
        return False
    if start > end:  # over midnight: 20:00–08:00
        return now >= start or now < end
    return start <= now < end


def next_open_time(at: dt.datetime, pref: FollowupPreference) -> dt.datetime:
    """``at``, or the first moment after it outside the user's quiet hours."""
    tz = _tz(pref)
    end = _as_time(pref.quiet_end)
    start = _as_time(pref.quiet_start)
    for _attempt in range(10):
        if not is_quiet(at, pref):
            return at
        local = at.astimezone(tz)
        if pref.quiet_weekends and local.weekday() >= 5:
            day = local.date() + dt.timedelta(days=7 - local.weekday())
            at = dt.datetime.combine(day, end if start != end else dt.time(0), tzinfo=tz)
            continue
        day = local.date() if local.time() < end else local.date() + dt.timedelta(days=1)
        at = dt.datetime.combine(day, end, tzinfo=tz)
    return at


# --- Choosing a time --------------------------------------------------------------------------


def _next_working_slot(now: dt.datetime) -> dt.datetime:
    """Fallback time: the next full hour at least an hour from now (quiet hours are applied after)."""
    later = now + dt.timedelta(hours=1)
    return later.replace(minute=0, second=0, microsecond=0) + (
        dt.timedelta(hours=1) if later.minute or later.second or later.microsecond else dt.timedelta()
    )


def _suggested_time(*, lead: Lead, user: Any, now: dt.datetime) -> dt.datetime:
    """The lead's best time from the suggestions selector when it is there, else the next working slot."""
    try:
        from followups.selectors.suggestions import calculate_optimal_time
    except ImportError:
        return _next_working_slot(now)
    try:
        value = calculate_optimal_time(lead, now=now, partner=user)
    except Exception:  # a suggestion is a nicety: never fail a reminder for it
        logger.warning("Optimal time failed; falling back", exc_info=True, extra={"lead": str(lead.pk)})
        return _next_working_slot(now)
    if isinstance(value, dt.datetime) and value > now:
        return value if timezone.is_aware(value) else timezone.make_aware(value)
    return _next_working_slot(now)


def _spread(*, user_id: int, at: dt.datetime, pref: FollowupPreference, exclude_id: int | None = None) -> dt.datetime:
    """``at``, or a spaced minute in the next hour that still has room under ``max_per_hour``.

    One query reads the user's open reminders per hour over the horizon; quiet hours are skipped.
    """
    cap = max(1, int(pref.max_per_hour or 1))
    at = next_open_time(at, pref)
    start = at.replace(minute=0, second=0, microsecond=0)
    qs = Reminder.objects.filter(
        user_id=user_id,
        status=Reminder.Status.OPEN,
        scheduled_for__gte=start,
        scheduled_for__lt=start + SPREAD_HORIZON,
    )
    if exclude_id is not None:
        qs = qs.exclude(pk=exclude_id)
    per_hour = {
        row["hour"]: row["n"]
        for row in qs.annotate(hour=TruncHour("scheduled_for")).values("hour").annotate(n=Count("id"))
    }
    hour = start
    candidate = at
    for _attempt in range(24 * 21):
        taken = per_hour.get(hour, 0)
        if taken < cap:
            return candidate
        hour = next_open_time(hour + dt.timedelta(hours=1), pref).replace(minute=0, second=0, microsecond=0)
        taken = per_hour.get(hour, 0)
        candidate = hour + dt.timedelta(minutes=(60 // cap) * taken)
        candidate = next_open_time(candidate, pref)
    return candidate


def _lock_user(user_id: int) -> None:
    """Serialise one user's scheduling so two requests never both take an hour's last place."""
    list(User.objects.select_for_update().filter(pk=user_id).values_list("pk", flat=True))


# --- Services ---------------------------------------------------------------------------------


@transaction.atomic
def reminder_create(
    *,
    user: Any,
    lead: Lead,
    action_type: str,
    priority: str | None = None,
    scheduled_for: dt.datetime | None = None,
    note: str = "",
    actor: Any,
    now: dt.datetime | None = None,
) -> Reminder:
    """Schedule a reminder for ``user`` about ``lead``; the time is chosen when omitted, then moved out
    of quiet hours and spread under the per-hour cap."""
    now = now or timezone.now()
    if scheduled_for is not None and scheduled_for > now + MAX_AHEAD:
        raise ValidationError({"scheduled_for": [_("At most two years ahead.")]})
    pref = preference_for(user)
    if priority is None:
        priority = Reminder.Priority.SCHEDULED if scheduled_for else Reminder.Priority.NORMAL
    wanted = max(scheduled_for, now) if scheduled_for else _suggested_time(lead=lead, user=user, now=now)
    _lock_user(user.pk)
    at = _spread(user_id=user.pk, at=wanted, pref=pref)
    reminder = Reminder.objects.create(
        lead=lead,
        tenant_id=lead.tenant_id,
        user_id=user.pk,
        action_type=action_type,
        priority=priority,
        scheduled_for=at,
        first_scheduled_for=at,
        note=note or "",
    )
    audit_record(
        event_type="followups.reminder_created",
        actor=actor,
        obj=reminder,
        tenant=lead.tenant,
        payload={"lead": str(lead.pk), "action_type": action_type, "priority": priority},
    )
    return reminder


def _learned_time(*, reminder: Reminder, pref: FollowupPreference, now: dt.datetime) -> dt.datetime:
    """The new time after a snooze: the user's usual delay (days) and hour, or +1 day at the same hour."""
    tz = _tz(pref)
    local_now = now.astimezone(tz)
    days: list[int] = []
    hours: list[int] = []
    for entry in snooze_history_for(reminder.user):
        try:
            at = dt.datetime.fromisoformat(entry["at"]).astimezone(tz)
            to = dt.datetime.fromisoformat(entry["to"]).astimezone(tz)
        except (KeyError, TypeError, ValueError):
            continue
        days.append(max(0, (to.date() - at.date()).days))
        hours.append(to.hour)
    if len(days) >= SNOOZE_LEARN_MIN:
        delay = round(statistics.median(days))
        hour = Counter(hours).most_common(1)[0][0]
        candidate = dt.datetime.combine(local_now.date() + dt.timedelta(days=delay), dt.time(hour), tzinfo=tz)
        if candidate <= now:
            candidate += dt.timedelta(days=1)
        return candidate
    same_hour = reminder.scheduled_for.astimezone(tz).timetz().replace(tzinfo=None)
    return dt.datetime.combine(local_now.date() + dt.timedelta(days=1), same_hour, tzinfo=tz)


@transaction.atomic
def reminder_snooze(*, reminder: Reminder, actor: Any, reason: str = "", now: dt.datetime | None = None) -> dict:
    """Put a reminder off to the time the user usually snoozes to; warns from the third snooze on.

    Returns ``{"reminder", "scheduled_for", "snooze_count", "warning"}``.
    """
    now = now or timezone.now()
    reminder = Reminder.objects.select_for_update().select_related("user", "lead").get(pk=reminder.pk)
    if reminder.status != Reminder.Status.OPEN:
        raise ConflictError(_("This reminder is no longer open."), code="reminder_closed")
    pref = preference_for(reminder.user)
    wanted = _learned_time(reminder=reminder, pref=pref, now=now)
    _lock_user(reminder.user_id)
    at = _spread(user_id=reminder.user_id, at=wanted, pref=pref, exclude_id=reminder.pk)
    previous = reminder.scheduled_for
    reminder.snoozes = [
        *(reminder.snoozes or []),
        {"at": now.isoformat(), "from": previous.isoformat(), "to": at.isoformat(), "reason": (reason or "")[:200]},
    ]
    reminder.snooze_count += 1
    reminder.scheduled_for = at
    reminder.notified_at = None
    reminder.save(update_fields=["snoozes", "snooze_count", "scheduled_for", "notified_at"])
    audit_record(
        event_type="followups.reminder_snoozed",
        actor=actor,
        obj=reminder,
        tenant=reminder.lead.tenant,
        payload={"snooze_count": reminder.snooze_count},
    )
    return {
        "reminder": reminder,
        "scheduled_for": at,
        "snooze_count": reminder.snooze_count,
        "warning": snooze_warning() if reminder.snooze_count >= SNOOZE_WARN_AT else None,
    }


@transaction.atomic
def reminder_complete(*, reminder: Reminder, actor: Any, dismiss: bool = False) -> Reminder:
    """Mark a reminder done (or dismissed); a closed one is a conflict."""
    reminder = Reminder.objects.select_for_update().select_related("lead").get(pk=reminder.pk)
    if reminder.status != Reminder.Status.OPEN:
        raise ConflictError(_("This reminder is no longer open."), code="reminder_closed")
    reminder.status = Reminder.Status.DISMISSED if dismiss else Reminder.Status.DONE
    reminder.completed_at = timezone.now()
    reminder.save(update_fields=["status", "completed_at"])
    audit_record(
        event_type="followups.reminder_dismissed" if dismiss else "followups.reminder_completed",
        actor=actor,
        obj=reminder,
        tenant=reminder.lead.tenant,
        payload={"snooze_count": reminder.snooze_count},
    )
    return reminder


@transaction.atomic
def reminder_plan_from_activity(*, lead: Lead, user: Any, date: dt.date, actor: Any) -> Reminder:
    """A planned follow-up date (an activity's ``next_follow_up``): move the lead's open reminder of this
    user there (09:00 in the user's time zone), or create one."""
    pref = preference_for(user)
    wanted = dt.datetime.combine(date, dt.time(9), tzinfo=_tz(pref))
    reminder = (
        Reminder.objects.select_for_update()
        .filter(lead=lead, user_id=user.pk, status=Reminder.Status.OPEN)
        .order_by("-created_at", "-id")
        .first()
    )
    if reminder is None:
        return reminder_create(
            user=user,
            lead=lead,
            action_type=Reminder.ActionType.CALL,
            priority=Reminder.Priority.SCHEDULED,
            scheduled_for=wanted,
            actor=actor,
        )
    _lock_user(user.pk)
    at = _spread(user_id=user.pk, at=max(wanted, timezone.now()), pref=pref, exclude_id=reminder.pk)
    reminder.scheduled_for = at
    reminder.notified_at = None
    reminder.save(update_fields=["scheduled_for", "notified_at"])
    audit_record(event_type="followups.reminder_moved", actor=actor, obj=reminder, tenant=lead.tenant, payload={})
    return reminder


# --- Notices ----------------------------------------------------------------------------------


def _lead_url(lead: Lead) -> str:
    try:
        return reverse("portal:lead_detail", args=[lead.public_id])
    except NoReverseMatch:
        return ""


def reminders_notify_due(*, now: dt.datetime | None = None, batch: int = NOTIFY_BATCH) -> int:
    """Tell users in-app of their reminders that came due, once each, never in their quiet hours.

    Users in quiet hours are left out in SQL (their reminders wait for the next tick); each reminder
    is claimed by a conditional update of ``notified_at`` so that overlapping ticks notify it once.
    """
    now = now or timezone.now()
    due = Reminder.objects.filter(status=Reminder.Status.OPEN, notified_at__isnull=True, scheduled_for__lte=now)
    user_ids = list(due.order_by().values_list("user_id", flat=True).distinct()[:batch])
    if not user_ids:
        return 0
    prefs = preferences_for(user_ids)
    awake = [pk for pk, pref in prefs.items() if not is_quiet(now, pref)]
    if not awake:
        return 0
    from accounts.services import notify

    notified = 0
    rows = due.filter(user_id__in=awake).select_related("user", "lead").order_by("scheduled_for", "id")[:batch]
    for reminder in rows:
        with transaction.atomic():
            claimed = Reminder.objects.filter(
                pk=reminder.pk, status=Reminder.Status.OPEN, notified_at__isnull=True
            ).update(notified_at=now)
            if not claimed:
                continue
            notify(
                users=[reminder.user],
                kind=Notification.Kind.SYSTEM,
                title=gettext_noop("Reminder: %(action)s %(lead)s"),
                # Stored and mailed in plain text: the lead's public id, never its name (SPEC §12).
                context={"action": reminder.get_action_type_display(), "lead": reminder.lead.public_id},
                url=_lead_url(reminder.lead),
                dedup_key=f"reminder:{reminder.pk}:{reminder.snooze_count}",
            )
            notified += 1
    return notified


def reminders_follow_partner(*, lead: Any, from_partner_id: Any, to_partner_id: Any) -> int:
    """A lead moved: the former partner's open reminders go to the new partner (dismissed without one)."""
    if from_partner_id is None or from_partner_id == to_partner_id:
        return 0
    mine = Reminder.objects.filter(lead_id=lead.pk, user_id=from_partner_id, status=Reminder.Status.OPEN)
    if to_partner_id is None:
        return mine.update(status=Reminder.Status.DISMISSED, completed_at=timezone.now())
    return mine.update(user_id=to_partner_id, tenant_id=lead.tenant_id, notified_at=None)


def reminders_dismiss_for_lead(*, lead: Any) -> int:
    """A lost lead: nothing more to remind of."""
    return Reminder.objects.filter(lead_id=lead.pk, status=Reminder.Status.OPEN).update(
        status=Reminder.Status.DISMISSED, completed_at=timezone.now()
    )
