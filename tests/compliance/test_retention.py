"""Retention: every policy purges what is past its period, in batches; dry runs change nothing."""

from __future__ import annotations

import importlib.util
from datetime import datetime, timedelta
from io import StringIO
from pathlib import Path

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation

from compliance import registry
from compliance.models import AuditEvent, ErasureTombstone, SubjectErasure
from compliance.services import retention as retention_service
from compliance.services.retention import (
    RETENTION_REASON,
    UnknownRetentionPolicy,
    retention_run,
    subject_anonymize_for_retention,
)
from config.celery import app as celery_app
from deals.models import PartnerDeal
from leads.models import Lead, LeadActivity
from leads.services import lead_ingest
from tests.leads.factories import LeadFactory
from webhooks.models import WebhookDelivery, WebhookEvent
from webhooks.services.ledger import webhook_payloads_purge

pytestmark = pytest.mark.django_db

NOW = timezone.make_aware(datetime(2026, 3, 2, 4, 0))
Status = WebhookEvent.Status
POLICIES = {"audit", "inactive_leads", "webhook_bodies"}


@pytest.fixture(autouse=True)
def _english(settings):
    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


@pytest.fixture
def small_batches(monkeypatch):
    """Two rows per transaction, so a handful of rows exercises the batch loop."""
    monkeypatch.setattr(retention_service, "RETENTION_BATCH", 2)
    return 2


@pytest.fixture
def eraser_double():
    """Stand-in erasers (the real ones belong to the subject-rights feature): one per app, recording calls."""
    calls: list[tuple[str, registry.Subject, registry.ErasureContext]] = []

    def leads_eraser(subject, context):
        calls.append(("leads", subject, context))
        wiped = Lead.objects.filter(pk__in=subject.lead_ids).update(
            first_name="", last_name="", email="", phone="", erased_at=context.at
        )
        return {"leads": wiped}

    def notes_eraser(subject, context):
        calls.append(("notes", subject, context))
        return {"notes": 0}

    saved = dict(registry._subject_data)
    registry._subject_data.clear()
    registry.register_subject_data("leads", sections=("leads",), exporter=lambda s: {}, eraser=leads_eraser, order=10)
    registry.register_subject_data("notes", sections=("activities",), exporter=lambda s: {}, eraser=notes_eraser)
    registry.register_subject_data("audit", sections=("audit",), exporter=lambda s: {})  # exports only: never called
    yield calls
    registry._subject_data.clear()
    registry._subject_data.update(saved)


@pytest.fixture
def worker_tasks():
    """The tasks a worker knows: what ``autodiscover_tasks`` imports at its start."""
    celery_app.loader.import_default_modules()
    return celery_app.tasks


def audit_at(when: datetime, event_type: str = "lead.created") -> AuditEvent:
    return AuditEvent.objects.create(event_type=event_type, created_at=when)


def lead_at(*, created: datetime, activity: datetime | None = None, **kwargs) -> Lead:
    lead = LeadFactory(**kwargs)
    Lead.objects.filter(pk=lead.pk).update(created_at=created, last_activity_at=activity)
    lead.refresh_from_db()
    return lead


def delivery_at(when: datetime, *, status: str = Status.PROCESSED) -> tuple[WebhookDelivery, WebhookEvent]:
    delivery = WebhookDelivery.objects.create(provider="facebook", raw_body='{"message": "Hallo, Erika"}')
    event = WebhookEvent.objects.create(
        provider="facebook",
        event_type="leadgen",
        dedup_key=f"k{delivery.pk}",
        delivery=delivery,
        payload='{"text": "Hallo"}',
        status=status,
    )
    WebhookDelivery.objects.filter(pk=delivery.pk).update(received_at=when)
    WebhookEvent.objects.filter(pk=event.pk).update(received_at=when)
    return delivery, event


def retention_events() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(event_type="retention.applied"))


# --- Registration, settings and beat ----------------------------------------------------------


def test_every_app_registers_its_policy_with_its_setting_and_default():
    policies = {policy.key: policy for policy in registry.retention_policies()}
    assert set(policies) >= POLICIES
    assert (policies["audit"].setting, policies["audit"].default_days) == ("RETENTION_AUDIT_DAYS", 3650)
    assert (policies["inactive_leads"].setting, policies["inactive_leads"].default_days) == (
        "RETENTION_INACTIVE_LEAD_DAYS",
        1095,
    )
    assert (policies["webhook_bodies"].setting, policies["webhook_bodies"].default_days) == (
        "RETENTION_WEBHOOK_BODY_DAYS",
        30,
    )
    for name, default in [
        ("RETENTION_WEBHOOK_BODY_DAYS", 30),
        ("RETENTION_EMAIL_EVENT_DAYS", 365),
        ("RETENTION_INACTIVE_LEAD_DAYS", 1095),
        ("RETENTION_AUDIT_DAYS", 3650),
    ]:
        assert getattr(django_settings, name) == default


def _load_settings_module():
    spec = importlib.util.spec_from_file_location(
        "settings_probe", Path(django_settings.BASE_DIR) / "config/settings.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("value", ["drei Jahre", "1.5", "99999999"])
def test_an_invalid_period_stops_start_up_with_a_clear_message(monkeypatch, value):
    monkeypatch.setenv("RETENTION_INACTIVE_LEAD_DAYS", value)
    with pytest.raises(ImproperlyConfigured, match=r"RETENTION_INACTIVE_LEAD_DAYS=.*0 to keep the data forever"):
        _load_settings_module()


def test_periods_are_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("RETENTION_WEBHOOK_BODY_DAYS", "14")
    monkeypatch.setenv("RETENTION_AUDIT_DAYS", "0")
    monkeypatch.setenv("RETENTION_EMAIL_EVENT_DAYS", "")
    module = _load_settings_module()
    assert (module.RETENTION_WEBHOOK_BODY_DAYS, module.RETENTION_AUDIT_DAYS) == (14, 0)
    assert module.RETENTION_EMAIL_EVENT_DAYS == 365


def test_a_period_that_is_not_an_integer_is_refused_at_run_time(settings):
    settings.RETENTION_AUDIT_DAYS = "10 Jahre"
    with pytest.raises(ImproperlyConfigured, match="RETENTION_AUDIT_DAYS"):
        retention_run(only=["audit"], now=NOW)


def test_the_beat_entry_names_a_registered_task_and_replaces_the_old_purge(worker_tasks):
    entry = django_settings.CELERY_BEAT_SCHEDULE["compliance-retention"]
    assert entry["task"] == "compliance.retention_run_task"
    assert entry["task"] in worker_tasks
    assert "webhooks-purge" not in django_settings.CELERY_BEAT_SCHEDULE
    # A message queued under the old name before an upgrade still finds its task.
    assert "webhooks.webhook_payloads_purge_task" in worker_tasks


def test_the_task_applies_the_policies_and_audits_the_run(worker_tasks):
    audit_at(timezone.now() - timedelta(days=3651))
    result = worker_tasks["compliance.retention_run_task"].apply().get()
    assert result["audit"] == 1 and set(result) >= POLICIES
    (event,) = retention_events()
    assert event.payload["counts"] == result and event.payload["dry_run"] is False


def test_the_old_purge_task_name_runs_the_webhook_policy(worker_tasks):
    delivery, _ = delivery_at(timezone.now() - timedelta(days=31))
    result = worker_tasks["webhooks.webhook_payloads_purge_task"].apply().get()
    assert result == {"webhook_bodies": 2}
    assert WebhookDelivery.objects.get(pk=delivery.pk).raw_body is None
    assert retention_events()[0].payload["counts"] == {"webhook_bodies": 2}


# --- Audit ------------------------------------------------------------------------------------


def test_audit_purge_deletes_old_events_in_batches_and_keeps_the_trail_append_only(small_batches):
    old = [audit_at(NOW - timedelta(days=3651 + i)).pk for i in range(5)]
    kept = [audit_at(NOW - timedelta(days=3649)).pk, audit_at(NOW).pk]
    with CaptureQueriesContext(connection) as queries:
        report = retention_run(only=["audit"], now=NOW)
    assert report.counts() == {"audit": 5} and not report.failed
    assert not AuditEvent.objects.filter(pk__in=old).exists()
    assert AuditEvent.objects.filter(pk__in=kept).count() == 2
    deletes = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("DELETE")]
    assert len(deletes) == 3  # 2 + 2 + 1: each batch its own short transaction
    assert sum("audit_purge = 'on'" in q["sql"] for q in queries.captured_queries) == 3
    (event,) = retention_events()
    assert event.payload == {"dry_run": False, "counts": {"audit": 5}, "days": {"audit": 3650}, "failed": []}

    # The purge switched its permission off again: in the same transaction, the trail is append-only.
    for sql in (
        "DELETE FROM compliance_auditevent WHERE id = %s",
        "UPDATE compliance_auditevent SET event_type = 'x' WHERE id = %s",
    ):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [kept[0]])
    assert AuditEvent.objects.filter(pk__in=kept).count() == 2


def test_the_purge_permission_never_allows_an_update():
    event = audit_at(NOW - timedelta(days=4000))
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL compliance.audit_purge = 'on'")
        cursor.execute("UPDATE compliance_auditevent SET event_type = 'x' WHERE id = %s", [event.pk])
    assert AuditEvent.objects.get(pk=event.pk).event_type == "lead.created"


@pytest.mark.parametrize("days", [0, -1])
def test_a_period_of_zero_or_less_keeps_the_data_forever(settings, days):
    settings.RETENTION_AUDIT_DAYS = days
    settings.RETENTION_WEBHOOK_BODY_DAYS = days
    event = audit_at(NOW - timedelta(days=40000))
    delivery, _ = delivery_at(NOW - timedelta(days=400))
    report = retention_run(only=["audit", "webhook_bodies"], now=NOW)
    assert [(r.key, r.kept_forever, r.count) for r in report.results] == [
        ("audit", True, 0),
        ("webhook_bodies", True, 0),
    ]
    assert AuditEvent.objects.filter(pk=event.pk).exists()
    assert WebhookDelivery.objects.get(pk=delivery.pk).raw_body
    # The ledger's own entry point honours it too.
    assert webhook_payloads_purge(now=NOW) == {"bodies": 0, "payloads": 0}


# --- Webhook bodies ---------------------------------------------------------------------------


def test_webhook_bodies_and_finished_payloads_past_the_cutoff_are_blanked_in_batches(settings, small_batches):
    settings.RETENTION_WEBHOOK_BODY_DAYS = 10
    old = [delivery_at(NOW - timedelta(days=11, hours=i)) for i in range(3)]
    waiting = delivery_at(NOW - timedelta(days=12), status=Status.RECEIVED)
    fresh = delivery_at(NOW - timedelta(days=9))
    report = retention_run(only=["webhook_bodies"], now=NOW)
    # Four raw bodies plus three finished events' payloads; the waiting event keeps its payload.
    assert report.counts() == {"webhook_bodies": 7}
    for delivery, event in old:
        assert WebhookDelivery.objects.get(pk=delivery.pk).raw_body is None
        assert WebhookEvent.objects.get(pk=event.pk).payload is None
    assert WebhookDelivery.objects.get(pk=waiting[0].pk).raw_body is None
    assert WebhookEvent.objects.get(pk=waiting[1].pk).payload == '{"text": "Hallo"}'
    assert WebhookDelivery.objects.get(pk=fresh[0].pk).raw_body
    assert WebhookEvent.objects.get(pk=fresh[1].pk).payload
    assert retention_run(only=["webhook_bodies"], now=NOW).counts() == {"webhook_bodies": 0}


def test_the_webhook_purge_reaches_a_backlog_far_past_the_cutoff():
    """A lowered period or weeks of missed runs: every row past the cutoff goes, not only the last days."""
    cutoff = NOW - timedelta(days=30)
    recent, _ = delivery_at(cutoff - timedelta(hours=1))
    old, _ = delivery_at(cutoff - timedelta(days=400))
    assert webhook_payloads_purge(cutoff=cutoff, dry_run=True) == {"bodies": 2, "payloads": 2}
    assert webhook_payloads_purge(cutoff=cutoff) == {"bodies": 2, "payloads": 2}
    assert WebhookDelivery.objects.get(pk=recent.pk).raw_body is None
    assert WebhookDelivery.objects.get(pk=old.pk).raw_body is None
    assert webhook_payloads_purge(cutoff=cutoff) == {"bodies": 0, "payloads": 0}


# --- Inactive leads ---------------------------------------------------------------------------


def test_inactive_leads_without_a_deal_are_anonymised_without_a_tombstone(eraser_double):
    three_years = NOW - timedelta(days=1095)
    inactive = lead_at(created=three_years - timedelta(days=400), activity=three_years - timedelta(days=1))
    never_active = lead_at(created=three_years - timedelta(days=1))
    recently_active = lead_at(created=three_years - timedelta(days=400), activity=three_years + timedelta(days=1))
    recently_created = lead_at(created=three_years + timedelta(days=1))
    with_deal = lead_at(created=three_years - timedelta(days=400), activity=three_years - timedelta(days=1))
    PartnerDeal.objects.create(tenant=with_deal.tenant, lead=with_deal, title="Wohnung Leipzig")
    already_erased = lead_at(created=three_years - timedelta(days=400))
    Lead.objects.filter(pk=already_erased.pk).update(erased_at=NOW - timedelta(days=5))

    report = retention_run(only=["inactive_leads"], now=NOW)

    assert report.counts() == {"inactive_leads": 2} and not report.failed
    gone = {str(inactive.pk), str(never_active.pk)}
    assert {subject.lead_ids[0] for app, subject, _ in eraser_double if app == "leads"} == gone
    for _app, subject, context in eraser_double:
        assert subject.lead_ids == [subject.query.value] and subject.query.kind == "lead"
        assert subject.hashes == {}
        assert (context.reason_code, context.erasure_id, context.actor) == (RETENTION_REASON, "", None)
    assert sorted(app for app, _, _ in eraser_double) == ["leads", "leads", "notes", "notes"]
    for lead in (inactive, never_active):
        lead.refresh_from_db()
        assert lead.erased_at is not None and lead.email == "" and lead.first_name == ""
        assert lead.channel == "website"  # the row stays as an anonymous statistic
    for lead in (recently_active, recently_created, with_deal):
        lead.refresh_from_db()
        assert lead.erased_at is None and lead.email
    # The person did not ask to be forgotten: no erasure record, no tombstone flags a return.
    assert not ErasureTombstone.objects.exists() and not SubjectErasure.objects.exists()
    # The next run finds nothing more.
    assert retention_run(only=["inactive_leads"], now=NOW).counts() == {"inactive_leads": 0}


def test_leads_merged_into_an_inactive_lead_go_with_it_and_an_active_family_stays(eraser_double):
    old = NOW - timedelta(days=1500)
    survivor = lead_at(created=old, activity=old)
    merged = lead_at(created=old, activity=old)
    merged_twice = lead_at(created=old, activity=old)
    Lead.objects.filter(pk=merged.pk).update(merged_into=survivor)
    Lead.objects.filter(pk=merged_twice.pk).update(merged_into=merged)
    # A second person: inactive survivor, but the lead merged into it was converted to a deal.
    kept_root = lead_at(created=old, activity=old)
    kept_merged = lead_at(created=old, activity=old)
    Lead.objects.filter(pk=kept_merged.pk).update(merged_into=kept_root)
    PartnerDeal.objects.create(tenant=kept_merged.tenant, lead=kept_merged, title="Deal")

    assert retention_run(only=["inactive_leads"], now=NOW, dry_run=True).counts() == {"inactive_leads": 3}
    assert not Lead.objects.filter(erased_at__isnull=False).exists()
    report = retention_run(only=["inactive_leads"], now=NOW)

    assert report.counts() == {"inactive_leads": 3}
    erased = set(Lead.objects.filter(erased_at__isnull=False).values_list("pk", flat=True))
    assert erased == {survivor.pk, merged.pk, merged_twice.pk}


def test_inactive_leads_are_anonymised_in_batches(eraser_double, small_batches):
    leads = [lead_at(created=NOW - timedelta(days=2000 + i)) for i in range(5)]
    assert retention_run(only=["inactive_leads"], now=NOW).counts() == {"inactive_leads": 5}
    assert Lead.objects.filter(pk__in=[lead.pk for lead in leads], erased_at__isnull=False).count() == 5


def test_a_lead_whose_eraser_fails_is_reported_and_the_others_are_anonymised(eraser_double, small_batches, caplog):
    leads = [lead_at(created=NOW - timedelta(days=2000 + i)) for i in range(3)]
    broken = str(leads[1].pk)

    def fragile(subject, context):
        if subject.lead_ids == [broken]:
            raise RuntimeError("disk full")
        return {}

    registry.register_subject_data("fragile", sections=("emails",), exporter=lambda s: {}, eraser=fragile, order=99)
    audit_at(NOW - timedelta(days=4000))
    report = retention_run(only=["audit", "inactive_leads"], now=NOW)

    assert report.counts() == {"audit": 1, "inactive_leads": 2}
    assert report.failed == ["inactive_leads"]
    # All erasers of the broken lead were rolled back together: it is not half anonymised.
    assert Lead.objects.get(pk=broken).erased_at is None and Lead.objects.get(pk=broken).email
    assert Lead.objects.filter(erased_at__isnull=False).count() == 2
    assert [r.lead_id for r in caplog.records if r.name == "leads.retention"] == [broken]
    (event,) = retention_events()
    assert event.payload["failed"] == ["inactive_leads"] and event.payload["counts"]["inactive_leads"] == 2


def test_the_time_limit_ends_the_run_after_the_current_lead_and_keeps_what_was_done(eraser_double, small_batches):
    leads = [lead_at(created=NOW - timedelta(days=2000 + i)) for i in range(3)]
    seen: list[str] = []

    def slow(subject, context):
        seen.append(subject.lead_ids[0])
        if len(seen) == 2:
            raise SoftTimeLimitExceeded()
        return {}

    registry.register_subject_data("slow", sections=("emails",), exporter=lambda s: {}, eraser=slow, order=99)
    delivery, _ = delivery_at(NOW - timedelta(days=31))
    report = retention_run(now=NOW)

    assert [(r.key, r.count) for r in report.results] == [("audit", 0), ("email_events", 0), ("inactive_leads", 1)]
    assert report.failed == ["inactive_leads"]
    assert Lead.objects.filter(pk__in=[lead.pk for lead in leads], erased_at__isnull=False).count() == 1
    assert WebhookDelivery.objects.get(pk=delivery.pk).raw_body  # not reached: the next run does it
    assert retention_events()[0].payload["failed"] == ["inactive_leads"]


def test_anonymising_needs_a_registered_eraser(eraser_double):
    registry._subject_data.clear()
    with pytest.raises(ImproperlyConfigured, match="eraser"):
        subject_anonymize_for_retention(["00000000-0000-0000-0000-000000000001"])


def test_the_real_erasers_remove_the_personal_data_of_an_inactive_lead():
    entries = {entry.app_label: entry for entry in registry.subject_data()}
    if entries.get("leads") is None or entries["leads"].eraser is None:
        pytest.skip("The leads app has not registered its eraser yet.")
    payload = {"email": "inaktiv@beispiel.de", "phone": "+4915112345678", "first_name": "Ina", "last_name": "Alt"}
    lead = lead_ingest(payload=payload, channel="website").lead
    Lead.objects.filter(pk=lead.pk).update(created_at=NOW - timedelta(days=2000), last_activity_at=None)
    LeadActivity.objects.filter(lead=lead).update(occurred_at=NOW - timedelta(days=2000))

    report = retention_run(only=["inactive_leads"], now=NOW)

    assert report.counts() == {"inactive_leads": 1} and not report.failed
    lead.refresh_from_db()
    assert lead.erased_at is not None
    assert "inaktiv" not in (lead.email or "") and "12345678" not in (lead.phone or "")
    assert "Ina" not in (lead.first_name or "") and "Alt" not in (lead.last_name or "")
    assert lead.channel == "website"
    assert not ErasureTombstone.objects.exists() and not SubjectErasure.objects.exists()
    # Nothing flags the person: coming back creates a fresh lead, not a merge into the anonymous row.
    again = lead_ingest(payload=payload, channel="website").lead
    assert again.pk != lead.pk and again.erased_before is None and again.email == "inaktiv@beispiel.de"


# --- Dry run, reports and the command ---------------------------------------------------------


def test_a_dry_run_counts_but_changes_nothing(eraser_double):
    event = audit_at(NOW - timedelta(days=4000))
    delivery, webhook_event = delivery_at(NOW - timedelta(days=31))
    lead = lead_at(created=NOW - timedelta(days=2000))
    before = (
        WebhookDelivery.objects.values().get(pk=delivery.pk),
        WebhookEvent.objects.values().get(pk=webhook_event.pk),
        Lead.objects.values().get(pk=lead.pk),
    )

    report = retention_run(dry_run=True, now=NOW)

    assert report.dry_run and report.counts() == {
        "audit": 1,
        "email_events": 0,
        "inactive_leads": 1,
        "webhook_bodies": 2,
    }
    assert all(result.dry_run for result in report.results)
    assert AuditEvent.objects.filter(pk=event.pk).exists()
    assert before == (
        WebhookDelivery.objects.values().get(pk=delivery.pk),
        WebhookEvent.objects.values().get(pk=webhook_event.pk),
        Lead.objects.values().get(pk=lead.pk),
    )
    assert eraser_double == []
    assert retention_events() == []


def test_an_unknown_policy_is_refused_before_anything_runs():
    event = audit_at(NOW - timedelta(days=4000))
    with pytest.raises(UnknownRetentionPolicy) as caught:
        retention_run(only=["audit", "emails_old"], now=NOW)
    assert caught.value.unknown == ["emails_old"] and "audit" in caught.value.known
    assert AuditEvent.objects.filter(pk=event.pk).exists() and retention_events() == []


def test_the_report_summary_is_one_line_per_run(caplog):
    caplog.set_level("INFO", logger="compliance.services.retention")
    retention_run(only=["audit"], now=NOW)
    assert "Retention applied: audit=0" in caplog.text


def test_command_dry_run_prints_the_table_and_changes_nothing(eraser_double):
    event = audit_at(timezone.now() - timedelta(days=4000))
    out = StringIO()
    call_command("apply_retention", "--dry-run", stdout=out)
    text = out.getvalue()
    assert "Would go" in text and "Dry run: nothing was changed; 1 rows would go." in text
    lines = {line.split()[0]: line for line in text.splitlines() if line.split()}
    assert lines["audit"].endswith(" 1") and "3650 days" in lines["audit"]
    assert lines["inactive_leads"].endswith(" 0") and lines["webhook_bodies"].endswith(" 0")
    assert AuditEvent.objects.filter(pk=event.pk).exists() and retention_events() == []


def test_command_applies_only_the_named_policies(settings):
    settings.RETENTION_WEBHOOK_BODY_DAYS = 0
    audit_at(timezone.now() - timedelta(days=4000))
    delivery, _ = delivery_at(timezone.now() - timedelta(days=31))
    out = StringIO()
    call_command("apply_retention", "--only", "audit", "webhook_bodies", stdout=out)
    text = out.getvalue()
    lines = {line.split()[0]: line for line in text.splitlines() if line.split()}
    assert "inactive_leads" not in lines
    assert lines["audit"].endswith(" 1")
    assert "forever" in lines["webhook_bodies"]
    assert "Done: 1 rows purged or anonymised." in text
    assert WebhookDelivery.objects.get(pk=delivery.pk).raw_body
    assert retention_events()[0].payload["counts"] == {"audit": 1, "webhook_bodies": 0}


def test_command_refuses_an_unknown_key_and_lists_the_known_ones():
    with pytest.raises(CommandError) as caught:
        call_command("apply_retention", "--only", "tippfehler", stdout=StringIO())
    message = str(caught.value)
    assert "tippfehler" in message
    assert all(key in message for key in POLICIES)
    assert retention_events() == []
