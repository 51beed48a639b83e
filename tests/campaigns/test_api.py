"""Campaigns API (API-540–549) through the real URLs: isolation, figures, terms, actions, booking and its errors."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from campaigns.models import AdCampaign, AdCampaignLead, CampaignStats
from campaigns.services import booking
from compliance.models import ConsentRecord
from tests.campaigns.factories import AdCampaignFactory, CampaignTemplateFactory
from tests.leads.factories import LeadFactory

pytestmark = pytest.mark.django_db

BASE = "/api/leads/campaigns/"
S = AdCampaign.Status


def _as(api_client, user):
    api_client.force_authenticate(user)
    return api_client


def _body(**overrides):
    start = timezone.localdate() + dt.timedelta(days=2)
    return {
        "template": CampaignTemplateFactory().code,
        "budget_cents": 25_000,
        "start_date": start.isoformat(),
        "end_date": (start + dt.timedelta(days=14)).isoformat(),
        "regions": ["DE", {"city_key": "2867714", "name": "München", "radius_km": 20}],
        **overrides,
    }


def _active(partner=None, **kwargs):
    return AdCampaignFactory(**({"partner": partner} if partner else {}), status=S.ACTIVE, **kwargs)


def test_a_partner_creates_a_draft_and_reads_it_with_its_history(api_client, partner_user):
    client = _as(api_client, partner_user)

    response = client.post(BASE.rstrip("/"), _body(headline="Eigene Überschrift"), format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["status"], body["budget_cents"], body["headline"]) == ("draft", 25_000, "Eigene Überschrift")
    assert body["spent_cents"] == 0 and body["leads"] == 0 and body["cost_per_lead_cents"] is None
    detail = client.get(f"{BASE}{body['id']}").json()
    assert [entry["status"] for entry in detail["status_history"]] == ["draft"]
    assert detail["status_history"][0]["by"] == partner_user.email
    assert detail["meta_campaign_id"] == "" and detail["tos_accepted"] is False


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"regions": [{"city_key": "2867714", "radius_km": 20, "age_max": 40}]}, "regions"),
        ({"budget_cents": 5_000}, "budget_cents"),
        ({"template": "gibt-es-nicht"}, "template"),
        ({"start_date": "2020-01-01", "end_date": "2020-02-01"}, "start_date"),
    ],
)
def test_invalid_drafts_answer_400_with_the_field(api_client, partner_user, overrides, field):
    response = _as(api_client, partner_user).post(BASE, _body(**overrides), format="json")

    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "validation_error" and field in error["fields"]


def test_the_list_shows_own_campaigns_with_spend_leads_and_cpl_in_constant_queries(
    api_client, partner_user, django_assert_max_num_queries
):
    campaign = _active(partner_user)
    CampaignStats.objects.create(campaign=campaign, date=campaign.start_date, spend_cents=12_000, meta_leads=3)
    for _ in range(2):
        lead = LeadFactory(tenant=partner_user.organization, assigned_partner=partner_user)
        AdCampaignLead.objects.create(campaign=campaign, lead=lead)
    AdCampaignFactory()  # another partner's
    client = _as(api_client, partner_user)

    with django_assert_max_num_queries(8):
        rows = client.get(BASE).json()["results"]
    assert [(r["id"], r["spent_cents"], r["leads"], r["cost_per_lead_cents"]) for r in rows] == [
        (campaign.pk, 12_000, 2, 6_000)
    ]
    AdCampaignFactory.create_batch(4, partner=partner_user)
    with django_assert_max_num_queries(8):
        assert client.get(BASE + "?status=draft").json()["count"] == 4


def test_another_partners_campaign_is_a_404_everywhere(api_client, partner_user):
    other = _active()
    client = _as(api_client, partner_user)

    assert client.get(f"{BASE}{other.pk}/").status_code == 404
    assert client.get(f"{BASE}{other.pk}/stats/").status_code == 404
    for action in ("pause", "resume", "complete", "submit"):
        response = client.post(f"{BASE}{other.pk}/{action}/", {}, format="json")
        assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    assert AdCampaign.objects.get(pk=other.pk).status == S.ACTIVE


def test_staff_see_every_campaign_and_filter_by_status_and_partner(api_client, ops_user):
    mine, theirs = _active(), AdCampaignFactory()
    client = _as(api_client, ops_user)

    assert {r["id"] for r in client.get(BASE).json()["results"]} == {mine.pk, theirs.pk}
    assert [r["id"] for r in client.get(BASE, {"status": "active"}).json()["results"]] == [mine.pk]
    assert [r["id"] for r in client.get(BASE, {"partner": theirs.partner_id}).json()["results"]] == [theirs.pk]
    assert client.get(BASE, {"status": "nope"}).status_code == 400


def test_submit_needs_the_terms_the_first_time(api_client, partner_user):
    campaign = AdCampaignFactory(partner=partner_user)
    client = _as(api_client, partner_user)

    refused = client.post(f"{BASE}{campaign.pk}/submit/", {}, format="json")
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "tos_required" and "Meta" in refused.json()["error"]["message"]

    accepted = client.post(
        f"{BASE}{campaign.pk}/submit", {"accept_tos": True}, format="json", HTTP_USER_AGENT="pytest-agent"
    )
    assert accepted.status_code == 200, accepted.content
    assert accepted.json()["status"] == "pending" and accepted.json()["tos_accepted"] is True
    record = ConsentRecord.objects.get(subject_user=partner_user, code="META_ADS_TOS")
    assert record.evidence["user_agent"] == "pytest-agent" and record.evidence["ip"]


def test_pause_resume_and_complete_follow_the_status_rules(api_client, partner_user):
    campaign = _active(partner_user)
    client = _as(api_client, partner_user)

    assert client.post(f"{BASE}{campaign.pk}/pause/").json()["status"] == "paused"
    assert client.post(f"{BASE}{campaign.pk}/resume").json()["status"] == "active"
    done = client.post(f"{BASE}{campaign.pk}/complete/").json()
    assert done["status"] == "completed"
    assert [e["status"] for e in done["status_history"]][-3:] == ["paused", "active", "completed"]
    again = client.post(f"{BASE}{campaign.pk}/resume/")
    assert again.status_code == 409


def test_stats_answer_totals_and_days_for_a_range(api_client, partner_user):
    campaign = _active(partner_user, start_date=dt.date(2026, 11, 1), end_date=dt.date(2026, 11, 30))
    CampaignStats.objects.create(campaign=campaign, date=dt.date(2026, 11, 2), spend_cents=4_000, clicks=9)
    CampaignStats.objects.create(campaign=campaign, date=dt.date(2026, 11, 20), spend_cents=6_000)
    client = _as(api_client, partner_user)

    body = client.get(f"{BASE}{campaign.pk}/stats/", {"from": "2026-11-01", "to": "2026-11-05"}).json()

    assert body["totals"]["spend_cents"] == 4_000 and body["totals"]["clicks"] == 9
    assert body["totals"]["cost_per_lead_cents"] is None
    assert [day["date"] for day in body["days"]][:2] == ["2026-11-01", "2026-11-02"]
    assert client.get(f"{BASE}{campaign.pk}/stats/", {"from": "gestern"}).status_code == 400
    assert client.get(f"{BASE}{campaign.pk}/stats/", {"from": "2026-11-05", "to": "2026-11-01"}).status_code == 400


def test_an_admin_attaches_hand_booked_ids_and_a_partner_may_not(api_client, admin_user, partner_user):
    campaign = AdCampaignFactory(partner=partner_user, status=S.PENDING)
    ids = {"meta_campaign_id": "1201", "meta_adset_id": "1202", "meta_ad_id": "1203", "meta_form_id": "1204"}
    url = f"/api/admin/campaigns/{campaign.pk}/book/"

    assert _as(api_client, partner_user).post(url, ids, format="json").status_code == 403
    assert _as(api_client, admin_user).post(url, {"meta_ad_id": "1"}, format="json").status_code == 400
    response = _as(api_client, admin_user).post(url.rstrip("/"), ids, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "active" and body["meta_form_id"] == "1204" and body["meta_ad_id"] == "1203"


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (booking.MetaUpstreamError("Meta ist vorübergehend nicht erreichbar."), 502, "upstream_error"),
        (booking.MetaRejectedError("Das Budget ist zu niedrig."), 422, "upstream_rejected"),
    ],
)
def test_booking_failures_answer_502_and_refusals_422_with_metas_message(
    api_client, admin_user, monkeypatch, error, status, code
):
    campaign = AdCampaignFactory(status=S.PENDING)

    def fail(**kwargs):
        raise error

    monkeypatch.setattr(booking, "campaign_book", fail)
    response = _as(api_client, admin_user).post(f"/api/admin/campaigns/{campaign.pk}/book/", {}, format="json")

    assert response.status_code == status
    assert response.json()["error"] == {"code": code, "message": error.message}


def test_a_draft_can_be_patched_until_submitted(api_client, partner_user):
    campaign = AdCampaignFactory(partner=partner_user)
    client = _as(api_client, partner_user)

    response = client.patch(f"{BASE}{campaign.pk}/", {"budget_cents": 30_000}, format="json")
    assert response.status_code == 200 and response.json()["budget_cents"] == 30_000

    AdCampaign.objects.filter(pk=campaign.pk).update(status=S.PENDING)
    refused = client.patch(f"{BASE}{campaign.pk}/", {"budget_cents": 40_000}, format="json")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "not_a_draft"


def test_templates_lists_the_active_ones_only(api_client, partner_user):
    active, inactive = CampaignTemplateFactory(), CampaignTemplateFactory(is_active=False)

    body = _as(api_client, partner_user).get(BASE + "templates/").json()

    codes = {row["code"] for row in body}
    assert active.code in codes and inactive.code not in codes
    row = next(row for row in body if row["code"] == active.code)
    assert row["image_url"].endswith(active.image) and row["form_questions"]


def test_the_schema_names_every_campaign_operation_by_its_api_id(api_client, partner_user):
    schema = _as(api_client, partner_user).get("/api/schema/", HTTP_ACCEPT="application/json").json()

    ids = {op["operationId"] for item in schema["paths"].values() for op in item.values() if "operationId" in op}
    for number in range(540, 550):
        assert any(op.startswith(f"API-{number}_") for op in ids), number
