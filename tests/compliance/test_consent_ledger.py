"""The consent ledger: the newest record decides, double opt-in, expiry, batch reads, the confirmation
page, the lead cache, bulk imports, the legacy backfill and encrypted evidence (SPEC §12)."""

from __future__ import annotations

import datetime as dt
import importlib
import io
import re
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client, TestCase
from django.urls import reverse
from django.utils import timezone

from compliance.models import AuditEvent, ConsentRecord, ConsentTokenExpired, ConsentTokenInvalid, ConsentWording
from compliance.selectors import consent_state, consent_states
from compliance.services import consent_doi_confirm, consent_doi_request, consent_grant, consent_revoke
from leads.models import Lead
from leads.services import lead_ingest, lead_opt_out
from leads.services.consent import (
    ConsentContext,
    lead_marketing_consent_grant,
    lead_marketing_consent_revoke,
)
from tests.leads.factories import LeadFactory
from webhooks.mapping import map_graph_lead

pytestmark = pytest.mark.django_db

MARKETING = "marketing_email"
IP, USER_AGENT = "198.51.100.77", "Mozilla/5.0 (Quirinus-Browser 9.1)"
backfill = importlib.import_module("compliance.migrations.0007_consent_ledger_backfill")


def _ago(**kwargs) -> dt.datetime:
    return timezone.now() - dt.timedelta(**kwargs)


def _grant(lead, code=MARKETING, **kwargs):
    return consent_grant(code=code, version="v-test", actor=None, lead=lead, text="Ja, E-Mails bitte.", **kwargs)


# --- the ledger: newest decides, double opt-in, expiry ---------------------------------------------


def test_the_newest_record_decides_grant_revoke_grant_again(platform_org):
    lead = LeadFactory()
    assert consent_state(lead, "data_processing").status == "none"

    first = _grant(lead, code="DATA_PROCESSING", recorded_at=_ago(days=3))
    assert consent_state(lead, "DATA_PROCESSING").allowed  # upper or lower case: the same purpose
    revoke = consent_revoke(code="data_processing", actor=None, lead=lead, recorded_at=_ago(days=2))
    state = consent_state(lead, "data_processing")
    assert (state.status, state.allowed, state.record.pk, state.since) == (
        "revoked",
        False,
        revoke.pk,
        revoke.recorded_at,
    )
    assert consent_revoke(code="data_processing", actor=None, lead=lead) is None  # nothing left to withdraw
    again = _grant(lead, code="DATA_PROCESSING")

    state = consent_state(lead, "data_processing")
    assert state.status == "granted" and state.allowed and state.record.pk == again.pk
    # records are appended, never changed: three decisions, the first still as it was
    assert ConsentRecord.objects.filter(subject_lead=lead).count() == 3
    assert ConsentRecord.objects.get(pk=first.pk).action == "granted"
    # and the state at an earlier time is the state the records gave then
    assert consent_state(lead, "data_processing", at=_ago(days=2, hours=12)).status == "granted"
    assert consent_state(lead, "data_processing", at=_ago(days=1)).status == "revoked"


def test_marketing_email_is_pending_until_the_double_opt_in_is_confirmed(platform_org):
    lead = LeadFactory()
    grant, token = consent_doi_request(actor=None, lead=lead, version="v-test", text="Ja, E-Mails bitte.")
    state = consent_state(lead, MARKETING)
    assert (state.status, state.allowed, state.record.pk) == ("pending", False, grant.pk)
    assert grant.doi_token_hash and token not in grant.doi_token_hash

    confirmation = consent_doi_confirm(token, ip=IP, user_agent=USER_AGENT)

    state = consent_state(lead, MARKETING)
    assert (state.status, state.allowed, state.confirmed_at) == ("granted", True, confirmation.recorded_at)
    assert confirmation.confirms_id == grant.pk and confirmation.action == "confirmed"
    assert confirmation.evidence["ip"] == IP and confirmation.evidence["user_agent"] == USER_AGENT
    assert confirmation.evidence["doi_token_hash"] == grant.doi_token_hash
    # idempotent: a second confirmation returns the first and writes nothing
    assert consent_doi_confirm(token, ip="10.0.0.1", user_agent="other").pk == confirmation.pk
    assert ConsentRecord.objects.filter(subject_lead=lead).count() == 2
    # a re-submitted form does not undo the confirmation; a withdrawal does
    _grant(lead)
    assert consent_state(lead, MARKETING).allowed
    consent_revoke(code=MARKETING, actor=None, lead=lead)
    assert consent_state(lead, MARKETING).status == "revoked"
    events = set(AuditEvent.objects.filter(object_id=str(lead.pk)).values_list("event_type", flat=True))
    assert {"consent.granted", "consent.confirmed", "consent.revoked"} <= events


def test_confirmation_tokens_unknown_tampered_expired_or_withdrawn_are_refused(platform_org, settings):
    lead = LeadFactory()
    _grant_record, token = consent_doi_request(actor=None, lead=lead, version="v-test")
    with pytest.raises(ConsentTokenInvalid):
        consent_doi_confirm(token[:-1] + ("A" if token[-1] != "A" else "B"), ip=IP, user_agent="x")
    with pytest.raises(ConsentTokenInvalid):
        consent_doi_confirm("", ip=IP, user_agent="x")
    consent_revoke(code=MARKETING, actor=None, lead=lead)
    with pytest.raises(ConsentTokenExpired):
        consent_doi_confirm(token, ip=IP, user_agent="x")  # withdrawn after the link was sent

    other = LeadFactory()
    grant, token = consent_doi_request(actor=None, lead=other, version="v-test")
    ConsentRecord.objects.filter(pk=grant.pk).update(recorded_at=_ago(days=31))
    with pytest.raises(ConsentTokenExpired):
        consent_doi_confirm(token, ip=IP, user_agent="x")
    settings.CONSENT_DOI_TOKEN_DAYS = 60
    assert consent_doi_confirm(token, ip=IP, user_agent="x").action == "confirmed"
    assert not ConsentRecord.objects.filter(subject_lead=lead, action="confirmed").exists()


def test_an_expired_consent_allows_nothing(platform_org):
    lead = LeadFactory()
    record = _grant(lead, code="META_ADS_TOS", expires_at=timezone.now() + dt.timedelta(days=1))
    assert consent_state(lead, "meta_ads_tos").allowed
    later = consent_state(lead, "meta_ads_tos", at=timezone.now() + dt.timedelta(days=2))
    assert (later.status, later.allowed, later.since) == ("expired", False, record.expires_at)
    _grant(lead, code="META_ADS_TOS", recorded_at=timezone.now() + dt.timedelta(days=1, hours=1))
    assert consent_state(lead, "meta_ads_tos", at=timezone.now() + dt.timedelta(days=2)).allowed  # renewed


def test_users_have_consents_too_and_bad_input_is_refused(platform_org, partner_user):
    record = consent_grant(code="meta_ads_tos", version="v1", actor=partner_user, user=partner_user)
    assert record.tenant_id == partner_user.organization_id
    assert consent_state(partner_user, "meta_ads_tos").allowed
    lead = LeadFactory()
    with pytest.raises(ValueError, match="Unknown consent purpose"):
        consent_state(lead, "newsletter")
    with pytest.raises(ValueError, match="exactly one subject"):
        consent_grant(code=MARKETING, version="1", actor=None, lead=lead, user=partner_user)
    with pytest.raises(ValueError, match="source"):
        consent_grant(code=MARKETING, version="1", actor=None, lead=lead, source="fax")
    ConsentWording.objects.filter(code="DATA_PROCESSING").delete()
    with pytest.raises(ValueError, match="No active wording"):
        consent_grant(code="data_processing", actor=None, lead=lead)
    assert not ConsentRecord.objects.filter(subject_lead=lead).exists()


def test_a_platform_wording_is_linked_and_audit_payloads_hold_no_personal_data(platform_org):
    wording = ConsentWording.objects.create(code="MARKETING_EMAIL", version="t-2", text_de="Ja, bitte Infos.")
    lead = LeadFactory()
    record = consent_grant(code=MARKETING, actor=None, lead=lead, version="t-2", evidence={"ip": IP})
    assert (record.wording_id, record.text) == (wording.pk, "Ja, bitte Infos.")
    # no version named: the newest active wording of the purpose
    ConsentWording.objects.create(code="MARKETING_EMAIL", version="t-3", text_de="Neu.")
    assert consent_grant(code=MARKETING, actor=None, lead=lead).version == "t-3"
    event = AuditEvent.objects.filter(event_type="consent.granted", object_id=str(lead.pk)).first()
    assert set(event.payload) == {"code", "version", "source", "consent_id"} and IP not in str(event.payload)


def test_the_batch_state_is_one_query(platform_org, django_assert_num_queries):
    leads = [LeadFactory() for _ in range(6)]
    _grant(leads[0])
    _grant(leads[1], code="DATA_PROCESSING")
    _grant(leads[2])
    consent_revoke(code=MARKETING, actor=None, lead=leads[2])
    _record, token = consent_doi_request(actor=None, lead=leads[3], version="v-test")
    consent_doi_confirm(token, ip=IP, user_agent=USER_AGENT)

    with django_assert_num_queries(1):
        states = consent_states(leads, MARKETING)

    assert [states[lead.pk].status for lead in leads] == ["pending", "none", "revoked", "granted", "none", "none"]
    assert [states[lead.pk].allowed for lead in leads] == [False, False, False, True, False, False]


# --- the confirmation page -------------------------------------------------------------------------


def _csrf(html: str) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)


def test_confirmation_page_get_shows_and_post_confirms_without_login(platform_org):
    lead = LeadFactory()
    grant, token = consent_doi_request(actor=None, lead=lead, version="v-test", text="Ja, ich will Infos per E-Mail.")
    client = Client(enforce_csrf_checks=True, HTTP_USER_AGENT=USER_AGENT, REMOTE_ADDR=IP)
    url = reverse("consent:confirm", args=[token])
    assert url == f"/consent/confirm/{token}/"

    page = client.get(url)  # a mail scanner following the link confirms nothing
    assert page.status_code == 200 and page["Cache-Control"] == "no-store"
    html = page.content.decode()
    assert "Ja, ich will Infos per E-Mail." in html and 'method="post"' in html
    assert not ConsentRecord.objects.filter(action="confirmed").exists()
    assert client.post(url).status_code == 403  # a POST from elsewhere (no CSRF token) is refused

    done = client.post(url, {"csrfmiddlewaretoken": _csrf(html)})
    assert done.status_code == 200
    confirmation = ConsentRecord.objects.get(action="confirmed")
    assert confirmation.confirms_id == grant.pk and confirmation.evidence["ip"] == IP
    assert consent_state(lead, MARKETING).allowed
    # a second POST (double click) changes nothing; the page says it is confirmed
    again = client.post(url, {"csrfmiddlewaretoken": _csrf(html)})
    assert again.status_code == 200 and ConsentRecord.objects.filter(action="confirmed").count() == 1
    assert client.get(url).status_code == 200


def test_confirmation_page_unknown_or_tampered_token_is_404_and_expired_410(platform_org):
    lead = LeadFactory()
    grant, token = consent_doi_request(actor=None, lead=lead, version="v-test")
    client = Client()
    assert client.get(f"/consent/confirm/{token[:-2]}xy/").status_code == 404
    assert client.post("/consent/confirm/nonsense/").status_code == 404
    ConsentRecord.objects.filter(pk=grant.pk).update(recorded_at=_ago(days=40))
    assert client.get(f"/consent/confirm/{token}/").status_code == 410
    assert client.post(f"/consent/confirm/{token}/").status_code == 410
    assert not ConsentRecord.objects.filter(action="confirmed").exists()


# --- the lead's cache, the lead code paths ---------------------------------------------------------


def test_the_lead_cache_follows_the_ledger(platform_org):
    lead = LeadFactory()
    grant = lead_marketing_consent_grant(lead=lead, actor=None, source="portal")
    assert grant.version == "unspecified" and grant.source == "portal"
    stored = Lead.objects.get(pk=lead.pk)
    assert (stored.consent_marketing, stored.consent_at, stored.opted_out_at) == (True, grant.recorded_at, None)
    assert lead.consent_marketing is True  # the caller's instance is updated too

    revoke = lead_marketing_consent_revoke(lead=lead, actor=None, source="unsubscribe")
    stored = Lead.objects.get(pk=lead.pk)
    assert (stored.consent_marketing, stored.consent_at, stored.opted_out_at) == (False, None, revoke.recorded_at)
    assert lead_marketing_consent_revoke(lead=lead, actor=None, source="unsubscribe") is None

    _record, token = consent_doi_request(actor=None, lead=lead, version="v-test")
    consent_doi_confirm(token, ip=IP, user_agent=USER_AGENT)
    stored = Lead.objects.get(pk=lead.pk)
    assert (stored.consent_marketing, stored.opted_out_at) == (True, None)


def test_an_opt_out_without_earlier_consent_is_recorded_as_an_objection(platform_org):
    lead = LeadFactory()
    lead_opt_out(lead=lead, actor=None, reason="Instagram: stop", source="webhook", evidence={"source_id": "m:1"})
    record = ConsentRecord.objects.get(subject_lead=lead)
    assert (record.action, record.source, record.version) == ("revoked", "webhook", "unspecified")
    assert Lead.objects.get(pk=lead.pk).opted_out_at == record.recorded_at


def test_a_form_through_lead_ingest_records_a_pending_consent_with_evidence(platform_org):
    wording = ConsentWording.objects.create(code="MARKETING_EMAIL", version="web-7", text_de="Ja, Infos per E-Mail.")
    context = ConsentContext(source="form", version="web-7", evidence={"ip": IP, "user_agent": USER_AGENT})
    lead = lead_ingest(
        payload={"email": "quirin@example.org", "consent_marketing": True}, channel="website", consent=context
    ).lead

    record = ConsentRecord.objects.get(subject_lead=lead)
    assert (record.action, record.source, record.wording_id, record.text) == (
        "granted",
        "form",
        wording.pk,
        "Ja, Infos per E-Mail.",
    )
    assert record.evidence == {"ip": IP, "user_agent": USER_AGENT}
    assert consent_state(lead, MARKETING).status == "pending"
    assert lead.consent_marketing and Lead.objects.get(pk=lead.pk).consent_at == record.recorded_at
    assert AuditEvent.objects.filter(event_type="consent.granted", object_id=str(lead.pk)).exists()
    # the same form again changes nothing; an opt-out in a later delivery is a new record
    lead_ingest(payload={"email": "quirin@example.org", "consent_marketing": True}, channel="website", consent=context)
    assert ConsentRecord.objects.filter(subject_lead=lead).count() == 1
    lead_ingest(payload={"email": "quirin@example.org", "opted_out": True}, channel="website")
    assert consent_state(lead, MARKETING).status == "revoked"
    assert Lead.objects.get(pk=lead.pk).opted_out_at is not None


def test_a_facebook_checkbox_mapped_to_marketing_consent_reaches_the_payload():
    lead = {
        "id": "1",
        "form_id": "55",
        "field_data": [{"name": "email", "values": ["a@b.de"]}],
        "custom_disclaimer_responses": [{"checkbox_key": "Newsletter", "is_checked": "1"}],
    }
    assert "consent_marketing" not in map_graph_lead(lead)
    mapped = map_graph_lead(lead, overrides={"*": {"newsletter": "consent_marketing"}})
    assert mapped["consent_marketing"] is True


# --- imports ---------------------------------------------------------------------------------------


def _csv(path: Path, rows: int, *, start: int = 0, consent: str = "ja", date: bool = True) -> Path:
    header = "E-Mail;Vorname;Einwilligung" + (";Anfragedatum" if date else "")
    lines = [header] + [
        f"person{n}@import-beispiel.de;Person{n};{consent}" + (";01.03.2025 09:30" if date else "")
        for n in range(start, start + rows)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _import(path: Path) -> int:
    """Run the import (scoring left queued); returns how many statements it sent."""
    statements = []

    def count(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    # An execute wrapper, not ``CaptureQueriesContext``: each import batch resets Django's query log.
    with TestCase.captureOnCommitCallbacks(execute=False), connection.execute_wrapper(count):
        call_command("import_leads", str(path), stdout=io.StringIO())
    return len(statements)


def test_an_import_writes_consent_records_in_bulk(tmp_path, platform_org):
    _import(_csv(tmp_path / "warm-up.csv", 1, start=900))  # per-process lookups happen once
    few = _import(_csv(tmp_path / "few.csv", 3))
    many = _import(_csv(tmp_path / "many.csv", 40, start=100))
    assert many == few  # COPY with the leads: no query per row

    records = ConsentRecord.objects.filter(code="MARKETING_EMAIL")
    assert records.count() == 44 and set(records.values_list("source", "action")) == {("import", "granted")}
    lead = next(lead for lead in Lead.objects.all() if lead.email == "person100@import-beispiel.de")
    record = records.get(subject_lead=lead)
    assert record.recorded_at == dt.datetime(2025, 3, 1, 8, 30, tzinfo=dt.UTC) == lead.consent_at
    assert record.version == "unspecified" and record.evidence == {"import": "many.csv"}
    assert consent_state(lead, MARKETING).status == "pending"
    created = AuditEvent.objects.get(event_type="lead.created", object_id=str(lead.pk))
    assert created.payload["consents"] == ["MARKETING_EMAIL:granted"]

    # running the file again records nothing new
    _import(tmp_path / "many.csv")
    assert records.count() == 44


def test_an_import_merge_records_only_changes_and_never_undoes_an_opt_out_without_a_date(tmp_path, platform_org):
    _import(_csv(tmp_path / "first.csv", 2, consent="nein"))
    first, second = sorted(Lead.objects.all(), key=lambda lead: lead.email)
    lead_opt_out(lead=second, actor=None, reason="unsubscribe", source="unsubscribe")

    # a second file with consent, without dates: the first person consents, the opted-out one stays out
    _import(_csv(tmp_path / "second.csv", 2, date=False))

    assert consent_state(first, MARKETING).status == "pending"
    assert Lead.objects.get(pk=first.pk).consent_marketing is True
    assert consent_state(second, MARKETING).status == "revoked"
    assert Lead.objects.get(pk=second.pk).consent_marketing is False
    assert ConsentRecord.objects.filter(subject_lead=first).count() == 1


# --- the legacy backfill (migration 0007) and encrypted evidence ---------------------------------------


def test_the_backfill_turns_the_lead_fields_into_records(platform_org):
    consenting = LeadFactory(consent_marketing=True, consent_at=_ago(days=10))
    opted_out = LeadFactory(consent_marketing=False, opted_out_at=_ago(days=5))
    untouched = LeadFactory()
    recorded = LeadFactory(consent_marketing=True)
    _grant(recorded)

    assert backfill.legacy_consents_backfill(connection) == (1, 1)

    grant = ConsentRecord.objects.get(subject_lead=consenting)
    assert (grant.action, grant.source, grant.lawful_basis, grant.version) == (
        "granted",
        "migration",
        "consent",
        "legacy",
    )
    assert grant.recorded_at == consenting.consent_at and grant.tenant_id == consenting.tenant_id
    assert grant.evidence == {"migration": "0007_consent_ledger_backfill", "from": "lead.consent_marketing"}
    assert consent_state(consenting, MARKETING).status == "pending"  # no double opt-in on record
    revoke = ConsentRecord.objects.get(subject_lead=opted_out)
    assert (revoke.action, revoke.recorded_at) == ("revoked", opted_out.opted_out_at)
    assert consent_state(opted_out, MARKETING).status == "revoked"
    assert not ConsentRecord.objects.filter(subject_lead=untouched).exists()
    assert ConsentRecord.objects.filter(subject_lead=recorded).count() == 1
    assert backfill.legacy_consents_backfill(connection) == (0, 0)  # idempotent


def test_evidence_is_not_in_plaintext_in_the_database(platform_org):
    lead = LeadFactory()
    record = _grant(lead, evidence={"ip": IP, "user_agent": USER_AGENT, "page": "https://example.de/form"})
    with connection.cursor() as cursor:
        cursor.execute("SELECT evidence FROM compliance_consentrecord WHERE id = %s", [record.pk])
        (raw,) = cursor.fetchone()
    assert raw.startswith("v1:") and IP not in raw and "Quirinus" not in raw and "example.de" not in raw
    assert ConsentRecord.objects.get(pk=record.pk).evidence["ip"] == IP


# --- admin ---------------------------------------------------------------------------------------------


def test_admin_wording_text_is_read_only_once_used_and_evidence_only_on_the_detail_page(client, admin_user):
    client.force_login(admin_user)
    unused = ConsentWording.objects.create(code="META_ADS_TOS", version="t-1", text_de="Bedingungen.")
    used = ConsentWording.objects.create(code="MARKETING_EMAIL", version="t-9", text_de="Ja, bitte.")
    lead = LeadFactory()
    record = consent_grant(code=MARKETING, actor=None, lead=lead, wording=used, evidence={"ip": IP})

    unused_page = client.get(reverse("admin:compliance_consentwording_change", args=[unused.pk])).content.decode()
    assert 'name="text_de"' in unused_page
    used_page = client.get(reverse("admin:compliance_consentwording_change", args=[used.pk])).content.decode()
    assert 'name="text_de"' not in used_page and "Ja, bitte." in used_page
    copy = client.get(reverse("admin:compliance_consentwording_add") + f"?copy_from={used.pk}").content.decode()
    assert "Ja, bitte." in copy

    listing = client.get(reverse("admin:compliance_consentrecord_changelist") + "?action__exact=granted")
    assert listing.status_code == 200 and IP not in listing.content.decode()
    detail = client.get(reverse("admin:compliance_consentrecord_change", args=[record.pk]))
    assert detail.status_code == 200 and IP in detail.content.decode()


def test_migration_0006_keeps_the_history_of_old_records_and_can_be_reversed(platform_org):
    """Old rows (``granted_at``/``revoked_at``, JSON evidence) become grant and revoke records, evidence encrypted."""
    from django.db.migrations.executor import MigrationExecutor

    lead = LeadFactory()
    with connection.cursor() as cursor:
        # Inside the test's transaction: no deferred checks may be pending when the migration alters the table.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    executor = MigrationExecutor(connection)
    loader = executor.loader
    nodes = [("compliance", name) for name in ("0005_audit_retention_purge", "0006_consent_ledger")]
    nodes.append(("compliance", "0007_consent_ledger_backfill"))
    # Each migration gets the state before it, from the graph of its ancestors only (``migrate`` would
    # replay every app's migrations, twice); fresh each time, since a migration changes the state it gets.
    migration_0006, migration_0007 = (loader.graph.nodes[node] for node in nodes[1:])
    executor.unapply_migration(loader.project_state(nodes[1]), migration_0007)
    executor.unapply_migration(loader.project_state(nodes[0]), migration_0006)
    granted, revoked = _ago(days=9), _ago(days=4)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO compliance_consentrecord (tenant_id, code, subject_lead_id, version, text, granted_at, "
            "revoked_at, evidence, created_at) VALUES (%s, 'MARKETING_EMAIL', %s, '2026-01', 'Ja', %s, %s, %s, %s), "
            "(%s, 'LEAD_SPLIT_AGREEMENT', %s, '2026-01', '', %s, NULL, '{}', %s)",
            [
                *(lead.tenant_id, lead.pk, granted, revoked, '{"ip": "198.51.100.77"}', granted),
                *(lead.tenant_id, lead.pk, granted, granted),
            ],
        )

    executor.apply_migration(loader.project_state(nodes[0]), migration_0006)
    executor.apply_migration(loader.project_state(nodes[1]), migration_0007)

    records = list(ConsentRecord.objects.filter(subject_lead=lead).order_by("code", "recorded_at"))
    assert [(r.code, r.action, r.recorded_at, r.source) for r in records] == [
        ("LEAD_SPLIT_AGREEMENT", "granted", granted, "portal"),
        ("MARKETING_EMAIL", "granted", granted, "form"),
        ("MARKETING_EMAIL", "revoked", revoked, "form"),
    ]
    assert records[1].evidence == {"ip": "198.51.100.77"} and records[0].evidence == {}
    assert records[2].evidence == {"migration": "0006_consent_ledger", "from": "revoked_at"}
    assert consent_state(lead, MARKETING).status == "revoked"
    with connection.cursor() as cursor:
        cursor.execute("SELECT evidence FROM compliance_consentrecord WHERE id = %s", [records[1].pk])
        assert "198.51.100.77" not in cursor.fetchone()[0]
    # the split agreement was linked to its seeded wording by 0007
    assert records[0].wording is not None and records[0].wording.version == "2026-01"
