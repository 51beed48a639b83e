"""Facebook Lead Ads end to end: recorded webhooks through the real URL, the Graph stub, leads and consents."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import pytest
import requests
import responses
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from accounts.models import Notification
from compliance.models import AuditEvent, ConsentRecord
from integrations.meta.graph import LEAD_FIELDS
from leads.models import Lead
from tests.accounts.factories import PartnerFactory
from tests.webhooks.conftest import APP_SECRET, GRAPH, fixture_bytes, fixture_json
from tests.webhooks.factories import MetaPageConnectionFactory
from webhooks.models import MetaPageConnection, WebhookEvent
from webhooks.services import webhook_events_sweep
from webhooks.services.ledger import MAX_ATTEMPTS

pytestmark = pytest.mark.django_db

Status = WebhookEvent.Status
VECTOR = "facebook/leadgen_signature_vector.json"
VECTOR_PAGE, VECTOR_LEAD = "153125381133", "123123123123"


@pytest.fixture
def page(db):
    return MetaPageConnectionFactory(page_id=VECTOR_PAGE, access_token="EAAPageToken")


@pytest.fixture
def deliver(post_webhook, django_capture_on_commit_callbacks):
    """Post a recorded body and run what the commit enqueues (Celery is eager in tests)."""

    def run(fixture: str, provider: str = "facebook", **replace):
        body = fixture_bytes(fixture, **replace)
        with django_capture_on_commit_callbacks(execute=True):
            response = post_webhook(provider, body)
        assert response.status_code == 200, response.content
        return response

    return run


def stub_lead(graph, leadgen_id: str, fixture: str = "facebook/graph_lead_docs.json", **changes):
    body = {**fixture_json(fixture), "id": leadgen_id, **changes}
    graph.get(f"{GRAPH}/{leadgen_id}", json=body)
    return body


def stub_error(graph, leadgen_id: str, fixture: str, status: int = 400, **kwargs):
    graph.get(
        f"{GRAPH}/{leadgen_id}", body=fixture_bytes(fixture), status=status, content_type="application/json", **kwargs
    )


def test_a_leadgen_webhook_fetches_the_lead_and_ingests_it(page, graph, deliver):
    stub_lead(graph, VECTOR_LEAD)
    deliver(VECTOR)
    event = WebhookEvent.objects.get()
    assert event.status == Status.PROCESSED and event.attempts == 1
    lead = event.lead
    assert lead.channel == Lead.Channel.FACEBOOK and lead.source == Lead.Source.ZONE1_POOL
    assert (lead.email, lead.first_name, lead.last_name) == ("joe@example.com", "Joe", "Example")
    assert lead.facebook_lead_id == VECTOR_LEAD
    assert lead.attributes["car_make"] == "Honda" and lead.attributes["selected_dealer"] == "99213450"
    assert lead.attributes["_meta"]["form_id"] == "12312312312"
    page.refresh_from_db()
    assert page.last_success_at is not None


def test_graph_is_called_with_the_spec_fields_token_and_appsecret_proof(page, graph, deliver):
    stub_lead(graph, VECTOR_LEAD)
    deliver(VECTOR)
    (call,) = graph.calls
    url = urlparse(call.request.url)
    assert f"{url.scheme}://{url.netloc}{url.path}" == f"{GRAPH}/{VECTOR_LEAD}"
    query = parse_qs(url.query)
    assert query["fields"] == [LEAD_FIELDS]
    assert query["access_token"] == ["EAAPageToken"]
    expected_proof = hmac.new(APP_SECRET.encode(), b"EAAPageToken", hashlib.sha256).hexdigest()
    assert query["appsecret_proof"] == [expected_proof]


def test_a_batch_creates_one_lead_per_change_and_a_retry_creates_nothing(graph, deliver):
    MetaPageConnectionFactory(page_id="123123123")
    stub_lead(graph, "123123123123", field_data=[{"name": "email", "values": ["eins@example.org"]}])
    stub_lead(graph, "123123123124", field_data=[{"name": "email", "values": ["zwei@example.org"]}])
    deliver("facebook/leadgen_docs_batch.json")
    assert Lead.objects.count() == 2
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {Status.PROCESSED}
    # Meta retries the whole batch: answered 200, Graph not called again, no new lead.
    response = deliver("facebook/leadgen_docs_batch.json")
    assert response.json()["duplicates"] == 2
    assert len(graph.calls) == 2 and Lead.objects.count() == 2


def test_test_tool_lead_is_a_test_lead(graph, deliver, platform_org, ops_user):
    from leads.models import LeadAssignment, PipelineSettings
    from leads.selectors.pool import pool_stats

    # given: auto-assignment is on and a partner has room, so a real pool lead would be offered
    PipelineSettings.objects.create(
        tenant=platform_org, auto_assign_enabled=True, auto_assign_mode="round_robin", auto_assign_min_score=0
    )
    PartnerFactory()
    MetaPageConnectionFactory(page_id="138124712925158")
    graph.get(f"{GRAPH}/233370042045345", body=fixture_bytes("facebook/graph_lead_test.json"))
    deliver("facebook/leadgen_testing_tool.json")
    lead = WebhookEvent.objects.get().lead
    assert lead.is_test is True
    assert lead.attributes["_meta"] == {"form_id": "172036835026334", "platform": "fb", "is_organic": True}
    # no notifications, no offer, and the pool statistics do not count it
    assert not Notification.objects.exists()
    assert not LeadAssignment.objects.filter(lead=lead).exists()
    stats = pool_stats(use_cache=False)
    assert stats["pool"]["size"] == 0 and stats["volume"]["total"] == 0


def test_german_form_maps_synonyms_keeps_the_rest_and_records_disclaimer_consent(graph, deliver):
    MetaPageConnectionFactory(page_id="222222222222222", access_token="EAATokenOfPageTwo")
    MetaPageConnectionFactory(page_id=VECTOR_PAGE, access_token="EAATokenOfPageOne")
    stub_lead(graph, "66861076766107789", "facebook/graph_lead_real.json")
    graph.get(f"{GRAPH}/66861076766107790", body=fixture_bytes("facebook/graph_lead_german.json"))
    deliver("facebook/leadgen_two_pages.json")
    tokens = {
        urlparse(c.request.url).path.rsplit("/", 1)[1]: parse_qs(urlparse(c.request.url).query)["access_token"]
        for c in graph.calls
    }
    assert tokens == {"66861076766107789": ["EAATokenOfPageOne"], "66861076766107790": ["EAATokenOfPageTwo"]}
    lead = Lead.objects.get(facebook_lead_id="66861076766107790")
    assert lead.email == "anna.berger@beispiel-immobilien.de"
    assert lead.phone == "+4915123456789"
    assert (lead.first_name, lead.last_name, lead.company_name) == ("Anna", "Berger", "Berger Invest GmbH")
    assert (lead.postcode, lead.city, lead.country) == ("04109", "Leipzig", "DE")
    assert lead.utm_source == "instagram"  # platform "ig": a Lead Ad shown on Instagram
    assert lead.source_campaign == "23900000000000003"
    assert lead.attributes["wie_hoch_ist_ihr_eigenkapital?"] == "50.000 – 100.000 €"
    assert lead.attributes["wann_möchten_sie_investieren?"] == "in den nächsten 3 Monaten"
    consents = ConsentRecord.objects.filter(subject_lead=lead)
    assert [(c.code, c.text) for c in consents] == [(ConsentRecord.Code.FORM_DISCLAIMER, "optional_1")]
    consent = consents.get()
    assert consent.version == "fb-form-555555555555555" and consent.evidence["leadgen_id"] == "66861076766107790"
    other = Lead.objects.get(facebook_lead_id="66861076766107789")
    assert other.phone == "+923000000000" and other.first_name == "Some"


def test_per_form_overrides_win_over_the_standard_names(graph, deliver):
    MetaPageConnectionFactory(
        page_id=VECTOR_PAGE,
        field_overrides={"12312312312": {"car_make": "company_name", "selected_dealer": "ignore"}, "*": {}},
    )
    stub_lead(graph, VECTOR_LEAD)
    deliver(VECTOR)
    lead = WebhookEvent.objects.get().lead
    assert lead.company_name == "Honda"
    assert "selected_dealer" not in lead.attributes and "car_make" not in lead.attributes


def test_a_partner_page_routes_its_leads_to_the_partner(graph, deliver):
    partner = PartnerFactory()
    MetaPageConnectionFactory(page_id=VECTOR_PAGE, partner=partner, organization=partner.organization)
    stub_lead(graph, VECTOR_LEAD)
    deliver(VECTOR)
    lead = WebhookEvent.objects.get().lead
    assert lead.source == Lead.Source.META_SELF
    assert lead.assigned_partner == partner and lead.tenant == partner.organization


def test_a_lead_with_only_a_name_is_still_captured_by_its_leadgen_id(page, graph, deliver):
    graph.get(f"{GRAPH}/{VECTOR_LEAD}", body=fixture_bytes("facebook/graph_lead_no_identity.json"))
    deliver(VECTOR)
    event = WebhookEvent.objects.get()
    assert event.status == Status.PROCESSED
    assert event.lead.facebook_lead_id == VECTOR_LEAD and event.lead.attributes["lieblingsfarbe"] == "blau"


def test_no_identity_from_ingest_fails_the_event_with_its_reason(page, graph, deliver, monkeypatch):
    from leads.services import NoIdentityError
    from webhooks.services import facebook as facebook_service

    def refuse(**kwargs):
        raise NoIdentityError("The lead has no valid email address, phone number or channel id.")

    monkeypatch.setattr(facebook_service, "lead_ingest", refuse)
    stub_lead(graph, VECTOR_LEAD)
    deliver(VECTOR)
    event = WebhookEvent.objects.get()
    assert (event.status, event.error_code) == (Status.FAILED, "no_identity")
    assert "no valid email" in event.last_error


def test_an_unconnected_page_fails_and_is_replayed_when_the_page_is_connected(
    graph, deliver, django_capture_on_commit_callbacks
):
    deliver(VECTOR)
    event = WebhookEvent.objects.get()
    assert (event.status, event.error_code) == (Status.FAILED, "no_connection")
    stub_lead(graph, VECTOR_LEAD)
    graph.get(f"{GRAPH}/{VECTOR_PAGE}", json={"id": VECTOR_PAGE, "name": "Berger Immobilien"})
    with django_capture_on_commit_callbacks(execute=True):
        call_command("connect_meta_page", "--page-id", VECTOR_PAGE, "--access-token", "EAANew", stdout=io.StringIO())
    event.refresh_from_db()
    assert event.status == Status.PROCESSED and event.lead.email == "joe@example.com"
    assert MetaPageConnection.objects.get().name == "Berger Immobilien"


# --- Graph error classes -----------------------------------------------------------------------


def test_token_error_breaks_the_connection_notifies_staff_once_and_does_not_retry(
    page, graph, deliver, admin_user, ops_user
):
    stub_error(graph, "123123123123", "facebook/graph_error_190.json")
    stub_error(graph, "123123123124", "facebook/graph_error_190.json")
    page.page_id = "123123123"
    page.save()
    deliver("facebook/leadgen_docs_batch.json")
    events = list(WebhookEvent.objects.order_by("dedup_key"))
    assert [(e.status, e.error_code) for e in events] == [(Status.FAILED, "token_invalid")] * 2
    assert all(e.next_attempt_at is None for e in events)
    assert "code 190/463" in events[0].last_error and "EAAPageToken" not in events[0].last_error
    assert len(graph.calls) == 1  # the second event saw the broken connection and did not call Graph
    page.refresh_from_db()
    assert page.status == MetaPageConnection.Status.BROKEN and page.broken_at is not None
    notices = Notification.objects.filter(kind=Notification.Kind.CONNECTION)
    assert sorted(n.recipient_id for n in notices) == sorted([admin_user.pk, ops_user.pk])
    assert AuditEvent.objects.filter(event_type="meta_page.broken").count() == 1


def test_reconnecting_a_broken_page_replays_its_token_failures(
    page, graph, deliver, django_capture_on_commit_callbacks
):
    stub_error(graph, VECTOR_LEAD, "facebook/graph_error_190.json")
    deliver(VECTOR)
    assert WebhookEvent.objects.get().error_code == "token_invalid"
    graph.replace(responses.GET, f"{GRAPH}/{VECTOR_LEAD}", json=fixture_json("facebook/graph_lead_docs.json"))
    with django_capture_on_commit_callbacks(execute=True):
        call_command("connect_meta_page", "--page-id", VECTOR_PAGE, "--access-token", "EAAFresh", "--no-verify")
    page.refresh_from_db()
    assert page.status == MetaPageConnection.Status.OK and page.access_token == "EAAFresh"
    event = WebhookEvent.objects.get()
    assert event.status == Status.PROCESSED
    assert parse_qs(urlparse(graph.calls[-1].request.url).query)["access_token"] == ["EAAFresh"]


@pytest.mark.parametrize(
    "fixture",
    [
        "graph_error_4.json",
        "graph_error_17.json",
        "graph_error_32.json",
        "graph_error_613.json",
        "graph_error_80004.json",
    ],
)
def test_rate_limits_are_retried_later_with_backoff_and_the_page_stays_connected(page, graph, deliver, fixture):
    stub_error(graph, VECTOR_LEAD, f"facebook/{fixture}", status=403 if fixture.endswith("80004.json") else 400)
    before = timezone.now()
    deliver(VECTOR)
    event = WebhookEvent.objects.get()
    assert (event.status, event.error_code, event.attempts) == (Status.RECEIVED, "retrying", 1)
    assert event.next_attempt_at >= before + timedelta(seconds=60)
    page.refresh_from_db()
    assert page.status == MetaPageConnection.Status.OK and page.last_error
    assert not Notification.objects.exists()


def test_usage_headers_set_the_retry_time_and_pause_further_calls(page, graph, deliver):
    usage = {VECTOR_PAGE: [{"type": "pages", "call_count": 100, "estimated_time_to_regain_access": 15}]}
    stub_error(
        graph,
        VECTOR_LEAD,
        "facebook/graph_error_32.json",
        headers={"X-Business-Use-Case-Usage": json.dumps(usage)},
    )
    before = timezone.now()
    deliver(VECTOR)
    event = WebhookEvent.objects.get()
    assert event.next_attempt_at >= before + timedelta(minutes=15)
    # While paused, another lead of the same page is deferred without calling Graph (no retry storm).
    deliver("facebook/leadgen_signature_vector.json", **{VECTOR_LEAD: "123123123999"})
    assert len(graph.calls) == 1
    assert WebhookEvent.objects.get(dedup_key="123123123999").status == Status.RECEIVED


@pytest.mark.parametrize(
    "failure",
    [
        {"body": requests.Timeout("read timed out")},
        {"body": requests.ConnectionError("connection reset")},
        {"status": 502, "body": "<html>Bad Gateway</html>"},
        {"status": 500, "body": fixture_bytes("facebook/graph_error_2.json"), "content_type": "application/json"},
    ],
)
def test_timeouts_and_5xx_are_retried(page, graph, deliver, failure):
    graph.get(f"{GRAPH}/{VECTOR_LEAD}", **failure)
    deliver(VECTOR)
    event = WebhookEvent.objects.get()
    assert (event.status, event.error_code) == (Status.RECEIVED, "retrying")
    assert page.__class__.objects.get().status == MetaPageConnection.Status.OK


def test_other_4xx_fails_the_event_with_the_graph_error(page, graph, deliver):
    stub_error(graph, VECTOR_LEAD, "facebook/graph_error_803.json")
    deliver(VECTOR)
    event = WebhookEvent.objects.get()
    assert (event.status, event.error_code) == (Status.FAILED, "graph_error")
    assert "(#803) Some of the aliases" in event.last_error and "HTTP 400, code 803" in event.last_error


def test_a_deferred_event_is_processed_by_the_sweeper_once_graph_recovers(page, graph, deliver):
    graph.get(f"{GRAPH}/{VECTOR_LEAD}", status=503, body="unavailable")
    deliver(VECTOR)
    event = WebhookEvent.objects.get()
    assert webhook_events_sweep()["enqueued"] == 0  # not due yet
    graph.replace(responses.GET, f"{GRAPH}/{VECTOR_LEAD}", json=fixture_json("facebook/graph_lead_docs.json"))
    webhook_events_sweep(now=event.next_attempt_at + timedelta(seconds=1))
    event.refresh_from_db()
    assert event.status == Status.PROCESSED and event.attempts == 2


def test_an_event_gives_up_after_the_last_attempt(page, graph, deliver):
    graph.get(f"{GRAPH}/{VECTOR_LEAD}", status=500, body="down")
    deliver(VECTOR)
    WebhookEvent.objects.update(attempts=MAX_ATTEMPTS - 1, next_attempt_at=timezone.now())
    webhook_events_sweep()
    event = WebhookEvent.objects.get()
    assert (event.status, event.error_code) == (Status.FAILED, "gave_up")


# --- Commands ----------------------------------------------------------------------------------


def test_connect_meta_page_stores_the_token_encrypted_and_routes_to_the_partner(graph):
    partner = PartnerFactory()
    graph.get(f"{GRAPH}/{VECTOR_PAGE}", json={"id": VECTOR_PAGE, "name": "Berger Immobilien"})
    out = io.StringIO()
    call_command(
        "connect_meta_page",
        "--page-id",
        VECTOR_PAGE,
        "--access-token",
        "EAASecretPageToken",
        "--partner",
        partner.email,
        "--instagram-account-id",
        "17841405726653026",
        stdout=out,
    )
    connection_ = MetaPageConnection.objects.get()
    assert connection_.partner == partner and connection_.organization == partner.organization
    assert connection_.access_token == "EAASecretPageToken" and connection_.name == "Berger Immobilien"
    with connection.cursor() as cursor:
        cursor.execute("SELECT access_token FROM webhooks_metapageconnection")
        (stored,) = cursor.fetchone()
    assert "EAASecretPageToken" not in stored and stored.startswith("v1:")
    assert "connected" in out.getvalue() and "EAASecret" not in out.getvalue()
    assert AuditEvent.objects.filter(event_type="meta_page.connected").exists()


def test_connect_meta_page_refuses_a_token_graph_rejects(graph):
    graph.get(f"{GRAPH}/{VECTOR_PAGE}", body=fixture_bytes("facebook/graph_error_190.json"), status=400)
    with pytest.raises(CommandError, match="Graph rejected the token"):
        call_command("connect_meta_page", "--page-id", VECTOR_PAGE, "--access-token", "EAAOld")
    assert not MetaPageConnection.objects.exists()


def test_backfill_follows_cursors_and_is_idempotent(page, graph, deliver):
    form = "447333180259108"
    leads_url = f"{GRAPH}/{form}/leads"
    graph.get(leads_url, body=fixture_bytes("facebook/form_leads_page2.json"), match=[_after("OTcxNjcyOTg8ANTI4NzE4")])
    graph.get(leads_url, body=fixture_bytes("facebook/form_leads_page1.json"), match=[_after(None)])
    # A lead that already came in by webhook is not processed twice.
    stub_lead(graph, "900000000000001", "facebook/graph_lead_docs.json")
    deliver(VECTOR, **{VECTOR_LEAD: "900000000000001"})
    assert Lead.objects.count() == 1

    out = io.StringIO()
    call_command("backfill_facebook_leads", "--form-id", form, "--page-id", VECTOR_PAGE, stdout=out)
    assert "page 1: 2 leads seen, 1 new, 1 already known" in out.getvalue()
    assert "page 2: 3 leads seen, 2 new, 1 already known" in out.getvalue()
    assert Lead.objects.count() == 3
    assert set(Lead.objects.values_list("facebook_lead_id", flat=True)) == {
        "900000000000001",
        "900000000000002",
        "900000000000003",
    }
    assert WebhookEvent.objects.filter(status=Status.PROCESSED).count() == 3

    out = io.StringIO()
    call_command("backfill_facebook_leads", "--form-id", form, stdout=out)  # the only page: no --page-id needed
    assert "0 new, 3 already known" in out.getvalue()
    assert Lead.objects.count() == 3


def test_backfill_since_sends_graphs_time_filter(page, graph):
    form = "447333180259108"
    graph.get(f"{GRAPH}/{form}/leads", json={"data": [], "paging": {}})
    call_command("backfill_facebook_leads", "--form-id", form, "--since", "2026-01-31", stdout=io.StringIO())
    query = parse_qs(urlparse(graph.calls[0].request.url).query)
    assert json.loads(query["filtering"][0]) == [
        {"field": "time_created", "operator": "GREATER_THAN", "value": 1769817600}
    ]


def _after(cursor: str | None):
    def match(request):
        value = parse_qs(urlparse(request.url).query).get("after")
        ok = value == ([cursor] if cursor else None)
        return ok, "" if ok else f"after={value}"

    return match
