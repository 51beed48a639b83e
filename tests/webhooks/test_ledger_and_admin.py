"""The ledger's safety nets (sweeper, claim, replay) and the operator console in the admin."""

from __future__ import annotations

import json
from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone

from compliance.models import AuditEvent
from tests.webhooks.conftest import GRAPH, fixture_bytes, fixture_json
from tests.webhooks.factories import MetaPageConnectionFactory
from webhooks.models import InstagramRule, MetaPageConnection, WebhookDelivery, WebhookEvent
from webhooks.registry import EventItem
from webhooks.services import (
    webhook_delivery_store,
    webhook_event_process,
    webhook_events_sweep,
    webhook_payloads_purge,
)
from webhooks.services.ledger import webhook_event_claim

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english_messages(settings):
    """These tests read English messages; the German default has its own i18n tests."""
    settings.LANGUAGE_CODE = "en"


Status = WebhookEvent.Status


def store(n: int = 1, provider: str = "facebook", event_type: str = "leadgen") -> list[int]:
    items = [
        EventItem(
            event_type=event_type,
            dedup_key=f"{9000 + i}",
            object_id="153125381133",
            payload={"entry_id": "153125381133", "value": {"leadgen_id": f"{9000 + i}", "page_id": "153125381133"}},
        )
        for i in range(n)
    ]
    with mock.patch("webhooks.services.ledger.on_commit"):
        result = webhook_delivery_store(provider=provider, body=b"{}", headers={}, items=items)
    return result.new


# --- Claim and sweeper -------------------------------------------------------------------------


def test_an_event_is_claimed_once():
    (event_id,) = store()
    assert webhook_event_claim(event_id=event_id) is not None
    assert webhook_event_claim(event_id=event_id) is None
    assert webhook_event_process(event_id=event_id) is None  # a redelivered task does nothing
    event = WebhookEvent.objects.get()
    assert (event.status, event.attempts) == (Status.PROCESSING, 1)


def test_sweeper_resets_events_stuck_in_processing_and_enqueues_due_ones():
    stuck, due, fresh = store(3)
    now = timezone.now()
    WebhookEvent.objects.filter(pk=stuck).update(
        status=Status.PROCESSING, claimed_by="dead", lease_expires_at=now - timedelta(seconds=1)
    )
    WebhookEvent.objects.filter(pk=due).update(next_attempt_at=now - timedelta(seconds=1))
    with mock.patch("webhooks.services.ledger.enqueue_events", return_value=2) as enqueue:
        result = webhook_events_sweep(now=now)
    assert result["reset"] == 1 and result["due"] == 2
    assert sorted(enqueue.call_args.args[0]) == sorted([stuck, due])
    assert WebhookEvent.objects.get(pk=stuck).status == Status.RECEIVED
    # Enqueued events are not enqueued again on the next tick.
    assert WebhookEvent.objects.get(pk=due).next_attempt_at > now
    with mock.patch("webhooks.services.ledger.enqueue_events", return_value=0) as enqueue:
        webhook_events_sweep(now=now + timedelta(seconds=60))
    assert enqueue.call_args.args[0] == []
    assert WebhookEvent.objects.get(pk=fresh).status == Status.RECEIVED


def test_sweeper_stops_enqueueing_at_the_first_broker_error():
    ids = store(3)
    WebhookEvent.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    with mock.patch("webhooks.tasks.webhook_event_process_task.apply_async", side_effect=ConnectionError) as publish:
        result = webhook_events_sweep()
    assert publish.call_count == 1 and result["enqueued"] == 0
    assert set(WebhookEvent.objects.filter(pk__in=ids).values_list("status", flat=True)) == {Status.RECEIVED}


def test_payloads_are_blanked_after_the_retention_period_except_for_open_events():
    done, waiting, recent = store(3)
    WebhookEvent.objects.filter(pk=done).update(status=Status.PROCESSED)
    old = timezone.now() - timedelta(days=31)
    WebhookEvent.objects.filter(pk__in=[done, waiting]).update(received_at=old)
    WebhookDelivery.objects.update(received_at=old)
    assert webhook_payloads_purge() == {"bodies": 1, "payloads": 1}
    assert WebhookDelivery.objects.get().raw_body is None
    assert WebhookEvent.objects.get(pk=done).payload is None and WebhookEvent.objects.get(pk=done).item == {}
    assert WebhookEvent.objects.get(pk=waiting).item["value"]["leadgen_id"]  # still to be processed: kept
    assert WebhookEvent.objects.get(pk=recent).payload


def test_an_unexpected_handler_crash_fails_the_event_visibly(caplog):
    (event_id,) = store()
    with mock.patch("webhooks.services.facebook.facebook_connection_for", side_effect=KeyError("boom")):
        assert webhook_event_process(event_id=event_id) == Status.FAILED
    event = WebhookEvent.objects.get()
    assert (event.error_code, event.last_error) == ("error", "KeyError")


@pytest.mark.parametrize("one_statement", [True, False])
def test_both_insert_paths_store_new_events_and_count_duplicates(monkeypatch, one_statement):
    """PostgreSQL uses one statement; the ORM path serves the embedded SQLite default."""
    monkeypatch.setattr("webhooks.services.ledger._one_statement_insert_supported", lambda: one_statement)
    items = [
        EventItem(event_type="leadgen", dedup_key="1", object_id="p", payload={"n": "ä@/"}),
        EventItem(event_type="feed", dedup_key="feed:1", object_id="p", payload={}),
        EventItem(event_type="leadgen", dedup_key="1", object_id="p", payload={}),  # twice in one batch
    ]
    with mock.patch("webhooks.services.ledger.on_commit") as on_commit:
        first = webhook_delivery_store(provider="facebook", body=b'{"a":1}', headers={"User-Agent": "x"}, items=items)
        second = webhook_delivery_store(provider="facebook", body=b'{"a":1}', headers={}, items=items[:2])
    event = WebhookEvent.objects.get(dedup_key="1")
    assert (first.new, first.duplicates, first.ignored) == ([event.pk], 0, 1)
    assert (second.new, second.duplicates, second.ignored) == ([], 2, 0)
    assert on_commit.call_count == 1
    assert event.item == {"n": "ä@/"} and event.duplicates == 1 and event.received_at is not None
    assert event.delivery.headers == {"User-Agent": "x"} and event.delivery.raw_body == '{"a":1}'
    assert WebhookEvent.objects.get(dedup_key="feed:1").status == Status.IGNORED
    assert WebhookDelivery.objects.count() == 2


# --- Admin -------------------------------------------------------------------------------------


def test_changelist_filters_and_constant_query_count(client, admin_user, django_assert_max_num_queries):
    store(3)
    store(2, provider="instagram", event_type="message")
    client.force_login(admin_user)
    with django_assert_max_num_queries(12):
        response = client.get("/admin/webhooks/webhookevent/")
    assert response.status_code == 200
    store_more = [EventItem(event_type="leadgen", dedup_key=f"x{i}", object_id="1", payload={}) for i in range(30)]
    with mock.patch("webhooks.services.ledger.on_commit"):
        webhook_delivery_store(provider="facebook", body=b"{}", headers={}, items=store_more)
    with django_assert_max_num_queries(12):
        response = client.get("/admin/webhooks/webhookevent/")
    assert response.status_code == 200
    filtered = client.get("/admin/webhooks/webhookevent/?provider__exact=instagram&status__exact=received&age=1h")
    assert filtered.status_code == 200 and filtered.context["cl"].result_count == 2
    old = client.get("/admin/webhooks/webhookevent/?age=older")
    assert old.context["cl"].result_count == 0


def test_raw_payload_view_shows_the_body_as_received(
    client, admin_user, post_webhook, django_capture_on_commit_callbacks
):
    body = fixture_bytes("facebook/leadgen_two_pages.json")
    with django_capture_on_commit_callbacks():
        post_webhook("facebook", body)
    event = WebhookEvent.objects.get(event_type="feed")
    client.force_login(admin_user)
    page = client.get(f"/admin/webhooks/webhookevent/{event.pk}/change/").content.decode()
    assert "Schön, Preis bitte an info@beispiel.de" in page  # the item, decoded and pretty-printed
    assert "Sch\\u00f6n" in page and "\\u0040" in page  # the raw bytes, escapes and all


def test_replay_action_requeues_failed_and_ignored_events_only(
    client, ops_user, graph, post_webhook, django_capture_on_commit_callbacks
):
    # given: one failed event (page not connected) and one ignored event
    with django_capture_on_commit_callbacks(execute=True):
        post_webhook("facebook", fixture_bytes("facebook/leadgen_signature_vector.json"))
    failed = WebhookEvent.objects.get()
    assert failed.status == Status.FAILED
    MetaPageConnectionFactory(page_id="153125381133")
    graph.get(f"{GRAPH}/123123123123", json=fixture_json("facebook/graph_lead_docs.json"))
    processed_ids = store(1)
    # when: ops replays both from the admin
    client.force_login(ops_user)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/admin/webhooks/webhookevent/",
            {"action": "replay", "_selected_action": [failed.pk, *processed_ids]},
            follow=True,
        )
    # then
    assert response.status_code == 200
    failed.refresh_from_db()
    assert failed.status == Status.PROCESSED and failed.lead is not None
    assert WebhookEvent.objects.get(pk=processed_ids[0]).status == Status.RECEIVED  # left alone
    messages = [str(m) for m in response.context["messages"]]
    assert "1 event queued again." in messages[0]
    audit = AuditEvent.objects.get(event_type="webhook.replayed")
    assert audit.actor == ops_user and audit.payload["events"] == [failed.pk]


def test_events_cannot_be_added_edited_or_deleted_in_the_admin(client, admin_user):
    (event_id,) = store()
    client.force_login(admin_user)
    assert client.get("/admin/webhooks/webhookevent/add/").status_code == 403
    assert client.get(f"/admin/webhooks/webhookevent/{event_id}/delete/").status_code == 403
    client.post(f"/admin/webhooks/webhookevent/{event_id}/change/", {"status": "processed"})
    assert WebhookEvent.objects.get().status == Status.RECEIVED


def test_page_connection_form_keeps_the_token_write_only(client, admin_user, partner_user):
    client.force_login(admin_user)
    response = client.post(
        "/admin/webhooks/metapageconnection/add/",
        {
            "page_id": "153125381133",
            "name": "Berger Immobilien",
            "instagram_account_id": "",
            "partner": partner_user.pk,
            "organization": "",
            "field_overrides": json.dumps({"*": {"Wie lautet Ihre Nummer?": "phone"}}),
            "active": "on",
            "new_access_token": "EAATopSecret",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    connection = MetaPageConnection.objects.get()
    assert connection.access_token == "EAATopSecret"
    assert connection.organization == partner_user.organization
    change = client.get(f"/admin/webhooks/metapageconnection/{connection.pk}/change/").content.decode()
    assert "EAATopSecret" not in change and "stored (encrypted)" in change
    # Saving without a token keeps the stored one.
    client.post(
        f"/admin/webhooks/metapageconnection/{connection.pk}/change/",
        {"page_id": "153125381133", "name": "Neu", "partner": partner_user.pk, "field_overrides": "{}", "active": "on"},
    )
    connection.refresh_from_db()
    assert connection.name == "Neu" and connection.access_token == "EAATopSecret"
    assert AuditEvent.objects.filter(event_type__in=["meta_page.connected", "meta_page.updated"]).count() == 2


@pytest.mark.parametrize(
    ("overrides", "token", "error"),
    [
        ('{"*": {"frage": "shoe_size"}}', "EAAx", "unknown target shoe_size"),
        ('["phone"]', "EAAx", "Use {"),
        ("{}", "", "needs the page access token"),
    ],
)
def test_page_connection_form_validates(client, admin_user, overrides, token, error):
    client.force_login(admin_user)
    response = client.post(
        "/admin/webhooks/metapageconnection/add/",
        {"page_id": "1", "name": "x", "field_overrides": overrides, "active": "on", "new_access_token": token},
    )
    assert response.status_code == 200 and error in response.content.decode()
    assert not MetaPageConnection.objects.exists()


def test_ops_may_look_at_connections_but_not_change_them(client, ops_user):
    connection = MetaPageConnectionFactory()
    client.force_login(ops_user)
    assert client.get(f"/admin/webhooks/metapageconnection/{connection.pk}/change/").status_code == 200
    assert client.get("/admin/webhooks/metapageconnection/add/").status_code == 403
    assert client.get("/admin/webhooks/metapageconnection/health/").status_code == 200


def test_health_page_puts_broken_tokens_first_and_highlights_them(client, admin_user, django_assert_max_num_queries):
    MetaPageConnectionFactory(name="Aaa Gesund", page_id="111", last_success_at=timezone.now())
    MetaPageConnectionFactory(
        name="Zzz Kaputt",
        page_id="222",
        instagram_account_id="17841405726653026",
        status=MetaPageConnection.Status.BROKEN,
        last_error="HTTP 400, code 190/463: Error validating access token",
        last_error_at=timezone.now(),
    )
    store(2)
    client.force_login(admin_user)
    with django_assert_max_num_queries(10):
        response = client.get("/admin/webhooks/metapageconnection/health/")
    html = response.content.decode()
    assert response.status_code == 200
    assert html.index("Zzz Kaputt") < html.index("Aaa Gesund")
    assert 'class="health-broken"' in html and "code 190/463" in html
    assert "Facebook Lead Ads + Instagram" in html


def test_instagram_rules_are_edited_as_keyword_lists(client, admin_user):
    client.force_login(admin_user)
    base = {"name": "Rendite", "auto_reply": "Danke!", "connection": "", "priority": 5, "active": "on"}
    refused = client.post("/admin/webhooks/instagramrule/add/", {**base, "keywords": '"rendite"'})
    assert refused.status_code == 200 and "Give a list of keywords" in refused.content.decode()
    created = client.post("/admin/webhooks/instagramrule/add/", {**base, "keywords": '[" Rendite ", "#Kapitalanlage"]'})
    assert created.status_code == 302
    assert InstagramRule.objects.get(name="Rendite").keywords == ["rendite", "#kapitalanlage"]
