"""Tenant isolation: every partner page and endpoint answers 404 for another partner's ids (SPEC §6)."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client

from deals.models import PartnerDeal
from leads.models import Lead, LeadActivity, LeadAssignment
from leads.services import lead_qualify, offer_create
from tests.accounts.factories import PartnerFactory, UserFactory
from tests.deals.factories import accepted_pool_lead, deal_for, own_lead
from tests.leads.factories import LeadFactory

pytestmark = pytest.mark.django_db

PORTAL = "/portal/leads"


@pytest.fixture
def world(platform_org):
    """Partner A (the caller) and partner B with an own lead, an accepted lead, an open offer and a deal."""
    admin = UserFactory(role="platform_admin")
    a, b = PartnerFactory(), PartnerFactory()
    b_own = own_lead(b)
    lead_qualify(lead=b_own, actor=b)
    b_accepted = accepted_pool_lead(b, admin=admin)
    b_offered = LeadFactory()
    offer_create(lead=b_offered, partner=b, actor=admin)
    b_deal = deal_for(b, stage="proposal", lead=own_lead(b, first_name="Bernd", company_name="Fremdfirma B"))
    a_lead = own_lead(a)
    return {
        "a": a,
        "b": b,
        "own": b_own,
        "accepted": b_accepted,
        "offered": b_offered,
        "deal": b_deal,
        "a_lead": a_lead,
    }


def _page_targets(w) -> list[tuple[str, str]]:
    own, deal, offered = w["own"], w["deal"], w["offered"]
    unknown = uuid.uuid4()
    targets = [("get", f"{PORTAL}/inbox/{offered.pk}/"), ("get", f"{PORTAL}/inbox/{unknown}/")]
    targets += [("post", f"{PORTAL}/inbox/{offered.pk}/{action}/") for action in ("annehmen", "ablehnen")]
    for ref in (own.pk, own.public_id, w["accepted"].public_id, offered.public_id, "SOT-LEAD-AAAAAAAA", unknown):
        targets.append(("get", f"{PORTAL}/meine-leads/{ref}/"))
    for action in ("kontakt", "notiz", "wiedervorlage", "qualifizieren", "konvertieren", "verloren"):
        targets.append(("post", f"{PORTAL}/meine-leads/{own.public_id}/{action}/"))
    targets += [("get", f"{PORTAL}/pipeline/{deal.pk}/"), ("get", f"{PORTAL}/pipeline/{unknown}/")]
    targets.append(("post", f"{PORTAL}/pipeline/{deal.pk}/stage/"))
    targets += [("post", f"{PORTAL}/pipeline/{deal.pk}/{action}/") for action in ("bearbeiten", "gewonnen", "verloren")]
    targets.append(("get", f"{PORTAL}/werbung/{unknown}/"))
    return targets


POST_DATA = {
    "reason": "x",
    "stage": "negotiation",
    "channel": "phone",
    "outcome": "reached",
    "note": "x",
    "deal_value": "1",
}


def test_every_portal_page_is_a_404_for_another_partners_ids(world):
    client = Client()
    client.force_login(world["a"])
    for method, url in _page_targets(world):
        response = getattr(client, method)(url, POST_DATA) if method == "post" else client.get(url)
        assert response.status_code == 404, f"{method.upper()} {url} → {response.status_code}"
    _assert_b_untouched(world)


def _api_targets(w) -> list[tuple[str, str, dict]]:
    own, deal, offered = w["own"], w["deal"], w["offered"]
    targets = []
    for ref in (own.pk, own.public_id, w["accepted"].pk, offered.pk, uuid.uuid4()):
        targets.append(("get", f"/api/leads/{ref}/", {}))
        targets.append(("post", f"/api/leads/{ref}/qualify/", {}))
        targets.append(("post", f"/api/leads/{ref}/convert/", {}))
        targets.append(("post", f"/api/leads/{ref}/contact/", {"channel": "phone", "outcome": "reached"}))
        targets.append(("post", f"/api/leads/{ref}/activities/", {"type": "pricing_page_visited"}))
    targets.append(("post", f"/api/leads/inbox/{offered.pk}/accept/", {}))
    targets.append(("post", f"/api/leads/inbox/{offered.pk}/reject/", {"reason": "x"}))
    targets.append(("post", "/api/leads/deals/", {"lead": own.public_id}))
    targets.append(("post", "/api/leads/deals/", {"lead": str(w["accepted"].pk)}))
    for ref in (deal.pk, uuid.uuid4()):
        targets.append(("get", f"/api/leads/deals/{ref}/", {}))
        targets.append(("post", f"/api/leads/deals/{ref}/stage/", {"stage": "negotiation"}))
        targets.append(("post", f"/api/leads/deals/{ref}/win/", {}))
        targets.append(("post", f"/api/leads/deals/{ref}/lose/", {"reason": "x"}))
    return targets


def test_every_partner_endpoint_is_a_404_for_another_partners_ids(world, api_client):
    api_client.force_authenticate(world["a"])
    for method, url, data in _api_targets(world):
        response = getattr(api_client, method)(url, data, format="json") if method == "post" else api_client.get(url)
        assert response.status_code == 404, f"{method.upper()} {url} → {response.status_code} {response.content[:200]}"
        assert response.json()["error"]["code"] == "not_found"
    _assert_b_untouched(world)


def test_lists_and_reports_never_show_another_partners_data(world, api_client):
    a, b = world["a"], world["b"]
    foreign = {str(world[k].pk) for k in ("own", "accepted", "offered")} | {str(world["deal"].lead_id)}
    api_client.force_authenticate(a)
    leads = {row["id"] for row in api_client.get("/api/leads/?page_size=200").json()["results"]}
    assert leads == {str(world["a_lead"].pk)}
    assert api_client.get("/api/leads/deals/").json()["count"] == 0
    assert api_client.get("/api/leads/inbox/").json()["count"] == 0
    steps = api_client.get("/api/leads/reports/conversion/").json()["steps"]
    assert steps[0]["count"] == 1

    client = Client()
    client.force_login(a)
    for path in ("/", "/inbox/", "/meine-leads/", "/pipeline/", "/sources/", "/reports/", "/reports/export.csv"):
        body = client.get(PORTAL + path).content.decode()
        for value in foreign | {world["own"].public_id, world["deal"].title, str(world["deal"].pk)}:
            assert value not in body, f"{path} shows {value}"
    assert b.pk != a.pk


def _assert_b_untouched(w) -> None:
    assert Lead.objects.get(pk=w["own"].pk).status == "qualified"
    assert PartnerDeal.objects.get(pk=w["deal"].pk).stage == "proposal"
    assert LeadAssignment.objects.get(lead=w["offered"]).status == "offered"
    assert not LeadActivity.objects.filter(lead__in=[w["own"], w["accepted"]], actor=w["a"]).exists()


def test_anonymous_and_staff_cannot_use_the_portal(world, admin_user):
    anonymous = Client()
    response = anonymous.get(f"{PORTAL}/meine-leads/{world['own'].public_id}/")
    assert response.status_code == 302 and response["Location"].startswith(f"{PORTAL}/login/")
    staff = Client()
    staff.force_login(admin_user)
    assert staff.get(f"{PORTAL}/").status_code == 403
    assert staff.post(f"{PORTAL}/pipeline/{world['deal'].pk}/stage/", {"stage": "negotiation"}).status_code == 403
