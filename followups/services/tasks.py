"""Follow-up tasks of the partner (call, WhatsApp, write personally): completing or dismissing one.

Completing a task logs a contact on the lead through the leads services, so the lead's last touch moves
(``last_activity_at``) and ``should_followup`` sees the touch; an ``outcome`` (positive, negative,
no_response) of a task that a sequence run created feeds ``run_respond`` (the step's branch decides).
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Organization
from compliance.services import audit_record
from core.exceptions import ConflictError, DomainError
from followups.models import FollowupTask, SequenceRun
from followups.services.engine import OUTCOMES, run_respond
from leads.services.work import ContactChannel, ContactOutcome, lead_contact_log

#: Task channel → the contact channel logged on the lead.
CONTACT_CHANNEL = {
    "whatsapp": ContactChannel.WHATSAPP,
    "call": ContactChannel.PHONE,
    "email": ContactChannel.EMAIL,
    "linkedin": ContactChannel.SOCIAL,
    "message": ContactChannel.SOCIAL,
    "auto": ContactChannel.SOCIAL,
}
#: The partner's outcome → the logged contact's outcome (done without one: sent, no answer yet).
CONTACT_OUTCOME = {
    "positive": ContactOutcome.REACHED,
    "negative": ContactOutcome.NOT_INTERESTED,
    "no_response": ContactOutcome.NO_ANSWER,
    None: ContactOutcome.NO_ANSWER,
}


@transaction.atomic
def followup_task_complete(
    *, task: FollowupTask, actor: Any, outcome: str | None = None, dismiss: bool = False
) -> FollowupTask:
    """Mark an open task done (logging the contact) or dismissed; a closed task is a conflict."""
    if outcome is not None and outcome not in OUTCOMES:
        raise DomainError(
            _("Unknown outcome '%(value)s'.") % {"value": outcome},
            code="invalid_outcome",
            fields={"outcome": [_("One of: positive, negative, no_response.")]},
        )
    task = FollowupTask.objects.select_for_update(of=("self",)).select_related("lead", "run").get(pk=task.pk)
    if task.status != FollowupTask.Status.OPEN:
        raise ConflictError(_("This task is closed already."), code="task_closed")
    now = timezone.now()
    task.status = FollowupTask.Status.DISMISSED if dismiss else FollowupTask.Status.DONE
    task.outcome = "" if dismiss else (outcome or "")
    task.completed_at = now
    task.save(update_fields=["status", "outcome", "completed_at"])
    if not dismiss:
        lead_contact_log(
            lead=task.lead,
            actor=actor,
            channel=CONTACT_CHANNEL.get(task.channel, ContactChannel.SOCIAL),
            outcome=CONTACT_OUTCOME[outcome],
            note=_("Follow-up task done"),
        )
        run = task.run
        if outcome is not None and run is not None and run.status == SequenceRun.Status.ACTIVE:
            run_respond(run=run, outcome=outcome, actor=actor)
    audit_record(
        event_type="followups.task_dismissed" if dismiss else "followups.task_done",
        actor=actor,
        obj=task,
        tenant=Organization(pk=task.tenant_id),
        payload={"lead": str(task.lead_id), "outcome": task.outcome, "channel": task.channel},
    )
    return task
