"""The partner's "Heute" page (SPEC §11): today's suggestions, due tasks and reminders, each done in one click.

Thin: the rows come from the follow-up selectors (suggestions, tasks, reminders), every click goes to a
service. Each action is a POST that answers an htmx request with the updated row only (the page stays
where it is) and a plain form post with a redirect back, so the page works without JavaScript too.
A reminder or task of another user is a 404, like every other portal object.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from core.exceptions import DomainError
from core.portal import back, is_htmx, partner_required, portal_render
from followups.models import DueStep, FollowupTask, Reminder, SequenceRun
from followups.selectors.reminders import reminder_get_for, reminders_open_for
from followups.selectors.suggestions import followup_suggestions
from followups.selectors.tasks import message_actions, task_get_for, tasks_for
from followups.services.reminders import reminder_complete, reminder_snooze
from followups.services.tasks import followup_task_complete
from leads.selectors import lead_get_for
from leads.services.work import ContactChannel, ContactOutcome, lead_contact_log
from portal import views

#: Urgent first, scheduled last (SPEC §11); tasks and reminders that are overdue count as urgent.
PRIORITY_RANK = {"urgent": 0, "high": 1, "normal": 2, "low": 3, "scheduled": 4}
SUGGESTION_LIMIT = 10
#: Reminders and tasks shown at most (each): a morning's work, soonest first; the rest waits for the next visit.
ROW_LIMIT = 20
#: The suggestion's channel as a logged contact's channel.
CONTACT_CHANNELS = {
    "whatsapp": ContactChannel.WHATSAPP,
    "call": ContactChannel.PHONE,
    "phone": ContactChannel.PHONE,
    "email": ContactChannel.EMAIL,
    "meeting": ContactChannel.MEETING,
    "linkedin": ContactChannel.SOCIAL,
    "instagram": ContactChannel.SOCIAL,
    "message": ContactChannel.SOCIAL,
}

#: The suggestion's reason code (SPEC §11) as the partner reads it.
REASON_LABELS = {
    "no_response": gettext_lazy("No answer yet"),
    "showed_interest": gettext_lazy("Showed interest"),
    "watched_video": gettext_lazy("Watched the video"),
    "objection_handled": gettext_lazy("Objection handled"),
    "call_scheduled": gettext_lazy("Call scheduled"),
    "periodic_checkin": gettext_lazy("Time for a check-in"),
    "reactivation": gettext_lazy("Reactivate"),
    "offer_expiring": gettext_lazy("Offer expires soon"),
    "hot_lead": gettext_lazy("Hot lead"),
}

#: A reminder's action as the channel of its one-click links.
REMINDER_CHANNELS = {"call": "call", "whatsapp": "whatsapp", "message": "message"}


@dataclass
class TodayItem:
    """One row of the page: a suggestion, a task or a reminder, with what its buttons need."""

    kind: str  # "suggestion" | "task" | "reminder"
    obj: Any
    lead: Any
    priority: str
    when: dt.datetime | None
    actions: dict[str, str] | None = None  # "whatsapp" / "call": the one-click links
    message: str = ""
    reason: str = ""

    @property
    def rank(self) -> tuple:
        return (PRIORITY_RANK.get(self.priority, 9), -(getattr(self.lead, "score", 0) or 0), self.when or _FAR)

    @property
    def dom_id(self) -> str:
        return f"today-{self.kind}-{getattr(self.obj, 'pk', None) or self.lead.pk}"


_FAR = dt.datetime.max.replace(tzinfo=dt.UTC)


def _links(lead, *, channel: str, message: str = "") -> dict[str, str]:
    """The wa.me and tel: links of a row (the copy action is the message box itself)."""
    actions = message_actions(channel=channel, phone=lead.phone or "", message=message, country=lead.country or "")
    return {action["type"]: action["url"] for action in actions if "url" in action}


def _end_of_today(now: dt.datetime) -> dt.datetime:
    local = timezone.localtime(now)
    return local.replace(hour=23, minute=59, second=59, microsecond=0)


def _overdue_priority(when: dt.datetime | None, priority: str, now: dt.datetime) -> str:
    return "urgent" if when is not None and when <= now else priority


def _reminder_item(reminder: Reminder, now: dt.datetime) -> TodayItem:
    lead = reminder.lead
    return TodayItem(
        kind="reminder",
        obj=reminder,
        lead=lead,
        priority=_overdue_priority(reminder.scheduled_for, reminder.priority, now),
        when=reminder.scheduled_for,
        actions=_links(lead, channel=REMINDER_CHANNELS.get(reminder.action_type, "")),
    )


def _task_item(task: FollowupTask, now: dt.datetime) -> TodayItem:
    lead = task.lead
    return TodayItem(
        kind="task",
        obj=task,
        lead=lead,
        priority=_overdue_priority(task.due_at, "high", now),
        when=task.due_at,
        actions=_links(lead, channel=task.channel, message=task.message),
        message=task.message,
    )


def _suggestion_item(suggestion: Any) -> TodayItem:
    lead = suggestion.lead
    message = getattr(suggestion, "message", "") or ""
    channel = getattr(suggestion, "suggested_channel", "") or ""
    return TodayItem(
        kind="suggestion",
        obj=suggestion,
        lead=lead,
        priority=getattr(suggestion, "priority", "normal") or "normal",
        when=getattr(suggestion, "suggested_time", None),
        actions=_links(lead, channel=channel or "auto", message=message),
        message=message,
        reason=str(REASON_LABELS.get(getattr(suggestion, "reason", ""), getattr(suggestion, "reason", "") or "")),
    )


def today_items(user, *, now: dt.datetime | None = None) -> list[TodayItem]:
    """Everything due today in priority order; a lead with a task or reminder gets no extra suggestion."""
    now = now or timezone.now()
    until = _end_of_today(now)
    reminders = list(reminders_open_for(user, due_before=until)[:ROW_LIMIT])
    items = [_reminder_item(r, now) for r in reminders]
    items += [_task_item(t, now) for t in tasks_for(user, due_before=until)[:ROW_LIMIT]]
    busy = {item.lead.pk for item in items}
    for suggestion in followup_suggestions(user, limit=SUGGESTION_LIMIT, now=now):
        if suggestion.lead.pk not in busy:
            busy.add(suggestion.lead.pk)
            items.append(_suggestion_item(suggestion))
    items.sort(key=lambda item: item.rank)
    return items


@require_GET
@partner_required
def today(request: HttpRequest) -> HttpResponse:
    items = today_items(request.user)
    counts = {kind: sum(1 for item in items if item.kind == kind) for kind in ("reminder", "task", "suggestion")}
    context = {
        "items": items,
        "row_limit": ROW_LIMIT,
        "more": counts["reminder"] >= ROW_LIMIT or counts["task"] >= ROW_LIMIT,
        "counts": counts,
        "today": timezone.localdate(),
    }
    return portal_render(request, "portal/today/page.html", context, section="today")


def _row(request: HttpRequest, item: TodayItem | None, *, done_label: str = "", warning: str = "") -> HttpResponse:
    return render(
        request, "portal/today/_row.html", {"item": item, "done_label": done_label, "warning": warning, "swap": True}
    )


def _done(request: HttpRequest, label: str, *, warning: str = "", item: TodayItem | None = None) -> HttpResponse:
    """htmx: the row in its new state; a form post: back to the page (or ``next``) with a message."""
    if is_htmx(request):
        return _row(request, item, done_label=label if item is None else "", warning=warning)
    messages.success(request, label)
    if warning:
        messages.warning(request, warning)
    return back(request, reverse("portal:today"))


def _refused(request: HttpRequest, exc: DomainError) -> HttpResponse:
    if is_htmx(request):
        # 200: htmx swaps only successful answers, and the row should say why nothing happened.
        return HttpResponse(format_html('<li class="card today-row error" role="alert">{}</li>', exc.message))
    messages.error(request, exc.message)
    return back(request, reverse("portal:today"))


def _snooze_result(result: Any) -> tuple[Reminder, str]:
    """The snoozed reminder and the warning after repeated snoozes (``reminder_snooze``'s answer)."""
    if isinstance(result, dict):
        return result["reminder"], result.get("warning") or ""
    return result, ""


@require_POST
@partner_required
def reminder_action(request: HttpRequest, reminder_id: int, action: str) -> HttpResponse:
    """``spaeter`` (snooze to the suggested time), ``erledigt`` (done), ``verwerfen`` (dismiss)."""
    reminder = reminder_get_for(request.user, reminder_id)
    try:
        if action == "spaeter":
            snoozed, warning = _snooze_result(
                reminder_snooze(reminder=reminder, actor=request.user, reason=request.POST.get("reason", "")[:200])
            )
            snoozed.lead = reminder.lead
            label = _("Snoozed until %(when)s.") % {
                "when": timezone.localtime(snoozed.scheduled_for).strftime("%d.%m.%Y %H:%M")
            }
            item = _reminder_item(snoozed, timezone.now())
            if is_htmx(request):
                return _row(request, item, warning=warning)
            return _done(request, label, warning=warning)
        if action in ("erledigt", "verwerfen"):
            reminder_complete(reminder=reminder, actor=request.user, dismiss=action == "verwerfen")
            return _done(request, _("Reminder done.") if action == "erledigt" else _("Reminder dismissed."))
    except DomainError as exc:
        return _refused(request, exc)
    raise Http404


@require_POST
@partner_required
def task_action(request: HttpRequest, task_id: int, action: str) -> HttpResponse:
    """``erledigt`` (done, with an optional outcome) or ``verwerfen`` (dismissed)."""
    task = task_get_for(request.user, task_id)
    if action not in ("erledigt", "verwerfen"):
        raise Http404
    outcome = request.POST.get("outcome") or None
    try:
        followup_task_complete(task=task, actor=request.user, outcome=outcome, dismiss=action == "verwerfen")
    except DomainError as exc:
        return _refused(request, exc)
    return _done(request, _("Task done.") if action == "erledigt" else _("Task dismissed."))


@require_POST
@partner_required
def contact_action(request: HttpRequest, ref: str) -> HttpResponse:
    """A suggestion acted on outside the platform (WhatsApp sent, called): log the contact in one click."""
    lead = lead_get_for(request.user, ref)
    channel = CONTACT_CHANNELS.get(request.POST.get("channel", ""), ContactChannel.PHONE)
    outcome = request.POST.get("outcome") or ContactOutcome.REACHED
    if outcome not in ContactOutcome.values:
        outcome = ContactOutcome.REACHED
    try:
        lead_contact_log(lead=lead, actor=request.user, channel=channel, outcome=outcome)
    except DomainError as exc:
        return _refused(request, exc)
    return _done(request, _("Contact logged."))


# --- The lead page's next follow-up -------------------------------------------------------------


@dataclass
class NextFollowup:
    """The lead's next follow-up for this partner: an open reminder, else the next due step of a run."""

    reminder: Reminder | None = None
    task: FollowupTask | None = None
    due_step: DueStep | None = None

    @property
    def when(self) -> dt.datetime | None:
        if self.reminder is not None:
            return self.reminder.scheduled_for
        if self.task is not None:
            return self.task.due_at
        return self.due_step.due_at if self.due_step is not None else None

    def __bool__(self) -> bool:
        return any(part is not None for part in (self.reminder, self.task, self.due_step))


def next_followup_for(user, lead) -> NextFollowup:
    """At most three bounded queries: the earliest open reminder, else open task, else pending step of a run."""
    reminder = (
        Reminder.objects.filter(lead=lead, user=user, tenant_id=lead.tenant_id, status=Reminder.Status.OPEN)
        .order_by("scheduled_for", "pk")
        .first()
    )
    if reminder is not None:
        return NextFollowup(reminder=reminder)
    task = (
        FollowupTask.objects.filter(lead=lead, assignee=user, tenant_id=lead.tenant_id, status=FollowupTask.Status.OPEN)
        .order_by("due_at", "pk")
        .first()
    )
    if task is not None:
        return NextFollowup(task=task)
    due_step = (
        DueStep.objects.filter(
            run__lead=lead,
            run__tenant_id=lead.tenant_id,
            run__status=SequenceRun.Status.ACTIVE,
            status=DueStep.Status.PENDING,
        )
        .select_related("step", "run__sequence")
        .order_by("due_at", "pk")
        .first()
    )
    return NextFollowup(due_step=due_step)


def lead_detail_context(request: HttpRequest, lead) -> dict[str, Any]:
    """The portal's lead page parts (deal, sequences) plus the next follow-up with its buttons."""
    return {**views.lead_detail_context(request, lead), "next_followup": next_followup_for(request.user, lead)}
