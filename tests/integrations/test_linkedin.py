"""The LinkedIn client alone: URNs, Rest.li requests, error classes and the OAuth token endpoint."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs

import pytest
import requests
import responses

from integrations.linkedin.client import (
    LinkedInClient,
    LinkedInOAuthError,
    LinkedInOAuthTransientError,
    LinkedInPermanentError,
    LinkedInRateLimitError,
    LinkedInTokenError,
    LinkedInTransientError,
    form_ref_of,
    owner_kind,
    owner_param,
    owner_urn_of,
    response_id_of,
    token_exchange,
    token_refresh,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "linkedin"
API = "https://api.linkedin.test"
OAUTH = "https://www.linkedin.test/oauth/v2"
OWNER = "urn:li:sponsoredAccount:1234567"


@pytest.fixture(autouse=True)
def linkedin_settings(settings):
    settings.LINKEDIN_CLIENT_ID = "test_client_id"
    settings.LINKEDIN_CLIENT_SECRET = "test_client_secret"
    settings.LINKEDIN_API_URL = API
    settings.LINKEDIN_OAUTH_URL = OAUTH
    settings.LINKEDIN_VERSION = "202601"
    return settings


@pytest.fixture
def api():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def test_urns():
    assert response_id_of("urn:li:leadGenFormResponse:abc-1") == "abc-1"
    assert response_id_of("abc-1") == "abc-1" and response_id_of("urn:li:other:1") == ""
    assert form_ref_of("urn:li:versionedLeadGenForm:(urn:li:leadGenForm:7234246, 1)") == ("7234246", "1")
    assert owner_urn_of({"sponsoredAccount": OWNER}) == OWNER and owner_urn_of(OWNER) == OWNER
    assert owner_kind(OWNER) == "sponsoredAccount" and owner_kind("urn:li:person:1") == ""
    assert owner_param(OWNER) == "(sponsoredAccount:urn%3Ali%3AsponsoredAccount%3A1234567)"


def test_the_finder_keeps_restli_structure_and_sends_the_version_headers(api):
    api.get(f"{API}/rest/leadFormResponses", json={"elements": []})
    LinkedInClient("AQV_token").lead_form_responses(owner_urn=OWNER, lead_type="SPONSORED", start=10, count=5)
    request = api.calls[0].request
    assert f"owner={owner_param(OWNER)}" in request.url and "leadType=(leadType:SPONSORED)" in request.url
    assert request.headers["Authorization"] == "Bearer AQV_token"
    assert request.headers["LinkedIn-Version"] == "202601"
    assert request.headers["X-Restli-Protocol-Version"] == "2.0.0"


@pytest.mark.parametrize(
    ("name", "status", "error_class"),
    [
        ("error_401_expired.json", 401, LinkedInTokenError),
        ("error_403_access_denied.json", 403, LinkedInPermanentError),
        ("error_429.json", 429, LinkedInRateLimitError),
    ],
)
def test_errors_are_classified_by_what_the_caller_must_do(api, name, status, error_class):
    api.get(f"{API}/rest/leadForms/1", body=fixture(name), status=status, content_type="application/json")
    with pytest.raises(error_class) as caught:
        LinkedInClient("AQV_token").lead_form("1")
    assert "AQV_token" not in caught.value.summary()


def test_a_429_without_retry_after_waits_the_default_and_5xx_and_timeouts_are_transient(api):
    api.get(f"{API}/rest/leadForms/1", body=fixture("error_429.json"), status=429)
    with pytest.raises(LinkedInRateLimitError) as caught:
        LinkedInClient("t").lead_form("1")
    assert caught.value.retry_after == 300
    api.replace(responses.GET, f"{API}/rest/leadForms/1", status=502, body="Bad Gateway")
    with pytest.raises(LinkedInTransientError):
        LinkedInClient("t").lead_form("1")
    api.replace(responses.GET, f"{API}/rest/leadForms/1", body=requests.ConnectionError("reset"))
    with pytest.raises(LinkedInTransientError):
        LinkedInClient("t").lead_form("1")


def test_token_exchange_posts_the_client_credentials_and_reads_the_token_set(api):
    api.post(f"{OAUTH}/accessToken", body=fixture("oauth_token.json"), content_type="application/json")
    tokens = token_exchange(code="the-code", redirect_uri="https://leads.example.test/cb/")
    form = parse_qs(api.calls[0].request.body)
    assert form["grant_type"] == ["authorization_code"] and form["client_secret"] == ["test_client_secret"]
    assert tokens.access_token == "AQV_access_token_from_the_code" and tokens.expires_in == 5184000
    assert tokens.refresh_token == "AQX_refresh_token_from_the_code"
    assert tokens.scopes == ("r_marketing_leadgen_automation", "r_ads")


def test_a_refused_refresh_needs_a_human_and_an_outage_is_transient(api):
    api.post(f"{OAUTH}/accessToken", body=fixture("oauth_error_invalid_grant.json"), status=400)
    with pytest.raises(LinkedInOAuthError) as caught:
        token_refresh(refresh_token="AQX_old")
    assert not isinstance(caught.value, LinkedInOAuthTransientError) and caught.value.error == "invalid_grant"
    api.replace(responses.POST, f"{OAUTH}/accessToken", status=503, body="")
    with pytest.raises(LinkedInOAuthTransientError):
        token_refresh(refresh_token="AQX_old")
