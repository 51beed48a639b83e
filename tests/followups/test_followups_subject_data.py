"""The followups app in the subject data registry (emails, events, runs, tasks) and its retention policy."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from compliance import registry
from compliance.blind_index import email_index
from compliance.registry import ErasureContext, Subject, SubjectQuery
from followups.models import DueStep, EmailEvent, EmailMessage, EmailSuppression, FollowupTask, Reminder, SequenceRun
from followups.retention import email_events_purge
from followups.subject_data import subject_followups_erase, subject_followups_export
from tests.accounts.factories import UserFactory
from tests.followups.factories import DueStepFactory, FollowupTaskFactory
from tests.leads.factories import LeadFactory

pytestmark = pytest.mark.django_db

ADDRESS = "anna.schulz@beispiel-mail.de"


def context() -> ErasureContext:
    return ErasureContext(erasure_id="test", reason_code="request", actor=None, at=timezone.now())


@pytest.fixture
def person(db):
    """A lead with an email and its bounce, an orphan ESP event to the address, a run with a due step
    and a task, and the address on the suppression list."""
    lead = LeadFactory(email=ADDRESS, first_name="Anna")
    email = EmailMessage.objects.create(
        message_id=f"<{uuid.uuid4().hex}@example.de>",
        lead=lead,
        tenant=lead.tenant,
        to_hash=email_index(ADDRESS),
        to_email=ADDRESS,
        subject="Hallo Anna, Ihre Bewertung",
        links=["https://www.example.de/?name=Anna"],
        status=EmailMessage.Status.BOUNCED,
        error="550 anna.schulz unknown",
        sent_at=timezone.now(),
    )
    event = EmailEvent.objects.create(
        esp="postmark",
        event_id="1",
        event_type=EmailEvent.Type.BOUNCED,
        message=email,
        recipient_hash=email_index(ADDRESS),
        occurred_at=timezone.now(),
        detail={"payload": {"Email": ADDRESS}},
    )
    EmailEvent.objects.create(
        esp="mailgun",
        event_id="2",
        event_type=EmailEvent.Type.DEFERRED,
        recipient_hash=email_index(ADDRESS),
        occurred_at=timezone.now(),
        detail={"payload": {"recipient": ADDRESS}},
    )
    EmailSuppression.objects.create(email_hash=email_index(ADDRESS), reason="bounced", event=event)
    due = DueStepFactory(run__lead=lead, last_error="smtp: anna.schulz refused")
    task = FollowupTaskFactory(lead=lead, run=due.run, subject="Anna anrufen", message="Hallo Anna, kurz telefonieren?")
    now = timezone.now()
    Reminder.objects.create(
        lead=lead,
        tenant=lead.tenant,
        user=UserFactory(),
        scheduled_for=now,
        first_scheduled_for=now,
        note="Anna nach der Finanzierung fragen",
        snoozes=[{"at": now.isoformat(), "reason": "Anna im Urlaub"}],
    )
    subject = Subject(
        query=SubjectQuery("lead", str(lead.pk)), lead_ids=[str(lead.pk)], hashes={"email": [email_index(ADDRESS)]}
    )
    return {"lead": lead, "email": email, "run": due.run, "due": due, "task": task, "subject": subject}


def test_registered_with_the_standard_sections_and_retention():
    entry = next(item for item in registry.subject_data() if item.app_label == "followups")
    assert entry.sections == ("emails", "followups") and entry.eraser is not None
    assert set(entry.sections) <= set(registry.STANDARD_SECTIONS)
    leads_order = next(item.order for item in registry.subject_data() if item.app_label == "leads")
    assert entry.order < leads_order  # runs before the leads eraser blanks the identities
    policy = next(item for item in registry.retention_policies() if item.key == "email_events")
    assert (policy.setting, policy.default_days) == ("RETENTION_EMAIL_EVENT_DAYS", 365)


def test_export_decrypts_and_leaves_out_raw_payloads(person):
    document = subject_followups_export(person["subject"])
    emails = document["emails"]
    mail = next(row for row in emails if row["id"] == person["email"].pk)
    assert (mail["to_email"], mail["subject"], mail["status"]) == (ADDRESS, "Hallo Anna, Ihre Bewertung", "bounced")
    assert [event["event_type"] for event in mail["events"]] == ["bounced"]
    assert "detail" not in mail["events"][0]
    loose = next(row for row in emails if row["id"] is None)
    assert [event["esp"] for event in loose["events"]] == ["mailgun"]
    runs = [row for row in document["followups"] if row["record"] == "run"]
    tasks = [row for row in document["followups"] if row["record"] == "task"]
    assert runs[0]["id"] == person["run"].pk and runs[0]["due_steps"][0]["id"] == person["due"].pk
    assert tasks[0]["message"] == "Hallo Anna, kurz telefonieren?"
    reminders = [row for row in document["followups"] if row["record"] == "reminder"]
    assert reminders[0]["note"] == "Anna nach der Finanzierung fragen"
    json.dumps(document)  # JSON-able as it is


def test_export_of_a_stranger_is_empty(person):
    stranger = Subject(query=SubjectQuery("email", "x@example.org"), lead_ids=[], hashes={"email": []})
    assert subject_followups_export(stranger) == {"emails": [], "followups": []}


def test_erase_blanks_texts_ends_runs_keeps_statistics_and_suppression(person):
    counts = subject_followups_erase(person["subject"], context())
    assert counts == {"emails": 1, "email_events": 2, "runs": 1, "due_steps": 1, "tasks": 1, "reminders": 1}
    email = EmailMessage.objects.get(pk=person["email"].pk)
    assert (email.to_email, email.subject, email.error, email.links, email.to_hash) == ("", "", "", [], "")
    assert email.status == EmailMessage.Status.BOUNCED and email.sent_at is not None  # statistics stay
    assert EmailEvent.objects.count() == 2
    assert all(event.detail == {} and event.recipient_hash == "" for event in EmailEvent.objects.all())
    run = SequenceRun.objects.get(pk=person["run"].pk)
    assert (run.status, run.exit_reason) == (SequenceRun.Status.CANCELLED, "erased")
    assert DueStep.objects.get(pk=person["due"].pk).last_error == ""
    task = FollowupTask.objects.get(pk=person["task"].pk)
    assert (task.status, task.subject, task.message) == (FollowupTask.Status.CANCELLED, "", "")
    reminder = Reminder.objects.get(lead=person["lead"])
    assert (reminder.status, reminder.note, reminder.snoozes) == (Reminder.Status.DISMISSED, "", [])
    # The suppression must survive the erasure: only the address's keyed hash, so it is never mailed again.
    assert EmailSuppression.objects.filter(email_hash=email_index(ADDRESS)).exists()
    again = subject_followups_erase(person["subject"], context())
    assert again == dict.fromkeys(counts, 0)


def test_retention_deletes_old_events_only(person):
    old = timezone.now() - timedelta(days=400)
    EmailEvent.objects.filter(event_id="1").update(created_at=old)
    cutoff = timezone.now() - timedelta(days=365)
    assert email_events_purge(cutoff, True) == 1
    assert EmailEvent.objects.count() == 2  # a dry run deletes nothing
    assert email_events_purge(cutoff, False) == 1
    assert list(EmailEvent.objects.values_list("event_id", flat=True)) == ["2"]
    suppression = EmailSuppression.objects.get()
    assert suppression.event_id is None  # the address stays suppressed
    assert EmailMessage.objects.get(pk=person["email"].pk).status == EmailMessage.Status.BOUNCED
