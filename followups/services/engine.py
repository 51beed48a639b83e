"""The sequence engine (SPEC §11): enrolment, the beat tick over due rows, branches, pauses and exits.

A run has at most one pending due row: the next step. The tick claims due rows with a lease
(``core.leases``, ``DUE_STEP_LEASE``) through the partial index on ``due_at``, executes each and
schedules the following step in the same transaction that finishes the row. Executing twice is
harmless: a task step's ``FollowupTask`` is one per due row, the email sender records its message
per due row before it leaves and never sends a row's email twice, and the next step's due row is
unique per run and step. Nothing here scans leads or runs: exits and triggers start from the lead.

A held due row (paused run or sequence) keeps ``pending`` with ``due_at`` moved to ``HOLD_UNTIL``;
the run's ``next_due_at`` keeps the real time, so resuming puts it back (or to now, if it passed).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, OuterRef, Q, Subquery
from django.db.models.functions import Greatest
from django.template import Context, Template
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Organization
from compliance.services import audit_record
from core.exceptions import ConflictError, DomainError
from core.leases import lease_claim_batch, lease_finish, lease_owner, lease_release, task_lease_duration
from core.pii import scrub_pii
from followups.models import (
    DUE_STEP_LEASE,
    DueStep,
    EmailMessage,
    FollowupTask,
    Sequence,
    SequenceRun,
    SequenceStep,
)
from followups.selectors import eligibility
from followups.services import guardrails
from leads.models import Lead

logger = logging.getLogger(__name__)

HOLD_UNTIL = dt.datetime(2200, 1, 1, tzinfo=dt.UTC)
#: An email step waits this long for the double opt-in, then the run exits ``consent_timeout``.
CONSENT_WAIT = dt.timedelta(days=30)
#: How often a step waiting for consent looks again (a confirmation also wakes it at once).
CONSENT_RECHECK = dt.timedelta(hours=6)
#: A due row that failed this many times is given up (``failed``) instead of retried.
MAX_ATTEMPTS = 5
RETRY_AFTER = dt.timedelta(minutes=10)

OPEN = (SequenceRun.Status.ACTIVE, SequenceRun.Status.PAUSED)
OUTCOMES = ("positive", "negative", "no_response")
DEFAULT_BRANCH = {"positive": "end", "negative": "end", "no_response": "next_step"}
BRANCH_ACTIONS = ("next_step", "end", "move_to_nurture", "wait", "schedule_call")
#: Reasons that end a run whatever its sequence's ``exit_on`` says.
FORCED_REASONS = frozenset(
    {
        SequenceRun.ExitReason.COMPLETED,
        SequenceRun.ExitReason.ERASED,
        SequenceRun.ExitReason.STOPPED,
        SequenceRun.ExitReason.SEQUENCE_PAUSED,
        SequenceRun.ExitReason.CONSENT_TIMEOUT,
    }
)
#: What an email block means for the run: exit with a reason, wait, or skip the step.
BLOCK_EXITS = {
    eligibility.ERASED: SequenceRun.ExitReason.ERASED,
    eligibility.OPTED_OUT: SequenceRun.ExitReason.UNSUBSCRIBED,
    eligibility.SUPPRESSED: SequenceRun.ExitReason.BOUNCED,
}


# --- Steps ---------------------------------------------------------------------------------------


def _active_steps(sequence_id: int, cache: dict[int, list[SequenceStep]] | None = None) -> list[SequenceStep]:
    if cache is not None and sequence_id in cache:
        return cache[sequence_id]
    steps = list(SequenceStep.objects.filter(sequence_id=sequence_id, is_active=True).order_by("number"))
    if cache is not None:
        cache[sequence_id] = steps
    return steps


def _step_after(steps: list[SequenceStep], number: int) -> SequenceStep | None:
    return next((step for step in steps if step.number > number), None)


def _is_held(run: SequenceRun, sequence: Sequence) -> bool:
    return run.status == SequenceRun.Status.PAUSED or sequence.paused_at is not None


def _org(tenant_id: Any) -> Organization | None:
    """The tenant for an audit event without loading it."""
    return Organization(pk=tenant_id) if tenant_id is not None else None


def _schedule(
    run: SequenceRun, step: SequenceStep, due_at: dt.datetime, *, held: bool = False, **run_updates: Any
) -> DueStep:
    """The run's due row for ``step`` (unique per run and step: a second call returns the first row)."""
    # INSERT … ON CONFLICT DO NOTHING (the unique run+step) and read the row back: no savepoint per step.
    row = DueStep(run=run, step=step, due_at=HOLD_UNTIL if held else due_at, note="held" if held else "")
    DueStep.objects.bulk_create([row], ignore_conflicts=True)
    due = DueStep.objects.get(run=run, step=step)
    if due.status != DueStep.Status.PENDING:
        if run_updates:
            SequenceRun.objects.filter(pk=run.pk).update(**run_updates)
        return due
    if due.due_at != row.due_at:  # scheduled before: keep its time
        due_at = due.due_at if due.due_at != HOLD_UNTIL else (run.next_due_at or due_at)
    SequenceRun.objects.filter(pk=run.pk).update(next_due_at=due_at, **run_updates)
    run.next_due_at = due_at
    return due


def _complete(run: SequenceRun, *, now: dt.datetime, **run_updates: Any) -> None:
    SequenceRun.objects.filter(pk=run.pk, status__in=OPEN).update(
        status=SequenceRun.Status.COMPLETED,
        exit_reason=SequenceRun.ExitReason.COMPLETED,
        finished_at=now,
        next_due_at=None,
        **run_updates,
    )
    run.status, run.exit_reason, run.finished_at, run.next_due_at = (
        SequenceRun.Status.COMPLETED,
        SequenceRun.ExitReason.COMPLETED,
        now,
        None,
    )


# --- Enrolment -----------------------------------------------------------------------------------


def _reenrol_refused(*, lead: Lead, sequence: Sequence, now: dt.datetime) -> bool:
    last = (
        SequenceRun.objects.filter(sequence=sequence, lead=lead)
        .order_by("-enrolled_at")
        .values("status", "enrolled_at", "finished_at")
        .first()
    )
    if last is None:
        return False
    if last["status"] in OPEN or sequence.reenrol == Sequence.Reenrol.ONCE:
        return True
    since = last["finished_at"] or last["enrolled_at"]
    return now < since + dt.timedelta(days=sequence.reenrol_after_days or 0)


def sequence_enrol(*, lead: Lead, sequence: Sequence, actor: Any, now: dt.datetime | None = None) -> SequenceRun | None:
    """Start ``sequence`` for ``lead``: a run and the first step's due row; None when the rules refuse.

    Refused: an inactive sequence or one without steps, a merged, erased, lost or converted lead, an open
    run of the same sequence, or the re-enrolment rule (once per lead, or again only after N days).
    Two enrolments at once: the partial unique constraint lets one win, the other gets None.
    """
    now = now or timezone.now()
    if not sequence.is_active or lead.merged_into_id is not None or lead.erased_at is not None:
        return None
    if lead.status in (Lead.Status.LOST, Lead.Status.CONVERTED):
        return None
    steps = _active_steps(sequence.pk)
    if not steps or _reenrol_refused(lead=lead, sequence=sequence, now=now):
        return None
    state = Sequence.objects.filter(pk=sequence.pk).values("is_active", "paused_at").first()  # not the caller's copy
    if state is None or not state["is_active"]:
        return None
    try:
        with transaction.atomic():
            run = SequenceRun.objects.create(
                sequence=sequence,
                lead=lead,
                tenant_id=lead.tenant_id,
                partner_id=lead.assigned_partner_id or sequence.owner_id,
                enrolled_by=actor if getattr(actor, "pk", None) is not None and hasattr(actor, "_meta") else None,
            )
            first = steps[0]
            _schedule(run, first, now + dt.timedelta(hours=first.delay_hours), held=state["paused_at"] is not None)
            audit_record(
                event_type="followups.run_enrolled",
                actor=actor,
                obj=run,
                tenant=_org(lead.tenant_id),
                payload={"sequence": sequence.code, "lead": str(lead.pk)},
            )
    except IntegrityError:
        return None  # a concurrent enrolment of the same lead and sequence won
    return run


def sequences_for_trigger(trigger: str) -> list[Sequence]:
    """Active, unpaused sequences of a trigger (partial index ``seq_active_trigger``)."""
    return list(Sequence.objects.filter(trigger=trigger, is_active=True, paused_at__isnull=True).order_by("pk"))


def trigger_matches(sequence: Sequence, *, lead: Lead, to_status: str = "", magnet: str = "") -> bool:
    """Does ``Sequence.trigger_filter`` (channels, to_status, magnet name) let this event through?

    A partner's own sequence (``owner``) starts only for that partner's leads; platform sequences for any.
    """
    if sequence.owner_id is not None and lead.assigned_partner_id != sequence.owner_id:
        return False
    rules = sequence.trigger_filter or {}
    channels = rules.get("channels") or []
    if channels and lead.channel not in channels:
        return False
    statuses = rules.get("to_status") or []
    if isinstance(statuses, str):
        statuses = [statuses]
    if statuses and to_status not in statuses:
        return False
    wanted = (rules.get("magnet") or "").strip().casefold()
    return not wanted or wanted == (magnet or "").strip().casefold()


def sequences_trigger(
    *, trigger: str, lead_ids: list[Any], to_status: str = "", magnet: str = "", now: dt.datetime | None = None
) -> int:
    """Enrol these leads in every active sequence of ``trigger`` whose filter matches; returns the new runs."""
    sequences = sequences_for_trigger(trigger)
    if not sequences or not lead_ids:
        return 0
    count = 0
    for lead in Lead.objects.filter(pk__in=lead_ids, merged_into__isnull=True, erased_at__isnull=True):
        for sequence in sequences:
            if trigger_matches(sequence, lead=lead, to_status=to_status, magnet=magnet):
                count += sequence_enrol(lead=lead, sequence=sequence, actor=None, now=now) is not None
    return count


# --- Exits, stop, pause --------------------------------------------------------------------------


def _exit_runs(run_ids: list[int], *, reason: str, actor: Any, now: dt.datetime) -> int:
    """End these open runs with ``reason``: their pending due rows and open tasks are cancelled."""
    if not run_ids:
        return 0
    with transaction.atomic():
        exited = list(
            SequenceRun.objects.select_for_update()
            .filter(pk__in=run_ids, status__in=OPEN)
            .values_list("pk", "tenant_id", "sequence__code", "lead_id")
        )
        ids = [row[0] for row in exited]
        if not ids:
            return 0
        status = SequenceRun.Status.COMPLETED if reason == SequenceRun.ExitReason.COMPLETED else None
        SequenceRun.objects.filter(pk__in=ids).update(
            status=status or SequenceRun.Status.CANCELLED, exit_reason=reason, finished_at=now, next_due_at=None
        )
        DueStep.objects.filter(run_id__in=ids, status=DueStep.Status.PENDING).update(
            status=DueStep.Status.CANCELLED, note=reason[:64]
        )
        FollowupTask.objects.filter(run_id__in=ids, status=FollowupTask.Status.OPEN).update(
            status=FollowupTask.Status.CANCELLED, completed_at=now
        )
        for pk, tenant_id, code, lead_id in exited:
            audit_record(
                event_type="followups.run_exited",
                actor=actor,
                obj=SequenceRun(pk=pk),
                tenant=_org(tenant_id),
                payload={"reason": reason, "sequence": code, "lead": str(lead_id)},
            )
    return len(ids)


def run_ids_exit(*, run_ids: list[int], reason: str, actor: Any = None) -> int:
    """End these runs for ``reason`` where their sequence's ``exit_on`` allows it (see ``runs_exit``)."""
    runs = SequenceRun.objects.filter(pk__in=list(run_ids), status__in=OPEN)
    ids = list(runs.values_list("pk", flat=True)) if reason in FORCED_REASONS else _allowing(runs, reason)
    return _exit_runs(ids, reason=reason, actor=actor, now=timezone.now())


def _allowing(runs: Any, reason: str) -> list[int]:
    """The runs whose sequence's ``exit_on`` allows ``reason`` (read in Python: SQLite has no JSON containment)."""
    return [pk for pk, exit_on in runs.values_list("pk", "sequence__exit_on") if not exit_on or reason in exit_on]


def runs_exit(*, lead_ids: list[Any], reason: str, actor: Any = None, sequence: Sequence | None = None) -> int:
    """End the open runs of these leads for ``reason`` (a ``SequenceRun.ExitReason``); returns how many.

    A run ends only when its sequence's ``exit_on`` lists the reason (empty = every reason); naming a
    ``sequence`` (unsubscribe from this one) or a forced reason (erased, stopped …) ends it regardless.
    """
    if reason not in SequenceRun.ExitReason.values:
        raise ValueError(f"Unknown exit reason {reason!r}.")
    if not lead_ids:
        return 0
    runs = SequenceRun.objects.filter(lead_id__in=list(lead_ids), status__in=OPEN)
    if sequence is not None:
        ids = list(runs.filter(sequence=sequence).values_list("pk", flat=True))
    elif reason in FORCED_REASONS:
        ids = list(runs.values_list("pk", flat=True))
    else:
        ids = _allowing(runs, reason)
    return _exit_runs(ids, reason=reason, actor=actor, now=timezone.now())


def runs_follow_partner(*, lead: Lead, to_partner_id: Any, actor: Any = None) -> int:
    """A lead moved: runs of another partner end; runs without a partner (a pool lead's nurture) follow it."""
    runs = SequenceRun.objects.filter(lead_id=lead.pk, status__in=OPEN)
    moved = list(runs.filter(partner__isnull=False).exclude(partner_id=to_partner_id).values_list("pk", flat=True))
    runs.filter(partner__isnull=True).update(partner_id=to_partner_id, tenant_id=lead.tenant_id)
    return run_ids_exit(run_ids=moved, reason=SequenceRun.ExitReason.PARTNER_CHANGED, actor=actor) if moved else 0


def due_steps_consent_wake(*, lead_id: Any) -> int:
    """A confirmed double opt-in: the lead's email steps waiting for it are due at once."""
    return DueStep.objects.filter(
        run__lead_id=lead_id,
        run__status=SequenceRun.Status.ACTIVE,
        status=DueStep.Status.PENDING,
        note="consent_pending",
    ).update(due_at=timezone.now(), note="")


def _require_open(run: SequenceRun) -> None:
    if run.status not in OPEN:
        raise ConflictError(
            _("This sequence run has already ended (%(status)s).") % {"status": run.get_status_display()},
            code="run_finished",
        )


def run_stop(*, run: SequenceRun, actor: Any) -> SequenceRun:
    """Stop a run by hand (API-565)."""
    run.refresh_from_db()
    _require_open(run)
    _exit_runs([run.pk], reason=SequenceRun.ExitReason.STOPPED, actor=actor, now=timezone.now())
    run.refresh_from_db()
    return run


def _hold(rows: Any, note: str) -> int:
    return rows.filter(status=DueStep.Status.PENDING).update(due_at=HOLD_UNTIL, note=note)


def _unhold(rows: Any, now: dt.datetime) -> int:
    """Put held rows back at their run's ``next_due_at``, or now if that has passed."""
    next_due = SequenceRun.objects.filter(pk=OuterRef("run_id")).values("next_due_at")[:1]
    return rows.filter(status=DueStep.Status.PENDING, due_at=HOLD_UNTIL).update(
        due_at=Greatest(Subquery(next_due), now), note=""
    )


@transaction.atomic
def run_pause(*, run: SequenceRun, actor: Any) -> SequenceRun:
    """Pause a run: its next step waits until it is resumed."""
    run = SequenceRun.objects.select_for_update().get(pk=run.pk)
    _require_open(run)
    if run.status == SequenceRun.Status.PAUSED:
        return run
    run.status = SequenceRun.Status.PAUSED
    run.save(update_fields=["status"])
    _hold(DueStep.objects.filter(run=run), "run_paused")
    audit_record(event_type="followups.run_paused", actor=actor, obj=run, tenant=_org(run.tenant_id), payload={})
    return run


@transaction.atomic
def run_resume(*, run: SequenceRun, actor: Any) -> SequenceRun:
    """Resume a paused run: the next step is due when planned (or now, if that has passed)."""
    run = SequenceRun.objects.select_for_update().select_related("sequence").get(pk=run.pk)
    _require_open(run)
    if run.status == SequenceRun.Status.ACTIVE:
        return run
    run.status = SequenceRun.Status.ACTIVE
    run.save(update_fields=["status"])
    rows = DueStep.objects.filter(run=run)
    if run.sequence.paused_at is None:
        _unhold(rows, timezone.now())
    else:
        rows.filter(status=DueStep.Status.PENDING).update(note="sequence_paused")
    audit_record(event_type="followups.run_resumed", actor=actor, obj=run, tenant=_org(run.tenant_id), payload={})
    return run


@transaction.atomic
def sequence_pause(*, sequence: Sequence, actor: Any) -> Sequence:
    """Switch a sequence off for a while: the due rows of its runs are held, nothing is lost."""
    sequence = Sequence.objects.select_for_update().get(pk=sequence.pk)
    if sequence.paused_at is None:
        sequence.paused_at = timezone.now()
        sequence.save(update_fields=["paused_at", "updated_at"])
        _hold(DueStep.objects.filter(run__sequence=sequence), "sequence_paused")
        audit_record(event_type="followups.sequence_paused", actor=actor, obj=sequence, payload={})
    return sequence


@transaction.atomic
def sequence_resume(*, sequence: Sequence, actor: Any) -> Sequence:
    """Switch a paused sequence on again: its active runs continue where they were."""
    sequence = Sequence.objects.select_for_update().get(pk=sequence.pk)
    if sequence.paused_at is not None:
        sequence.paused_at = None
        sequence.save(update_fields=["paused_at", "updated_at"])
        _unhold(DueStep.objects.filter(run__sequence=sequence, run__status=SequenceRun.Status.ACTIVE), timezone.now())
        audit_record(event_type="followups.sequence_resumed", actor=actor, obj=sequence, payload={})
    return sequence


# --- Branches ------------------------------------------------------------------------------------


def _nurture_for(sequence: Sequence) -> Sequence | None:
    if sequence.next_sequence_id:
        return sequence.next_sequence
    return (
        Sequence.objects.filter(kind=Sequence.Kind.NURTURE, is_active=True, trigger=Sequence.Trigger.MANUAL)
        .exclude(pk=sequence.pk)
        .order_by("pk")
        .first()
    )


def _task_assignee_id(run: SequenceRun) -> Any:
    return run.partner_id or run.lead.assigned_partner_id


@transaction.atomic
def run_respond(*, run: SequenceRun, outcome: str, actor: Any) -> SequenceRun:
    """The partner reports how the lead responded (API-566): the current step's ``on_response`` decides.

    Actions: ``next_step`` (the following step, after its delay), ``end``, ``move_to_nurture`` (this run
    ends, the lead enters ``next_sequence`` or a nurture sequence), ``wait`` (nothing scheduled until the
    next response), ``schedule_call`` (a call task now; the plan goes on), or a step number to jump to.
    Without a branch: positive and negative end the run, no response goes on with the next step.
    """
    if outcome not in OUTCOMES:
        raise DomainError(
            _("Unknown outcome '%(value)s'.") % {"value": outcome},
            code="invalid_outcome",
            fields={"outcome": [_("One of: positive, negative, no_response.")]},
        )
    run = SequenceRun.objects.select_for_update().select_related("sequence", "lead").get(pk=run.pk)
    _require_open(run)
    now = timezone.now()
    steps = _active_steps(run.sequence_id)
    current = SequenceStep.objects.filter(sequence_id=run.sequence_id, number=run.current_step).first()
    action = (current.on_response if current else {}).get(outcome, DEFAULT_BRANCH[outcome])
    if isinstance(action, str) and action.isdigit():
        action = int(action)
    run.outcome = outcome
    run.save(update_fields=["outcome"])
    pending = DueStep.objects.filter(run=run, status=DueStep.Status.PENDING)
    if action == "end":
        pending.update(status=DueStep.Status.CANCELLED, note=f"response_{outcome}"[:64])
        _complete(run, now=now)
    elif action == "move_to_nurture":
        _exit_runs([run.pk], reason=SequenceRun.ExitReason.COMPLETED, actor=actor, now=now)
        nurture = _nurture_for(run.sequence)
        if nurture is not None:
            sequence_enrol(lead=run.lead, sequence=nurture, actor=actor, now=now)
    elif action == "wait":
        pending.update(status=DueStep.Status.CANCELLED, note="waiting_for_response")
        SequenceRun.objects.filter(pk=run.pk).update(next_due_at=None)
    elif action == "schedule_call":
        FollowupTask.objects.create(
            lead=run.lead,
            tenant_id=run.tenant_id,
            assignee_id=_task_assignee_id(run),
            run=run,
            channel=SequenceStep.Channel.CALL,
            subject=_("Call back"),
            due_at=now,
        )
    elif action == "next_step" or isinstance(action, int):
        if action == "next_step":
            target = _step_after(steps, run.current_step)
        else:
            target = next((s for s in steps if s.number == action), None)
            if (
                target is None
                or DueStep.objects.filter(run=run, step=target).exclude(status=DueStep.Status.PENDING).exists()
            ):
                raise DomainError(
                    _("Step %(number)s cannot be scheduled for this run.") % {"number": action}, code="invalid_branch"
                )
        pending.exclude(step=target).update(status=DueStep.Status.CANCELLED, note=f"response_{outcome}"[:64])
        if target is None:
            _complete(run, now=now)
        else:
            _schedule(run, target, now + dt.timedelta(hours=target.delay_hours), held=_is_held(run, run.sequence))
    else:
        raise DomainError(_("The step's branch '%(action)s' is not known.") % {"action": action}, code="invalid_branch")
    audit_record(
        event_type="followups.run_response",
        actor=actor,
        obj=run,
        tenant=_org(run.tenant_id),
        payload={"outcome": outcome, "action": str(action)},
    )
    run.refresh_from_db()
    return run


# --- The tick ------------------------------------------------------------------------------------


@dataclass
class TickContext:
    """What one tick reads once for its whole batch: steps per sequence, email blocks, recent sends."""

    now: dt.datetime
    owner: str
    steps: dict[int, list[SequenceStep]] = field(default_factory=dict)
    blocks: dict[Any, str | None] = field(default_factory=dict)
    sends: dict[str, list] = field(default_factory=dict)

    @classmethod
    def for_rows(cls, rows: list[DueStep], *, now: dt.datetime, owner: str) -> TickContext:
        context = cls(now=now, owner=owner)
        leads = {due.run.lead_id: due.run.lead for due in rows if due.step.kind == SequenceStep.Kind.EMAIL}
        if leads:
            context.blocks = eligibility.email_block_reasons(leads.values(), now=now)
            context.sends = guardrails.recent_sends([lead.email_hash for lead in leads.values()], now=now)
        return context

    def block_reason(self, lead: Lead) -> str | None:
        if lead.pk not in self.blocks:
            self.blocks[lead.pk] = eligibility.email_block_reason(lead, now=self.now)
        return self.blocks[lead.pk]

    def sent(self, lead: Lead) -> list:
        if lead.email_hash not in self.sends:
            self.sends.update(guardrails.recent_sends([lead.email_hash], now=self.now))
        return self.sends.setdefault(lead.email_hash, [])


def _advance(due: DueStep, *, context: TickContext, status: str = DueStep.Status.DONE, note: str = "") -> bool:
    """Finish the row (while still ours) and schedule the run's next step, in one transaction."""
    run, now = due.run, context.now
    with transaction.atomic():
        if not lease_finish(
            DUE_STEP_LEASE, pk=due.pk, owner=context.owner, status=status, executed_at=now, note=note[:64]
        ):
            return False  # taken over by another tick: its outcome stands
        # Locked: an exit running now either ends the run before we schedule, or cancels what we schedule.
        run_status = SequenceRun.objects.select_for_update().filter(pk=run.pk).values_list("status", flat=True).first()
        if run_status not in OPEN:
            return True
        run.status, run.current_step = run_status, due.step.number
        following = _step_after(_active_steps(run.sequence_id, context.steps), due.step.number)
        if following is None:
            _complete(run, now=now, current_step=due.step.number)
        else:
            due_at = now + dt.timedelta(hours=following.delay_hours)
            _schedule(run, following, due_at, held=_is_held(run, run.sequence), current_step=due.step.number)
    return True


def _wait(due: DueStep, *, context: TickContext, until: dt.datetime, note: str) -> str:
    """Put the row back for later (send window, cap, consent): the step waits, it is not dropped."""
    with transaction.atomic():
        released = lease_release(DUE_STEP_LEASE, pk=due.pk, owner=context.owner, due_at=until, note=note[:64])
        if released and until != HOLD_UNTIL:
            SequenceRun.objects.filter(pk=due.run_id).update(next_due_at=until)
    return "waiting"


def _cancel(due: DueStep, *, context: TickContext, note: str) -> str:
    lease_finish(DUE_STEP_LEASE, pk=due.pk, owner=context.owner, status=DueStep.Status.CANCELLED, note=note[:64])
    return "cancelled"


def _conditions_met(conditions: dict[str, Any], lead: Lead) -> bool:
    """A step's conditions: ``stage_in``, ``status_in``, ``channel_in``, ``score_gte``, ``score_lte``, ``has_email``."""
    checks = {
        "stage_in": lambda v: lead.stage in v,
        "status_in": lambda v: lead.status in v,
        "channel_in": lambda v: lead.channel in v,
        "score_gte": lambda v: lead.score >= int(v),
        "score_lte": lambda v: lead.score <= int(v),
        "has_email": lambda v: bool(lead.email) == bool(v),
    }
    for key, value in (conditions or {}).items():
        check = checks.get(key)
        if check is None:
            logger.warning("Unknown step condition ignored", extra={"condition": key})
            continue
        if not check(value):
            return False
    return True


def _render_task_message(step: SequenceStep, lead: Lead) -> str:
    """The task's suggested message: H2's renderer when present, else the step's text with the lead's fields."""
    try:
        from followups.rendering import render_task_message
    except ImportError:
        render_task_message = None
    if render_task_message is not None:
        return render_task_message(step=step, lead=lead)
    context = {
        "first_name": lead.first_name,
        "last_name": lead.last_name,
        "full_name": lead.full_name,
        "company_name": lead.company_name,
    }
    return Template(step.body_text or "").render(Context(context))


def _task_create(due: DueStep, *, now: dt.datetime) -> FollowupTask:
    """One task per due row: a re-executed row finds the task it made the first time."""
    run, step = due.run, due.step
    task = FollowupTask.objects.filter(due_step=due).first()
    if task is not None:
        return task
    return FollowupTask.objects.create(
        lead=run.lead,
        tenant_id=run.tenant_id,
        assignee_id=_task_assignee_id(run),
        run=run,
        due_step=due,
        channel=step.channel if step.channel != SequenceStep.Channel.AUTO else SequenceStep.Channel.MESSAGE,
        template_code=step.template_code,
        subject=step.subject,
        message=_render_task_message(step, run.lead),
        due_at=now,
    )


def _email_send(due: DueStep, *, context: TickContext) -> Any:
    from followups.services.email import email_step_send

    return email_step_send(due=due, owner=context.owner, now=context.now)


def _blocked(due: DueStep, reason: str, *, context: TickContext) -> str:
    """An email step that may not be sent: the run exits, waits for consent, or the step is skipped."""
    run, now = due.run, context.now
    exit_reason = BLOCK_EXITS.get(reason)
    if reason == eligibility.CONSENT_PENDING:
        if now - run.enrolled_at < CONSENT_WAIT:
            return _wait(due, context=context, until=now + CONSENT_RECHECK, note="consent_pending")
        exit_reason = SequenceRun.ExitReason.CONSENT_TIMEOUT
    if exit_reason is not None:
        if exit_reason in BLOCK_EXITS.values():
            runs_exit(lead_ids=[run.lead_id], reason=exit_reason)
        else:
            _exit_runs([run.pk], reason=exit_reason, actor=None, now=now)
        if not SequenceRun.objects.filter(pk=run.pk, status__in=OPEN).exists():
            return _cancel(due, context=context, note=exit_reason)
    _advance(due, context=context, status=DueStep.Status.SKIPPED, note=reason)
    return "skipped"


def due_step_execute(*, due: DueStep, context: TickContext, deferred: list[DueStep] | None = None) -> str:
    """Execute one claimed due row; returns what happened: done, skipped, waiting, cancelled or held.

    With ``deferred`` an email that may go is not sent here but appended ("deferred"): the tick sends
    its batch's emails together (``email_steps_send``) and finishes each with ``_email_outcome``.
    """
    run, step, now = due.run, due.step, context.now
    status, paused_at, active = SequenceRun.objects.filter(pk=run.pk).values_list(
        "status", "sequence__paused_at", "sequence__is_active"
    ).first() or (None, None, True)
    run.status, run.sequence.paused_at = status or run.status, paused_at
    if run.status in OPEN and (not active or run.lead.merged_into_id is not None):
        # Switched off for good, or the lead lives on in another lead (whose own runs go on).
        reason = SequenceRun.ExitReason.SEQUENCE_PAUSED if not active else SequenceRun.ExitReason.STOPPED
        _exit_runs([run.pk], reason=reason, actor=None, now=now)
        return _cancel(due, context=context, note=reason)
    if run.status not in OPEN:
        return _cancel(due, context=context, note=run.exit_reason or "run_finished")
    if _is_held(run, run.sequence):
        note = "run_paused" if run.status == SequenceRun.Status.PAUSED else "sequence_paused"
        _wait(due, context=context, until=HOLD_UNTIL, note=note)
        return "held"
    lead = run.lead
    if not step.is_active or not _conditions_met(step.conditions, lead):
        _advance(due, context=context, status=DueStep.Status.SKIPPED, note="condition")
        return "skipped"
    if step.kind == SequenceStep.Kind.TASK:
        _task_create(due, now=now)
        _advance(due, context=context)
        return "done"
    # A row taken over from a dead claimant may have sent already: the sender returns that email as it is
    # (it never sends a row twice), so neither the guardrails nor a later opt-out apply to it again.
    resumed = due.attempts > 1 and EmailMessage.objects.filter(due_step=due).exists()
    if not resumed:
        reason = context.block_reason(lead)
        if reason is not None:
            return _blocked(due, reason, context=context)
        slot, why = guardrails.next_send_slot(lead, now=now, sent=context.sent(lead))
        if slot > now:
            return _wait(due, context=context, until=slot, note=why)
    if deferred is not None:
        deferred.append(due)
        context.sent(lead).append(now)  # counted now: a second row of this lead in the batch meets the cap
        return "deferred"
    return _email_outcome(due, _email_send(due, context=context), context=context)


def _email_outcome(due: DueStep, message: EmailMessage | None, *, context: TickContext, counted: bool = False) -> str:
    """Finish an email step after its send: done, or blocked when the sender refused at the last moment."""
    lead = due.run.lead
    if message is None:
        reason = eligibility.email_block_reason(lead, now=context.now)
        context.blocks[lead.pk] = reason
        return _blocked(due, reason or "refused", context=context)
    if message.status == EmailMessage.Status.FAILED:  # the server refused it: retried later, same Message-ID
        _failed(due, RuntimeError(message.error or "the email could not be sent"), context=context)
        return "failed"
    if not counted:  # a deferred row was counted when it was deferred
        context.sent(lead).append(context.now)
    _advance(due, context=context)
    return "done"


def _tick_lease() -> dt.timedelta:
    """The tick task's hard time limit plus a margin: past it, a claimant is dead for sure."""
    from followups.tasks import run_due_steps_task

    return task_lease_duration(run_due_steps_task)


def _failed(due: DueStep, exc: Exception, *, context: TickContext) -> None:
    """A row whose execution raised: retried later, given up after ``MAX_ATTEMPTS``."""
    error = scrub_pii(f"{type(exc).__name__}: {exc}")[:2000]
    logger.exception("Due step failed", extra={"due_step": due.pk, "attempts": due.attempts})
    if due.attempts >= MAX_ATTEMPTS:
        lease_finish(DUE_STEP_LEASE, pk=due.pk, owner=context.owner, status=DueStep.Status.FAILED, last_error=error)
    else:
        lease_release(
            DUE_STEP_LEASE, pk=due.pk, owner=context.owner, due_at=context.now + RETRY_AFTER, last_error=error
        )


def due_steps_claim(*, owner: str, now: dt.datetime, limit: int, duration: dt.timedelta | None = None) -> list[int]:
    """Claim up to ``limit`` due rows: first rows whose claimant died (expired lease), then pending ones by ``due_at``.

    Two claims, each narrowed to one status, so each uses its partial index (``due_step_claimed_lease``,
    ``due_step_pending_due`` in ``due_at`` order) instead of sorting every due row.
    """
    duration = duration or _tick_lease()
    base = {"owner": owner, "duration": duration, "now": now, "attempts": F("attempts") + 1}
    pks = lease_claim_batch(
        DUE_STEP_LEASE, limit=limit, where=Q(status=DueStep.Status.CLAIMED, due_at__lte=now), **base
    )
    if len(pks) < limit:
        pks += lease_claim_batch(
            DUE_STEP_LEASE,
            limit=limit - len(pks),
            where=Q(status=DueStep.Status.PENDING, due_at__lte=now),
            order_by=("due_at",),
            **base,
        )
    return pks


def run_due_steps(*, now: dt.datetime | None = None, batch: int | None = None) -> int:
    """One tick: claim up to ``batch`` due rows (``FOLLOWUPS_TICK_BATCH``) and execute each; returns the count."""
    guardrails.check_settings()
    now = now or timezone.now()
    batch = batch or settings.FOLLOWUPS_TICK_BATCH
    owner = lease_owner()
    pks = due_steps_claim(owner=owner, now=now, limit=batch)
    if not pks:
        return 0
    rows = list(
        DueStep.objects.filter(pk__in=pks).select_related("run__sequence", "run__lead", "step").order_by("due_at", "pk")
    )
    context = TickContext.for_rows(rows, now=now, owner=owner)
    with contextlib.ExitStack() as stack:
        if any(due.step.kind == SequenceStep.Kind.EMAIL for due in rows):
            # One SMTP/ESP connection for the batch (a new one per email cost more than rendering it).
            from followups.services.email import email_connection

            try:
                stack.enter_context(email_connection())
            except Exception:  # the server is down: each email fails and is retried on its own
                logger.warning("Could not open the email connection for the tick", exc_info=True)
        deferred: list[DueStep] = []
        for due in rows:
            try:
                due_step_execute(due=due, context=context, deferred=deferred)
            except Exception as exc:  # one bad row must not stop the batch
                _failed(due, exc, context=context)
        _emails_send(deferred, context=context)
    return len(pks)


def _emails_send(dues: list[DueStep], *, context: TickContext) -> None:
    """Send the batch's emails together (a few queries for all, one connection), then finish each row."""
    if not dues:
        return
    from followups.services.email import email_steps_send

    try:
        results = email_steps_send(dues=dues, owner=context.owner, now=context.now)
    except Exception as exc:  # nothing of the batch is known to have left: each row is retried
        for due in dues:
            _failed(due, exc, context=context)
        return
    for due in dues:
        try:
            _email_outcome(due, results.get(due.pk), context=context, counted=True)
        except Exception as exc:
            _failed(due, exc, context=context)
