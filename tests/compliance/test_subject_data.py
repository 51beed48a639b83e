"""What each app holds about a person: the leads resolver, and the exporters and erasers of leads, deals,
webhooks and accounts (``compliance.registry``), called directly and through ``subject_erase``."""

from __future__ import annotations

import io
import json
import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Notification, User
from compliance import registry
from compliance.blind_index import email_index, phone_index
from compliance.models import AuditEvent, ErasureTombstone, SubjectErasure
from compliance.registry import ErasureContext, Subject, SubjectNotFound, SubjectQuery
from compliance.services.subjects import subject_erase, subject_export
from deals.models import PartnerDeal
from deals.subject_data import subject_deals_erase, subject_deals_export
from leads.models import Lead, LeadActivity, LeadAssignment, LeadIdentity, LeadMagnet, LeadMerge
from leads.selectors.subjects import subject_leads_export, subject_resolve
from leads.services import lead_ingest, lead_merge, offer_create
from leads.subject_data import subject_leads_erase
from tests.accounts.factories import PartnerFactory
from tests.deals.factories import deal_for
from webhooks.models import Conversation, Message, Provider, WebhookDelivery, WebhookEvent
from webhooks.subject_data import subject_webhooks_erase, subject_webhooks_export

pytestmark = pytest.mark.django_db

EMAIL = "anna.schulz@beispiel-mail.de"
PHONE = "+49 171 1234567"
PERSON = {
    "email": EMAIL,
    "phone": PHONE,
    "first_name": "Anna",
    "last_name": "Schulz-Wendland",
    "job_title": "Geschäftsführerin",
    "postcode": "80331",
    "city": "München",
    "company_name": "Schulz Wendland Immobilien",
    "referrer": "https://www.example.org/?name=Anna+Schulz",
    "attributes": {"nachricht": "Bitte rufen Sie mich an, Anna Schulz-Wendland"},
}
#: The person's data in every form it may take in a document.
TRACES = ("anna.schulz", "Schulz-Wendland", "+491711234567", "1234567", "Bitte rufen Sie mich an")


def context(reason_code: str = "request") -> ErasureContext:
    return ErasureContext(erasure_id="test", reason_code=reason_code, actor=None, at=timezone.now())


def subject_of(*leads: Lead) -> Subject:
    return Subject(query=SubjectQuery("lead", str(leads[0].pk)), lead_ids=[str(lead.pk) for lead in leads])


def traces_in(document) -> list[str]:
    text = json.dumps(document, ensure_ascii=False)
    return [trace for trace in TRACES if trace in text]


@pytest.fixture
def partner(platform_org) -> User:
    return PartnerFactory()


@pytest.fixture
def person(platform_org) -> Lead:
    """The person as a pool lead from Facebook (identities email, phone and the Facebook lead id)."""
    return lead_ingest(payload=dict(PERSON), channel="facebook", idempotency_key="fb-lead-4711").lead


# --- The resolver ---------------------------------------------------------------------------------


def test_the_same_person_is_found_in_two_tenants_by_email_and_by_phone_in_any_format(person, partner):
    # given: the person again in a partner's own tenant, by phone only (another format), and a stranger
    own = lead_ingest(payload={"phone": "01711234567", "first_name": "Anna"}, channel="manual", partner=partner).lead
    stranger = lead_ingest(payload={"email": "someone@else.de", "phone": "0151 99999999"}, channel="website").lead
    assert own.tenant_id != person.tenant_id

    expected = sorted([str(person.pk), str(own.pk)])
    # when / then: by phone in both formats, by email (the phone links the partner's lead), by either lead
    for query in (
        SubjectQuery("phone", "+49 171 1234567"),
        SubjectQuery("phone", "0171/123 45 67"),
        SubjectQuery("email", "Anna.Schulz@Beispiel-Mail.de"),
        SubjectQuery("lead", str(own.pk)),
        SubjectQuery("lead", person.public_id),
    ):
        subject = subject_resolve(query)
        assert subject.lead_ids == expected, query
    assert str(stranger.pk) not in subject.lead_ids
    assert subject.hashes["email"] == [email_index(EMAIL)]
    assert subject.hashes["phone"] == [phone_index(PHONE)]
    assert len(subject.hashes["facebook_lead_id"]) == 1


def test_merged_leads_are_found_from_either_side_of_the_merge(person, admin_user):
    # given: a second lead of the person under another address, merged by hand into the first
    other = lead_ingest(payload={"email": "anna@privat-mail.de", "first_name": "Anna"}, channel="website").lead
    lead_merge(survivor=person, others=[other], actor=admin_user)
    assert Lead.objects.get(pk=other.pk).merged_into_id == person.pk

    # then: the merged-away lead's old address finds both, and so does each lead id
    both = sorted([str(person.pk), str(other.pk)])
    assert subject_resolve(SubjectQuery("email", "anna@privat-mail.de")).lead_ids == both
    assert subject_resolve(SubjectQuery("lead", str(other.pk))).lead_ids == both
    assert subject_resolve(SubjectQuery("lead", str(person.pk))).lead_ids == both


def test_a_linkedin_response_id_finds_its_lead_and_bad_queries_are_clear(platform_org):
    lead = lead_ingest(payload={"email": "li@beispiel.de"}, channel="linkedin", idempotency_key="resp-1").lead

    subject = subject_resolve(SubjectQuery("linkedin_response_id", "resp-1"))
    assert subject.lead_ids == [str(lead.pk)]
    assert subject_resolve(SubjectQuery("email", "nobody@nowhere.de")).is_empty
    assert subject_resolve(SubjectQuery("linkedin_response_id", "unknown")).is_empty
    for value in ("00000000-0000-0000-0000-000000000000", "SOT-LEAD-AAAAAAAA", "kein-lead"):
        with pytest.raises(SubjectNotFound):
            subject_resolve(SubjectQuery("lead", value))
    with pytest.raises(ValueError, match="unknown subject query kind"):
        subject_resolve(SubjectQuery("name", "Anna"))


def test_every_query_of_the_resolver_can_use_an_index(person, partner):
    lead_ingest(payload={"phone": "01711234567"}, channel="manual", partner=partner)
    with CaptureQueriesContext(connection) as ctx:
        subject_resolve(SubjectQuery("email", EMAIL))
    assert len(ctx.captured_queries) <= 12
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # a plan that still scans has no index to use
        for query in ctx.captured_queries:
            cursor.execute("EXPLAIN " + query["sql"])
            plan = "\n".join(row[0] for row in cursor.fetchall())
            assert "Seq Scan" not in plan, (query["sql"], plan)


# --- leads ----------------------------------------------------------------------------------------


def test_the_leads_export_holds_everything_decrypted_and_nothing_after_erasure(person, admin_user):
    # given: a merged second lead, an activity with detail, a lead magnet with quiz results, an offer reason
    other = lead_ingest(payload={"email": "anna@privat-mail.de", "last_name": "Schulz-Wendland"}, channel="website")
    lead_merge(survivor=person, others=[other.lead], actor=admin_user)
    LeadActivity.objects.create(
        lead=person,
        activity_type="note",
        detail={"text": "Anna Schulz-Wendland ruft zurück"},
        occurred_at=timezone.now(),
    )
    LeadMagnet.objects.create(lead=person, magnet_type="quiz", name="Rendite-Quiz", quiz_results={"name": "Anna"})
    LeadAssignment.objects.create(
        lead=person,
        partner=PartnerFactory(),
        status="rejected",
        expires_at=timezone.now(),
        reason="Kennt Anna Schulz-Wendland privat",
    )
    subject = subject_resolve(SubjectQuery("lead", str(person.pk)))

    # when
    document = subject_leads_export(subject)

    # then: decrypted, every section
    rows = {row["id"]: row for row in document["leads"]}
    lead_row = rows[str(person.pk)]
    assert (lead_row["email"], lead_row["phone"], lead_row["last_name"]) == (EMAIL, "+491711234567", "Schulz-Wendland")
    assert lead_row["attributes"]["nachricht"].startswith("Bitte rufen")
    assert lead_row["tenant_name"] and lead_row["erased_at"] is None
    assert rows[str(other.lead.pk)]["merged_into_id"] == str(person.pk)
    assert {row["kind"] for row in document["identities"]} >= {"email", "phone", "facebook_lead_id"}
    assert all("value_hash" not in row for row in document["identities"])
    assert document["merges"][0]["changes"]["fields"]
    assert {row["activity_type"] for row in document["activities"]} >= {"form_submitted", "note"}
    assert document["verifications"] and document["enrichments"] and document["score_history"]
    assert document["lead_magnets"][0]["quiz_results"] == {"name": "Anna"}
    assert document["offers"][0]["reason"].startswith("Kennt Anna")
    json.dumps(document)  # JSON as it is
    assert traces_in(document)

    # when: erased
    counts = subject_leads_erase(subject, context())

    # then: no trace of the person, the rows stay as statistics; audit per lead without PII
    assert counts["leads"] == 2 and counts["identities"] >= 4 and counts["activities"] == 1 and counts["merges"] == 1
    after = subject_leads_export(subject)
    assert traces_in(after) == []
    assert after["identities"] == [] and after["verifications"] == []
    erased = Lead.objects.get(pk=person.pk)
    assert (erased.email, erased.email_hash, erased.phone_hash, erased.first_name, erased.attributes) == (
        "",
        "",
        "",
        "",
        {},
    )
    assert (erased.facebook_lead_id, erased.company_name, erased.referrer, erased.city) == ("", "", "", "")
    assert erased.erased_at is not None and erased.channel == "facebook" and erased.score == person.score
    assert erased.country == "DE" and erased.source == person.source
    audits = AuditEvent.objects.filter(event_type="lead.erased")
    assert sorted(audits.values_list("object_id", flat=True)) == sorted(subject.lead_ids)
    assert not traces_in(list(audits.values_list("payload", flat=True)))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT email, first_name, email_hash, attributes::text FROM leads_lead WHERE id = %s", [person.pk]
        )
        assert cursor.fetchone()[:3] == ("", "", "")

    # and a second run changes nothing
    assert set(subject_leads_erase(subject, context()).values()) == {0}
    assert AuditEvent.objects.filter(event_type="lead.erased").count() == 2


def test_export_of_five_leads_and_two_thousand_activities_is_a_few_queries(platform_org):
    # five leads of one person: the pool's and four partners' own (found by the phone), 400 activities each
    leads = [lead_ingest(payload={"email": EMAIL, "phone": "0151 20000000"}, channel="website").lead]
    for _n in range(4):
        leads.append(lead_ingest(payload={"phone": "0151 20000000"}, channel="manual", partner=PartnerFactory()).lead)
    now = timezone.now()
    LeadActivity.objects.bulk_create(
        LeadActivity(lead=lead, activity_type="page_view", detail={"url": f"/p/{i}"}, occurred_at=now)
        for lead in leads
        for i in range(400)
    )
    subject = subject_resolve(SubjectQuery("email", EMAIL))
    assert len(subject.lead_ids) == 5

    started = time.perf_counter()
    with CaptureQueriesContext(connection) as ctx:
        document = subject_leads_export(subject)
    elapsed = time.perf_counter() - started

    assert len(document["activities"]) == 2005
    assert len(ctx.captured_queries) <= 15
    assert elapsed < 2.0

    # and the erasure: one statement per table, whatever the number of rows
    started = time.perf_counter()
    with CaptureQueriesContext(connection) as ctx:
        counts = subject_leads_erase(subject, context())
    elapsed = time.perf_counter() - started
    assert counts["leads"] == 5 and counts["activities"] == 2000  # (the 5 form submissions carry no detail)
    assert len(ctx.captured_queries) <= 20
    assert elapsed < 2.0


# --- deals ----------------------------------------------------------------------------------------


def test_deals_export_decrypted_contacts_and_erasure_keeps_the_business_record(partner):
    lead = lead_ingest(payload=dict(PERSON), channel="manual", partner=partner).lead
    deal = deal_for(partner, lead=lead, stage="lost", value=250_000)
    assert deal.contact_email == EMAIL and deal.lost_reason == "zu teuer"
    subject = subject_of(lead)

    exported = subject_deals_export(subject)["deals"]
    assert exported[0]["contact_email"] == EMAIL and exported[0]["deal_value"] == "250000.00"
    assert [row["to_stage"] for row in exported[0]["stage_changes"]][-1] == "lost"

    counts = subject_deals_erase(subject, context())

    deal.refresh_from_db()
    assert counts == {"deals": 1, "stage_changes": 1}
    assert (deal.contact_name, deal.contact_email, deal.contact_phone, deal.company_name, deal.lost_reason) == (
        "",
        "",
        "",
        "",
        "",
    )
    assert deal.title == lead.public_id
    assert (deal.stage, deal.deal_value, deal.commission_split) == ("lost", 250_000, {"platform": "0", "partner": "1"})
    assert traces_in(subject_deals_export(subject)) == []
    assert subject_deals_erase(subject, context()) == {"deals": 0, "stage_changes": 0}


# --- webhooks -------------------------------------------------------------------------------------


def _delivery(provider: str, item: dict, *, dedup_key: str, lead: Lead | None = None) -> WebhookEvent:
    body = json.dumps({"entry": [item]})
    delivery = WebhookDelivery.objects.create(provider=provider, raw_body=body, body_size=len(body), item_count=1)
    return WebhookEvent.objects.create(
        provider=provider,
        event_type="leadgen",
        dedup_key=dedup_key,
        delivery=delivery,
        payload=json.dumps(item),
        status=WebhookEvent.Status.PROCESSED,
        lead=lead,
    )


def test_webhook_items_and_instagram_threads_are_exported_and_erased(person, admin_user):
    # given: the Facebook item that created the lead, one of a delivery merged into it, a LinkedIn withdrawal,
    # an Instagram thread, and another person's item
    merged = lead_ingest(payload={"email": EMAIL, "first_name": "Anna"}, channel="facebook", idempotency_key="fb-2")
    assert merged.merged and merged.lead.pk == person.pk
    own = _delivery("facebook", {"leadgen_id": "fb-lead-4711", "email": EMAIL}, dedup_key="fb-lead-4711", lead=person)
    second = _delivery("facebook", {"leadgen_id": "fb-2", "full_name": "Anna Schulz-Wendland"}, dedup_key="fb-2")
    foreign = _delivery("facebook", {"leadgen_id": "fb-9", "email": "other@x.de"}, dedup_key="fb-9")
    conversation = Conversation.objects.create(account_id="1784", igsid="99887766", lead=person)
    Message.objects.create(
        conversation=conversation, direction="in", mid="m_1", text="Hallo, Anna Schulz-Wendland hier"
    )
    Message.objects.create(
        conversation=conversation, direction="out", mid="m_2", text="Danke!", analysis={"intent": "x"}
    )
    dm = WebhookEvent.objects.create(
        provider=Provider.INSTAGRAM, event_type="message", dedup_key="message:m_1", payload='{"text": "Anna Schulz"}'
    )
    subject = subject_of(person)

    document = subject_webhooks_export(subject)

    keys = {item["dedup_key"] for item in document["webhook_items"]}
    assert keys == {"fb-lead-4711", "fb-2", "message:m_1"}
    assert {item["item"].get("email") for item in document["webhook_items"]} >= {EMAIL}
    thread = document["instagram_conversations"][0]
    assert thread["igsid"] == "99887766" and thread["messages"][0]["text"].startswith("Hallo")

    counts = subject_webhooks_erase(subject, context())

    assert counts == {"events": 3, "deliveries": 2, "messages": 2, "conversations": 1}
    for event in (own, second, dm):
        event.refresh_from_db()
        assert event.payload is None and event.status in ("processed", "received")
    assert WebhookDelivery.objects.get(pk=own.delivery_id).raw_body is None
    foreign.refresh_from_db()
    assert foreign.payload and WebhookDelivery.objects.get(pk=foreign.delivery_id).raw_body
    conversation.refresh_from_db()
    assert conversation.igsid == f"erased-{conversation.pk}" and conversation.lead_id == person.pk
    assert set(Message.objects.values_list("text", flat=True)) == {""}
    assert traces_in(subject_webhooks_export(subject)) == []
    assert set(subject_webhooks_erase(subject, context()).values()) == {0}


# --- accounts -------------------------------------------------------------------------------------


def test_notices_about_the_persons_offer_are_exported_and_neutralised(
    person, admin_user, django_capture_on_commit_callbacks
):
    partner = PartnerFactory()
    other_lead = lead_ingest(payload={"email": "other@x.de"}, channel="website").lead
    with django_capture_on_commit_callbacks(execute=True):
        offer_create(lead=person, partner=partner, actor=admin_user)
        offer_create(lead=other_lead, partner=partner, actor=admin_user)
    notices = Notification.objects.filter(recipient=partner)
    assert notices.count() == 2
    subject = subject_of(person)
    exporter = next(entry for entry in registry.subject_data() if entry.app_label == "accounts")

    exported = exporter.exporter(subject)["notifications"]
    assert [row["dedup_key"] for row in exported] == [f"offer:{person.offers.get().pk}:offered"]
    assert person.public_id in exported[0]["title"]

    assert exporter.eraser(subject, context()) == {"notifications": 1}

    notice = notices.get(dedup_key=exported[0]["dedup_key"])
    assert person.public_id not in notice.title and notice.body == ""
    assert other_lead.public_id in notices.exclude(pk=notice.pk).get().title  # someone else's stays
    assert exporter.eraser(subject, context()) == {"notifications": 0}


# --- all of it, through the erasure request ------------------------------------------------------


def test_subject_erase_runs_every_registered_eraser_and_leaves_tombstones(person, partner):
    lead_ingest(payload={"phone": "01711234567", "last_name": "Schulz-Wendland"}, channel="manual", partner=partner)
    labels = [entry.app_label for entry in registry.subject_data()]
    assert labels.index("accounts") < labels.index("webhooks") < labels.index("deals") < labels.index("leads")

    outcome = subject_erase(SubjectQuery("email", EMAIL), actor=None, reason="Anfrage per E-Mail")

    assert outcome.lead_count == 2 and not outcome.already_erased
    erasure = SubjectErasure.objects.get()
    assert erasure.status == "completed" and {"leads", "deals", "webhooks", "accounts"} <= set(erasure.steps)
    kinds = set(ErasureTombstone.objects.values_list("kind", flat=True))
    assert {"email", "phone", "facebook_lead_id"} <= kinds
    # after the erasure the person can no longer be found by their data: the request holds the leads
    document = subject_leads_export(Subject(query=SubjectQuery("lead", ""), lead_ids=erasure.lead_ids))
    assert len(document["leads"]) == 2 and traces_in(document) == []
    assert subject_export(SubjectQuery("email", EMAIL), actor=None, reason="Kontrolle")["leads"] == []
    assert subject_erase(SubjectQuery("lead", str(person.pk)), actor=None, reason="nochmal").already_erased


# --- the tombstone on arrival ---------------------------------------------------------------------


def test_a_person_erased_before_arrives_flagged_on_every_ingest_path(person, partner):
    subject_erase(SubjectQuery("email", EMAIL), actor=None, reason="Anfrage")
    erased_at = SubjectErasure.objects.get().created_at

    again = lead_ingest(payload={"email": EMAIL.upper()}, channel="website").lead
    by_phone = lead_ingest(payload={"phone": "0171 1234567"}, channel="manual", partner=partner).lead
    by_fb_id = lead_ingest(payload={"email": "neu@x.de"}, channel="facebook", idempotency_key="fb-lead-4711").lead
    stranger = lead_ingest(payload={"email": "fremd@x.de"}, channel="website").lead

    assert again.pk != person.pk  # not merged into the anonymous statistic
    for lead in (again, by_phone, by_fb_id):
        assert Lead.objects.get(pk=lead.pk).erased_before == erased_at
    assert Lead.objects.get(pk=stranger.pk).erased_before is None
    assert Lead.objects.get(pk=person.pk).erased_before is None


def test_an_import_flags_erased_persons_with_one_tombstone_query_per_batch(tmp_path, person):
    from django.core.management import call_command
    from django.test import TestCase

    subject_erase(SubjectQuery("lead", str(person.pk)), actor=None, reason="Anfrage")
    path = tmp_path / "leads.csv"
    rows = ["email;phone", f"{EMAIL};", "neu1@x.de;", "neu2@x.de;01711234567", "neu3@x.de;"]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")

    tombstone_queries = []

    def spy(execute, sql, params, many, context):
        if "compliance_erasuretombstone" in sql:
            tombstone_queries.append(sql)
        return execute(sql, params, many, context)

    # (the import resets Django's query log per batch: count at the cursor)
    with connection.execute_wrapper(spy), TestCase.captureOnCommitCallbacks(execute=True):
        call_command("import_leads", str(path), "--batch-size", "2", stdout=io.StringIO())

    assert len(tombstone_queries) == 2  # two batches, one query each
    flagged = {lead.email: lead.erased_before for lead in Lead.objects.filter(channel="import")}
    assert flagged[EMAIL] and flagged["neu2@x.de"] and flagged["neu1@x.de"] is None and flagged["neu3@x.de"] is None
    assert len(flagged) == 4


def test_retention_style_erasure_with_lead_ids_only(person):
    """The retention of inactive leads calls the erasers with lead ids and no hashes: they must suffice."""
    subject = Subject(query=SubjectQuery("lead", str(person.pk)), lead_ids=[str(person.pk)], hashes={})
    counts = subject_leads_erase(subject, context("retention"))
    assert counts["leads"] == 1 and not LeadIdentity.objects.filter(lead=person).exists()
    assert AuditEvent.objects.get(event_type="lead.erased").payload["reason"] == "retention"
    assert not ErasureTombstone.objects.exists()
    assert LeadMerge.objects.count() == 0 and PartnerDeal.objects.count() == 0


def test_lead_anonymize_is_the_same_eraser(person):
    from leads.services import lead_anonymize

    lead = lead_anonymize(lead=person, actor=None, reason="test")
    assert (lead.email, lead.last_name, lead.attributes, lead.erased_at is not None) == ("", "", {}, True)
    assert not LeadIdentity.objects.filter(lead=person).exists()
    assert lead_anonymize(lead=person, actor=None, reason="test").erased_at == lead.erased_at
    assert AuditEvent.objects.filter(event_type="lead.erased").count() == 1
