"""LinkedIn webhook at the real URL: challenge validation, X-LI-Signature vectors, splitting and dedup."""

from __future__ import annotations

import hashlib
import hmac
import time

import pytest
import responses

from leads.models import Lead
from tests.webhooks.conftest import fixture_bytes
from tests.webhooks.linkedin_support import (
    BODY_ONLY_SIGNATURE,
    CHALLENGE,
    CHALLENGE_RESPONSE,
    CLIENT_SECRET,
    OWNER,
    RESPONSE_ID,
    VECTOR,
    VECTOR_SIGNATURE,
    LinkedInConnectionFactory,
    apply_settings,
    compact,
    li_sign,
    notification,
    stub_lead,
)
from webhooks.models import WebhookDelivery, WebhookEvent

pytestmark = pytest.mark.django_db

Status = WebhookEvent.Status
URL = "/webhooks/linkedin/"


@pytest.fixture(autouse=True)
def linkedin_settings(settings):
    apply_settings(settings)


@pytest.fixture
def api():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def post(client, django_capture_on_commit_callbacks):
    """POST raw bytes like LinkedIn (signed unless told otherwise) and run what the commit enqueues."""

    def run(body: bytes, *, signature: str | None = "sign", **headers):
        if signature == "sign":
            headers["HTTP_X_LI_SIGNATURE"] = li_sign(body)
        elif signature is not None:
            headers["HTTP_X_LI_SIGNATURE"] = signature
        headers.setdefault("content_type", "application/json")
        with django_capture_on_commit_callbacks(execute=True):
            return client.generic("POST", URL, body, **headers)

    return run


# --- GET challenge -----------------------------------------------------------------------------


def test_challenge_is_answered_with_the_documented_hmac_as_json_fast(client):
    started = time.monotonic()
    response = client.get(URL, {"challengeCode": CHALLENGE})
    assert time.monotonic() - started < 3  # LinkedIn waits 3 seconds
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"challengeCode": CHALLENGE, "challengeResponse": CHALLENGE_RESPONSE}


def test_revalidation_every_two_hours_keeps_working_for_new_codes(client):
    for code in (CHALLENGE, "3c1a7f0e-9d0b-4f4b-9a51-6f3d7c2e8b10"):
        body = client.get(URL, {"challengeCode": code}).json()
        expected = hmac.new(CLIENT_SECRET.encode(), code.encode(), hashlib.sha256).hexdigest()
        assert body == {"challengeCode": code, "challengeResponse": expected}


def test_challenge_without_a_code_or_a_secret_is_refused(client, settings):
    assert client.get(URL).status_code == 400
    settings.LINKEDIN_CLIENT_SECRET = ""
    response = client.get(URL, {"challengeCode": CHALLENGE})
    assert response.status_code == 403 and "challengeResponse" not in response.json()


# --- POST signature ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [VECTOR_SIGNATURE, f"hmacsha256={VECTOR_SIGNATURE}", VECTOR_SIGNATURE.upper(), f" hmacsha256={VECTOR_SIGNATURE} "],
    ids=["hex", "with-prefix", "upper-case", "padded"],
)
def test_the_readme_signature_vector_is_accepted_with_or_without_the_prefix(post, header):
    response = post(fixture_bytes(VECTOR), signature=header)
    assert response.status_code == 200, response.content
    event = WebhookEvent.objects.get()
    assert (event.provider, event.event_type, event.dedup_key, event.object_id) == (
        "linkedin",
        "lead_created",
        RESPONSE_ID,
        OWNER,
    )
    assert "X-LI-Signature" in WebhookDelivery.objects.get().headers


@pytest.mark.parametrize(
    "header",
    [None, BODY_ONLY_SIGNATURE, "hmacsha256=" + BODY_ONLY_SIGNATURE, "sha256=" + VECTOR_SIGNATURE, "", "ä" * 64],
    ids=["missing", "body-only-hmac", "body-only-with-prefix", "meta-prefix", "empty", "non-ascii"],
)
def test_wrong_or_missing_signatures_are_401_and_store_nothing(post, header):
    response = post(fixture_bytes(VECTOR), signature=header)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_signature"
    assert not WebhookDelivery.objects.exists() and not WebhookEvent.objects.exists()


def test_the_wrong_header_name_or_another_secret_is_refused(post):
    body = fixture_bytes(VECTOR)
    assert post(body, signature=None, HTTP_X_LINKEDIN_SIGNATURE=VECTOR_SIGNATURE).status_code == 401
    assert post(body, signature=li_sign(body, "some_webhook_secret")).status_code == 401
    assert not WebhookEvent.objects.exists()


def test_a_reserialized_body_does_not_match(post):
    body = fixture_bytes("linkedin/notification_docs_created.json")
    signature = li_sign(body)
    assert post(compact(notification()), signature=signature).status_code == 401
    assert post(body, signature=signature).status_code == 200


def test_no_client_secret_refuses_every_post(post, settings):
    settings.LINKEDIN_CLIENT_SECRET = ""
    body = fixture_bytes(VECTOR)
    assert post(body, signature=li_sign(body, "")).status_code == 401


# --- Splitting and dedup -------------------------------------------------------------------------


def test_the_docs_examples_parse_with_the_space_in_the_form_urn(post):
    post(fixture_bytes("linkedin/notification_docs_created.json"))
    post(fixture_bytes("linkedin/notification_docs_deleted.json"))
    created, deleted = WebhookEvent.objects.order_by("id")
    assert (created.event_type, created.dedup_key, created.object_id) == (
        "lead_created",
        "1a2b3c-4",
        "urn:li:sponsoredAccount:123",
    )
    # DELETED of the same response has its own key: it is not a repeat of CREATED.
    assert (deleted.event_type, deleted.dedup_key, deleted.object_id) == (
        "lead_deleted",
        "deleted:1a2b3c-4",
        "urn:li:organization:123",
    )
    assert created.item["notification"]["leadType"] == "SPONSORED"


def test_an_array_of_notifications_is_accepted(post):
    body = compact([notification(), notification("DELETED", response_id="other-1")])
    response = post(body)
    assert response.json() == {"status": "ok", "received": 2, "duplicates": 0, "ignored": 0}
    assert sorted(WebhookEvent.objects.values_list("dedup_key", flat=True)) == sorted(["deleted:other-1", RESPONSE_ID])


def test_unknown_actions_are_stored_as_ignored_and_answered_200(post):
    body = compact([notification("UPDATED"), {"type": "SOMETHING_ELSE", "foo": 1}])
    assert post(body).json()["ignored"] == 2
    assert set(WebhookEvent.objects.values_list("status", "event_type")) == {
        (Status.IGNORED, "lead_action.updated"),
        (Status.IGNORED, "something_else.unknown"),
    }


@pytest.mark.parametrize("body", [b"[1, 2]", b'"LEAD_ACTION"', b"{not json"])
def test_bodies_of_the_wrong_shape_are_400(post, body):
    assert post(body).status_code == 400
    assert not WebhookEvent.objects.exists()


def test_a_duplicate_notification_is_200_and_processed_once(post, api):
    LinkedInConnectionFactory(owner_urn=OWNER)
    stub_lead(api)
    body = fixture_bytes(VECTOR)
    assert post(body).json()["received"] == 1
    # LinkedIn redelivers (same bytes): already received, not fetched again, still one lead.
    assert post(body).json() == {"status": "ok", "received": 0, "duplicates": 1, "ignored": 0}
    event = WebhookEvent.objects.get()
    assert event.status == Status.PROCESSED and event.duplicates == 1
    assert len([c for c in api.calls if "leadFormResponses" in c.request.url]) == 1
    assert Lead.objects.count() == 1


def test_the_ip_allowlist_applies_to_linkedin(post, settings):
    settings.WEBHOOK_IP_ALLOWLIST_LINKEDIN = ["203.0.113.0/24"]
    assert post(fixture_bytes(VECTOR)).status_code == 403
