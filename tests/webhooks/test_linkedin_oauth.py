"""LinkedIn OAuth 2.0 round trip against a stub token endpoint, and the token refresh beat task."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import pytest
import requests
import responses
from django.contrib.messages import get_messages
from django.utils import timezone, translation
from django.utils.translation import gettext

from accounts.models import Notification
from compliance.models import AuditEvent
from tests.webhooks.conftest import fixture_bytes
from tests.webhooks.linkedin_support import (
    API,
    CALLBACK,
    OAUTH,
    OWNER,
    VECTOR,
    LinkedInConnectionFactory,
    apply_settings,
    li_sign,
)
from webhooks.linkedin_oauth import SESSION_KEY, STATE_TTL_SECONDS
from webhooks.models import LinkedInConnection, WebhookEvent
from webhooks.tasks import linkedin_tokens_refresh_task

pytestmark = pytest.mark.django_db

CONNECT = "/integrations/linkedin/connect/"
CALLBACK_PATH = "/integrations/linkedin/callback/"
CHANGELIST = "/admin/webhooks/linkedinconnection/"
TOKEN_URL = f"{OAUTH}/accessToken"


@pytest.fixture(autouse=True)
def linkedin_settings(settings):
    apply_settings(settings)


@pytest.fixture
def oauth():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def start(client, owner: str = OWNER) -> str:
    """Follow the connect link like the admin's browser; return the state LinkedIn would echo."""
    response = client.get(CONNECT, {"owner": owner} if owner else {})
    assert response.status_code == 302, response.content
    return parse_qs(urlparse(response["Location"]).query)["state"][0]


def callback(client, lang: str = "en", **params):
    return client.get(CALLBACK_PATH, params, HTTP_ACCEPT_LANGUAGE=lang)


def shown(response) -> list[tuple[str, str]]:
    """Messages added while handling this request (earlier ones wait in the session until a page shows them)."""
    storage = get_messages(response.wsgi_request)
    return [(m.level_tag, str(m)) for m in storage._queued_messages]


# --- Start ---------------------------------------------------------------------------------------


def test_connect_redirects_to_linkedin_with_a_random_state_kept_in_the_session(admin_client):
    response = admin_client.get(CONNECT, {"owner": OWNER})
    location = urlparse(response["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == f"{OAUTH}/authorization"
    query = parse_qs(location.query)
    assert query["response_type"] == ["code"] and query["client_id"] == ["test_client_id"]
    assert query["redirect_uri"] == [CALLBACK]
    assert query["scope"] == ["r_marketing_leadgen_automation r_ads"]
    assert "scope=r_marketing_leadgen_automation%20r_ads" in location.query  # space-delimited, %20
    state = query["state"][0]
    assert len(state) >= 40 and admin_client.session[SESSION_KEY]["state"] == state
    assert admin_client.session[SESSION_KEY]["owner"] == OWNER
    assert start(admin_client) != state  # a new state every time


def test_only_platform_admins_may_start_or_finish(client, ops_user, partner_user):
    assert client.get(CONNECT)["Location"].startswith("/admin/login/")  # anonymous → admin login
    client.force_login(ops_user)
    assert client.get(CONNECT).status_code == 403
    assert client.get(CALLBACK_PATH, {"state": "x", "code": "y"}).status_code == 403
    client.force_login(partner_user)
    assert client.get(CONNECT)["Location"].startswith("/admin/login/")


def test_connect_refuses_an_invalid_owner_and_a_missing_configuration(admin_client, settings):
    response = admin_client.get(CONNECT, {"owner": "1234567"}, HTTP_ACCEPT_LANGUAGE="en")
    assert response["Location"] == CHANGELIST
    assert "not a LinkedIn owner URN" in shown(response)[0][1]
    settings.LINKEDIN_CLIENT_ID = ""
    response = admin_client.get(CONNECT, HTTP_ACCEPT_LANGUAGE="en")
    assert response["Location"] == CHANGELIST and "not configured" in shown(response)[0][1]


# --- Round trip -----------------------------------------------------------------------------------


def test_round_trip_exchanges_the_code_and_stores_the_tokens_encrypted(admin_client, admin_user, oauth):
    oauth.post(TOKEN_URL, body=fixture_bytes("linkedin/oauth_token.json"), content_type="application/json")
    state = start(admin_client)
    response = callback(admin_client, state=state, code="AQTQmah11lalyH65DAIivsjsAQV5P")
    assert response.status_code == 302 and response["Location"] == CHANGELIST
    assert shown(response) == [("success", f"LinkedIn account connected: {OWNER}.")]

    (call,) = oauth.calls
    assert call.request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert parse_qs(call.request.body) == {
        "grant_type": ["authorization_code"],
        "code": ["AQTQmah11lalyH65DAIivsjsAQV5P"],
        "redirect_uri": [CALLBACK],
        "client_id": ["test_client_id"],
        "client_secret": ["test_client_secret"],
    }
    connection = LinkedInConnection.objects.get()
    assert connection.owner_urn == OWNER and connection.connected_by == admin_user
    assert connection.access_token == "AQV_access_token_from_the_code"
    assert connection.refresh_token == "AQX_refresh_token_from_the_code"
    assert connection.scopes == "r_marketing_leadgen_automation r_ads"  # comma-separated in the answer
    now = timezone.now()
    assert timedelta(days=59) < connection.access_token_expires_at - now <= timedelta(days=60)
    assert timedelta(days=364) < connection.refresh_token_expires_at - now <= timedelta(days=365)
    assert AuditEvent.objects.filter(event_type="linkedin_connection.connected", actor=admin_user).exists()

    # The state is single-use: replaying the callback changes nothing.
    again = callback(admin_client, state=state, code="AQTQmah11lalyH65DAIivsjsAQV5P")
    assert again["Location"] == CHANGELIST and shown(again)[0][0] == "error"
    assert len(oauth.calls) == 1


def test_without_an_owner_the_members_ad_accounts_are_connected(admin_client, oauth):
    oauth.post(TOKEN_URL, body=fixture_bytes("linkedin/oauth_token_docs_minimal.json"))
    oauth.get(f"{API}/rest/adAccounts", body=fixture_bytes("linkedin/ad_accounts_postman.json"))
    response = callback(admin_client, state=start(admin_client, owner=""), code="code")
    assert response["Location"] == CHANGELIST
    connections = {c.owner_urn: c for c in LinkedInConnection.objects.all()}
    assert set(connections) == {"urn:li:sponsoredAccount:1234567", "urn:li:sponsoredAccount:5678910"}
    assert connections["urn:li:sponsoredAccount:1234567"].name == "Ad Account A"
    # The documented minimal answer: no refresh token, 60 days.
    assert all(c.refresh_token == "" and c.refresh_token_expires_at is None for c in connections.values())
    listing = oauth.calls[1].request
    assert listing.headers["Authorization"] == "Bearer AQUvlL_DYEzvT2wz1QJiEPeLioeA"
    assert "search=(status:(values:List(ACTIVE)))" in listing.url
    assert shown(response) == [("success", "2 LinkedIn accounts connected: Ad Account A, New Ad Account B.")]


def test_reconnecting_a_broken_connection_replays_its_failed_events(
    admin_client, oauth, client, django_capture_on_commit_callbacks
):
    connection = LinkedInConnectionFactory(owner_urn=OWNER, status="broken", last_error="HTTP 401")
    body = fixture_bytes(VECTOR)
    client.generic(
        "POST", "/webhooks/linkedin/", body, content_type="application/json", HTTP_X_LI_SIGNATURE=li_sign(body)
    )
    from webhooks.services import webhook_event_process

    webhook_event_process(event_id=WebhookEvent.objects.get().pk)
    assert WebhookEvent.objects.get().error_code == "token_invalid"
    oauth.post(TOKEN_URL, body=fixture_bytes("linkedin/oauth_token.json"))
    oauth.get(f"{API}/rest/leadFormResponses/249592fc-d272-44ba-a7db-c2bdce579507-6", status=503)
    with django_capture_on_commit_callbacks(execute=True):
        callback(admin_client, state=start(admin_client), code="code")
    connection.refresh_from_db()
    assert connection.status == "ok" and connection.broken_at is None
    # Replayed after the commit: the event went back to the queue and was tried with the new token.
    event = WebhookEvent.objects.get()
    assert event.error_code == "retrying"
    assert oauth.calls[-1].request.headers["Authorization"] == "Bearer AQV_access_token_from_the_code"


# --- Failures, shown in the admin's language --------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        {"state": "forged-state", "code": "code"},
        {"code": "code"},
        {"state": "", "code": "code"},
    ],
    ids=["wrong-state", "no-state", "empty-state"],
)
def test_a_bad_state_is_refused_before_the_code_is_used(admin_client, oauth, params):
    start(admin_client)
    response = callback(admin_client, **params)
    assert response["Location"] == CHANGELIST
    assert shown(response) == [
        (
            "error",
            "The answer from LinkedIn does not belong to a connection started here, or it came too late. "
            "Nothing was changed; please start the connection again.",
        )
    ]
    assert not oauth.calls and not LinkedInConnection.objects.exists()


def test_a_callback_without_a_started_flow_or_too_late_is_refused(admin_client, oauth):
    assert shown(callback(admin_client, state="anything", code="code"))[0][0] == "error"
    state = start(admin_client)
    session = admin_client.session
    session[SESSION_KEY] = {
        **session[SESSION_KEY],
        "issued_at": session[SESSION_KEY]["issued_at"] - STATE_TTL_SECONDS - 1,
    }
    session.save()
    assert "came too late" in shown(callback(admin_client, state=state, code="code"))[0][1]
    assert not oauth.calls


def test_denied_consent_is_reported_and_nothing_changes(admin_client, oauth):
    state = start(admin_client)
    response = callback(
        admin_client,
        state=state,
        error="user_cancelled_authorize",
        error_description="The user cancelled the authorization",
    )
    assert response["Location"] == CHANGELIST
    assert shown(response) == [("error", "The LinkedIn authorization was cancelled. Nothing was changed.")]
    assert not oauth.calls and not LinkedInConnection.objects.exists()


@pytest.mark.parametrize(
    ("status", "fixture", "expected"),
    [
        (400, "oauth_error_invalid_redirect_uri.json", "LinkedIn did not accept the authorization code (HTTP 400, "),
        (400, "oauth_error_code_not_found.json", "authorization code not found"),
        (503, None, "LinkedIn's token service is not reachable right now (HTTP 503"),
    ],
)
def test_token_endpoint_errors_are_shown_to_the_admin(admin_client, oauth, status, fixture, expected):
    body = fixture_bytes(f"linkedin/{fixture}") if fixture else b"<html>unavailable</html>"
    oauth.post(TOKEN_URL, body=body, status=status)
    response = callback(admin_client, state=start(admin_client), code="code")
    assert response["Location"] == CHANGELIST
    ((level, text),) = shown(response)
    assert level == "error" and expected in text
    assert not LinkedInConnection.objects.exists()


def test_a_token_endpoint_timeout_is_shown_too(admin_client, oauth):
    oauth.post(TOKEN_URL, body=requests.Timeout("read timed out"))
    response = callback(admin_client, state=start(admin_client), code="code")
    assert "not reachable right now (no response" in shown(response)[0][1]


def test_messages_follow_the_admins_language_german_by_default(admin_client, oauth):
    start(admin_client)
    response = callback(admin_client, lang="de", state="forged", code="code")
    source = (
        "The answer from LinkedIn does not belong to a connection started here, or it came too late. "
        "Nothing was changed; please start the connection again."
    )
    with translation.override("de"):
        german = gettext(source)
    assert shown(response) == [("error", german)]


# --- Token refresh (beat) ---------------------------------------------------------------------------


def test_the_beat_task_refreshes_tokens_that_expire_within_a_week(oauth):
    now = timezone.now()
    due = LinkedInConnectionFactory(
        access_token="AQV_old",
        refresh_token="AQX_refresh",
        access_token_expires_at=now + timedelta(days=6),
        refresh_token_expires_at=now + timedelta(days=300),
    )
    fresh = LinkedInConnectionFactory(refresh_token="AQX_other", access_token_expires_at=now + timedelta(days=30))
    oauth.post(TOKEN_URL, body=fixture_bytes("linkedin/oauth_token_refreshed.json"))
    assert linkedin_tokens_refresh_task() == {"refreshed": 1, "broken": 0, "retry_later": 0, "expiring": 0}
    assert parse_qs(oauth.calls[0].request.body)["refresh_token"] == ["AQX_refresh"]
    due.refresh_from_db()
    assert due.access_token == "AQV_access_token_refreshed" and due.token_refreshed_at is not None
    assert timedelta(days=59) < due.access_token_expires_at - timezone.now() <= timedelta(days=60)
    # refresh_token_expires_in shrinks on every refresh (its lifetime does not reset).
    assert timedelta(days=299) < due.refresh_token_expires_at - timezone.now() <= timedelta(days=300)
    fresh.refresh_from_db()
    assert fresh.token_refreshed_at is None
    # Within the same hour nothing is refreshed twice.
    assert linkedin_tokens_refresh_task()["refreshed"] == 0 and len(oauth.calls) == 1


def test_a_revoked_refresh_token_breaks_the_connection_and_notifies_once(oauth, admin_user, ops_user):
    connection = LinkedInConnectionFactory(
        refresh_token="AQX_revoked", access_token_expires_at=timezone.now() + timedelta(days=2)
    )
    oauth.post(TOKEN_URL, body=fixture_bytes("linkedin/oauth_error_invalid_grant.json"), status=400)
    assert linkedin_tokens_refresh_task()["broken"] == 1
    connection.refresh_from_db()
    assert connection.is_broken and "invalid_grant" in connection.last_error
    notices = Notification.objects.filter(kind=Notification.Kind.CONNECTION)
    assert sorted(n.recipient_id for n in notices) == sorted([admin_user.pk, ops_user.pk])
    # A broken connection is left alone by the next runs.
    assert linkedin_tokens_refresh_task() == {"refreshed": 0, "broken": 0, "retry_later": 0, "expiring": 0}
    assert Notification.objects.count() == 2 and len(oauth.calls) == 1


def test_an_expired_token_without_refresh_token_is_marked_broken(admin_user):
    connection = LinkedInConnectionFactory(access_token_expires_at=timezone.now() - timedelta(minutes=1))
    with translation.override("en"):
        assert linkedin_tokens_refresh_task()["broken"] == 1
    connection.refresh_from_db()
    assert connection.is_broken and "expired" in connection.last_error
    assert Notification.objects.filter(recipient=admin_user, kind=Notification.Kind.CONNECTION).count() == 1


def test_a_token_that_cannot_be_refreshed_warns_once_before_it_expires(admin_user, oauth):
    connection = LinkedInConnectionFactory(access_token_expires_at=timezone.now() + timedelta(days=3))
    with translation.override("en"):
        assert linkedin_tokens_refresh_task()["expiring"] == 1
        assert linkedin_tokens_refresh_task()["expiring"] == 0  # the same warning is not repeated
    notice = Notification.objects.get(recipient=admin_user)
    assert "expires soon" in notice.title and notice.url.endswith(f"/{connection.pk}/change/")
    connection.refresh_from_db()
    assert connection.status == "ok" and not oauth.calls


def test_a_refresh_token_ending_before_the_access_token_is_not_refreshed_in_a_loop(oauth, admin_user):
    now = timezone.now()
    LinkedInConnectionFactory(
        refresh_token="AQX_ending",
        access_token_expires_at=now + timedelta(days=4),
        refresh_token_expires_at=now + timedelta(days=4),
    )
    assert linkedin_tokens_refresh_task()["expiring"] == 1
    assert not oauth.calls


def test_a_token_endpoint_outage_is_tried_again_later_without_breaking(oauth):
    connection = LinkedInConnectionFactory(
        refresh_token="AQX_refresh", access_token_expires_at=timezone.now() + timedelta(days=1)
    )
    oauth.post(TOKEN_URL, status=502, body="bad gateway")
    assert linkedin_tokens_refresh_task()["retry_later"] == 1
    connection.refresh_from_db()
    assert connection.status == "ok" and "HTTP 502" in connection.last_error and connection.access_token_expires_at


def test_the_refresh_task_is_on_the_beat_schedule(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["linkedin-token-refresh"]
    assert entry["task"] == "webhooks.linkedin_tokens_refresh_task"
    assert entry["schedule"] <= timedelta(hours=1)


# --- Admin ----------------------------------------------------------------------------------------


def test_admin_action_refreshes_tokens_and_reports_what_it_could_not(admin_client, oauth):
    now = timezone.now()
    ok = LinkedInConnectionFactory(refresh_token="AQX_refresh", access_token_expires_at=now + timedelta(days=20))
    without = LinkedInConnectionFactory(name="Ohne Refresh")
    oauth.post(TOKEN_URL, body=fixture_bytes("linkedin/oauth_token_refreshed.json"))
    response = admin_client.post(
        CHANGELIST,
        {"action": "refresh_tokens", "_selected_action": [ok.pk, without.pk]},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 302
    levels = sorted(level for level, _text in shown(response))
    assert levels == ["error", "success"]
    ok.refresh_from_db()
    without.refresh_from_db()
    assert ok.access_token == "AQV_access_token_refreshed" and without.status == "ok"


def test_changelist_query_count_does_not_grow_with_the_rows(admin_client, django_assert_max_num_queries):
    from tests.accounts.factories import PartnerFactory

    LinkedInConnectionFactory(partner=PartnerFactory())
    with django_assert_max_num_queries(12) as one:
        admin_client.get(CHANGELIST)
    for _ in range(5):
        LinkedInConnectionFactory(partner=PartnerFactory())
    with django_assert_max_num_queries(len(one.captured_queries)):
        assert admin_client.get(CHANGELIST).status_code == 200
