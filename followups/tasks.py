"""Celery tasks of the followups app: thin wrappers that take ids and call the engine's services."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

#: Leads per enrolment task: an import batch of thousands is split into tasks of this size.
TRIGGER_CHUNK = 500


@shared_task(name="followups.run_due_steps_task", ignore_result=True)
def run_due_steps_task() -> int:
    """The beat tick: execute a batch of due steps; a full batch queues the next tick at once."""
    from followups.services.engine import run_due_steps

    claimed = run_due_steps()
    if claimed >= settings.FOLLOWUPS_TICK_BATCH and not settings.CELERY_TASK_ALWAYS_EAGER:
        run_due_steps_task.delay()
    return claimed


@shared_task(name="followups.sequences_trigger_task", ignore_result=True)
def sequences_trigger_task(
    trigger: str, lead_ids: list[str], to_status: str = "", activity_id: int | None = None
) -> int:
    """Enrol these leads in the active sequences of ``trigger`` whose filter matches (magnet name from the activity)."""
    from followups.services.engine import sequences_trigger
    from leads.models import LeadActivity

    magnet = ""
    if activity_id is not None:
        detail = LeadActivity.objects.filter(pk=activity_id).values_list("detail", flat=True).first() or {}
        if isinstance(detail, dict):
            magnet = str(detail.get("magnet") or detail.get("magnet_name") or detail.get("name") or "")
    return sequences_trigger(trigger=trigger, lead_ids=lead_ids, to_status=to_status, magnet=magnet)


def sequences_trigger_enqueue(trigger: str, lead_ids: list, **kwargs) -> None:
    """Queue enrolment in chunks of ``TRIGGER_CHUNK`` lead ids (ids as strings)."""
    ids = [str(pk) for pk in lead_ids]
    for start in range(0, len(ids), TRIGGER_CHUNK):
        sequences_trigger_task.delay(trigger, ids[start : start + TRIGGER_CHUNK], **kwargs)


@shared_task(name="followups.reminders_notify_task", ignore_result=True)
def reminders_notify_task() -> int:
    """The beat tick: tell users in-app of reminders that came due (once each, never in quiet hours)."""
    from followups.services.reminders import reminders_notify_due

    return reminders_notify_due()


@shared_task(name="followups.escalations_check_task", ignore_result=True)
def escalations_check_task() -> int:
    """Daily: team members' leads not reached for 7 days, told to the leader once per lead and week."""
    from followups.services.escalations import escalations_check

    return escalations_check()
