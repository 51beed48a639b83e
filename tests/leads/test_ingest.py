"""lead_ingest: normalization, identity-graph dedup, routing, and the no-identity error."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from compliance.blind_index import blind_index
from compliance.models import AuditEvent
from core.exceptions import DomainError
from leads.models import Lead, LeadActivity, LeadEnrichment, LeadIdentity, LeadMerge, LeadVerification
from leads.normalize import split_full_name
from leads.services import NoIdentityError, ingest_lead, lead_ingest
from tests.accounts.factories import PartnerFactory

pytestmark = pytest.mark.django_db

PAYLOAD = {
    "email": "  Max.Mustermann@Mueller-Bau.de ",
    "phone": "0171 1234567",
    "full_name": "Dr. Max von Mustermann",
    "job_title": "Geschäftsführer",
    "zip_code_answer": "80331",
    "attributes": {"budget": "300.000 €", "wann_kaufen": "in 3 Monaten"},
}


def test_new_lead_is_normalized_verified_enriched_and_scored(platform_org):
    # when
    result = lead_ingest(payload=PAYLOAD, channel="facebook", idempotency_key="9001")

    # then
    lead = Lead.objects.get(pk=result.lead.pk)
    assert result.created and not result.merged and not result.duplicate
    assert (lead.tenant, lead.source, lead.channel) == (platform_org, "zone1_pool", "facebook")
    assert lead.email == "max.mustermann@mueller-bau.de"
    assert lead.phone == "+491711234567"
    assert (lead.first_name, lead.last_name) == ("Max", "von Mustermann")
    assert lead.attributes["title"] == "Dr."
    assert lead.attributes["zip_code_answer"] == "80331"
    assert lead.facebook_lead_id == "9001"
    assert lead.company_domain == "mueller-bau.de"
    assert lead.company_name == "Mueller Bau"
    assert lead.country == "DE"
    kinds = set(LeadIdentity.objects.filter(lead=lead).values_list("kind", flat=True))
    assert kinds == {"email", "phone", "facebook_lead_id"}
    verification = LeadVerification.objects.get(lead=lead)
    assert verification.email_valid and verification.phone_valid and verification.phone_type == "mobile"
    assert LeadEnrichment.objects.get(lead=lead).provider == "offline"
    assert list(LeadActivity.objects.filter(lead=lead).values_list("activity_type", flat=True)) == ["form_submitted"]
    codes = {item["code"] for item in lead.score_breakdown["items"]}
    assert {"decision_maker_role", "email_verified", "form_budget_given", "form_timeframe_short"} <= codes
    assert lead.score == lead.score_breakdown["total"] > 0
    history = lead.score_history.get()
    assert history.old_score == 0 and history.new_score == lead.score
    assert "Entscheider-Rolle (+20)" in history.reason
    assert AuditEvent.objects.filter(event_type="lead.created", object_id=str(lead.pk)).count() == 1


def test_spec_name_ingest_lead_is_the_same_service():
    assert ingest_lead is lead_ingest


def test_same_idempotency_key_is_a_duplicate_and_changes_nothing(platform_org):
    first = lead_ingest(payload=PAYLOAD, channel="facebook", idempotency_key="9001")

    again = lead_ingest(payload={**PAYLOAD, "city": "München"}, channel="facebook", idempotency_key="9001")

    assert again.duplicate and not again.created and not again.merged
    assert again.lead.pk == first.lead.pk
    assert Lead.objects.count() == 1
    assert LeadActivity.objects.count() == 1
    assert Lead.objects.get().city == ""


def test_same_person_from_another_channel_merges_with_survivorship(platform_org):
    first = lead_ingest(
        payload={"email": "anna@example.org", "first_name": "Anna", "company_name": "Alt GmbH"},
        channel="website",
    )

    second = lead_ingest(
        payload={"email": "ANNA@example.org", "last_name": "Berg", "company_name": "Neu AG", "city": "Wien"},
        channel="linkedin",
        idempotency_key="urn:li:leadFormResponse:1",
    )

    assert second.merged and second.lead.pk == first.lead.pk
    lead = Lead.objects.get(pk=first.lead.pk)
    assert (lead.first_name, lead.last_name, lead.city) == ("Anna", "Berg", "Wien")
    assert lead.company_name == "Alt GmbH"  # the survivor's value stays
    entry = LeadMerge.objects.get(survivor=lead)
    journal = entry.change_data
    assert journal["fields"]["last_name"] == ["", "Berg"]
    assert {"field": "company_name", "value": "Neu AG"}.items() <= journal["alternatives"][0].items()
    with connection.cursor() as cursor:
        cursor.execute("SELECT changes FROM leads_leadmerge WHERE id = %s", [entry.pk])
        stored = cursor.fetchone()[0]
    assert stored.startswith("v1:") and "Neu AG" not in stored  # PII in the journal is encrypted
    assert LeadIdentity.objects.filter(lead=lead, kind="linkedin_response_id").exists()
    assert lead.activities.count() == 2
    assert AuditEvent.objects.filter(event_type="lead.merged", object_id=str(lead.pk)).exists()


def test_phone_in_another_format_matches(platform_org):
    first = lead_ingest(payload={"phone": "+49 171 1234567"}, channel="instagram", idempotency_key="igsid-1")
    second = lead_ingest(payload={"phone": "0049171/1234567", "email": "x@y.de"}, channel="website")
    assert second.merged and second.lead.pk == first.lead.pk


def test_an_identity_bridging_two_leads_merges_them_into_the_oldest(platform_org):
    by_email = lead_ingest(payload={"email": "a@firma.de"}, channel="website").lead
    by_phone = lead_ingest(payload={"phone": "+4930123456"}, channel="website").lead

    result = lead_ingest(payload={"email": "a@firma.de", "phone": "030 123456"}, channel="manual")

    assert result.lead.pk == by_email.pk
    by_phone.refresh_from_db()
    assert by_phone.merged_into_id == by_email.pk
    assert set(LeadIdentity.objects.values_list("lead_id", flat=True)) == {by_email.pk}
    assert Lead.objects.filter(merged_into__isnull=True).count() == 1


def test_dedup_is_per_tenant(platform_org):
    partner = PartnerFactory()
    pool = lead_ingest(payload={"email": "same@person.de"}, channel="website").lead
    own = lead_ingest(payload={"email": "same@person.de"}, channel="facebook", partner=partner).lead
    assert pool.pk != own.pk
    assert (own.tenant_id, own.source, own.assigned_partner_id) == (partner.organization_id, "meta_self", partner.pk)


def test_no_identity_is_a_clear_error_and_keeps_invalid_values():
    with pytest.raises(NoIdentityError) as exc:
        lead_ingest(payload={"email": "not-an-email", "phone": "12", "full_name": "Nur Name"}, channel="website")
    assert exc.value.code == "no_identity"
    assert exc.value.status_code == 422
    assert set(exc.value.fields["_invalid"]) == {"email", "phone"}
    assert Lead.objects.count() == 0


def test_invalid_values_are_kept_in_attributes(platform_org):
    lead = lead_ingest(
        payload={"email": "ok@example.com", "phone": "abc", "referrer": "javascript:alert(1)", "country": "Germany"},
        channel="website",
    ).lead
    invalid = Lead.objects.get(pk=lead.pk).attributes["_invalid"]
    assert invalid["phone"]["value"] == "abc"
    assert invalid["referrer"]["value"] == "javascript:alert(1)"
    assert invalid["country"]["value"] == "Germany"


@pytest.mark.parametrize(
    ("full_name", "expected"),
    [
        ("Max Mustermann", ("Max", "Mustermann", "")),
        ("Dr. Anna von der Heide", ("Anna", "von der Heide", "Dr.")),
        ("Prof. Dr. Hans Müller-Lüdenscheidt", ("Hans", "Müller-Lüdenscheidt", "Prof. Dr.")),
        ("Frau Dr. med. Eva Klein", ("Eva", "Klein", "Dr. med.")),
        ("Herr Karl-Heinz Schmidt", ("Karl-Heinz", "Schmidt", "")),
        ("Anna Maria Schmidt", ("Anna Maria", "Schmidt", "")),
        ("Maria de la Cruz", ("Maria", "de la Cruz", "")),
        ("Heide, Anna", ("Anna", "Heide", "")),
        ("Cher", ("Cher", "", "")),
    ],
)
def test_full_name_split_handles_titles_salutations_and_double_last_names(full_name, expected):
    assert split_full_name(full_name) == expected


def test_a_split_name_and_its_title_land_on_the_lead(platform_org):
    lead = lead_ingest(
        payload={"email": "h@x.de", "full_name": "Prof. Dr. Hans Müller-Lüdenscheidt"}, channel="website"
    )
    lead = Lead.objects.get(pk=lead.lead.pk)
    assert (lead.first_name, lead.last_name, lead.attributes["title"]) == ("Hans", "Müller-Lüdenscheidt", "Prof. Dr.")


@pytest.mark.parametrize(
    "payload",
    [
        {"email": "test@meta.com"},
        {"email": "a@b.de", "full_name": "<test lead: dummy data for full_name>"},
        {"email": "a@b.de", "attributes": {"q": "<test lead: dummy data for q>"}},
    ],
)
def test_placeholder_and_meta_test_leads_are_flagged(platform_org, payload):
    assert lead_ingest(payload=payload, channel="facebook", idempotency_key="1").lead.is_test


def test_disposable_and_free_mail_flags(platform_org):
    lead = lead_ingest(payload={"email": "x@mailinator.com"}, channel="website").lead
    verification = LeadVerification.objects.get(lead=lead)
    assert verification.email_disposable and not verification.email_free
    assert "email_disposable" in {i["code"] for i in Lead.objects.get(pk=lead.pk).score_breakdown["items"]}
    lead = lead_ingest(payload={"email": "x@gmx.de"}, channel="website").lead
    assert LeadVerification.objects.get(lead=lead).email_free
    assert Lead.objects.get(pk=lead.pk).company_domain == ""


def test_unknown_channel_and_source_are_refused():
    with pytest.raises(DomainError):
        lead_ingest(payload={"email": "a@b.de"}, channel="fax")
    with pytest.raises(DomainError):
        lead_ingest(payload={"email": "a@b.de"}, channel="website", source="nowhere")


def test_identity_hashes_are_blind_indexes(platform_org):
    lead = lead_ingest(payload={"email": "hash@me.de"}, channel="website").lead
    identity = LeadIdentity.objects.get(lead=lead, kind="email")
    assert identity.value_hash == blind_index("email", "hash@me.de") == Lead.objects.get(pk=lead.pk).email_hash


@pytest.mark.django_db(transaction=True)
def test_twenty_simultaneous_deliveries_of_one_person_end_as_one_lead(platform_org):
    # given: 20 threads, each with its own database connection, released at the same moment
    barrier = threading.Barrier(20)
    results, errors = [], []

    def deliver(n: int) -> None:
        try:
            barrier.wait(timeout=10)
            payload = {"email": "race@example.com", "phone": "+49 171 5550000", "city": f"Stadt {n}"}
            results.append(lead_ingest(payload=payload, channel="website"))
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver, args=(n,)) for n in range(20)]
    # when
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    # then
    assert errors == []
    assert Lead.objects.count() == 1
    assert sum(r.created for r in results) == 1
    assert sum(r.merged for r in results) == 19
    assert LeadIdentity.objects.count() == 2
    assert LeadActivity.objects.count() == 20


def test_an_accepted_pool_lead_dedups_in_the_partners_tenant_and_in_the_pool(platform_org, admin_user):
    from leads.services import offer_accept, offer_create

    partner = PartnerFactory()
    lead = lead_ingest(payload={"email": "accepted@kunde.de"}, channel="website").lead
    offer_accept(offer=offer_create(lead=lead, partner=partner, actor=admin_user), actor=partner)

    own = lead_ingest(payload={"email": "accepted@kunde.de", "city": "Linz"}, channel="facebook", partner=partner)
    pool = lead_ingest(payload={"email": "ACCEPTED@kunde.de", "phone": "+43 660 1112223"}, channel="linkedin")

    assert own.merged and pool.merged
    assert own.lead.pk == pool.lead.pk == lead.pk
    assert Lead.objects.count() == 1
    assert set(LeadIdentity.objects.filter(lead=lead, kind="email").values_list("tenant_id", flat=True)) == {
        platform_org.pk,
        partner.organization_id,
    }


def test_the_rows_of_a_new_lead_are_built_without_a_query(platform_org, django_assert_num_queries):
    """``lead_rows_build`` is the one builder of ``lead_ingest`` and the import: pure, no database."""
    from django.utils import timezone

    from leads.normalize import normalize_payload
    from leads.services.lead_rows import lead_rows_build

    norm = normalize_payload(PAYLOAD, channel="facebook", idempotency_key="9002")
    with django_assert_num_queries(0):
        built = lead_rows_build(
            norm=norm, tenant=platform_org, channel="facebook", source="zone1_pool", occurred_at=timezone.now()
        )
    lead = built.lead
    assert lead.pk is not None and lead.public_id.startswith("SOT-LEAD-") and lead.tenant == platform_org
    assert (lead.company_domain, lead.company_name) == ("mueller-bau.de", "Mueller Bau")  # the offline guess
    assert lead.email_hash == blind_index("email", lead.email) and lead.phone_hash == blind_index("phone", lead.phone)
    assert built.identities == norm.identities and built.verification.lead is lead
    assert built.audit_event.payload == {
        "channel": "facebook",
        "source": "zone1_pool",
        "public_id": lead.public_id,
        "is_test": False,
    }
    assert built.company().domain == "mueller-bau.de"
