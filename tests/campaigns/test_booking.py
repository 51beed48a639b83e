"""Booking a pending campaign through the Marketing API, continuing after failures, and attaching ids by hand."""

from __future__ import annotations

import json
from urllib.parse import urlparse

import pytest
import responses
from django.db import connections

from campaigns.models import AdCampaign, CampaignStatusChange
from campaigns.services.booking import (
    BOOKING_LOCK_NAMESPACE,
    MetaNotConfigured,
    MetaRejectedError,
    MetaUpstreamError,
    campaign_attach_ids,
    campaign_book,
    meta_error_message_de,
)
from campaigns.tasks import campaign_book_task
from compliance.models import AuditEvent
from core.exceptions import ConflictError, DomainError
from integrations.meta.graph import (
    GraphError,
    GraphInvalidParameterError,
    GraphPermissionError,
    GraphRateLimitError,
    GraphTokenError,
    GraphTransientError,
    GraphVersionError,
)
from leads.models import LeadFormRoute
from tests.campaigns.factories import AdCampaignFactory

pytestmark = pytest.mark.django_db

GRAPH = "https://graph.test/v25.0"
ACCOUNT, PAGE = "1234567890", "104857600012345"
FORM, CAMPAIGN, ADSET, CREATIVE, AD = "9100000000000001", "9200000000000002", "9300000000000003", "94", "95"
S = AdCampaign.Status


@pytest.fixture(autouse=True)
def ads_settings(settings):
    settings.META_GRAPH_API_URL = GRAPH
    settings.META_APP_SECRET = ""
    settings.META_ADS_ACCESS_TOKEN = "EAASystemUserToken"
    settings.META_AD_ACCOUNT_ID = ACCOUNT
    settings.META_ADS_PAGE_ID = PAGE
    from django.core.cache import cache

    cache.clear()  # no Graph pause left over from another test
    return settings


@pytest.fixture
def graph():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def meta_answers(graph, *, adset_first: dict | None = None) -> None:
    """Meta's answers for one booking; ``adset_first`` replaces the first answer of the third call."""
    graph.post(f"{GRAPH}/{PAGE}/leadgen_forms", json={"id": FORM})
    graph.post(f"{GRAPH}/act_{ACCOUNT}/campaigns", json={"id": CAMPAIGN})
    if adset_first:
        graph.post(f"{GRAPH}/act_{ACCOUNT}/adsets", **adset_first)
    graph.post(f"{GRAPH}/act_{ACCOUNT}/adsets", json={"id": ADSET})
    graph.post(f"{GRAPH}/act_{ACCOUNT}/adimages", json={"images": {"bytes": {"hash": "imghash01"}}})
    graph.post(f"{GRAPH}/act_{ACCOUNT}/adcreatives", json={"id": CREATIVE})
    graph.post(f"{GRAPH}/act_{ACCOUNT}/ads", json={"id": AD})
    for object_id in (AD, ADSET, CAMPAIGN):
        graph.post(f"{GRAPH}/{object_id}", json={"success": True})


def paths(graph) -> list[str]:
    return [urlparse(call.request.url).path.removeprefix("/v25.0/") for call in graph.calls]


def body(graph, path: str) -> dict:
    return next(json.loads(c.request.body) for c in graph.calls if urlparse(c.request.url).path.endswith(path))


@pytest.fixture
def pending(db):
    return AdCampaignFactory(status=S.PENDING, regions=["DE", "AT"], budget_cents=75000)


def test_a_pending_campaign_is_booked_in_spec_order_paused_then_activated(graph, pending, admin_user):
    # given
    meta_answers(graph)
    # when
    campaign = campaign_book(campaign=pending, actor=admin_user)
    # then
    assert paths(graph) == [
        f"{PAGE}/leadgen_forms",
        f"act_{ACCOUNT}/campaigns",
        f"act_{ACCOUNT}/adsets",
        f"act_{ACCOUNT}/adimages",
        f"act_{ACCOUNT}/adcreatives",
        f"act_{ACCOUNT}/ads",
        AD,
        ADSET,
        CAMPAIGN,
    ]
    assert [json.loads(c.request.body)["status"] for c in graph.calls[6:]] == ["ACTIVE"] * 3
    campaign.refresh_from_db()
    assert campaign.status == S.ACTIVE and campaign.booked_at is not None and campaign.booking_error == ""
    assert (campaign.meta_form_id, campaign.meta_campaign_id, campaign.meta_adset_id) == (FORM, CAMPAIGN, ADSET)
    assert (campaign.meta_image_hash, campaign.meta_creative_id, campaign.meta_ad_id) == ("imghash01", CREATIVE, AD)
    assert CampaignStatusChange.objects.filter(campaign=campaign, to_status=S.ACTIVE, actor=admin_user).exists()
    assert AuditEvent.objects.filter(event_type="campaign.activated", object_id=str(campaign.pk)).exists()
    route = LeadFormRoute.objects.get(form_id=FORM)
    assert route.partner_id == campaign.partner_id and route.is_active
    adset = body(graph, "/adsets")
    assert adset["campaign_id"] == CAMPAIGN and adset["lifetime_budget"] == 75000
    assert adset["targeting"]["geo_locations"] == {"countries": ["AT", "DE"]}
    assert "age_min" not in adset["targeting"] and "genders" not in adset["targeting"]
    assert adset["dsa_payor"] and adset["dsa_beneficiary"]
    assert body(graph, "/campaigns")["special_ad_category_country"] == ["AT", "DE"]
    creative = body(graph, "/adcreatives")["object_story_spec"]["link_data"]
    assert creative["call_to_action"]["value"] == {"lead_gen_form_id": FORM} and creative["image_hash"] == "imghash01"
    form = body(graph, "/leadgen_forms")
    assert form["questions"][3]["label"] == "Welche Immobilie?" and form["thank_you_page"]["title"]
    assert form["privacy_policy"] == {"url": "https://example.de/datenschutz", "link_text": "Datenschutzerklärung"}


def test_a_failed_third_call_is_retried_without_creating_anything_twice(graph, pending, admin_user):
    # given: Meta fails the ad set once (a 500)
    meta_answers(graph, adset_first={"json": {"error": {"message": "Please retry", "code": 2}}, "status": 500})
    # when
    with pytest.raises(MetaUpstreamError) as caught:
        campaign_book(campaign=pending, actor=admin_user)
    # then: the first two ids are kept, the campaign waits with the reason
    assert isinstance(caught.value.graph_error, GraphTransientError) and caught.value.status_code == 502
    pending.refresh_from_db()
    assert pending.status == S.PENDING and (pending.meta_form_id, pending.meta_campaign_id) == (FORM, CAMPAIGN)
    assert pending.meta_adset_id == "" and "Please retry" in pending.booking_error
    assert pending.status_reason == pending.booking_error
    # when: the admin books again
    campaign_book(campaign=pending, actor=admin_user)
    # then: lead form and campaign were created once, the booking finished
    created = paths(graph)
    assert created.count(f"{PAGE}/leadgen_forms") == 1 and created.count(f"act_{ACCOUNT}/campaigns") == 1
    assert created.count(f"act_{ACCOUNT}/adsets") == 2 and created.count(f"act_{ACCOUNT}/ads") == 1
    pending.refresh_from_db()
    assert pending.status == S.ACTIVE and pending.meta_ad_id == AD and pending.booking_error == ""


def test_an_invalid_parameter_is_a_422_with_metas_user_message_and_stays_pending(graph, pending, admin_user):
    error = {
        "message": "Invalid parameter",
        "type": "OAuthException",
        "code": 100,
        "error_subcode": 1885272,
        "error_user_title": "Budget zu niedrig",
        "error_user_msg": "Das Budget muss mindestens 100,00 € betragen.",
        "fbtrace_id": "AbCdEf",
    }
    meta_answers(graph, adset_first={"json": {"error": error}, "status": 400})
    with pytest.raises(MetaRejectedError) as caught:
        campaign_book(campaign=pending, actor=admin_user)
    assert caught.value.status_code == 422 and caught.value.code == "upstream_rejected"
    assert "Das Budget muss mindestens 100,00 € betragen." in caught.value.message
    pending.refresh_from_db()
    assert pending.status == S.PENDING and "Budget zu niedrig" in pending.booking_error


def test_a_deprecated_graph_version_names_the_setting(graph, pending, admin_user):
    graph.post(
        f"{GRAPH}/{PAGE}/leadgen_forms",
        json={"error": {"message": "(#2635) You are calling a deprecated version of the Ads API.", "code": 2635}},
        status=400,
    )
    with pytest.raises(MetaUpstreamError) as caught:
        campaign_book(campaign=pending, actor=admin_user)
    assert "META_GRAPH_API_URL" in caught.value.message and "deprecated version" in caught.value.message
    pending.refresh_from_db()
    assert pending.status == S.PENDING and pending.meta_form_id == ""


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (GraphTokenError("Session expired", code=190), "META_ADS_ACCESS_TOKEN"),
        (GraphPermissionError("Permissions error", code=200), "ads_management"),
        (
            GraphInvalidParameterError("Invalid", code=100, user_title="Titel", user_msg="Nachricht"),
            "Titel – Nachricht",
        ),
        (GraphRateLimitError("Too many calls", code=613, retry_after=600), "10"),
        (GraphTransientError("Service unavailable", code=2), "Service unavailable"),
        (GraphVersionError("Deprecated", code=2635), "v25.0"),
        (GraphError("Strange", code=368), "368"),
    ],
)
def test_meta_errors_are_explained_with_metas_text(error, expected):
    message = meta_error_message_de(error)
    assert expected in message and (error.user_msg or error.message) in message


def test_without_meta_settings_booking_says_which_settings_are_missing(graph, pending, admin_user, settings):
    settings.META_ADS_ACCESS_TOKEN = ""
    settings.META_AD_ACCOUNT_ID = ""
    with pytest.raises(MetaNotConfigured) as caught:
        campaign_book(campaign=pending, actor=admin_user)
    assert "META_ADS_ACCESS_TOKEN, META_AD_ACCOUNT_ID" in caught.value.message
    assert "META_ADS_PAGE_ID" not in caught.value.message and not graph.calls


def test_only_a_pending_campaign_is_booked(graph, admin_user):
    draft = AdCampaignFactory()
    with pytest.raises(ConflictError) as caught:
        campaign_book(campaign=draft, actor=admin_user)
    assert caught.value.code == "not_pending" and not graph.calls


def test_a_second_booking_of_the_same_campaign_at_the_same_time_is_refused(graph, pending, admin_user):
    # given: another worker holds the campaign's booking lock on its own connection
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s, %s)", [BOOKING_LOCK_NAMESPACE, pending.pk])
        # when / then
        with pytest.raises(ConflictError) as caught:
            campaign_book(campaign=pending, actor=admin_user)
        assert caught.value.code == "booking_in_progress" and not graph.calls
    finally:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [BOOKING_LOCK_NAMESPACE, pending.pk])
        other.close()
    # the other worker is done: the next booking goes ahead
    meta_answers(graph)
    assert campaign_book(campaign=pending, actor=admin_user).status == S.ACTIVE


def test_housing_rules_cities_need_15_km_and_are_sent_with_their_radius(graph, admin_user):
    too_small = AdCampaignFactory(
        status=S.PENDING, regions=[{"city_key": "2519536", "name": "Berlin", "radius_km": 10}]
    )
    with pytest.raises(DomainError) as caught:
        campaign_book(campaign=too_small, actor=admin_user)
    assert caught.value.code == "invalid_regions" and not graph.calls
    city = AdCampaignFactory(
        status=S.PENDING, regions=[{"city_key": "2519536", "name": "Berlin", "radius_km": 20, "country": "DE"}]
    )
    meta_answers(graph)
    campaign_book(campaign=city, actor=admin_user)
    geo = body(graph, "/adsets")["targeting"]["geo_locations"]
    assert geo == {"cities": [{"key": "2519536", "radius": 20, "distance_unit": "kilometer"}]}
    assert body(graph, "/campaigns")["special_ad_category_country"] == ["DE"]


def test_ids_booked_by_hand_are_attached_without_meta_settings(graph, pending, admin_user, settings):
    settings.META_ADS_ACCESS_TOKEN = ""
    ids = {"meta_campaign_id": CAMPAIGN, "meta_adset_id": ADSET, "meta_ad_id": AD, "meta_form_id": FORM}
    with pytest.raises(DomainError) as caught:
        campaign_attach_ids(campaign=pending, ids={**ids, "meta_ad_id": "12ab"}, actor=admin_user)
    assert set(caught.value.fields) == {"meta_ad_id"}
    campaign = campaign_attach_ids(campaign=pending, ids=ids, actor=admin_user)
    assert campaign.status == S.ACTIVE and campaign.meta_ad_id == AD and campaign.meta_form_id == FORM
    assert LeadFormRoute.objects.get(form_id=FORM).partner_id == campaign.partner_id
    assert not graph.calls


def test_a_form_id_of_another_campaign_cannot_be_attached(pending, admin_user):
    AdCampaignFactory(status=S.ACTIVE, meta_form_id=FORM)
    ids = {"meta_campaign_id": "1", "meta_adset_id": "2", "meta_ad_id": "3", "meta_form_id": FORM}
    with pytest.raises(ConflictError):
        campaign_attach_ids(campaign=pending, ids=ids, actor=admin_user)
    pending.refresh_from_db()
    assert pending.status == S.PENDING


def test_the_booking_task_books_and_skips_what_is_no_longer_pending(graph, pending, admin_user):
    meta_answers(graph)
    campaign_book_task.delay(pending.pk, admin_user.pk)
    pending.refresh_from_db()
    assert pending.status == S.ACTIVE
    calls = len(graph.calls)
    campaign_book_task.delay(pending.pk, admin_user.pk)
    assert len(graph.calls) == calls
