"""API-505 (manual lead), API-506 (activity tracking) and API-507 (merge) through the real URLs."""

from __future__ import annotations

import pytest

from accounts.models import ApiKey
from accounts.services import api_key_create
from leads.models import Lead, LeadMerge
from leads.services import lead_ingest
from tests.accounts.factories import OrganizationFactory, PartnerFactory

pytestmark = pytest.mark.django_db


def _pool_lead(email="pool@example.com"):
    return lead_ingest(payload={"email": email}, channel="website").lead


def test_partner_creates_an_own_lead(api_client, partner_user):
    api_client.force_authenticate(partner_user)

    response = api_client.post(
        "/api/leads", {"email": "neu@kunde.de", "full_name": "Karl Neu", "interest_type": "finanzierung"}, format="json"
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["created"] is True
    lead = Lead.objects.get(pk=body["lead"]["id"])
    assert (lead.tenant_id, lead.source, lead.channel) == (partner_user.organization_id, "manual", "manual")
    assert lead.assigned_partner_id == partner_user.pk
    assert body["lead"]["interest_type"] == "finance"
    assert body["lead"]["email"] == "neu@kunde.de"
    assert {"p", "i", "e"} == set(body["lead"]["score_breakdown"]["components"])

    again = api_client.post("/api/leads/", {"email": "NEU@kunde.de", "city": "Graz"}, format="json")
    assert again.status_code == 200 and again.json()["merged"] is True


def test_staff_creates_pool_leads_and_no_identity_is_422(api_client, ops_user, platform_org):
    api_client.force_authenticate(ops_user)
    ok = api_client.post("/api/leads/", {"phone": "+43 660 1234567", "channel": "referral"}, format="json")
    assert ok.status_code == 201
    lead = Lead.objects.get(pk=ok.json()["lead"]["id"])
    assert lead.tenant == platform_org and lead.channel == "referral"

    bad = api_client.post("/api/leads/", {"email": "kaputt", "first_name": "Nur"}, format="json")
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "no_identity"


def test_anonymous_and_api_keys_cannot_create(api_client, platform_org):
    assert api_client.post("/api/leads/", {"email": "a@b.de"}, format="json").status_code == 401
    _key, secret = api_key_create(organization=platform_org, name="site", scopes=["activities"], actor=None)
    response = api_client.post("/api/leads/", {"email": "a@b.de"}, format="json", HTTP_X_API_KEY=secret)
    assert response.status_code == 403


def test_activity_tracking_with_an_api_key_rescores(api_client, platform_org):
    lead = _pool_lead()
    _key, secret = api_key_create(organization=platform_org, name="site", scopes=["activities"], actor=None)

    response = api_client.post(
        f"/api/leads/{lead.public_id}/activities/",
        {"type": "pricing_page_visited", "detail": {"url": "/preise"}},
        format="json",
        HTTP_X_API_KEY=secret,
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["score_delta"] == 20
    assert body["lead"]["i_score"] == 20
    items = {i["code"]: i["points"] for i in body["lead"]["score_breakdown"]["items"]}
    assert items["pricing_page_visited"] == 20
    assert Lead.objects.get(pk=lead.pk).score_history.first().reason == "Preisseite besucht (+20)"


def test_activity_tracking_is_tenant_scoped(api_client, platform_org):
    lead = _pool_lead()
    other_org = OrganizationFactory()
    _key, secret = api_key_create(organization=other_org, name="x", scopes=["activities"], actor=None)
    response = api_client.post(
        f"/api/leads/{lead.pk}/activities", {"type": "email_opened"}, format="json", HTTP_X_API_KEY=secret
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"

    partner = PartnerFactory()
    api_client.force_authenticate(partner)
    response = api_client.post(f"/api/leads/{lead.pk}/activities", {"type": "email_opened"}, format="json")
    assert response.status_code == 404


def test_activity_tracking_needs_the_scope_and_a_valid_code(api_client, platform_org, partner_user):
    lead = _pool_lead()
    _key, secret = api_key_create(organization=platform_org, name="capture", scopes=["capture"], actor=None)
    assert ApiKey.objects.count() == 1
    url = f"/api/leads/{lead.pk}/activities/"
    assert api_client.post(url, {"type": "email_opened"}, format="json", HTTP_X_API_KEY=secret).status_code == 403
    own = lead_ingest(payload={"email": "mine@x.de"}, channel="manual", partner=partner_user).lead
    api_client.force_authenticate(partner_user)
    bad = api_client.post(f"/api/leads/{own.pk}/activities/", {"type": "Budget Rechner!"}, format="json")
    assert bad.status_code == 400 and "type" in bad.json()["error"]["fields"]
    decay = api_client.post(f"/api/leads/{own.pk}/activities/", {"type": "no_activity_30_days"}, format="json")
    assert decay.status_code == 422


def test_staff_merge_leads_by_api(api_client, admin_user):
    survivor, a, b = _pool_lead("s@x.de"), _pool_lead("a@x.de"), _pool_lead("b@x.de")
    api_client.force_authenticate(admin_user)

    response = api_client.post(f"/api/leads/{survivor.pk}/merge/", {"leads": [str(a.pk), b.public_id]}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["id"] == str(survivor.pk)
    assert set(Lead.objects.filter(merged_into=survivor).values_list("pk", flat=True)) == {a.pk, b.pk}
    assert LeadMerge.objects.filter(survivor=survivor, kind="manual").count() == 2
    # merged leads are gone from the API
    again = api_client.post(f"/api/leads/{survivor.pk}/merge/", {"leads": [str(a.pk)]}, format="json")
    assert again.status_code == 404


def test_partners_cannot_merge(api_client, partner_user):
    lead = lead_ingest(payload={"email": "p1@x.de"}, channel="manual", partner=partner_user).lead
    other = lead_ingest(payload={"email": "p2@x.de"}, channel="manual", partner=partner_user).lead
    api_client.force_authenticate(partner_user)
    response = api_client.post(f"/api/leads/{lead.pk}/merge/", {"leads": [str(other.pk)]}, format="json")
    assert response.status_code == 403


def test_schema_names_the_api_ids(api_client, admin_user):
    api_client.force_authenticate(admin_user)
    schema = api_client.get("/api/schema/", HTTP_ACCEPT="application/json").content.decode()
    for api_id in ("API-505", "API-506", "API-507"):
        assert api_id in schema
