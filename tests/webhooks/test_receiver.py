"""The shared receiver: handshake, refusals in order, signature vectors, batches, duplicates, limits, outages."""

from __future__ import annotations

import json
import logging
from unittest import mock

import pytest
from django.db import OperationalError
from django.test import RequestFactory, override_settings
from kombu.exceptions import OperationalError as BrokerDown

from core.ratelimit import client_ip, ip_allowed
from tests.webhooks.conftest import VERIFY_TOKEN, fixture_bytes, sign
from webhooks.models import WebhookDelivery, WebhookEvent
from webhooks.services import webhook_events_sweep

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english_messages(settings):
    """These tests read English messages; the German default has its own i18n tests."""
    settings.LANGUAGE_CODE = "en"


FB_VECTOR = "facebook/leadgen_signature_vector.json"
IG_VECTOR = "instagram/message_signature_vector.json"


# --- Handshake ---------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", ["facebook", "instagram"])
def test_handshake_echoes_the_raw_challenge_as_plain_text(client, provider):
    response = client.get(
        f"/webhooks/{provider}/",
        {"hub.mode": "subscribe", "hub.challenge": "1158201444", "hub.verify_token": VERIFY_TOKEN},
    )
    assert response.status_code == 200
    assert response.content == b"1158201444"
    assert response["Content-Type"].startswith("text/plain")


def test_handshake_keeps_a_challenge_that_is_not_an_int(client):
    challenge = "99999999999999999999999"
    response = client.get(
        "/webhooks/facebook/", {"hub.mode": "subscribe", "hub.challenge": challenge, "hub.verify_token": VERIFY_TOKEN}
    )
    assert response.content == challenge.encode()


@pytest.mark.parametrize(
    "params",
    [
        {"hub.mode": "subscribe", "hub.challenge": "1", "hub.verify_token": "wrong"},
        {"hub.mode": "unsubscribe", "hub.challenge": "1", "hub.verify_token": VERIFY_TOKEN},
        {"hub.mode": "subscribe", "hub.challenge": "1"},
    ],
)
def test_handshake_refuses_a_wrong_token_or_mode(client, params):
    response = client.get("/webhooks/facebook/", params)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"


def test_handshake_refused_when_no_verify_token_is_configured(client, settings):
    settings.META_VERIFY_TOKEN = ""
    response = client.get(
        "/webhooks/facebook/", {"hub.mode": "subscribe", "hub.challenge": "1", "hub.verify_token": ""}
    )
    assert response.status_code == 403


# --- Signatures ----------------------------------------------------------------------------------


def test_protocol_test_vector_is_accepted_with_its_published_signature(
    post_webhook, django_capture_on_commit_callbacks
):
    body = fixture_bytes(FB_VECTOR)
    with django_capture_on_commit_callbacks() as callbacks:
        response = post_webhook(
            "facebook",
            body,
            signature="sha256=54d61f8fc6914a8670ed1365dc4742e4736641d5347ebb9db2f08c96e6ff42bf",
            HTTP_X_HUB_SIGNATURE="sha1=b6c60def21fbf9687c09d3c123171efa59a01105",
        )
    assert response.status_code == 200, response.content
    assert response.json() == {"status": "ok", "received": 1, "duplicates": 0, "ignored": 0}
    event = WebhookEvent.objects.get()
    assert (event.provider, event.event_type, event.dedup_key, event.object_id) == (
        "facebook",
        "leadgen",
        "123123123123",
        "153125381133",
    )
    assert event.status == WebhookEvent.Status.RECEIVED
    assert event.delivery.raw_body == body.decode() and event.delivery.signature_valid
    assert len(callbacks) == 1  # processing is enqueued only after the commit


def test_non_ascii_vector_verifies_over_the_escaped_wire_bytes(post_webhook, django_capture_on_commit_callbacks):
    body = fixture_bytes(IG_VECTOR)
    assert b"\\u0040" in body and b"\\u00e4" not in body  # Meta's escaping on the wire
    with django_capture_on_commit_callbacks():
        response = post_webhook(
            "instagram", body, signature="sha256=4cdd92b42d709ada90579a603e4b8894e3a2befa58072dc3b33c874dbbcbc7b8"
        )
    assert response.status_code == 200, response.content
    assert WebhookEvent.objects.get().event_type == "message"


def test_signature_over_a_reserialized_body_is_refused(post_webhook):
    body = fixture_bytes(IG_VECTOR)
    reserialized = json.dumps(json.loads(body), separators=(",", ":"), ensure_ascii=False).encode()
    response = post_webhook("instagram", body, signature=sign(reserialized))
    assert response.status_code == 401
    assert not WebhookEvent.objects.exists()


@pytest.mark.parametrize(
    "signature",
    [None, "", "sha256=", "sha256=" + "0" * 64, "sha1=b6c60def21fbf9687c09d3c123171efa59a01105", "54d61f8fc69"],
)
def test_missing_or_bad_signature_is_401_and_nothing_is_stored(post_webhook, signature, caplog):
    with caplog.at_level(logging.WARNING, logger="webhooks.views"):
        response = post_webhook("facebook", fixture_bytes(FB_VECTOR), signature=signature)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_signature"
    assert not WebhookDelivery.objects.exists() and not WebhookEvent.objects.exists()
    record = next(r for r in caplog.records if r.getMessage() == "Webhook refused")
    assert record.reason == "signature" and "153125381133" not in caplog.text


def test_without_an_app_secret_every_post_is_refused(post_webhook, settings):
    settings.META_APP_SECRET = ""
    body = fixture_bytes(FB_VECTOR)
    response = post_webhook("facebook", body, signature="sha256=" + sign(body, "")[7:])
    assert response.status_code == 401


def test_instagram_login_hooks_may_be_signed_with_the_instagram_app_secret(post_webhook, settings):
    settings.META_INSTAGRAM_APP_SECRET = "ig_secret"
    body = fixture_bytes("instagram/message_hello.json")
    assert post_webhook("instagram", body, signature=sign(body, "ig_secret")).status_code == 200
    assert post_webhook("facebook", fixture_bytes(FB_VECTOR), signature=sign(b"x", "ig_secret")).status_code == 401


# --- Refusal order and error shape -------------------------------------------------------------


def test_body_over_1_mib_is_413_before_anything_else(post_webhook):
    body = b'{"object":"page","entry":[]' + b" " * (1024 * 1024) + b"}"
    response = post_webhook("facebook", body, signature=None)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


def test_wrong_content_type_is_415_before_the_signature(post_webhook):
    body = fixture_bytes(FB_VECTOR)
    response = post_webhook("facebook", body, signature=None, content_type="text/plain")
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"


def test_json_with_charset_is_accepted(post_webhook, django_capture_on_commit_callbacks):
    body = fixture_bytes(FB_VECTOR)
    with django_capture_on_commit_callbacks():
        response = post_webhook("facebook", body, content_type="application/json; charset=utf-8")
    assert response.status_code == 200


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"[1,2]", b'{"object":"page","entry":{"id":"1"}}', b'{"object":"page","entry":[{"changes":["x"]}]}'],
)
def test_a_signed_malformed_body_is_400(post_webhook, body):
    response = post_webhook("facebook", body)
    assert response.status_code == 400
    assert response.json() == {"error": {"code": "invalid_payload", "message": "The body is not a valid notification."}}
    assert not WebhookEvent.objects.exists()


def test_unknown_provider_is_404_and_other_methods_405(client):
    assert client.post("/webhooks/myspace/", b"{}", content_type="application/json").status_code == 404
    response = client.put("/webhooks/facebook/", b"{}", content_type="application/json")
    assert response.status_code == 405 and response["Allow"] == "GET, POST"


def test_path_without_trailing_slash_works(client):
    response = client.get(
        "/webhooks/facebook", {"hub.mode": "subscribe", "hub.challenge": "7", "hub.verify_token": VERIFY_TOKEN}
    )
    assert response.status_code == 200 and response.content == b"7"


# --- Ledger: batches, ids, duplicates, ignored types -------------------------------------------


def test_docs_batch_with_integer_ids_becomes_one_event_per_change(post_webhook, django_capture_on_commit_callbacks):
    body = fixture_bytes("facebook/leadgen_docs_batch.json")
    with django_capture_on_commit_callbacks():
        response = post_webhook("facebook", body)
    assert response.json()["received"] == 2
    events = {e.dedup_key: e for e in WebhookEvent.objects.all()}
    assert set(events) == {"123123123123", "123123123124"}
    assert events["123123123124"].item["value"]["page_id"] == "123123123"  # numbers normalised to strings
    assert WebhookDelivery.objects.get().item_count == 2


def test_every_entry_is_read_and_other_fields_are_stored_as_ignored(post_webhook, django_capture_on_commit_callbacks):
    body = fixture_bytes("facebook/leadgen_two_pages.json")
    assert b"\\/" in body and b"\\u0040" in body
    with django_capture_on_commit_callbacks() as callbacks:
        response = post_webhook("facebook", body)
    assert response.json() == {"status": "ok", "received": 2, "duplicates": 0, "ignored": 1}
    by_type = {(e.event_type, e.object_id): e.status for e in WebhookEvent.objects.all()}
    assert by_type == {
        ("leadgen", "153125381133"): "received",
        ("leadgen", "222222222222222"): "received",
        ("feed", "153125381133"): "ignored",
    }
    assert WebhookEvent.objects.get(dedup_key="66861076766107789")  # > 2^53, kept exact
    assert len(callbacks) == 1


def test_a_duplicate_delivery_is_200_counted_and_not_processed_again(post_webhook, django_capture_on_commit_callbacks):
    body = fixture_bytes("facebook/leadgen_docs_batch.json")
    with django_capture_on_commit_callbacks():
        post_webhook("facebook", body)
    with django_capture_on_commit_callbacks() as callbacks:
        response = post_webhook("facebook", body)
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "received": 0, "duplicates": 2, "ignored": 0}
    assert callbacks == []  # nothing enqueued for a retry of known items
    assert WebhookEvent.objects.count() == 2
    assert set(WebhookEvent.objects.values_list("duplicates", flat=True)) == {1}
    # A retry of the same duplicate ignored item is counted too, not stored twice.
    two_pages = fixture_bytes("facebook/leadgen_two_pages.json")
    with django_capture_on_commit_callbacks():
        post_webhook("facebook", two_pages)
        post_webhook("facebook", two_pages)
    assert WebhookEvent.objects.filter(event_type="feed").get().duplicates == 1


@pytest.mark.parametrize(
    ("fixture", "event_type"),
    [
        ("instagram/echo.json", "echo"),
        ("instagram/deleted.json", "message_deleted"),
        ("instagram/reaction.json", "reaction"),
        ("instagram/read.json", "read"),
        ("instagram/standby.json", "standby_message"),
        ("instagram/comments.json", "comments"),
    ],
)
def test_instagram_items_we_do_not_process_are_stored_as_ignored(
    post_webhook, django_capture_on_commit_callbacks, fixture, event_type
):
    with django_capture_on_commit_callbacks() as callbacks:
        response = post_webhook("instagram", fixture_bytes(fixture))
    assert response.status_code == 200
    event = WebhookEvent.objects.get()
    assert (event.event_type, event.status, event.error_code) == (event_type, "ignored", "unhandled_type")
    assert callbacks == []


# --- Rate limit, client IP, allowlists ---------------------------------------------------------


def test_rate_limit_answers_429_with_retry_after_per_client_ip(post_webhook, settings):
    settings.WEBHOOK_RATE_LIMIT = "3/m"
    body = b'{"object":"page","entry":[]}'
    statuses = [post_webhook("facebook", body).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    limited = post_webhook("facebook", body)
    assert limited.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(limited["Retry-After"]) <= 60
    # Another client has its own budget.
    assert post_webhook("facebook", body, REMOTE_ADDR="203.0.113.9").status_code == 200


def test_rate_limit_counts_the_forwarded_client_behind_a_trusted_proxy(post_webhook, settings):
    settings.WEBHOOK_RATE_LIMIT = "2/m"
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    body = b'{"object":"page","entry":[]}'
    via = {"REMOTE_ADDR": "10.0.0.2"}
    for _ in range(2):
        assert post_webhook("facebook", body, HTTP_X_FORWARDED_FOR="198.51.100.7", **via).status_code == 200
    assert post_webhook("facebook", body, HTTP_X_FORWARDED_FOR="198.51.100.7", **via).status_code == 429
    assert post_webhook("facebook", body, HTTP_X_FORWARDED_FOR="198.51.100.8", **via).status_code == 200


@pytest.mark.parametrize(
    ("remote", "forwarded", "trusted", "expected"),
    [
        ("203.0.113.5", "1.2.3.4", [], "203.0.113.5"),  # no proxies trusted: the header is ignored
        ("203.0.113.5", "1.2.3.4", ["10.0.0.0/8"], "203.0.113.5"),  # peer not trusted: spoofed header ignored
        ("10.0.0.1", "1.2.3.4", ["10.0.0.0/8"], "1.2.3.4"),
        ("10.0.0.1", "6.6.6.6, 1.2.3.4", ["10.0.0.0/8"], "1.2.3.4"),  # client-written left part is ignored
        ("10.0.0.1", "6.6.6.6, 1.2.3.4, 10.0.0.7", ["10.0.0.0/8"], "1.2.3.4"),  # two proxies
        ("10.0.0.1", "10.0.0.9, 10.0.0.7", ["10.0.0.0/8"], "10.0.0.9"),  # all trusted: the left-most
        ("10.0.0.1", "", ["10.0.0.0/8"], "10.0.0.1"),
        ("10.0.0.1", "1.2.3.4, bogus", ["10.0.0.0/8"], "10.0.0.1"),
        ("2001:db8::1", "2001:db8:ffff::5", ["2001:db8::/64"], "2001:db8:ffff::5"),
    ],
)
def test_client_ip_takes_the_right_most_untrusted_hop(settings, remote, forwarded, trusted, expected):
    settings.TRUSTED_PROXIES = trusted
    request = RequestFactory().get("/", REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded)
    assert client_ip(request) == expected


def test_ip_allowlist_refuses_other_senders_with_403(post_webhook, settings, django_capture_on_commit_callbacks):
    settings.WEBHOOK_IP_ALLOWLIST_FACEBOOK = ["173.252.64.0/18", "2a03:2880::/32"]
    body = fixture_bytes(FB_VECTOR)
    refused = post_webhook("facebook", body)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    assert not WebhookEvent.objects.exists()
    with django_capture_on_commit_callbacks():
        assert post_webhook("facebook", body, REMOTE_ADDR="173.252.88.1").status_code == 200
    # The Instagram endpoint has its own (empty) list.
    with django_capture_on_commit_callbacks():
        assert post_webhook("instagram", fixture_bytes(IG_VECTOR)).status_code == 200
    assert ip_allowed("2a03:2880:f0ff::1", settings.WEBHOOK_IP_ALLOWLIST_FACEBOOK)
    assert not ip_allowed("not-an-ip", settings.WEBHOOK_IP_ALLOWLIST_FACEBOOK)


# --- Outages -----------------------------------------------------------------------------------

DEAD_REDIS = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",
        "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
    }
}


def test_redis_down_still_answers_200_and_the_sweeper_processes_later(
    post_webhook, graph, django_capture_on_commit_callbacks
):
    from tests.webhooks.factories import MetaPageConnectionFactory

    MetaPageConnectionFactory(page_id="153125381133")
    body = fixture_bytes(FB_VECTOR)
    # given: Redis (rate-limit cache and Celery broker) is down
    with (
        override_settings(CACHES=DEAD_REDIS),
        mock.patch(
            "webhooks.tasks.webhook_event_process_task.apply_async", side_effect=BrokerDown("Connection refused")
        ) as publish,
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = post_webhook("facebook", body)
    # then: the delivery is acknowledged and kept
    assert response.status_code == 200
    assert publish.called
    event = WebhookEvent.objects.get()
    assert event.status == WebhookEvent.Status.RECEIVED
    # when: Redis is back and the beat sweeper runs after the pickup grace
    graph.get("https://graph.test/v21.0/123123123123", json=_lead("123123123123"))
    WebhookEvent.objects.update(next_attempt_at=event.received_at)
    result = webhook_events_sweep()
    # then: the event is processed
    assert result["enqueued"] == 1
    event.refresh_from_db()
    assert event.status == WebhookEvent.Status.PROCESSED and event.lead is not None


def _lead(leadgen_id: str) -> dict:
    return {
        "id": leadgen_id,
        "created_time": "2026-03-01T10:00:00+0000",
        "form_id": "12312312312",
        "field_data": [{"name": "email", "values": [f"lead{leadgen_id}@example.org"]}],
    }


def test_database_down_answers_503_never_200(post_webhook):
    body = fixture_bytes(FB_VECTOR)
    with mock.patch(
        "django.db.backends.utils.CursorWrapper.execute", side_effect=OperationalError("server closed the connection")
    ):
        response = post_webhook("facebook", body)
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "unavailable"
    assert response["Retry-After"]
    assert not WebhookEvent.objects.exists()
