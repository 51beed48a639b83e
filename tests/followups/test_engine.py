"""The sequence engine: enrolment, the tick, guardrails in the tick, consent, exits, triggers, branches, pauses."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.utils import timezone

from accounts.models import Organization
from deals.signals import deal_stage_changed
from followups.models import EmailMessage, EmailSuppression, FollowupTask, Sequence, SequenceRun, SequenceStep
from followups.selectors.runs import run_get_for, runs_for_partner, runs_of_lead
from followups.services import engine
from followups.services.engine import (
    HOLD_UNTIL,
    run_due_steps,
    run_pause,
    run_respond,
    run_resume,
    run_stop,
    runs_exit,
    sequence_enrol,
    sequence_pause,
    sequence_resume,
)
from leads.models import Lead, LeadAssignment
from leads.services import lead_activity_add, lead_status_transition
from leads.signals import lead_created, lead_partner_changed, leads_imported, offer_accepted
from tests.accounts.factories import PartnerFactory
from tests.followups.factories import (
    SequenceFactory,
    TaskStepFactory,
    lead_with_consent,
    sequence_with_steps,
)
from tests.leads.factories import LeadFactory

pytestmark = pytest.mark.django_db
Run = SequenceRun
HOUR = dt.timedelta(hours=1)


@pytest.fixture(autouse=True)
def _any_time(settings, platform_org):
    settings.EMAIL_SEND_WINDOW = "Mon-Sun 00:00-24:00"
    settings.EMAIL_FREQUENCY_CAP = "2/7d"
    settings.FOLLOWUPS_TICK_BATCH = 50


@pytest.fixture
def sent(monkeypatch):
    """Stands in for the email sender (H2's ``email_step_send``): records a sent marketing email per due row."""
    calls: list[int] = []

    def fake_send(*, due, owner, now=None):
        calls.append(due.pk)
        message, _created = EmailMessage.objects.get_or_create(
            due_step=due,
            defaults={
                "kind": EmailMessage.Kind.MARKETING,
                "lead": due.run.lead,
                "run": due.run,
                "to_hash": due.run.lead.email_hash,
                "message_id": f"<due{due.pk}@test>",
                "status": EmailMessage.Status.SENT,
                "sent_at": now,
            },
        )
        return message

    monkeypatch.setattr("followups.services.email.email_step_send", fake_send)
    # The tick sends its batch at once (``email_steps_send``): the same stand-in per row.
    monkeypatch.setattr(
        "followups.services.email.email_steps_send",
        lambda *, dues, owner, now=None: {due.pk: fake_send(due=due, owner=owner, now=now) for due in dues},
    )
    return calls


def _now() -> dt.datetime:
    return timezone.now() + dt.timedelta(seconds=5)


def _due(run: SequenceRun) -> list[tuple[int, str]]:
    return list(run.due_steps.order_by("step__number").values_list("step__number", "status"))


# --- Enrolment ---------------------------------------------------------------------------------


def test_enrol_schedules_the_first_step_and_applies_reenrolment_rules():
    sequence = sequence_with_steps(steps=2)
    SequenceStep.objects.filter(sequence=sequence, number=1).update(delay_hours=2)
    lead = LeadFactory()
    now = _now()
    run = sequence_enrol(lead=lead, sequence=sequence, actor=None, now=now)
    due = run.due_steps.get()
    assert (due.step.number, due.due_at, run.next_due_at) == (1, now + 2 * HOUR, now + 2 * HOUR)
    assert sequence_enrol(lead=lead, sequence=sequence, actor=None, now=now) is None  # open run
    runs_exit(lead_ids=[lead.pk], reason=Run.ExitReason.STOPPED)
    assert sequence_enrol(lead=lead, sequence=sequence, actor=None, now=now) is None  # once per lead
    Sequence.objects.filter(pk=sequence.pk).update(reenrol=Sequence.Reenrol.AFTER_DAYS, reenrol_after_days=30)
    sequence.refresh_from_db()
    assert sequence_enrol(lead=lead, sequence=sequence, actor=None, now=now + dt.timedelta(days=29)) is None
    assert sequence_enrol(lead=lead, sequence=sequence, actor=None, now=now + dt.timedelta(days=31)) is not None


def test_enrol_refuses_lost_leads_and_inactive_sequences():
    sequence = sequence_with_steps(steps=1)
    assert sequence_enrol(lead=LeadFactory(status=Lead.Status.LOST), sequence=sequence, actor=None) is None
    sequence.is_active = False
    assert sequence_enrol(lead=LeadFactory(), sequence=sequence, actor=None) is None


# --- The tick -----------------------------------------------------------------------------------


def test_tick_creates_the_partner_task_and_schedules_the_next_step():
    partner = PartnerFactory()
    lead = LeadFactory(assigned_partner=partner, tenant=partner.organization, first_name="Erika")
    sequence = SequenceFactory(kind=Sequence.Kind.FOLLOWUP)
    TaskStepFactory(sequence=sequence, number=1, body_text="Hallo {{ first_name }}, kurz telefonieren?")
    TaskStepFactory(sequence=sequence, number=2, delay_hours=48, channel=SequenceStep.Channel.WHATSAPP)
    now = _now()
    run = sequence_enrol(lead=lead, sequence=sequence, actor=partner, now=now)
    assert run_due_steps(now=now) == 1
    task = FollowupTask.objects.get(run=run)
    assert (task.assignee, task.channel, task.tenant_id) == (partner, "call", partner.organization_id)
    assert "Hallo Erika" in task.message
    run.refresh_from_db()
    assert (run.current_step, run.next_due_at) == (1, now + 48 * HOUR)
    assert _due(run) == [(1, "done"), (2, "pending")]
    assert run_due_steps(now=now + HOUR) == 0  # step 2 not due yet
    assert run_due_steps(now=now + 49 * HOUR) == 1
    run.refresh_from_db()
    assert (run.status, run.exit_reason, FollowupTask.objects.filter(run=run).count()) == ("completed", "completed", 2)


def test_tick_sends_email_steps_in_bounded_batches(sent):
    sequence = sequence_with_steps(steps=1)
    now = _now()
    runs = [sequence_enrol(lead=lead_with_consent(), sequence=sequence, actor=None, now=now) for _ in range(3)]
    assert run_due_steps(now=now, batch=2) == 2
    assert run_due_steps(now=now, batch=2) == 1
    assert run_due_steps(now=now, batch=2) == 0
    assert sorted(sent) == sorted(run.due_steps.get().pk for run in runs)
    assert set(Run.objects.filter(sequence=sequence).values_list("status", flat=True)) == {"completed"}


def test_step_outside_the_send_window_waits_for_the_next_slot(settings, sent):
    settings.EMAIL_SEND_WINDOW = "Mon-Fri 08:00-18:00"
    berlin = ZoneInfo("Europe/Berlin")
    local = timezone.now().astimezone(berlin) + dt.timedelta(days=1)
    while local.weekday() != 5:  # the coming Saturday, noon in Berlin
        local += dt.timedelta(days=1)
    saturday = local.replace(hour=12, minute=0, second=0, microsecond=0)
    run = sequence_enrol(lead=lead_with_consent(), sequence=sequence_with_steps(steps=1), actor=None, now=saturday)
    assert run_due_steps(now=saturday) == 1
    due = run.due_steps.get()
    monday = (saturday + dt.timedelta(days=2)).replace(hour=8)
    assert (due.status, due.note, due.due_at, sent) == ("pending", "send_window", monday, [])
    run.refresh_from_db()
    assert run.next_due_at == monday


def test_frequency_cap_across_sequences_postpones_the_step(sent):
    lead = lead_with_consent()
    now = _now()
    for n in range(2):
        EmailMessage.objects.create(
            kind="marketing",
            to_hash=lead.email_hash,
            message_id=f"<old{n}@test>",
            sent_at=now - dt.timedelta(days=n + 1),
        )
    run = sequence_enrol(lead=lead, sequence=sequence_with_steps(steps=1), actor=None, now=now)
    run_due_steps(now=now)
    due = run.due_steps.get()
    assert (due.status, due.note, sent) == ("pending", "frequency_cap", [])
    assert due.due_at == now - dt.timedelta(days=2) + dt.timedelta(days=7, seconds=1)


def test_pending_consent_waits_then_times_out(sent):
    lead = lead_with_consent(confirmed=False)
    now = _now()
    run = sequence_enrol(lead=lead, sequence=sequence_with_steps(steps=1), actor=None, now=now)
    run_due_steps(now=now)
    due = run.due_steps.get()
    assert (due.status, due.note, due.due_at) == ("pending", "consent_pending", now + engine.CONSENT_RECHECK)
    later = now + dt.timedelta(days=31)
    run_due_steps(now=later)
    run.refresh_from_db()
    due.refresh_from_db()
    assert (run.status, run.exit_reason, due.status, sent) == ("cancelled", "consent_timeout", "cancelled", [])


@pytest.mark.parametrize("case", ["opted_out", "suppressed", "no_email", "condition"])
def test_blocked_email_steps_exit_or_skip(case, sent):
    from leads.services.consent import lead_marketing_consent_revoke

    lead = lead_with_consent(email="" if case == "no_email" else "x@beispiel.de")
    if case == "opted_out":
        lead_marketing_consent_revoke(lead=lead, actor=None, source="unsubscribe")
    if case == "suppressed":
        EmailSuppression.objects.create(email_hash=lead.email_hash, reason="bounced")
    sequence = sequence_with_steps(steps=2)
    if case == "condition":
        SequenceStep.objects.filter(sequence=sequence, number=1).update(conditions={"score_gte": 90})
    now = _now()
    run = Run.objects.get(pk=sequence_enrol(lead=lead, sequence=sequence, actor=None, now=now).pk)
    run_due_steps(now=now)
    run.refresh_from_db()
    expected = {
        "opted_out": ("cancelled", "unsubscribed", [(1, "cancelled")]),
        "suppressed": ("cancelled", "bounced", [(1, "cancelled")]),
        "no_email": ("active", "", [(1, "skipped"), (2, "pending")]),
        "condition": ("active", "", [(1, "skipped"), (2, "pending")]),
    }[case]
    assert (run.status, run.exit_reason, _due(run)) == expected
    assert sent == []


def test_a_failing_step_is_retried_later_with_its_error(monkeypatch):
    def broken(*, step, lead, partner=None):
        raise RuntimeError("template broke for erika@beispiel.de")

    monkeypatch.setattr("followups.rendering.render_task_message", broken)
    sequence = SequenceFactory()
    TaskStepFactory(sequence=sequence, number=1)
    now = _now()
    run = sequence_enrol(lead=LeadFactory(), sequence=sequence, actor=None, now=now)
    run_due_steps(now=now)
    due = run.due_steps.get()
    assert (due.status, due.attempts, due.due_at) == ("pending", 1, now + engine.RETRY_AFTER)
    assert "RuntimeError" in due.last_error and "erika@" not in due.last_error


def test_a_switched_off_sequence_ends_its_runs_at_their_next_step():
    run = _responding_run({}, steps=2)
    Sequence.objects.filter(pk=run.sequence_id).update(is_active=False)
    assert run_due_steps(now=_now() + 25 * HOUR) == 1
    run.refresh_from_db()
    assert (run.status, run.exit_reason, _due(run)) == ("cancelled", "sequence_paused", [(1, "done"), (2, "cancelled")])


def test_command_runs_one_tick(capsys):
    sequence = SequenceFactory()
    TaskStepFactory(sequence=sequence, number=1)
    sequence_enrol(lead=LeadFactory(), sequence=sequence, actor=None, now=timezone.now() - HOUR)
    call_command("run_due_steps")
    assert "1 due steps executed" in capsys.readouterr().out
    assert FollowupTask.objects.count() == 1


# --- Exits ------------------------------------------------------------------------------------


def _open_run_with_task(lead: Lead, **sequence_fields) -> SequenceRun:
    sequence = SequenceFactory(**sequence_fields)
    TaskStepFactory(sequence=sequence, number=1)
    TaskStepFactory(sequence=sequence, number=2, delay_hours=24)
    now = _now()
    run = sequence_enrol(lead=lead, sequence=sequence, actor=None, now=now)
    run_due_steps(now=now)
    return run


def test_reply_ends_runs_and_cancels_due_rows_and_tasks(django_capture_on_commit_callbacks):
    lead = LeadFactory()
    run = _open_run_with_task(lead)
    with django_capture_on_commit_callbacks(execute=True):
        lead_activity_add(lead=lead, activity_type="email_replied", actor=None)
    run.refresh_from_db()
    assert (run.status, run.exit_reason, run.next_due_at) == ("cancelled", "replied", None)
    assert _due(run) == [(1, "done"), (2, "cancelled")]
    assert FollowupTask.objects.get(run=run).status == "cancelled"


def test_exit_on_limits_the_reasons_that_end_a_run(django_capture_on_commit_callbacks):
    lead = LeadFactory()
    run = _open_run_with_task(lead, exit_on=["replied"])
    with django_capture_on_commit_callbacks(execute=True):
        lead_activity_add(lead=lead, activity_type="meeting_booked", actor=None)
    run.refresh_from_db()
    assert run.status == "active"
    with django_capture_on_commit_callbacks(execute=True):
        lead_activity_add(lead=lead, activity_type="message_received", actor=None)
    run.refresh_from_db()
    assert (run.status, run.exit_reason) == ("cancelled", "replied")


def test_lost_lead_deal_lost_and_partner_change_end_runs(django_capture_on_commit_callbacks):
    lost, deal_lead, moved = LeadFactory(), LeadFactory(), LeadFactory()
    old, new = PartnerFactory(), PartnerFactory()
    Lead.objects.filter(pk=moved.pk).update(assigned_partner=old)
    moved.refresh_from_db()
    runs = {lead.pk: _open_run_with_task(lead) for lead in (lost, deal_lead, moved)}
    with django_capture_on_commit_callbacks(execute=True):
        lead_status_transition(lead=lost, to=Lead.Status.LOST, actor=None, reason="kein Interesse")
    deal_stage_changed.send(
        sender=None, deal=SimpleNamespace(lead_id=deal_lead.pk), from_stage="offer", to_stage="lost"
    )
    lead_partner_changed.send(sender=Lead, lead=moved, from_partner_id=old.pk, to_partner_id=new.pk, actor=None)
    reasons = {lead_id: Run.objects.get(pk=run.pk).exit_reason for lead_id, run in runs.items()}
    assert reasons == {lost.pk: "lead_lost", deal_lead.pk: "deal_lost", moved.pk: "partner_changed"}


def test_a_pool_leads_run_follows_it_to_the_accepting_partner_and_another_partners_run_ends():
    lead = LeadFactory()
    pool_run, other_run = _open_run_with_task(lead), _open_run_with_task(lead)
    old, partner = PartnerFactory(), PartnerFactory()
    Run.objects.filter(pk=other_run.pk).update(partner=old)
    Lead.objects.filter(pk=lead.pk).update(assigned_partner=partner, tenant=partner.organization)
    lead.refresh_from_db()
    lead_partner_changed.send(sender=Lead, lead=lead, from_partner_id=None, to_partner_id=partner.pk, actor=None)
    pool_run.refresh_from_db()
    other_run.refresh_from_db()
    assert (pool_run.status, pool_run.partner_id, pool_run.tenant_id) == ("active", partner.pk, partner.organization_id)
    assert (other_run.status, other_run.exit_reason) == ("cancelled", "partner_changed")


def test_stop_by_hand_and_a_second_stop_is_a_conflict():
    from core.exceptions import ConflictError

    run = _open_run_with_task(LeadFactory())
    run = run_stop(run=run, actor=None)
    assert (run.status, run.exit_reason) == ("cancelled", "stopped")
    with pytest.raises(ConflictError):
        run_stop(run=run, actor=None)


# --- Triggers ---------------------------------------------------------------------------------


def test_triggers_enrol_through_the_events_with_their_filters(django_capture_on_commit_callbacks):
    by_channel = sequence_with_steps(
        steps=1, trigger=Sequence.Trigger.LEAD_CREATED, trigger_filter={"channels": ["facebook"]}
    )
    magnet = sequence_with_steps(
        steps=1, trigger=Sequence.Trigger.LEAD_MAGNET_DOWNLOADED, trigger_filter={"magnet": "Renditerechner"}
    )
    calculator = sequence_with_steps(steps=1, trigger=Sequence.Trigger.CALCULATOR_USED)
    accepted = sequence_with_steps(steps=1, trigger=Sequence.Trigger.OFFER_ACCEPTED)
    qualified = sequence_with_steps(
        steps=1, trigger=Sequence.Trigger.STATUS_CHANGED, trigger_filter={"to_status": ["qualified"]}
    )
    facebook, website = LeadFactory(channel="facebook"), LeadFactory(channel="website")
    for lead in (facebook, website):
        lead_created.send(sender=Lead, lead=lead, channel=lead.channel, actor=None)
    imported = [LeadFactory(channel="facebook") for _ in range(2)]
    offer_accepted.send(sender=LeadAssignment, offer=None, lead=website, partner=None, actor=None)
    leads_imported.send(sender=Lead, lead_ids=[str(lead.pk) for lead in imported], tenant_id=None, channel="facebook")
    with django_capture_on_commit_callbacks(execute=True):
        lead_activity_add(lead=website, activity_type="lead_magnet_downloaded", actor=None, detail={"magnet": "Andere"})
        lead_activity_add(
            lead=facebook, activity_type="lead_magnet_downloaded", actor=None, detail={"magnet": "renditerechner"}
        )
        lead_activity_add(lead=website, activity_type="budget_calculator_used", actor=None)
        lead_status_transition(lead=website, to=Lead.Status.CONTACTED, actor=None)
        lead_status_transition(lead=facebook, to=Lead.Status.QUALIFIED, actor=None)
    enrolled = {
        seq.code: set(Run.objects.filter(sequence=seq).values_list("lead_id", flat=True))
        for seq in (by_channel, magnet, calculator, qualified, accepted)
    }
    assert enrolled == {
        by_channel.code: {facebook.pk, *(lead.pk for lead in imported)},
        magnet.code: {facebook.pk},
        calculator.code: {website.pk},
        qualified.code: {facebook.pk},
        accepted.code: {website.pk},
    }


# --- Branches, pauses ----------------------------------------------------------------------------


def _responding_run(on_response: dict, steps: int = 3) -> SequenceRun:
    sequence = SequenceFactory(kind=Sequence.Kind.FOLLOWUP)
    for number in range(1, steps + 1):
        TaskStepFactory(sequence=sequence, number=number, delay_hours=0 if number == 1 else 24, on_response=on_response)
    now = _now()
    run = sequence_enrol(lead=LeadFactory(), sequence=sequence, actor=None, now=now)
    run_due_steps(now=now)
    return run


@pytest.mark.parametrize(
    ("on_response", "outcome", "status", "due"),
    [
        ({}, "positive", "completed", [(1, "done"), (2, "cancelled")]),
        ({}, "no_response", "active", [(1, "done"), (2, "pending")]),
        ({"negative": "wait"}, "negative", "active", [(1, "done"), (2, "cancelled")]),
        ({"no_response": 3}, "no_response", "active", [(1, "done"), (2, "cancelled"), (3, "pending")]),
    ],
)
def test_run_respond_branches(on_response, outcome, status, due):
    run = run_respond(run=_responding_run(on_response), outcome=outcome, actor=None)
    assert (run.status, run.outcome, _due(run)) == (status, outcome, due)


def test_respond_schedule_call_and_move_to_nurture():
    nurture = sequence_with_steps(steps=1, code="nurture-after-call")
    run = _responding_run({"positive": "schedule_call", "negative": "move_to_nurture"})
    run_respond(run=run, outcome="positive", actor=None)
    assert FollowupTask.objects.filter(run=run, channel="call", due_step__isnull=True).count() == 1
    Sequence.objects.filter(pk=run.sequence_id).update(next_sequence=nurture)
    run = run_respond(run=run, outcome="negative", actor=None)
    assert run.status == "completed"
    assert Run.objects.filter(sequence=nurture, lead=run.lead, status="active").exists()


def test_pausing_a_run_or_its_sequence_holds_the_due_rows_and_resuming_continues():
    run = _responding_run({}, steps=2)
    planned = run.due_steps.get(step__number=2).due_at
    run_pause(run=run, actor=None)
    assert run.due_steps.get(step__number=2).due_at == HOLD_UNTIL
    sequence_pause(sequence=run.sequence, actor=None)
    now = _now()
    late = sequence_enrol(lead=LeadFactory(), sequence=run.sequence, actor=None, now=now)  # enrolled while paused
    assert (late.due_steps.get().due_at, late.next_due_at) == (HOLD_UNTIL, now)
    run_resume(run=run, actor=None)
    assert run.due_steps.get(step__number=2).due_at == HOLD_UNTIL  # the sequence still holds it
    assert run_due_steps(now=planned + HOUR) == 0
    sequence_resume(sequence=run.sequence, actor=None)
    assert run.due_steps.get(step__number=2).due_at == planned
    assert run_due_steps(now=planned + HOUR) == 2  # both runs


# --- Selectors ----------------------------------------------------------------------------------


def test_runs_are_tenant_scoped():
    from core.exceptions import NotFoundError

    mine, other = PartnerFactory(), PartnerFactory()
    lead = LeadFactory(assigned_partner=mine, tenant=mine.organization)
    run = _open_run_with_task(lead)
    listed = list(runs_for_partner(mine))
    assert [r.pk for r in listed] == [run.pk] and listed[0].current_step_kind == "task"
    assert list(runs_for_partner(other)) == [] and list(runs_of_lead(other, lead=lead)) == []
    with pytest.raises(NotFoundError):
        run_get_for(other, run.pk)
    assert Organization.objects.filter(pk=run.tenant_id).exists()
