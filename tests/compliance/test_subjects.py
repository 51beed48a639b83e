"""Data-subject rights (SPEC §12): export and erasure orchestration against registry doubles."""

from __future__ import annotations

import json

import pytest
from django.db import connection

from compliance import crypto, registry
from compliance.blind_index import email_index, phone_index
from compliance.models import AuditEvent, ConsentRecord, ErasureTombstone, SubjectErasure
from compliance.registry import STANDARD_SECTIONS, SubjectNotFound, SubjectQuery
from compliance.selectors.subjects import erasure_steps_in_order, tombstone_erased_at, tombstones_matching
from compliance.services import audit_event_build, audit_record
from compliance.services.subjects import (
    InvalidSubjectQuery,
    subject_erase,
    subject_export,
    subject_query_normalize,
    subject_resolve,
)
from tests.accounts.factories import UserFactory
from tests.compliance.subjects_support import SubjectWorld, register_compliance, registry_swapped
from tests.leads.factories import LeadFactory

EMAIL = "max.mustermann@beispiel.de"
PHONE = "+4915112345678"


@pytest.fixture
def world(db, platform_org):
    with registry_swapped():
        world = SubjectWorld()
        registry.register_subject_resolver(world.resolve)
        yield world


@pytest.fixture
def person(world):
    leads = [LeadFactory(email=EMAIL, phone=PHONE), LeadFactory(email=EMAIL)]
    return world.add_person([lead.pk for lead in leads], email=EMAIL, phone=PHONE), leads


@pytest.fixture
def admin(db):
    return UserFactory(role="platform_admin")


def _counts() -> tuple[int, int, int]:
    return SubjectErasure.objects.count(), ErasureTombstone.objects.count(), AuditEvent.objects.count()


# --- queries -----------------------------------------------------------------------------------


def test_queries_are_normalized_like_the_blind_indexes(world, person):
    assert subject_query_normalize(SubjectQuery("email", "  Max.Mustermann@BEISPIEL.de ")).value == EMAIL
    assert subject_query_normalize(SubjectQuery("phone", "0151 12345678")).value == PHONE
    lead_id = person[0].lead_ids[0]
    assert subject_query_normalize(SubjectQuery("lead", lead_id.upper())).value == lead_id
    subject = subject_resolve(SubjectQuery("phone", "0151 / 123 456 78"))
    assert sorted(subject.lead_ids) == sorted(person[0].lead_ids)


@pytest.mark.parametrize(
    ("kind", "value", "field"),
    [
        ("lead", "SOT-LEAD-ABCDEFGH", "lead"),
        ("lead", "", "lead"),
        ("email", "kein-at-zeichen.de", "email"),
        ("email", "zwei teile@beispiel.de", "email"),
        ("email", "  ", "email"),
        ("phone", "keine Nummer", "phone"),
        ("linkedin_response_id", " ", "linkedin_response_id"),
        ("name", "Max", "kind"),
    ],
)
def test_a_query_that_names_nobody_is_refused_with_the_field(world, kind, value, field):
    with pytest.raises(InvalidSubjectQuery) as caught:
        subject_export(SubjectQuery(kind, value), actor=None, reason="x")
    assert caught.value.status_code == 400 and field in caught.value.fields
    assert not AuditEvent.objects.filter(event_type="subject.exported").exists()


# --- export ------------------------------------------------------------------------------------


def test_export_has_every_section_a_table_of_contents_and_is_audited_without_pii(world, person, admin):
    _people, leads = person
    world.register("leads", section="leads", order=10)
    world.register("webhooks", section="webhook_items", order=30)
    world.register("surveys", section="survey_answers", order=40)  # not a standard section: added
    register_compliance()
    ConsentRecord.objects.create(
        code="MARKETING_EMAIL", version="v1", text="Ja, ich will", subject_lead=leads[0], evidence={"ip": "203.0.113.9"}
    )
    audit_record(event_type="lead.created", actor=None, obj=leads[0], payload={"channel": "website"})
    audit_record(event_type="lead.created", actor=None, obj=LeadFactory(), payload={})  # someone else's
    deal_event = audit_event_build(event_type="deal.created", actor=None, payload={"stage": "lead"})
    deal_event.object_type, deal_event.object_id = "deals.partnerdeal", "77"
    deal_event.save(force_insert=True)
    registry.register_subject_data(
        "deals", sections=("deals",), exporter=lambda subject: {"deals": [{"id": 77, "value": "1000.00"}]}, order=20
    )

    document = subject_export(
        SubjectQuery("email", " MAX.Mustermann@beispiel.de"), actor=admin, reason="Anfrage per Brief"
    )

    assert set(STANDARD_SECTIONS) | {"survey_answers"} <= set(document)
    assert document["query"] == {"kind": "email", "value": EMAIL}
    assert document["generated_at"].endswith(("+00:00", "Z"))
    assert [entry["section"] for entry in document["contents"]][: len(STANDARD_SECTIONS)] == list(STANDARD_SECTIONS)
    counts = {entry["section"]: entry["count"] for entry in document["contents"]}
    assert counts["leads"] == 2 and counts["webhook_items"] == 2 and counts["survey_answers"] == 2
    assert counts["emails"] == 0 and document["emails"] == []
    assert document["consents"][0]["evidence"] == {"ip": "203.0.113.9"}  # decrypted
    assert document["consents"][0]["code"] == "MARKETING_EMAIL" and document["consents"][0]["action"] == "granted"
    assert {row["event_type"] for row in document["audit"]} == {"lead.created", "deal.created"}
    assert all(row["object_id"] in {str(leads[0].pk), "77"} for row in document["audit"])
    json.dumps(document)  # JSON-able as is

    event = AuditEvent.objects.get(event_type="subject.exported")
    assert event.actor_id == admin.pk
    reason = event.payload.pop("reason_encrypted")
    assert event.payload == {"query": "email", "leads": 2, "sections": counts}
    assert crypto.decrypt(reason) == "Anfrage per Brief"  # the admin's free text may name the person
    stored = json.dumps(event.payload) + reason
    assert EMAIL not in stored and "mustermann" not in stored.lower() and "15112345678" not in stored


def test_export_by_lead_id_is_in_the_leads_audit_trail(world, person, admin):
    world.register("leads", section="leads", order=10)
    lead_id = person[0].lead_ids[1]
    document = subject_export(SubjectQuery("lead", lead_id), actor=admin, reason="Art. 15")
    assert len(document["leads"]) == 2  # every lead of the person, not only the one asked for
    event = AuditEvent.objects.get(event_type="subject.exported")
    assert (event.object_type, event.object_id) == ("leads.lead", lead_id)
    assert event.payload["query"] == "lead" and event.payload["leads"] == 2


def test_an_email_that_matches_nobody_gives_empty_lists_and_is_still_audited(world, person, admin):
    world.register("leads", section="leads", order=10)
    document = subject_export(SubjectQuery("email", "niemand@beispiel.de"), actor=admin, reason="Art. 15")
    assert all(document[name] == [] for name in STANDARD_SECTIONS)
    assert all(entry["count"] == 0 for entry in document["contents"])
    assert world.exports == []  # nobody to ask about
    event = AuditEvent.objects.get(event_type="subject.exported")
    assert event.payload["leads"] == 0 and "niemand" not in json.dumps(event.payload)


def test_export_of_an_unknown_lead_raises_not_found(world, admin):
    with pytest.raises(SubjectNotFound):
        subject_export(SubjectQuery("lead", "00000000-0000-4000-8000-000000000000"), actor=admin, reason="x")
    assert not AuditEvent.objects.filter(event_type="subject.exported").exists()


# --- erasure -----------------------------------------------------------------------------------


def test_erasure_runs_the_erasers_in_order_records_each_step_and_leaves_tombstones(world, person, admin):
    people, _leads = person
    world.register("webhooks", section="webhook_items", order=30)
    world.register("leads", section="leads", order=10, forgets_identities=True)
    world.register("deals", section="deals", order=20)
    registry.register_subject_data("exports_only", sections=("campaigns",), exporter=lambda s: {}, order=5)

    outcome = subject_erase(SubjectQuery("email", EMAIL.upper()), actor=admin, reason="Brief vom 3. März von Max")

    assert world.real_calls() == ["leads", "deals", "webhooks"]
    context = world.calls[0].context
    assert context.erasure_id == str(outcome.erasure.pk) and context.reason_code == "request" and context.actor == admin
    assert sorted(world.calls[0].subject.lead_ids) == sorted(people.lead_ids)
    erasure = SubjectErasure.objects.get()
    assert outcome.erasure == erasure and not outcome.already_erased and outcome.lead_count == 2
    assert erasure.status == "completed" and erasure.completed_at is not None and erasure.attempts == 1
    assert [app for app, _step in erasure_steps_in_order(erasure)] == ["leads", "deals", "webhooks"]
    assert erasure.steps["deals"]["counts"] == {"rows": 2} and erasure.steps["deals"]["finished_at"]
    assert outcome.counts == {"leads": {"rows": 2}, "deals": {"rows": 2}, "webhooks": {"rows": 2}}
    assert (erasure.query_kind, erasure.query_hash) == ("email", email_index(EMAIL))
    assert sorted(erasure.lead_ids) == sorted(people.lead_ids) and erasure.requested_by == admin
    # The reason is encrypted at rest.
    assert erasure.reason == "Brief vom 3. März von Max"
    with connection.cursor() as cursor:
        cursor.execute("SELECT reason FROM compliance_subjecterasure WHERE id = %s", [erasure.pk])
        assert cursor.fetchone()[0].startswith("v1:")
    assert set(ErasureTombstone.objects.values_list("kind", "value_hash")) == {
        ("email", email_index(EMAIL)),
        ("phone", phone_index(PHONE)),
    }
    event = AuditEvent.objects.get(event_type="subject.erased")
    assert event.payload == {
        "erasure": str(erasure.pk),
        "query": "email",
        "leads": 2,
        "counts": outcome.counts,
        "reason_code": "request",
    }
    assert (event.object_type, event.object_id) == ("compliance.subjecterasure", str(erasure.pk))
    assert "max" not in json.dumps(event.payload).lower()


def test_a_crash_half_way_is_continued_by_the_next_call_without_repeating_steps(world, person, admin):
    people, _leads = person
    world.register("leads", section="leads", order=10, forgets_identities=True)
    world.register("deals", section="deals", order=20)
    world.register("webhooks", section="webhook_items", order=30)
    failures = iter([RuntimeError("Datenbank weg")])

    def fail_once():
        error = next(failures, None)
        if error is not None:
            raise error

    world.hooks["deals"] = fail_once
    with pytest.raises(RuntimeError):
        subject_erase(SubjectQuery("email", EMAIL), actor=admin, reason="Art. 17")

    erasure = SubjectErasure.objects.get()
    assert erasure.status == "running" and list(erasure.steps) == ["leads"] and erasure.attempts == 1
    assert ErasureTombstone.objects.filter(erasure=erasure).count() == 2  # written before the first eraser
    assert not people.findable  # the email no longer finds the person...
    resolves = world.resolves

    outcome = subject_erase(SubjectQuery("email", EMAIL), actor=None, reason="Art. 17, zweiter Versuch")

    assert world.resolves == resolves  # ...so the stored request is continued, not resolved again
    assert world.real_calls() == ["leads", "deals", "deals", "webhooks"]  # deals failed once, leads ran once
    erasure.refresh_from_db()
    assert outcome.erasure == erasure and erasure.status == "completed" and erasure.attempts == 2
    assert [app for app, _step in erasure_steps_in_order(erasure)] == ["leads", "deals", "webhooks"]
    assert SubjectErasure.objects.count() == 1 and ErasureTombstone.objects.count() == 2
    assert AuditEvent.objects.filter(event_type="subject.erased").count() == 1


def test_a_running_erasure_is_continued_when_the_person_is_asked_for_another_way(world, person, admin):
    people, _leads = person
    world.register("leads", section="leads", order=10, forgets_identities=True)
    world.register("deals", section="deals", order=20)

    def fail():
        raise RuntimeError("weg")

    world.hooks["deals"] = fail
    with pytest.raises(RuntimeError):
        subject_erase(SubjectQuery("phone", "0151 12345678"), actor=admin, reason="Art. 17")
    del world.hooks["deals"]

    outcome = subject_erase(SubjectQuery("lead", people.lead_ids[0]), actor=admin, reason="Art. 17")

    assert SubjectErasure.objects.count() == 1 and outcome.erasure.query_kind == "phone"
    assert outcome.erasure.status == "completed" and world.real_calls() == ["leads", "deals", "deals"]


def test_two_requests_racing_for_the_same_person_continue_one_erasure(world, person, admin, monkeypatch):
    from compliance.services import subjects as service

    world.register("leads", section="leads", order=10)
    people, _leads = person
    # The other admin's request is created between our look-up and our insert.
    other = SubjectErasure.objects.create(
        query_kind="email", query_hash=email_index(EMAIL), lead_ids=people.lead_ids, hashes=people.hashes
    )
    real_lookup = service.erasure_running_for
    lookups = iter([None])
    monkeypatch.setattr(service, "erasure_running_for", lambda **kw: next(lookups, None) or real_lookup(**kw))

    outcome = subject_erase(SubjectQuery("email", EMAIL), actor=admin, reason="Art. 17")

    assert outcome.erasure.pk == other.pk and outcome.erasure.status == "completed"
    assert SubjectErasure.objects.count() == 1 and world.real_calls() == ["leads"]


def test_erasing_an_erased_person_again_changes_nothing(world, person, admin):
    people, _leads = person
    world.register("leads", section="leads", order=10, forgets_identities=True)
    world.register("deals", section="deals", order=20)
    register_compliance()
    first = subject_erase(SubjectQuery("email", EMAIL), actor=admin, reason="Art. 17")
    before = _counts()
    steps = SubjectErasure.objects.get().steps

    by_email = subject_erase(SubjectQuery("email", EMAIL), actor=admin, reason="noch einmal")
    by_phone = subject_erase(SubjectQuery("phone", PHONE), actor=admin, reason="noch einmal")
    by_lead = subject_erase(SubjectQuery("lead", people.lead_ids[1]), actor=admin, reason="noch einmal")

    for outcome in (by_email, by_phone, by_lead):
        assert outcome.already_erased and outcome.erasure == first.erasure and outcome.counts == {}
        assert outcome.lead_count == 2
    assert _counts() == before
    assert SubjectErasure.objects.get().steps == steps
    assert world.real_calls() == ["leads", "deals"]  # the lead-id request only probed the erasers


def test_a_lead_with_new_personal_data_since_its_erasure_is_erased_again(world, person, admin):
    _people, leads = person
    world.register("leads", section="leads", order=10, forgets_identities=True)
    register_compliance()
    subject_erase(SubjectQuery("lead", str(leads[0].pk)), actor=admin, reason="Art. 17")
    ConsentRecord.objects.create(
        code="MARKETING_EMAIL", version="v2", subject_lead=leads[0], evidence={"ip": "1.2.3.4"}
    )

    outcome = subject_erase(SubjectQuery("lead", str(leads[0].pk)), actor=admin, reason="Art. 17")

    assert not outcome.already_erased and SubjectErasure.objects.count() == 2
    assert outcome.counts["compliance"] == {"consent_evidence": 1}
    assert ConsentRecord.objects.get().evidence == {}


def test_a_split_agreements_terms_survive_the_erasure_of_its_evidence(world, person, admin):
    """Commission terms are business terms, not personal data: a later conversion still finds them."""
    _people, leads = person
    world.register("leads", section="leads", order=10, forgets_identities=True)
    register_compliance()
    split = {"platform": "0.3333", "partner": "0.6667"}
    ConsentRecord.objects.create(
        code="LEAD_SPLIT_AGREEMENT",
        version="2026-01",
        subject_lead=leads[0],
        evidence={"ip": "1.2.3.4", "split": split},
    )

    outcome = subject_erase(SubjectQuery("lead", str(leads[0].pk)), actor=admin, reason="Art. 17")

    assert outcome.counts["compliance"] == {"consent_evidence": 1}
    assert ConsentRecord.objects.get().evidence == {"split": split}
    again = subject_erase(SubjectQuery("lead", str(leads[0].pk)), actor=admin, reason="Art. 17")
    assert again.already_erased


def test_erasing_an_email_that_matches_nobody_writes_nothing_but_the_audit_event(world, person, admin):
    world.register("leads", section="leads", order=10)
    outcome = subject_erase(SubjectQuery("email", "niemand@beispiel.de"), actor=admin, reason="Art. 17")
    assert outcome.erasure is None and not outcome.already_erased and outcome.lead_count == 0
    assert SubjectErasure.objects.count() == 0 and ErasureTombstone.objects.count() == 0
    event = AuditEvent.objects.get(event_type="subject.erased")
    assert event.payload["leads"] == 0 and "niemand" not in json.dumps(event.payload)
    assert world.calls == []


def test_erasure_needs_a_reason_and_a_known_lead(world, person, admin):
    with pytest.raises(InvalidSubjectQuery) as caught:
        subject_erase(SubjectQuery("email", EMAIL), actor=admin, reason="   ")
    assert "reason" in caught.value.fields
    with pytest.raises(SubjectNotFound):
        subject_erase(SubjectQuery("lead", "00000000-0000-4000-8000-000000000000"), actor=admin, reason="x")
    assert not SubjectErasure.objects.exists() and not AuditEvent.objects.filter(event_type="subject.erased").exists()


# --- compliance's own data ---------------------------------------------------------------------


def test_the_consent_eraser_wipes_evidence_and_keeps_the_proof(world, person, admin):
    _people, leads = person
    register_compliance()
    kept = ConsentRecord.objects.create(
        code="MARKETING_EMAIL",
        version="v3",
        text="Newsletter",
        subject_lead=leads[0],
        evidence={"ip": "203.0.113.9", "user_agent": "Firefox", "form_url": "https://x.test/?email=max"},
        doi_token_hash="a" * 64,
    )
    other = ConsentRecord.objects.create(
        code="MARKETING_EMAIL", version="v3", subject_lead=LeadFactory(), evidence={"ip": "1"}
    )

    outcome = subject_erase(SubjectQuery("lead", str(leads[0].pk)), actor=admin, reason="Art. 17")

    kept.refresh_from_db()
    assert outcome.counts == {"compliance": {"consent_evidence": 1}}
    assert kept.evidence == {} and kept.doi_token_hash == ""
    assert (kept.code, kept.version, kept.text, kept.action) == ("MARKETING_EMAIL", "v3", "Newsletter", "granted")
    other.refresh_from_db()
    assert other.evidence == {"ip": "1"}


# --- tombstones --------------------------------------------------------------------------------


def test_tombstones_are_matched_in_one_query(db, django_assert_num_queries):
    erasure = SubjectErasure.objects.create(query_kind="email", query_hash=email_index(EMAIL))
    early = ErasureTombstone.objects.create(kind="email", value_hash=email_index(EMAIL), erasure=erasure)
    ErasureTombstone.objects.create(kind="phone", value_hash=phone_index(PHONE), erasure=erasure)
    pairs = [
        ("email", email_index(EMAIL)),
        ("email", email_index("andere@beispiel.de")),
        ("phone", phone_index(PHONE)),
        ("facebook_lead_id", "123"),
        ("email", ""),
    ]
    with django_assert_num_queries(1):
        found = tombstones_matching(pairs)
    assert set(found) == {("email", email_index(EMAIL)), ("phone", phone_index(PHONE))}
    with django_assert_num_queries(1):
        assert tombstone_erased_at(pairs) == early.erased_at
    with django_assert_num_queries(0):
        assert tombstones_matching([]) == {} and tombstone_erased_at([("email", "")]) is None
    assert tombstone_erased_at([("phone", email_index(EMAIL))]) is None  # the kind matters
