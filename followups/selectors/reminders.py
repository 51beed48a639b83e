"""Reads of smart reminders: a user's open reminders, one reminder, preferences and the snooze history."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from core.exceptions import NotFoundError
from followups.models import FollowupPreference, Reminder

#: How many of the user's snoozed reminders the learned snooze pattern reads (newest first).
SNOOZE_HISTORY_REMINDERS = 50
#: Ids beyond a bigint are unknown (never a database error).
MAX_ID = 2**63


def preference_for(user: Any) -> FollowupPreference:
    """The user's reminder settings; the defaults (unsaved) when they never changed them."""
    pref = FollowupPreference.objects.filter(user_id=user.pk).first()
    return pref or FollowupPreference(user_id=user.pk)


def preferences_for(user_ids: list[int]) -> dict[int, FollowupPreference]:
    """Settings of many users in one query; users without a row get the defaults."""
    found = {pref.user_id: pref for pref in FollowupPreference.objects.filter(user_id__in=user_ids)}
    return {pk: found.get(pk) or FollowupPreference(user_id=pk) for pk in user_ids}


def reminders_open_for(user: Any, *, due_before: dt.datetime | None = None) -> QuerySet[Reminder]:
    """The user's open reminders, soonest first (index ``reminder_open_user_due``)."""
    qs = Reminder.objects.filter(user_id=user.pk, status=Reminder.Status.OPEN)
    if due_before is not None:
        qs = qs.filter(scheduled_for__lte=due_before)
    return qs.select_related("lead").order_by("scheduled_for", "id")


def reminder_get_for(user: Any, reminder_id: Any) -> Reminder:
    """One of the user's reminders; another user's (or an unknown id) is a 404."""
    try:
        pk = int(reminder_id)
    except (TypeError, ValueError):
        pk = None
    if pk is not None and not 0 < pk < MAX_ID:
        pk = None
    reminder = Reminder.objects.filter(pk=pk, user_id=user.pk).select_related("lead").first() if pk else None
    if reminder is None:
        raise NotFoundError(_("Reminder not found."))
    return reminder


def snooze_history_for(user: Any) -> list[dict[str, Any]]:
    """The user's snoozes across their reminders (``{"at", "from", "to", "reason"}``), newest reminders first."""
    rows = (
        Reminder.objects.filter(user_id=user.pk, snooze_count__gt=0)
        .order_by("-created_at", "-id")
        .values_list("snoozes", flat=True)[:SNOOZE_HISTORY_REMINDERS]
    )
    history: list[dict[str, Any]] = []
    for snoozes in rows:
        history.extend(entry for entry in snoozes or [] if isinstance(entry, dict))
    return history
