"""Deal API (API-520–525) through the real URLs, with and without trailing slash."""

from __future__ import annotations

import pytest

from compliance.models import AuditEvent
from deals.models import PartnerDeal
from leads.models import Lead
from leads.services import lead_qualify
from tests.accounts.factories import PartnerFactory
from tests.deals.factories import accepted_pool_lead, deal_for, own_lead

pytestmark = pytest.mark.django_db

DEALS = "/api/leads/deals/"


def test_partner_opens_a_deal_for_a_qualified_lead(api_client, partner_user):
    lead = own_lead(partner_user)
    lead_qualify(lead=lead, actor=partner_user)
    api_client.force_authenticate(partner_user)

    response = api_client.post(
        "/api/leads/deals",
        {"lead": lead.public_id, "deal_value": "450000.00", "expected_close_date": "2030-06-30", "stage": "qualified"},
        format="json",
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["lead"] == str(lead.pk) and body["lead_public_id"] == lead.public_id
    assert (body["stage"], body["deal_value"], body["expected_close_date"]) == ("qualified", "450000.00", "2030-06-30")
    assert body["commission_split"] == {"platform": "0", "partner": "1"}
    assert Lead.objects.get(pk=lead.pk).status == "converted"

    again = api_client.post(DEALS, {"lead": str(lead.pk)}, format="json")
    assert again.status_code == 200 and again.json()["id"] == body["id"]


def test_create_refuses_unqualified_and_unknown_leads(api_client, partner_user):
    api_client.force_authenticate(partner_user)
    fresh = own_lead(partner_user)
    refused = api_client.post(DEALS, {"lead": fresh.public_id}, format="json")
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "transition_not_allowed"

    assert api_client.post(DEALS, {"lead": "SOT-LEAD-AAAAAAAA"}, format="json").status_code == 404
    bad = api_client.post(DEALS, {"lead": fresh.public_id, "deal_value": "-5"}, format="json")
    assert bad.status_code == 400 and "deal_value" in bad.json()["error"]["fields"]


def test_list_filters_and_paginates_in_constant_queries(api_client, partner_user, django_assert_num_queries):
    api_client.force_authenticate(partner_user)
    for stage in ["lead", "proposal", "won"]:
        deal_for(partner_user, stage=stage)
    deal_for(PartnerFactory())  # someone else's

    with django_assert_num_queries(2):  # count + page (force_authenticate needs no query)
        body = api_client.get(DEALS).json()
    assert body["count"] == 3
    assert {d["stage"] for d in api_client.get(DEALS + "?stage=won").json()["results"]} == {"won"}
    page = api_client.get(DEALS + "?page_size=2&ordering=-deal_value").json()
    assert len(page["results"]) == 2 and page["next"]
    assert api_client.get(DEALS + "?stage=verkauft").status_code == 400

    for _ in range(27):
        deal_for(partner_user)
    with django_assert_num_queries(2):
        assert api_client.get(DEALS + "?page_size=100").json()["count"] == 30


def test_detail_shows_history_and_stage_moves_follow_the_table(api_client, partner_user):
    deal = deal_for(partner_user, stage="negotiation")
    api_client.force_authenticate(partner_user)
    url = f"{DEALS}{deal.pk}/"

    detail = api_client.get(url[:-1]).json()
    assert [h["to_stage"] for h in detail["history"]] == ["negotiation", "proposal", "qualified", "lead"]
    assert detail["history"][0]["actor"] == partner_user.email

    same = api_client.post(url + "stage", {"stage": "negotiation"}, format="json")
    assert same.status_code == 200 and same.json()["stage"] == "negotiation"
    back = api_client.post(url + "stage/", {"stage": "qualified"}, format="json")
    assert back.status_code == 200 and back.json()["stage"] == "qualified"
    forward = api_client.post(url + "stage/", {"stage": "closing"}, format="json")
    assert forward.status_code == 200 and forward.json()["stage"] == "closing"
    lost_without_reason = api_client.post(url + "stage/", {"stage": "lost"}, format="json")
    assert lost_without_reason.status_code == 422
    assert lost_without_reason.json()["error"]["code"] == "reason_required"

    won = api_client.post(url + "win/", {"deal_value": "99000"}, format="json")
    assert won.status_code == 200
    assert (won.json()["stage"], won.json()["deal_value"]) == ("won", "99000.00")
    # Won is final for the partner: no loss, no move back (409).
    assert api_client.post(url + "lose/", {"reason": "zu spät"}, format="json").status_code == 409
    reopen = api_client.post(url + "stage/", {"stage": "closing"}, format="json")
    assert reopen.status_code == 409 and reopen.json()["error"]["code"] == "transition_not_allowed"


def test_win_and_stage_skip_straight_to_won_from_an_early_stage(api_client, partner_user):
    api_client.force_authenticate(partner_user)
    qualified = deal_for(partner_user, stage="qualified")
    won = api_client.post(f"{DEALS}{qualified.pk}/win/", {"deal_value": "1200"}, format="json")
    assert won.status_code == 200 and won.json()["stage"] == "won" and won.json()["closed_at"]

    fresh = deal_for(partner_user, stage="lead")
    skip = api_client.post(f"{DEALS}{fresh.pk}/stage/", {"stage": "won"}, format="json")
    assert skip.status_code == 200 and skip.json()["stage"] == "won"
    lost = api_client.post(f"{DEALS}{deal_for(partner_user).pk}/lose/", {"reason": "Kein Interesse"}, format="json")
    assert lost.status_code == 200 and lost.json()["stage"] == "lost"


def test_lose_needs_a_reason(api_client, partner_user):
    deal = deal_for(partner_user, lead=accepted_pool_lead(partner_user))
    api_client.force_authenticate(partner_user)
    url = f"{DEALS}{deal.pk}/lose/"

    assert api_client.post(url, {}, format="json").status_code == 400
    assert api_client.post(url, {"reason": "  "}, format="json").status_code in (400, 422)
    lost = api_client.post(url, {"reason": "Finanzierung geplatzt"}, format="json")
    assert lost.status_code == 200 and lost.json()["lost_reason"] == "Finanzierung geplatzt"
    assert lost.json()["commission_split"] == {"platform": "0.3333", "partner": "0.6667"}
    assert AuditEvent.objects.filter(event_type="deal.lost", object_id=str(deal.pk)).exists()


@pytest.mark.parametrize("role", ["platform_admin", "internal_ops", None])
def test_deal_api_is_for_partners(api_client, role):
    if role:
        api_client.force_authenticate(PartnerFactory(role=role))
    assert api_client.get(DEALS).status_code == (403 if role else 401)


def test_a_colleague_in_the_same_organization_sees_the_deal(api_client, partner_user):
    deal = deal_for(partner_user)
    colleague = PartnerFactory(organization=partner_user.organization)
    api_client.force_authenticate(colleague)
    assert api_client.get(f"{DEALS}{deal.pk}/").status_code == 200
    assert PartnerDeal.objects.count() == 1
