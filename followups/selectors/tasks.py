"""The partner's follow-up tasks with one-click actions: WhatsApp (wa.me), call (tel:), copy the message."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import quote

import phonenumbers
from django.db.models import QuerySet
from django.utils.translation import gettext as _

from core.exceptions import NotFoundError
from followups.models import FollowupTask


def tasks_for(user: Any, *, status: str = FollowupTask.Status.OPEN, due_before: dt.datetime | None = None):
    """The user's tasks in their tenant, soonest first (partial index ``fu_task_open_due``)."""
    qs: QuerySet[FollowupTask] = FollowupTask.objects.filter(
        tenant_id=getattr(user, "organization_id", None), assignee_id=getattr(user, "pk", None)
    ).select_related("lead")
    if status:
        qs = qs.filter(status=status)
    if due_before is not None:
        qs = qs.filter(due_at__lte=due_before)
    return qs.order_by("due_at", "pk")


def task_get_for(user: Any, task_id: Any) -> FollowupTask:
    """One of the user's tasks; anything else (another partner's too) is a 404."""
    try:
        pk = int(task_id)
    except (TypeError, ValueError):
        pk = None
    task = tasks_for(user, status="").filter(pk=pk).first() if pk is not None else None
    if task is None:
        raise NotFoundError(_("Task not found."))
    return task


def e164(phone: str, region: str = "DE") -> str:
    """``+4915112345678`` for a phone number as entered, or "" when it is not a valid number."""
    if not phone:
        return ""
    try:
        number = phonenumbers.parse(phone, region or "DE")
    except phonenumbers.NumberParseException:
        return ""
    if not phonenumbers.is_possible_number(number):
        return ""
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def message_actions(*, channel: str, phone: str, message: str, country: str = "") -> list[dict[str, str]]:
    """The one-click actions of a message: ``whatsapp`` (wa.me link with the text), ``call`` (tel:), ``copy``."""
    actions: list[dict[str, str]] = []
    number = e164(phone, (country or "DE").upper())
    if number and channel in ("whatsapp", "message", "auto"):
        actions.append(
            {"type": "whatsapp", "url": f"https://wa.me/{number.lstrip('+')}?text={quote(message, safe='')}"}
        )
    if number and channel in ("call", "whatsapp", "message", "auto"):
        actions.append({"type": "call", "url": f"tel:{number}"})
    if message:
        actions.append({"type": "copy", "text": message})
    return actions


def task_actions(task: FollowupTask) -> list[dict[str, str]]:
    lead = task.lead
    return message_actions(
        channel=task.channel, phone=lead.phone or "", message=task.message or "", country=lead.country or ""
    )
