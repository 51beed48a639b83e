"""Smart reminders: chosen times, quiet hours, the per-hour cap, learned snoozes, due notices, migration."""

from __future__ import annotations

import datetime as dt
import importlib
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from django.apps import apps as django_apps
from django.utils import timezone

from accounts.models import Notification
from followups.models import FollowupPreference, Reminder
from followups.services.reminders import (
    is_quiet,
    reminder_complete,
    reminder_create,
    reminder_snooze,
    reminders_notify_due,
)
from leads.models import LeadActivity
from tests.accounts.factories import PartnerFactory
from tests.leads.factories import LeadFactory

pytestmark = pytest.mark.django_db
BERLIN = ZoneInfo("Europe/Berlin")


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    """December 2026 in Berlin: the 1st is a Tuesday, the 4th a Friday, the 7th a Monday."""
    return dt.datetime(2026, 12, day, hour, minute, tzinfo=BERLIN)


@pytest.fixture
def partner():
    return PartnerFactory(first_name="Max")


@pytest.fixture
def lead(partner):
    return LeadFactory(tenant=partner.organization, assigned_partner=partner, first_name="Lisa")


def make(partner, lead, when=None, now=None, **kw):
    return reminder_create(
        user=partner, lead=lead, action_type="call", scheduled_for=when, actor=partner, now=now or at(1, 9), **kw
    )


def test_omitted_time_is_chosen_outside_quiet_hours(partner, lead):
    now = at(4, 19, 30)  # Friday evening: the next open time is Monday morning
    with mock.patch.dict("sys.modules", {"followups.selectors.suggestions": None}):
        reminder = make(partner, lead, now=now)
    assert reminder.scheduled_for == at(7, 8)
    assert reminder.priority == Reminder.Priority.NORMAL
    assert reminder.first_scheduled_for == reminder.scheduled_for


def test_given_time_leaves_quiet_hours_and_the_users_own_zone_counts(partner, lead):
    assert make(partner, lead, at(1, 22)).scheduled_for == at(2, 8)
    FollowupPreference.objects.create(
        user=partner, timezone="Europe/London", quiet_start=dt.time(21), quiet_end=dt.time(7), quiet_weekends=False
    )
    london = ZoneInfo("Europe/London")
    reminder = make(partner, lead, dt.datetime(2026, 12, 5, 22, tzinfo=london))  # Saturday, weekends allowed
    assert reminder.scheduled_for == dt.datetime(2026, 12, 6, 7, tzinfo=london)
    assert reminder.priority == Reminder.Priority.SCHEDULED


def test_per_hour_cap_spreads_into_the_next_free_hour(partner, lead):
    FollowupPreference.objects.create(user=partner, max_per_hour=2)
    times = [make(partner, lead, at(2, 10)).scheduled_for for _ in range(5)]
    assert times[:2] == [at(2, 10), at(2, 10)]
    assert times[2:] == [at(2, 11), at(2, 11, 30), at(2, 12)]  # the overflow is spaced, never stacked


def test_snooze_defaults_to_a_day_later_and_warns_from_the_third(partner, lead):
    reminder = make(partner, lead, at(1, 10))
    first = reminder_snooze(reminder=reminder, actor=partner, now=at(1, 10, 5))
    assert first["scheduled_for"] == at(2, 10)
    assert (first["snooze_count"], first["warning"]) == (1, None)
    second = reminder_snooze(reminder=reminder, actor=partner, reason="busy", now=at(2, 10, 5))
    assert second["warning"] is None
    third = reminder_snooze(reminder=reminder, actor=partner, now=at(3, 10, 5))  # → Friday 10:00
    assert third["snooze_count"] == 3
    assert third["warning"] and "3" in third["warning"]
    fourth = reminder_snooze(reminder=reminder, actor=partner, now=at(4, 10, 5))  # Saturday is quiet → Monday
    reminder.refresh_from_db()
    assert fourth["scheduled_for"] == reminder.scheduled_for
    assert reminder.scheduled_for.astimezone(BERLIN).weekday() == 0
    assert len(reminder.snoozes) == 4 and reminder.snoozes[1]["reason"] == "busy"


def test_snooze_learns_the_users_pattern_across_reminders(partner, lead):
    history = [
        {"at": at(d, 9).isoformat(), "from": at(d, 9).isoformat(), "to": at(d + 2, 15).isoformat()} for d in (1, 2, 3)
    ]
    other = make(partner, lead, at(1, 9))
    Reminder.objects.filter(pk=other.pk).update(snoozes=history, snooze_count=3, status=Reminder.Status.DONE)
    reminder = make(partner, lead, at(7, 10))
    result = reminder_snooze(reminder=reminder, actor=partner, now=at(7, 10, 5))  # Monday → Wednesday 15:00
    assert result["scheduled_for"] == at(9, 15)


def test_complete_and_dismiss_close_once(partner, lead):
    done = reminder_complete(reminder=make(partner, lead, at(2, 10)), actor=partner)
    assert done.status == Reminder.Status.DONE and done.completed_at
    dismissed = reminder_complete(reminder=make(partner, lead, at(2, 10)), actor=partner, dismiss=True)
    assert dismissed.status == Reminder.Status.DISMISSED
    from core.exceptions import ConflictError

    with pytest.raises(ConflictError):
        reminder_complete(reminder=done, actor=partner)


def test_due_reminders_are_notified_once_and_never_in_quiet_hours(partner, lead):
    reminder = make(partner, lead, at(2, 10))
    assert reminders_notify_due(now=at(2, 9, 59)) == 0  # not due yet
    assert reminders_notify_due(now=at(2, 21)) == 0  # due, but quiet hours
    assert reminders_notify_due(now=at(3, 8, 5)) == 1
    assert reminders_notify_due(now=at(3, 8, 10)) == 0
    notes = Notification.objects.filter(recipient=partner)
    assert notes.count() == 1 and "Lisa" not in notes.get().title  # the public id, never the name
    reminder.refresh_from_db()
    assert reminder.notified_at == at(3, 8, 5)
    assert is_quiet(at(5, 12), FollowupPreference(user=partner))  # Saturday


def test_planned_follow_up_creates_then_moves_the_leads_reminder(partner, lead, django_capture_on_commit_callbacks):
    from leads.services.core import lead_activity_add

    day = timezone.localdate() + dt.timedelta(days=10)
    with django_capture_on_commit_callbacks(execute=True):
        lead_activity_add(
            lead=lead, activity_type="contact_logged", actor=partner, detail={"next_follow_up": day.isoformat()}
        )
    reminder = Reminder.objects.get(lead=lead, status="open")
    assert reminder.user == partner and reminder.scheduled_for.astimezone(BERLIN).date() >= day
    later = day + dt.timedelta(days=3)
    with django_capture_on_commit_callbacks(execute=True):
        lead_activity_add(
            lead=lead, activity_type="follow_up_planned", actor=partner, detail={"next_follow_up": later.isoformat()}
        )
    moved = Reminder.objects.get(lead=lead, status="open")
    assert moved.pk == reminder.pk and moved.scheduled_for.astimezone(BERLIN).date() >= later


def test_migration_turns_future_plans_into_reminders(partner, lead):
    today = timezone.localdate()
    future, past = today + dt.timedelta(days=5), today - dt.timedelta(days=5)
    orphan = LeadFactory(tenant=partner.organization)  # no partner: skipped
    old = LeadFactory(tenant=partner.organization, assigned_partner=partner)  # plan in the past: skipped
    now = timezone.now()
    for target, date in ((lead, future), (orphan, future), (old, past)):
        LeadActivity.objects.create(
            lead=target, activity_type="follow_up_planned", next_follow_up=date, occurred_at=now, detail={}
        )
    migration = importlib.import_module("followups.migrations.0004_reminders_from_activities")
    migration.forwards(django_apps, None)
    migration.forwards(django_apps, None)  # a second run adds nothing (the lead has an open reminder)
    reminder = Reminder.objects.get()
    assert (reminder.lead_id, reminder.user_id) == (lead.pk, partner.pk)
    assert reminder.scheduled_for == dt.datetime.combine(future, dt.time(9), tzinfo=BERLIN)


def test_api_create_list_snooze_complete_and_isolation(api_client, partner, lead):
    api_client.force_authenticate(partner)
    when = (
        (timezone.now() + dt.timedelta(days=3)).astimezone(BERLIN).replace(hour=11, minute=0, second=0, microsecond=0)
    )
    answer = api_client.post(
        "/api/followups/reminders/",
        {"lead": lead.public_id, "action_type": "whatsapp", "scheduled_for": when.isoformat()},
        format="json",
    )
    assert answer.status_code == 201, answer.json()
    rid = answer.json()["id"]
    listed = api_client.get("/api/followups/reminders", {"due_before": (when + dt.timedelta(days=5)).isoformat()})
    assert listed.status_code == 200 and [r["id"] for r in listed.json()["results"]] == [rid]
    assert api_client.get("/api/followups/reminders/", {"due_before": "nope"}).status_code == 400
    chosen = api_client.post("/api/followups/reminders/", {"lead": str(lead.pk), "action_type": "call"}, format="json")
    assert chosen.status_code == 201, chosen.json()
    chosen_at = dt.datetime.fromisoformat(chosen.json()["scheduled_for"])
    assert chosen_at > timezone.now() and not is_quiet(chosen_at, FollowupPreference(user=partner))
    snoozed = api_client.post(f"/api/followups/reminders/{rid}/snooze/", {"reason": "later"}, format="json")
    assert snoozed.status_code == 200
    assert set(snoozed.json()) >= {"scheduled_for", "snooze_count", "warning"} and snoozed.json()["warning"] is None

    stranger = PartnerFactory()
    api_client.force_authenticate(stranger)
    assert api_client.post(f"/api/followups/reminders/{rid}/complete/", {}, format="json").status_code == 404
    foreign = api_client.post("/api/followups/reminders/", {"lead": str(lead.pk), "action_type": "call"}, format="json")
    assert foreign.status_code == 404

    api_client.force_authenticate(partner)
    closed = api_client.post(f"/api/followups/reminders/{rid}/complete", {"dismiss": True}, format="json")
    assert closed.status_code == 200 and closed.json()["status"] == "dismissed"
    again = api_client.post(f"/api/followups/reminders/{rid}/complete/", {}, format="json")
    assert again.status_code == 409 and again.json()["error"]["code"] == "reminder_closed"


def test_reminders_follow_the_leads_partner_and_close_when_lost(partner, lead):
    from leads.models import Lead
    from leads.signals import lead_partner_changed, lead_status_changed

    reminder = make(partner, lead, at(2, 10))
    successor = PartnerFactory()
    lead_partner_changed.send(
        sender=Lead, lead=lead, from_partner_id=partner.pk, to_partner_id=successor.pk, actor=None
    )
    reminder.refresh_from_db()
    assert reminder.user_id == successor.pk and reminder.status == Reminder.Status.OPEN
    lead_status_changed.send(sender=Lead, lead=lead, from_status="contacted", to_status="lost", actor=None)
    reminder.refresh_from_db()
    assert reminder.status == Reminder.Status.DISMISSED
