"""The Graph client alone: auth parameters, error classes and the pause after throttling."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
import requests
import responses

from integrations.meta.graph import (
    LEAD_FIELDS,
    GraphClient,
    GraphPermanentError,
    GraphRateLimitError,
    GraphTokenError,
    GraphTransientError,
    GraphWindowClosedError,
    graph_paused_for,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
GRAPH = "https://graph.test/v21.0"
TOKEN = "EAAPageToken"
LEAD_ID = "123123123123"


@pytest.fixture(autouse=True)
def graph_settings(settings):
    settings.META_GRAPH_API_URL = GRAPH
    settings.META_APP_SECRET = "test_app_secret"
    return settings


@pytest.fixture
def graph():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def error_body(name: str) -> bytes:
    return (FIXTURES / "facebook" / name).read_bytes()


def test_a_lead_is_fetched_with_the_spec_fields_token_and_appsecret_proof(graph):
    graph.get(f"{GRAPH}/{LEAD_ID}", json={"id": LEAD_ID})
    assert GraphClient(TOKEN).lead(LEAD_ID) == {"id": LEAD_ID}
    query = parse_qs(urlparse(graph.calls[0].request.url).query)
    assert query["fields"] == [LEAD_FIELDS] and query["access_token"] == [TOKEN]
    assert query["appsecret_proof"] == [hmac.new(b"test_app_secret", TOKEN.encode(), hashlib.sha256).hexdigest()]


def test_no_appsecret_proof_without_an_app_secret(graph, settings):
    settings.META_APP_SECRET = ""
    graph.get(f"{GRAPH}/{LEAD_ID}", json={"id": LEAD_ID})
    GraphClient(TOKEN).lead(LEAD_ID)
    assert "appsecret_proof" not in parse_qs(urlparse(graph.calls[0].request.url).query)


@pytest.mark.parametrize(
    ("fixture", "status", "error_class"),
    [
        ("graph_error_190.json", 400, GraphTokenError),
        ("graph_error_17.json", 400, GraphRateLimitError),
        ("graph_error_80004.json", 403, GraphRateLimitError),
        ("graph_error_2.json", 500, GraphTransientError),
        ("graph_error_803.json", 400, GraphPermanentError),
    ],
)
def test_errors_are_classified_by_what_the_caller_must_do(graph, fixture, status, error_class):
    graph.get(f"{GRAPH}/{LEAD_ID}", body=error_body(fixture), status=status, content_type="application/json")
    with pytest.raises(error_class) as caught:
        GraphClient(TOKEN).lead(LEAD_ID)
    assert type(caught.value) is error_class
    assert TOKEN not in caught.value.summary()


def test_a_closed_messaging_window_is_its_own_permanent_error(graph):
    body = {"error": {"message": "outside the allowed window", "code": 10, "error_subcode": 2018278}}
    graph.post(f"{GRAPH}/me/messages", json=body, status=400)
    with pytest.raises(GraphWindowClosedError):
        GraphClient(TOKEN).send_message("1789", "Hallo")


def test_timeouts_and_bodies_that_are_not_json_are_transient(graph):
    graph.get(f"{GRAPH}/{LEAD_ID}", body=requests.Timeout("read timed out"))
    with pytest.raises(GraphTransientError):
        GraphClient(TOKEN).lead(LEAD_ID)
    graph.replace(responses.GET, f"{GRAPH}/{LEAD_ID}", body="<html>ok</html>", status=200)
    with pytest.raises(GraphTransientError):
        GraphClient(TOKEN).lead(LEAD_ID)


def test_throttling_pauses_further_calls_of_that_token_only(graph):
    usage = {"1": [{"type": "pages", "call_count": 100, "estimated_time_to_regain_access": 15}]}
    graph.get(
        f"{GRAPH}/{LEAD_ID}",
        body=error_body("graph_error_32.json"),
        status=400,
        content_type="application/json",
        headers={"X-Business-Use-Case-Usage": json.dumps(usage)},
    )
    client = GraphClient(TOKEN)
    with pytest.raises(GraphRateLimitError) as caught:
        client.lead(LEAD_ID)
    assert caught.value.retry_after == 15 * 60
    assert graph_paused_for(client.scope) > 14 * 60
    with pytest.raises(GraphRateLimitError):
        client.lead("other-lead")  # paused: no call
    assert len(graph.calls) == 1
    assert graph_paused_for(GraphClient("another-token").scope) == 0


def test_app_usage_near_the_limit_pauses_every_token(graph):
    graph.get(f"{GRAPH}/{LEAD_ID}", json={"id": LEAD_ID}, headers={"X-App-Usage": json.dumps({"call_count": 96})})
    assert GraphClient(TOKEN).lead(LEAD_ID) == {"id": LEAD_ID}
    assert graph_paused_for(GraphClient("another-token").scope) > 0
