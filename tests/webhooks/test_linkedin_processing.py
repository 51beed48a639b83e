"""LinkedIn leads end to end: recorded notifications through the real URL, the REST stub, mapping, ICP, errors,
DELETED erasure, backfill and the connect command."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlparse

import pytest
import requests
from django.core.management import CommandError, call_command
from django.db import connection as db
from django.utils import timezone, translation

from accounts.models import Notification
from compliance.models import AuditEvent, ConsentRecord, ErasureTombstone, SubjectErasure
from leads.models import IcpProfile, Lead, LeadIdentity
from tests.accounts.factories import PartnerFactory
from tests.webhooks.conftest import fixture_bytes, fixture_json
from tests.webhooks.linkedin_support import (
    API,
    DE_OWNER,
    DE_RESPONSE_ID,
    OAUTH,
    OWNER,
    RESPONSE_ID,
    VECTOR,
    VERSION,
    LinkedInConnectionFactory,
    apply_settings,
    compact,
    form_url,
    lead_response,
    li_sign,
    notification,
    response_url,
    stub_error,
    stub_lead,
)
from webhooks.models import LinkedInConnection, WebhookEvent
from webhooks.services import linkedin_lead_ingest, webhook_events_sweep

pytestmark = pytest.mark.django_db

Status = WebhookEvent.Status
PAGE_IDS = (
    "0b6f5c1e-2d3a-4b5c-8d9e-1f2a3b4c5d6e-1",
    "1c7a6d2f-3e4b-4c6d-9e0f-2a3b4c5d6e7f-1",
    "2d8b7e3a-4f5c-4d7e-8f1a-3b4c5d6e7f80-1",
)


@pytest.fixture(autouse=True)
def linkedin_settings(settings):
    apply_settings(settings)


@pytest.fixture
def api():
    import responses

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def connection(db):
    return LinkedInConnectionFactory(owner_urn=OWNER, name="Highlander Ads", access_token="AQV_stored_token")


@pytest.fixture
def deliver(client, django_capture_on_commit_callbacks):
    """POST a signed notification to /webhooks/linkedin/ and run what the commit enqueues (Celery is eager)."""

    def run(body: bytes):
        with django_capture_on_commit_callbacks(execute=True):
            response = client.generic(
                "POST", "/webhooks/linkedin/", body, content_type="application/json", HTTP_X_LI_SIGNATURE=li_sign(body)
            )
        assert response.status_code == 200, response.content
        return response

    return run


def rest_calls(api, part: str = "/rest/") -> list:
    return [call for call in api.calls if part in call.request.url]


def bearer(token: str):
    from responses import matchers

    return matchers.header_matcher({"Authorization": f"Bearer {token}"})


# --- Fetch and mapping ---------------------------------------------------------------------------


def test_created_fetches_the_response_with_the_linkedin_headers_and_maps_every_answer(connection, api, deliver):
    stub_lead(api)
    deliver(fixture_bytes(VECTOR))
    event = WebhookEvent.objects.get()
    assert (event.status, event.attempts) == (Status.PROCESSED, 1)
    fetch, form = (call.request for call in rest_calls(api))
    assert fetch.url == f"{API}/rest/leadFormResponses/{RESPONSE_ID}" and form.url == form_url(7234246)
    for request in (fetch, form):
        assert request.headers["Authorization"] == "Bearer AQV_stored_token"
        assert request.headers["LinkedIn-Version"] == VERSION
        assert request.headers["X-Restli-Protocol-Version"] == "2.0.0"

    lead = event.lead
    assert (lead.channel, lead.source, lead.linkedin_response_id) == ("linkedin", "zone1_pool", RESPONSE_ID)
    # predefinedField → lead fields; EMAIL wins over WORK_EMAIL, which is kept.
    assert (lead.email, lead.first_name, lead.last_name, lead.job_title) == (
        "kevjohonson@email.com",
        "Kevin",
        "Johonson",
        "Senior Engineer",
    )
    attributes = lead.attributes
    assert attributes["work_email"] == "kjohonson@email.com"
    assert attributes["job_function"] == "Ingeniería"
    # Custom questions by their question text; multiple-choice index 0 → the option's text.
    assert attributes["Cuál es tu color favorito"] == "Rojo"
    assert attributes["¿Dónde creciste?"] == "Mexico"
    assert attributes["hidden_fields"] == {"hidden_field": "abc678", "campo_escondido": "def789"}
    meta = attributes[f"_linkedin:{RESPONSE_ID}"]
    assert (
        meta["form_id"] == "7234246"
        and meta["form_version"] == "1"
        and meta["form_name"] == "Form with written spanish"
    )
    assert meta["campaign"] == "urn:li:sponsoredCampaign:198356826" and meta["owner"] == OWNER
    assert lead.is_test is True  # testLead
    assert (lead.utm_source, lead.source_campaign) == ("linkedin", "urn:li:sponsoredCampaign:198356826")
    assert lead.last_activity_at == datetime.fromtimestamp(1689894599.288, tz=UTC)  # submittedAt
    assert LeadIdentity.objects.filter(lead=lead, kind="linkedin_response_id").exists()

    consent = ConsentRecord.objects.get(subject_lead=lead)
    assert (consent.code, consent.version) == (ConsentRecord.Code.FORM_DISCLAIMER, "li-form-7234246-v1")
    assert consent.text == "marque mi casilla de verificación personalizada!"
    assert consent.evidence["response_id"] == RESPONSE_ID and consent.evidence["consent_id"] == "0"
    connection.refresh_from_db()
    assert connection.last_success_at is not None


def test_the_form_definition_is_cached_per_form_version(connection, api, deliver):
    stub_lead(api)
    stub_lead(api, "second-response-1", form=False, formResponse={"answers": []})
    deliver(fixture_bytes(VECTOR))
    deliver(compact(notification(response_id="second-response-1")))
    assert WebhookEvent.objects.filter(status=Status.PROCESSED).count() == 2
    assert len(rest_calls(api, "/rest/leadForms/")) == 1


def test_a_form_projected_into_the_response_is_used_without_fetching_the_form(connection, api, deliver):
    # A response fetched with a form projection carries the definition: no /rest/leadForms call.
    body = lead_response(form=fixture_json("linkedin/lead_form_7234246.json"))
    api.get(response_url(), json=body)
    deliver(fixture_bytes(VECTOR))
    event = WebhookEvent.objects.get()
    assert event.status == Status.PROCESSED, event.last_error
    assert rest_calls(api, "/rest/leadForms/") == []
    assert event.lead.attributes["Cuál es tu color favorito"] == "Rojo"  # option index mapped by the projection
    assert event.lead.attributes[f"_linkedin:{RESPONSE_ID}"]["form_name"] == "Form with written spanish"


def test_member_data_feeds_enrichment_icp_and_the_p_score(api, deliver, platform_org):
    IcpProfile.objects.create(
        tenant=platform_org, industries=["logistik"], size_bands=["201+"], roles=["geschäftsführer"], regions=["de"]
    )
    LinkedInConnectionFactory(owner_urn=DE_OWNER)
    api.get(response_url(DE_RESPONSE_ID), body=fixture_bytes("linkedin/lead_form_response_de.json"))
    api.get(form_url(8112233), body=fixture_bytes("linkedin/lead_form_8112233_de.json"))
    deliver(compact(notification(response_id=DE_RESPONSE_ID, owner=DE_OWNER, form="8112233,2")))

    lead = WebhookEvent.objects.get().lead
    assert (lead.email, lead.phone) == ("anna.berger@nordlicht-logistik.de", "+4915123456789")
    assert (lead.job_title, lead.company_name, lead.industry) == (
        "Geschäftsführerin",
        "Nordlicht Logistik GmbH",
        "Logistik",
    )
    assert (lead.company_size_band, lead.country, lead.is_test) == ("201-500", "DE", False)
    assert lead.attributes["seniority"] == "CXO"
    assert lead.attributes["Wann möchten Sie investieren?"] == "Sofort"
    assert lead.attributes["Welche Themen interessieren Sie?"] == ["Kapitalanlage", "Steuern"]  # multi-select
    assert lead.utm_campaign == "q1-kapitalanlage"  # a hidden UTM field
    assert lead.attributes["hidden_fields"]["crm_source"] == "li-q1"

    codes = {item["code"] for item in lead.score_breakdown["items"]}
    assert {
        "decision_maker_role",
        "company_size_large",
        "icp_industry_match",
        "icp_size_match",
        "icp_role_match",
        "icp_region_match",
        "form_budget_given",
        "form_timeframe_short",
    } <= codes
    assert lead.p_score >= 80
    enrichment = lead.enrichments.get()
    assert enrichment.icp_match_score == 100
    assert enrichment.company_data["seniority"] == "c_level" and enrichment.company_data["decision_maker"] is True
    # Only the accepted consent is recorded, with its German text.
    assert list(ConsentRecord.objects.filter(subject_lead=lead).values_list("text", "version")) == [
        ("Ich bin einverstanden, dass mich die Plattform zu meiner Anfrage kontaktiert.", "li-form-8112233-v2")
    ]


def test_a_partner_ad_account_routes_its_leads_to_the_partner(api, deliver):
    partner = PartnerFactory()
    LinkedInConnectionFactory(owner_urn=OWNER, partner=partner, organization=partner.organization)
    stub_lead(api)
    deliver(fixture_bytes(VECTOR))
    lead = WebhookEvent.objects.get().lead
    assert lead.assigned_partner == partner and lead.tenant == partner.organization


def test_an_answer_to_an_unknown_question_is_kept(connection, api, deliver):
    body = lead_response()
    body["formResponse"]["answers"].append(
        {"answerDetails": {"textQuestionAnswer": {"answer": "late question"}}, "questionId": 907234246}
    )
    api.get(response_url(), json=body)
    api.get(form_url(), json=fixture_json("linkedin/lead_form_7234246.json"))
    deliver(fixture_bytes(VECTOR))
    assert WebhookEvent.objects.get().lead.attributes["question_907234246"] == "late question"


# --- Error classes ---------------------------------------------------------------------------------


def test_a_revoked_token_breaks_the_connection_notifies_staff_once_and_does_not_retry(
    connection, api, deliver, admin_user, ops_user
):
    stub_error(api, response_url(), "error_401_revoked.json", 401)
    stub_error(api, response_url("second-response-1"), "error_401_revoked.json", 401)
    deliver(fixture_bytes(VECTOR))
    deliver(compact(notification(response_id="second-response-1")))
    events = list(WebhookEvent.objects.order_by("id"))
    assert [(e.status, e.error_code) for e in events] == [(Status.FAILED, "token_invalid")] * 2
    assert all(e.next_attempt_at is None for e in events)
    assert "REVOKED_ACCESS_TOKEN (65601)" in events[0].last_error and "AQV_stored" not in events[0].last_error
    assert len(rest_calls(api)) == 1  # the second event saw the broken connection
    connection.refresh_from_db()
    assert connection.status == LinkedInConnection.Status.BROKEN and connection.broken_at is not None
    notices = Notification.objects.filter(kind=Notification.Kind.CONNECTION)
    assert sorted(n.recipient_id for n in notices) == sorted([admin_user.pk, ops_user.pk])
    assert notices[0].url == f"/admin/webhooks/linkedinconnection/{connection.pk}/change/"
    assert AuditEvent.objects.filter(event_type="linkedin_connection.broken").count() == 1


def test_an_expired_token_is_refreshed_and_the_call_retried(connection, api, deliver):
    connection.refresh_token = "AQX_refresh"
    connection.save()
    stub_error(api, response_url(), "error_401_expired.json", 401, match=[bearer("AQV_stored_token")])
    api.get(response_url(), json=lead_response(), match=[bearer("AQV_access_token_refreshed")])
    api.get(form_url(), json=fixture_json("linkedin/lead_form_7234246.json"))
    api.post(f"{OAUTH}/accessToken", body=fixture_bytes("linkedin/oauth_token_refreshed.json"))
    deliver(fixture_bytes(VECTOR))

    event = WebhookEvent.objects.get()
    assert event.status == Status.PROCESSED and event.lead.email == "kevjohonson@email.com"
    (refresh,) = rest_calls(api, "/accessToken")
    assert parse_qs(refresh.request.body) == {
        "grant_type": ["refresh_token"],
        "refresh_token": ["AQX_refresh"],
        "client_id": ["test_client_id"],
        "client_secret": ["test_client_secret"],
    }
    connection.refresh_from_db()
    assert connection.access_token == "AQV_access_token_refreshed" and connection.status == "ok"
    assert connection.access_token_expires_at > timezone.now() + timedelta(days=59)
    assert AuditEvent.objects.filter(event_type="linkedin_connection.token_refreshed").count() == 1


def test_a_stored_expiry_in_the_past_refreshes_before_calling(connection, api, deliver):
    connection.refresh_token = "AQX_refresh"
    connection.access_token_expires_at = timezone.now() - timedelta(hours=1)
    connection.save()
    api.post(f"{OAUTH}/accessToken", body=fixture_bytes("linkedin/oauth_token_refreshed.json"))
    api.get(response_url(), json=lead_response(), match=[bearer("AQV_access_token_refreshed")])
    api.get(form_url(), json=fixture_json("linkedin/lead_form_7234246.json"))
    deliver(fixture_bytes(VECTOR))
    assert WebhookEvent.objects.get().status == Status.PROCESSED
    assert len(rest_calls(api, "/leadFormResponses/")) == 1


def test_a_token_still_refused_after_a_refresh_breaks_without_a_second_refresh(connection, api, deliver):
    connection.refresh_token = "AQX_refresh"
    connection.access_token_expires_at = timezone.now() - timedelta(hours=1)
    connection.save()
    api.post(f"{OAUTH}/accessToken", body=fixture_bytes("linkedin/oauth_token_refreshed.json"))
    stub_error(api, response_url(), "error_401_revoked.json", 401)
    deliver(fixture_bytes(VECTOR))
    assert WebhookEvent.objects.get().error_code == "token_invalid"
    assert len(rest_calls(api, "/accessToken")) == 1 and len(rest_calls(api, "/leadFormResponses/")) == 1
    assert LinkedInConnection.objects.get().is_broken


def test_an_expired_token_without_refresh_token_breaks_the_connection_without_calling(connection, api, deliver):
    connection.access_token_expires_at = timezone.now() - timedelta(days=1)
    connection.save()
    deliver(fixture_bytes(VECTOR))
    event = WebhookEvent.objects.get()
    assert (event.status, event.error_code) == (Status.FAILED, "token_invalid")
    assert not api.calls
    assert LinkedInConnection.objects.get().is_broken


def test_a_refused_refresh_breaks_the_connection(connection, api, deliver, admin_user):
    connection.refresh_token = "AQX_revoked"
    connection.save()
    stub_error(api, response_url(), "error_401_invalid.json", 401)
    api.post(f"{OAUTH}/accessToken", body=fixture_bytes("linkedin/oauth_error_invalid_grant.json"), status=400)
    deliver(fixture_bytes(VECTOR))
    event = WebhookEvent.objects.get()
    assert (event.status, event.error_code) == (Status.FAILED, "token_invalid")
    assert "invalid_grant" in event.last_error
    assert LinkedInConnection.objects.get().is_broken
    assert Notification.objects.filter(recipient=admin_user, kind=Notification.Kind.CONNECTION).count() == 1


@pytest.mark.parametrize(("headers", "at_least"), [({}, 300), ({"Retry-After": "900"}, 900)])
def test_throttling_is_retried_later_and_the_connection_stays_ok(connection, api, deliver, headers, at_least):
    stub_error(api, response_url(), "error_429.json", 429, headers=headers)
    before = timezone.now()
    deliver(fixture_bytes(VECTOR))
    event = WebhookEvent.objects.get()
    assert (event.status, event.error_code, event.attempts) == (Status.RECEIVED, "retrying", 1)
    assert event.next_attempt_at >= before + timedelta(seconds=at_least)
    connection.refresh_from_db()
    assert connection.status == "ok" and "TOO_MANY_REQUESTS" in connection.last_error
    assert not Notification.objects.exists()


@pytest.mark.parametrize(
    "failure",
    [
        {"body": requests.Timeout("read timed out")},
        {"body": requests.ConnectionError("connection reset")},
        {"status": 502, "body": "<html>Bad Gateway</html>"},
        {"status": 500, "json": {"status": 500, "message": "Internal Server Error"}},
    ],
    ids=["timeout", "connection-error", "502", "500"],
)
def test_timeouts_and_5xx_are_retried(connection, api, deliver, failure):
    api.get(response_url(), **failure)
    deliver(fixture_bytes(VECTOR))
    event = WebhookEvent.objects.get()
    assert (event.status, event.error_code) == (Status.RECEIVED, "retrying")
    assert LinkedInConnection.objects.get().status == "ok"


def test_a_deferred_event_is_processed_by_the_sweeper_once_linkedin_recovers(connection, api, deliver):
    api.get(response_url(), status=503, body="unavailable")
    deliver(fixture_bytes(VECTOR))
    event = WebhookEvent.objects.get()
    api.replace("GET", response_url(), json=lead_response())
    api.get(form_url(), json=fixture_json("linkedin/lead_form_7234246.json"))
    webhook_events_sweep(now=event.next_attempt_at + timedelta(seconds=1))
    event.refresh_from_db()
    assert (event.status, event.attempts) == (Status.PROCESSED, 2)


@pytest.mark.parametrize("url", [response_url(), form_url()], ids=["response", "form"])
def test_other_4xx_fails_the_event_with_the_linkedin_error(connection, api, deliver, url):
    if url == form_url():
        api.get(response_url(), json=lead_response())
    stub_error(api, url, "error_403_access_denied.json", 403)
    deliver(fixture_bytes(VECTOR))
    event = WebhookEvent.objects.get()
    assert (event.status, event.error_code) == (Status.FAILED, "linkedin_error")
    assert "HTTP 403, ACCESS_DENIED (100): Not enough permissions" in event.last_error
    assert LinkedInConnection.objects.get().status == "ok"


def test_an_unconnected_owner_fails_and_is_replayed_when_it_is_connected(
    api, deliver, django_capture_on_commit_callbacks
):
    deliver(fixture_bytes(VECTOR))
    event = WebhookEvent.objects.get()
    assert (event.status, event.error_code) == (Status.FAILED, "no_connection")
    stub_lead(api)
    with django_capture_on_commit_callbacks(execute=True):
        call_command(
            "connect_linkedin", "--owner", OWNER, "--access-token", "AQV_new", "--no-verify", stdout=io.StringIO()
        )
    event.refresh_from_db()
    assert event.status == Status.PROCESSED and event.lead.email == "kevjohonson@email.com"


# --- DELETED ---------------------------------------------------------------------------------------


def test_deleted_erases_the_person_through_an_erasure_request_and_keeps_the_audit(connection, api, deliver):
    stub_lead(api)
    deliver(fixture_bytes(VECTOR))
    lead = Lead.objects.get()
    assert LeadIdentity.objects.filter(lead=lead, kind="email").exists()

    deliver(compact(notification("DELETED")))
    deleted = WebhookEvent.objects.get(event_type="lead_deleted")
    assert (deleted.status, deleted.lead_id) == (Status.PROCESSED, lead.pk)
    # a completed erasure request (Art. 17) with its reason, the tombstones of the person's identities
    erasure = SubjectErasure.objects.get()
    assert (erasure.status, erasure.query_kind, erasure.lead_ids) == (
        "completed",
        "linkedin_response_id",
        [str(lead.pk)],
    )
    assert erasure.reason == "LinkedIn: Lead-Formular-Antwort zurückgezogen" and erasure.requested_by is None
    assert {"email", "linkedin_response_id"} <= set(ErasureTombstone.objects.values_list("kind", flat=True))
    lead.refresh_from_db()
    assert (lead.email, lead.phone, lead.first_name, lead.last_name, lead.email_hash) == ("", "", "", "", "")
    assert (lead.attributes, lead.job_title, lead.linkedin_response_id) == ({}, "", "")
    assert lead.is_test is True and lead.erased_at is not None  # an anonymous statistic stays
    assert not LeadIdentity.objects.filter(lead=lead).exists()
    assert not lead.verifications.exists()
    erased = AuditEvent.objects.get(event_type="lead.erased", object_id=str(lead.pk))
    assert erased.payload == {"reason": "linkedin_deleted", "erasure": str(erasure.pk)}
    assert AuditEvent.objects.get(event_type="subject.erased").payload["reason_code"] == "linkedin_deleted"
    assert AuditEvent.objects.filter(event_type="lead.created", object_id=str(lead.pk)).exists()
    with db.cursor() as cursor:
        cursor.execute("SELECT email, first_name FROM leads_lead WHERE id = %s", [lead.pk])
        assert cursor.fetchone() == ("", "")
    # the ledger keeps the items' keys and statuses, not what they carried
    created = WebhookEvent.objects.get(event_type="lead_created")
    assert (created.status, created.payload, deleted.payload) == (Status.PROCESSED, None, None)

    # The same notifications delivered again are duplicates: nothing is created or erased again.
    deliver(fixture_bytes(VECTOR))
    deliver(compact(notification("DELETED")))
    assert Lead.objects.count() == 1 and SubjectErasure.objects.count() == 1
    assert WebhookEvent.objects.filter(duplicates=1).count() == 2
    # A lead arriving for the person by another path is flagged, not silently the person again.
    again = linkedin_lead_ingest(
        connection=connection,
        response=lead_response(),
        form=fixture_json("linkedin/lead_form_7234246.json"),
        response_id=RESPONSE_ID,
    )
    assert again.pk != lead.pk and again.erased_before == erasure.created_at


def test_deleted_before_created_was_processed_means_the_lead_is_never_created(connection, api, deliver):
    deliver(compact(notification("DELETED")))
    stub_lead(api)
    deliver(fixture_bytes(VECTOR))
    created = WebhookEvent.objects.get(event_type="lead_created")
    assert (created.status, created.error_code) == (Status.IGNORED, "withdrawn")
    assert not api.calls and not Lead.objects.exists()


def test_deleted_also_scrubs_the_answers_a_backfill_stored_in_the_ledger(connection, api, deliver):
    api.get(
        f"{API}/rest/leadFormResponses",
        json={"paging": {"start": 0, "count": 10, "total": 1}, "elements": [lead_response()]},
    )
    api.get(form_url(), json=fixture_json("linkedin/lead_form_7234246.json"))
    call_command("backfill_linkedin_leads", "--owner", OWNER, stdout=io.StringIO())
    assert "formResponse" in json.dumps(WebhookEvent.objects.get().item)
    deliver(compact(notification("DELETED")))
    backfilled = WebhookEvent.objects.get(event_type="lead_created")
    assert backfilled.payload is None and backfilled.item == {}
    assert backfilled.dedup_key == RESPONSE_ID  # a later backfill still knows the response


# --- Backfill -------------------------------------------------------------------------------------


def _start(value: int):
    def match(request):
        ok = f"start={value}" in urlparse(request.url).query.split("&")
        return ok, "" if ok else f"start is not {value}"

    return match


def test_backfill_pages_with_start_and_count_and_is_idempotent(connection, api, deliver):
    finder = f"{API}/rest/leadFormResponses"
    api.get(finder, body=fixture_bytes("linkedin/lead_form_responses_page1.json"), match=[_start(0)])
    api.get(finder, body=fixture_bytes("linkedin/lead_form_responses_page2.json"), match=[_start(2)])
    # The first lead already came in by webhook: the backfill leaves it alone.
    stub_lead(api, PAGE_IDS[0])
    deliver(compact(notification(response_id=PAGE_IDS[0])))
    assert Lead.objects.count() == 1

    out = io.StringIO()
    call_command("backfill_linkedin_leads", "--owner", OWNER, "--page-size", "2", stdout=out)
    assert "page 1: 2 leads seen, 1 new, 1 already known" in out.getvalue()
    assert "page 2: 3 leads seen, 2 new, 1 already known" in out.getvalue()
    assert "Done: 3 leads in 2 pages; 2 new, 1 already known, 0 failed" in out.getvalue()
    query = urlparse(rest_calls(api, "/rest/leadFormResponses?")[0].request.url).query
    # Rest.li 2.0: structure characters stay, the URN inside is percent-encoded.
    assert query == (
        "q=owner&owner=(sponsoredAccount:urn%3Ali%3AsponsoredAccount%3A1234567)&leadType=(leadType:SPONSORED)"
        "&limitedToTestLeads=false&count=2&start=0"
    )
    assert set(Lead.objects.values_list("linkedin_response_id", flat=True)) == set(PAGE_IDS)
    assert Lead.objects.get(linkedin_response_id=PAGE_IDS[2]).email == "lea.wolf@example.org"
    assert WebhookEvent.objects.filter(status=Status.PROCESSED).count() == 3

    out = io.StringIO()
    call_command("backfill_linkedin_leads", "--owner", OWNER, "--page-size", "2", stdout=out)
    assert "0 new, 3 already known" in out.getvalue()
    assert Lead.objects.count() == 3


def test_backfill_since_sends_the_submitted_at_range_and_organizations_use_their_lead_types(api):
    LinkedInConnectionFactory(owner_urn="urn:li:organization:11223344")
    api.get(f"{API}/rest/leadFormResponses", json={"paging": {"start": 0, "count": 10, "total": 0}, "elements": []})
    call_command(
        "backfill_linkedin_leads",
        "--owner",
        "urn:li:organization:11223344",
        "--since",
        "2026-01-01",
        stdout=io.StringIO(),
    )
    queries = [urlparse(c.request.url).query for c in api.calls]
    assert [q.split("leadType=")[1].split("&")[0] for q in queries] == [
        "(leadType:COMPANY)",
        "(leadType:EVENT)",
        "(leadType:ORGANIZATION_PRODUCT)",
    ]
    assert all("owner=(organization:urn%3Ali%3Aorganization%3A11223344)" in q for q in queries)
    assert "submittedAtTimeRange=(start:1767225600000,end:" in queries[0]


def test_backfill_refuses_an_unknown_owner_and_reports_linkedin_errors(connection, api):
    with pytest.raises(CommandError, match="not connected"):
        call_command("backfill_linkedin_leads", "--owner", "urn:li:sponsoredAccount:42", stdout=io.StringIO())
    with translation.override("en"), pytest.raises(CommandError, match="not a LinkedIn owner URN"):
        call_command("backfill_linkedin_leads", "--owner", "1234567", stdout=io.StringIO())
    stub_error(api, f"{API}/rest/leadFormResponses", "error_429.json", 429)
    with pytest.raises(CommandError, match="nothing lost"):
        call_command("backfill_linkedin_leads", "--owner", OWNER, stdout=io.StringIO())


# --- connect_linkedin ------------------------------------------------------------------------------


def test_connect_linkedin_verifies_and_stores_the_tokens_encrypted(api):
    partner = PartnerFactory()
    api.get(f"{API}/rest/leadFormResponses", json={"paging": {"start": 0, "count": 1}, "elements": []})
    out = io.StringIO()
    call_command(
        "connect_linkedin",
        "--owner",
        OWNER,
        "--access-token",
        "AQV_secret_member_token",
        "--refresh-token",
        "AQX_secret_refresh",
        "--expires-in",
        "5184000",
        "--refresh-expires-in",
        "31536000",
        "--name",
        "Highlander Ads",
        "--partner",
        partner.email,
        stdout=out,
    )
    assert api.calls[0].request.headers["Authorization"] == "Bearer AQV_secret_member_token"
    stored = LinkedInConnection.objects.get()
    assert (stored.access_token, stored.refresh_token, stored.name) == (
        "AQV_secret_member_token",
        "AQX_secret_refresh",
        "Highlander Ads",
    )
    assert stored.partner == partner and stored.organization == partner.organization
    assert timedelta(days=59) < stored.access_token_expires_at - timezone.now() <= timedelta(days=60)
    assert timedelta(days=364) < stored.refresh_token_expires_at - timezone.now() <= timedelta(days=365)
    with db.cursor() as cursor:
        cursor.execute("SELECT access_token, refresh_token FROM webhooks_linkedinconnection")
        raw = cursor.fetchone()
    assert all(value.startswith("v1:") and "secret" not in value for value in raw)
    assert "connected" in out.getvalue() and "secret" not in out.getvalue()
    assert AuditEvent.objects.filter(event_type="linkedin_connection.connected").exists()


def test_connect_linkedin_refuses_a_token_linkedin_rejects(api):
    stub_error(api, f"{API}/rest/leadFormResponses", "error_401_invalid.json", 401)
    with pytest.raises(CommandError, match="LinkedIn rejected the token"):
        call_command("connect_linkedin", "--owner", OWNER, "--access-token", "AQV_old")
    assert not LinkedInConnection.objects.exists()


# --- Admin -----------------------------------------------------------------------------------------


def test_health_page_lists_linkedin_connections_broken_first(client, admin_user, connection):
    LinkedInConnectionFactory(
        owner_urn="urn:li:sponsoredAccount:5678910", name="Kaputt", status="broken", last_error="HTTP 401"
    )
    client.force_login(admin_user)
    html = client.get("/admin/webhooks/metapageconnection/health/").content.decode()
    assert html.index("urn:li:sponsoredAccount:5678910") < html.index(OWNER)
    assert "HTTP 401" in html and "LinkedIn" in html


def test_admin_shows_the_connect_button_and_never_the_token(client, admin_user, connection):
    client.force_login(admin_user)
    html = client.get(f"/admin/webhooks/linkedinconnection/{connection.pk}/change/").content.decode()
    assert f"/integrations/linkedin/connect/?owner={OWNER}" in html
    assert "AQV_stored_token" not in html
    listing = client.get("/admin/webhooks/linkedinconnection/").content.decode()
    assert "/integrations/linkedin/connect/" in listing and "AQV_stored_token" not in listing


def test_admin_add_validates_the_owner_urn(client, admin_user):
    client.force_login(admin_user)
    response = client.post(
        "/admin/webhooks/linkedinconnection/add/",
        {"owner_urn": "1234567", "name": "X", "active": "on"},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 200 and "is not a LinkedIn owner URN" in response.content.decode()
    response = client.post("/admin/webhooks/linkedinconnection/add/", {"owner_urn": OWNER, "name": "X", "active": "on"})
    assert response.status_code == 302
    assert LinkedInConnection.objects.get().access_token == ""
    assert AuditEvent.objects.filter(event_type="linkedin_connection.created").exists()
