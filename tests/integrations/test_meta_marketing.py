"""The Marketing API client alone: request bodies of a booking, multi-id reads and the error classes."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlparse

import pytest
import responses

from integrations.meta.graph import (
    GraphInvalidParameterError,
    GraphPermanentError,
    GraphPermissionError,
    GraphRateLimitError,
    GraphVersionError,
    GraphWindowClosedError,
    graph_paused_for,
)
from integrations.meta.marketing import MarketingClient, issue_texts, marketing_settings_missing

GRAPH = "https://graph.test/v25.0"
ACCOUNT, PAGE, TOKEN = "1234567890", "104857600012345", "EAASystemUserToken"


@pytest.fixture(autouse=True)
def ads_settings(settings):
    settings.META_GRAPH_API_URL = GRAPH
    settings.META_APP_SECRET = ""
    settings.META_ADS_ACCESS_TOKEN = TOKEN
    settings.META_AD_ACCOUNT_ID = ACCOUNT
    settings.META_ADS_PAGE_ID = PAGE
    return settings


@pytest.fixture(autouse=True)
def _clear_pauses():
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def graph():
    with responses.RequestsMock() as mock:
        yield mock


def sent(call) -> dict:
    return json.loads(call.request.body)


def error(code: int, *, status: int = 400, subcode: int | None = None, **extra) -> dict:
    body = {"message": f"(#{code}) Fehler", "type": "OAuthException", "code": code, "fbtrace_id": "AbC123"}
    if subcode:
        body["error_subcode"] = subcode
    return {"json": {"error": {**body, **extra}}, "status": status}


def test_campaign_is_created_paused_for_leads_under_housing_on_the_ad_account(graph):
    graph.post(f"{GRAPH}/act_{ACCOUNT}/campaigns", json={"id": "120212345678901234"})
    assert MarketingClient().create_campaign(name="LP-1", countries=["DE", "AT"]) == "120212345678901234"
    body = sent(graph.calls[0])
    assert body["objective"] == "OUTCOME_LEADS" and body["status"] == "PAUSED"
    assert body["special_ad_categories"] == ["HOUSING"] and body["special_ad_category_country"] == ["DE", "AT"]
    assert body["bid_strategy"] == "LOWEST_COST_WITHOUT_CAP"
    assert parse_qs(urlparse(graph.calls[0].request.url).query)["access_token"] == [TOKEN]


def test_ad_set_has_lead_generation_on_ad_budget_dsa_and_no_age_gender_or_postcode(graph):
    graph.post(f"{GRAPH}/act_{ACCOUNT}/adsets", json={"id": "2"})
    geo = {"cities": [{"key": "2519536", "radius": 20, "distance_unit": "kilometer"}]}
    MarketingClient().create_adset(
        name="LP-1-adset",
        campaign_id="1",
        lifetime_budget=50000,
        start_time="2026-10-05T08:00:00+0200",
        end_time="2026-11-05T23:59:00+0100",
        geo_locations=geo,
        dsa_beneficiary="Maklerbüro Muster",
        dsa_payor="Lead-Plattform",
    )
    body = sent(graph.calls[0])
    assert body["optimization_goal"] == "LEAD_GENERATION" and body["billing_event"] == "IMPRESSIONS"
    assert body["destination_type"] == "ON_AD" and body["promoted_object"] == {"page_id": PAGE}
    assert body["lifetime_budget"] == 50000 and body["status"] == "PAUSED"
    assert body["dsa_beneficiary"] == "Maklerbüro Muster" and body["dsa_payor"] == "Lead-Plattform"
    assert body["targeting"] == {"geo_locations": geo, "targeting_automation": {"advantage_audience": 0}}


def test_lead_form_lives_on_the_page_with_german_locale_and_a_short_privacy_link_text(graph):
    graph.post(f"{GRAPH}/{PAGE}/leadgen_forms", json={"id": "1234567890123456"})
    form_id = MarketingClient().create_lead_form(
        name="LP-1-form",
        questions=[{"type": "EMAIL", "key": "email"}],
        privacy_policy_url="https://example.de/datenschutz",
        privacy_policy_text="D" * 90,
        thank_you_page={"title": "Danke!"},
    )
    body = sent(graph.calls[0])
    assert form_id == "1234567890123456" and body["locale"] == "DE_DE"
    assert body["questions"] == [{"type": "EMAIL", "key": "email"}]
    assert body["privacy_policy"] == {"url": "https://example.de/datenschutz", "link_text": "D" * 70}


def test_image_hash_then_creative_with_the_form_button_and_a_paused_ad(graph):
    graph.post(f"{GRAPH}/act_{ACCOUNT}/adimages", json={"images": {"bytes": {"hash": "abc123hash", "url": "x"}}})
    graph.post(f"{GRAPH}/act_{ACCOUNT}/adcreatives", json={"id": "3"})
    graph.post(f"{GRAPH}/act_{ACCOUNT}/ads", json={"id": "4"})
    client = MarketingClient()
    image_hash = client.upload_image(content=b"\x89PNG", filename="bild.png")
    creative = client.create_creative(
        name="c",
        message="Text",
        headline="Titel",
        description="",
        image_hash=image_hash,
        call_to_action="LEARN_MORE",
        form_id="99",
    )
    assert (image_hash, creative, client.create_ad(name="a", adset_id="2", creative_id="3")) == ("abc123hash", "3", "4")
    spec = sent(graph.calls[1])["object_story_spec"]
    assert spec["page_id"] == PAGE and spec["link_data"]["link"] == "http://fb.me/"
    assert spec["link_data"]["image_hash"] == "abc123hash"
    assert spec["link_data"]["call_to_action"] == {"type": "LEARN_MORE", "value": {"lead_gen_form_id": "99"}}
    assert sent(graph.calls[2]) == {"name": "a", "adset_id": "2", "creative": {"creative_id": "3"}, "status": "PAUSED"}


def test_a_create_answer_without_id_is_an_error(graph):
    graph.post(f"{GRAPH}/act_{ACCOUNT}/ads", json={"success": True})
    with pytest.raises(GraphPermanentError):
        MarketingClient().create_ad(name="a", adset_id="2", creative_id="3")


def test_statuses_are_read_fifty_ids_per_request(graph):
    ids = [str(1000 + n) for n in range(51)]
    graph.get(GRAPH + "/", json={i: {"id": i, "effective_status": "ACTIVE"} for i in ids[:50]})
    graph.get(GRAPH + "/", json={ids[50]: {"id": ids[50], "effective_status": "PAUSED"}})
    nodes = MarketingClient().read_statuses(ids)
    assert len(graph.calls) == 2 and len(nodes) == 51 and nodes[ids[50]]["effective_status"] == "PAUSED"
    query = parse_qs(urlparse(graph.calls[0].request.url).query)
    assert query["ids"] == [",".join(ids[:50])] and "issues_info" in query["fields"][0]


def test_invalid_parameter_carries_metas_user_title_and_message(graph):
    graph.post(
        f"{GRAPH}/act_{ACCOUNT}/campaigns",
        **error(100, subcode=1885272, error_user_title="Budget zu niedrig", error_user_msg="Mindestens 1,00 €."),
    )
    with pytest.raises(GraphInvalidParameterError) as caught:
        MarketingClient().create_campaign(name="x", countries=["DE"])
    exc = caught.value
    assert isinstance(exc, GraphPermanentError)  # webhooks' handlers still treat it as permanent
    assert (exc.code, exc.subcode, exc.fbtrace_id) == (100, 1885272, "AbC123")
    assert (exc.user_title, exc.user_msg) == ("Budget zu niedrig", "Mindestens 1,00 €.")


@pytest.mark.parametrize(
    ("code", "subcode", "cls"),
    [
        (2635, None, GraphVersionError),
        (10, None, GraphPermissionError),
        (200, None, GraphPermissionError),
        (294, None, GraphPermissionError),
        (10, 2018278, GraphWindowClosedError),
    ],
)
def test_version_and_permission_errors_are_classified(graph, code, subcode, cls):
    graph.post(f"{GRAPH}/123", **error(code, subcode=subcode, status=403 if code != 2635 else 400))
    with pytest.raises(cls) as caught:
        MarketingClient().set_status("123", "ACTIVE")
    assert isinstance(caught.value, GraphPermanentError) and caught.value.code == code


def test_ad_account_throttling_waits_as_the_usage_header_says(graph):
    usage = {"acc_id_util_pct": 99.5, "reset_time_duration": 120, "ads_api_access_tier": "standard_access"}
    graph.post(f"{GRAPH}/123", **error(613, subcode=1487742), headers={"X-Ad-Account-Usage": json.dumps(usage)})
    client = MarketingClient()
    with pytest.raises(GraphRateLimitError) as caught:
        client.set_status("123", "PAUSED")
    assert caught.value.retry_after == 120
    assert 100 < graph_paused_for(client.scope) <= 120
    with pytest.raises(GraphRateLimitError):  # paused: no second call goes out
        client.set_status("123", "PAUSED")
    assert len(graph.calls) == 1


def test_low_ad_account_usage_does_not_pause_and_the_buc_header_alias_is_read(graph):
    graph.post(
        f"{GRAPH}/1",
        json={"success": True},
        headers={"X-Ad-Account-Usage": json.dumps({"acc_id_util_pct": 9.67, "reset_time_duration": 100})},
    )
    buc = {ACCOUNT: [{"type": "ads_management", "call_count": 100, "estimated_time_to_regain_access": 7}]}
    graph.post(f"{GRAPH}/2", json={"success": True}, headers={"X-Business-Use-Case": json.dumps(buc)})
    client = MarketingClient()
    assert client.set_status("1", "ACTIVE") is True
    assert graph_paused_for(client.scope) == 0  # reset_time_duration is seconds, not a percentage
    client.set_status("2", "ACTIVE")
    assert 400 < graph_paused_for(client.scope) <= 420


def test_missing_settings_are_named_and_issue_texts_read_issues_and_review_feedback(settings):
    settings.META_ADS_ACCESS_TOKEN = ""
    settings.META_ADS_PAGE_ID = ""
    assert marketing_settings_missing() == ["META_ADS_ACCESS_TOKEN", "META_ADS_PAGE_ID"]
    node = {
        "issues_info": [{"error_code": 2909035, "error_summary": "Zielgruppe", "error_message": "Radius zu klein"}],
        "ad_review_feedback": {"global": {"Immobilien": "Anzeige verstößt gegen Richtlinien"}},
    }
    assert issue_texts(node) == ["Zielgruppe: Radius zu klein", "Immobilien: Anzeige verstößt gegen Richtlinien"]
