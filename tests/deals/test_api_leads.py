"""The lead side of the deal API: a lead with its deal (API-501), contact, qualify and convert (API-503)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from compliance.models import AuditEvent
from leads.models import LeadActivity
from leads.services import lead_contact_log, lead_qualify
from tests.deals.factories import accepted_pool_lead, own_lead

pytestmark = pytest.mark.django_db


def test_detail_has_deal_follow_up_and_activities(api_client, partner_user):
    lead = own_lead(partner_user)
    follow_up = timezone.localdate() + dt.timedelta(days=3)
    lead_contact_log(lead=lead, actor=partner_user, channel="phone", outcome="callback", next_follow_up=follow_up)
    api_client.force_authenticate(partner_user)

    body = api_client.get(f"/api/leads/{lead.public_id}/").json()

    assert body["next_follow_up"] == follow_up.isoformat()
    assert body["deal"] is None
    assert body["activities"][0]["type"] in {"contact_logged", "status_changed"}
    assert {a["type"] for a in body["activities"]} == {"contact_logged", "status_changed"}


def test_contact_qualify_convert_through_the_api(api_client, partner_user):
    lead = accepted_pool_lead(partner_user)
    api_client.force_authenticate(partner_user)
    base = f"/api/leads/{lead.pk}"

    contact = api_client.post(
        base + "/contact/", {"channel": "phone", "outcome": "reached", "note": "Termin nächste Woche"}, format="json"
    )
    assert contact.status_code == 201, contact.content
    assert contact.json()["lead"]["status"] == "contacted"
    assert contact.json()["activity"]["detail"]["note"] == "Termin nächste Woche"

    past = (timezone.localdate() - dt.timedelta(days=1)).isoformat()
    bad = api_client.post(
        base + "/contact", {"channel": "phone", "outcome": "reached", "next_follow_up": past}, format="json"
    )
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_follow_up"

    early = api_client.post(base + "/convert/", {}, format="json")
    assert early.status_code == 409

    qualified = api_client.post(base + "/qualify/", {"note": "Budget bestätigt"}, format="json")
    assert qualified.status_code == 200 and qualified.json()["status"] == "qualified"

    converted = api_client.post(base + "/convert/", {"deal_value": "380000"}, format="json")
    assert converted.status_code == 201
    assert converted.json()["commission_split"] == {"platform": "0.3333", "partner": "0.6667"}
    assert api_client.post(base + "/convert/", {}, format="json").status_code == 200
    assert api_client.post(base + "/qualify/", {}, format="json").status_code == 409
    assert AuditEvent.objects.filter(event_type="lead.qualified", object_id=str(lead.pk)).count() == 1
    assert LeadActivity.objects.filter(lead=lead, activity_type="status_changed").count() == 3


def test_lead_work_endpoints_are_partner_only(api_client, admin_user, partner_user):
    lead = own_lead(partner_user)
    lead_qualify(lead=lead, actor=partner_user)
    api_client.force_authenticate(admin_user)
    assert api_client.post(f"/api/leads/{lead.pk}/convert/", {}, format="json").status_code == 403
    assert api_client.get(f"/api/leads/{lead.pk}/").status_code == 403
