"""The followups app in the subject data registry: the person's emails and their events, runs and tasks.

Sections ``emails`` (every ``EmailMessage`` of the person's leads or to one of their addresses, with
its events) and ``followups`` (sequence runs with their due steps, follow-up tasks). The export
decrypts recipient, subject and task texts; an event's raw ESP payload is not exported (an SES
notification may name other recipients of the same send). Erasure blanks the recipient, subject,
error and links of the emails and the payloads, URLs and recipient hashes of their events, ends the
open runs (exit ``erased``), cancels open tasks and blanks every task's subject and message. What
stays are statistics: statuses, types, counts and times.

The suppression list (``EmailSuppression``) is NOT touched: it holds only the keyed blind index of
an address, and it must survive the erasure, or a re-imported address of a person who bounced or
complained would be mailed again (protocols §4.3).

Registered on import (``FollowupsConfig.ready`` imports this module), with the retention policy of
``followups.retention``.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q

from compliance.registry import ErasureContext, Subject, register_subject_data
from followups import retention
from followups.models import DueStep, EmailEvent, EmailMessage, Escalation, FollowupTask, Reminder, SequenceRun
from followups.services.engine import runs_exit
from leads.selectors.subjects import jsonable
from leads.services.erasure import holding

#: Before ``leads`` (90), which blanks the identities; after ``deals`` (40).
ORDER = 45
SECTIONS = ("emails", "followups")
MESSAGE_FIELDS = (
    "id",
    "message_id",
    "kind",
    "purpose",
    "lead_id",
    "tenant_id",
    "sequence_id",
    "step_id",
    "run_id",
    "to_email",
    "subject",
    "links",
    "status",
    "created_at",
    "sent_at",
    "delivered_at",
    "opened_at",
    "clicked_at",
    "open_count",
    "click_count",
    "replied_at",
    "bounced_at",
    "complained_at",
    "unsubscribed_at",
)
EVENT_FIELDS = ("id", "message_id", "esp", "event_type", "occurred_at", "is_bot", "url", "created_at")
REMINDER_FIELDS = (
    "id",
    "lead_id",
    "user_id",
    "action_type",
    "priority",
    "scheduled_for",
    "first_scheduled_for",
    "note",
    "status",
    "snooze_count",
    "snoozes",
    "completed_at",
    "created_at",
)
ESCALATION_FIELDS = ("id", "lead_id", "member_id", "leader_id", "week", "days_without_contact", "created_at")
RUN_FIELDS = (
    "id",
    "sequence_id",
    "sequence__name",
    "lead_id",
    "partner_id",
    "status",
    "current_step",
    "next_due_at",
    "outcome",
    "exit_reason",
    "enrolled_at",
    "finished_at",
)
DUE_FIELDS = ("id", "run_id", "step__number", "due_at", "status", "note", "executed_at")
TASK_FIELDS = (
    "id",
    "lead_id",
    "run_id",
    "assignee_id",
    "channel",
    "template_code",
    "subject",
    "message",
    "due_at",
    "status",
    "outcome",
    "completed_at",
    "created_at",
)


def _messages(subject: Subject):
    q = Q(lead_id__in=list(subject.lead_ids))
    hashes = [value for value in subject.hashes.get("email", []) if value]
    if hashes:
        q |= Q(to_hash__in=hashes)
    return EmailMessage.objects.filter(q)


def _events(subject: Subject):
    """The events of the person's emails, and those matched to no email but sent to their address."""
    q = Q(message__lead_id__in=list(subject.lead_ids))
    hashes = [value for value in subject.hashes.get("email", []) if value]
    if hashes:
        q |= Q(message__to_hash__in=hashes) | Q(recipient_hash__in=hashes)
    return EmailEvent.objects.filter(q)


def subject_followups_export(subject: Subject) -> dict[str, list[Any]]:
    """Emails with their events; runs with their due steps; tasks (texts decrypted; four queries a section)."""
    ids = list(subject.lead_ids)
    if not ids and not any(subject.hashes.values()):
        return {section: [] for section in SECTIONS}
    emails = [jsonable(row) for row in _messages(subject).order_by("created_at", "pk").values(*MESSAGE_FIELDS)]
    by_email: dict[Any, list[dict[str, Any]]] = {row["id"]: [] for row in emails}
    loose: list[dict[str, Any]] = []
    for row in _events(subject).order_by("occurred_at", "pk").values(*EVENT_FIELDS):
        by_email.get(row["message_id"], loose).append(jsonable(row))
    exported = [{**row, "events": by_email[row["id"]]} for row in emails]
    if loose:
        exported.append({"id": None, "events": loose})  # ESP events about the address, matched to no email
    runs = [
        jsonable(row)
        for row in SequenceRun.objects.filter(lead_id__in=ids).order_by("enrolled_at", "pk").values(*RUN_FIELDS)
    ]
    due: dict[Any, list[dict[str, Any]]] = {row["id"]: [] for row in runs}
    for row in DueStep.objects.filter(run_id__in=list(due)).order_by("due_at", "pk").values(*DUE_FIELDS):
        due[row["run_id"]].append(jsonable(row))
    tasks = FollowupTask.objects.filter(lead_id__in=ids).order_by("created_at", "pk").values(*TASK_FIELDS)
    followups = [{"record": "run", **run, "due_steps": due[run["id"]]} for run in runs]
    followups += [{"record": "task", **jsonable(row)} for row in tasks]
    reminders = Reminder.objects.filter(lead_id__in=ids).order_by("created_at", "pk").values(*REMINDER_FIELDS)
    followups += [{"record": "reminder", **jsonable(row)} for row in reminders]
    escalations = Escalation.objects.filter(lead_id__in=ids).order_by("created_at", "pk").values(*ESCALATION_FIELDS)
    followups += [{"record": "escalation", **jsonable(row)} for row in escalations]
    return {"emails": exported, "followups": followups}


def subject_followups_erase(subject: Subject, context: ErasureContext) -> dict[str, int]:
    """Blank the emails' and tasks' texts and the events' payloads, end the runs; idempotent (zeros on a re-run)."""
    ids = list(subject.lead_ids)
    counts = {"emails": 0, "email_events": 0, "runs": 0, "due_steps": 0, "tasks": 0, "reminders": 0}
    if not ids and not any(subject.hashes.values()):
        return counts
    counts["emails"] = holding(_messages(subject), "to_email", "subject", "error", "links", "to_hash").update(
        to_email="", subject="", error="", links=[], to_hash=""
    )
    counts["email_events"] = holding(_events(subject), "detail", "url", "recipient_hash").update(
        detail={}, url="", recipient_hash=""
    )
    if ids:
        counts["runs"] = runs_exit(lead_ids=ids, reason=SequenceRun.ExitReason.ERASED) or 0
        counts["due_steps"] = holding(DueStep.objects.filter(run__lead_id__in=ids), "last_error").update(last_error="")
        tasks = FollowupTask.objects.filter(lead_id__in=ids)
        tasks.filter(status=FollowupTask.Status.OPEN).update(status=FollowupTask.Status.CANCELLED)
        counts["tasks"] = holding(tasks, "subject", "message").update(subject="", message="")
        reminders = Reminder.objects.filter(lead_id__in=ids)
        reminders.filter(status=Reminder.Status.OPEN).update(status=Reminder.Status.DISMISSED)
        # The snooze history carries the user's free-text reasons.
        counts["reminders"] = holding(reminders, "note", "snoozes").update(note="", snoozes=[])
    return counts


def register() -> None:
    register_subject_data(
        "followups", sections=SECTIONS, exporter=subject_followups_export, eraser=subject_followups_erase, order=ORDER
    )
    retention.register_retention_policy()


register()
