"""Partner lead API: list (API-500), detail (501), qualify (502), convert (503), contact (504), reports (530, 531)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from compliance.models import AuditEvent
from leads.models import Lead, LeadActivity
from leads.services import lead_contact_log, lead_qualify
from tests.accounts.factories import PartnerFactory
from tests.deals.factories import accepted_pool_lead, deal_for, own_lead

pytestmark = pytest.mark.django_db

SPEC_FIELDS = {
    "id", "public_id", "channel", "source", "status", "stage", "score", "p_score", "i_score", "e_score", "email",
    "phone", "first_name", "last_name", "company_name", "job_title", "interest_type", "assigned_partner", "is_test",
    "created_at", "updated_at", "score_breakdown",
}  # fmt: skip


def test_list_shows_own_and_accepted_leads_with_the_spec_fields(api_client, partner_user):
    mine = own_lead(partner_user, company_name="Eigen AG")
    accepted = accepted_pool_lead(partner_user)
    own_lead(PartnerFactory())  # another partner's
    api_client.force_authenticate(partner_user)

    body = api_client.get("/api/leads").json()

    assert body["count"] == 2
    assert {row["id"] for row in body["results"]} == {str(mine.pk), str(accepted.pk)}
    assert set(body["results"][0]) >= SPEC_FIELDS


def test_list_filters_search_and_ordering(api_client, partner_user):
    hot = own_lead(partner_user, company_name="Heiß GmbH", channel="referral", source="referral")
    Lead.objects.filter(pk=hot.pk).update(score=75, stage="hot")
    cold = own_lead(partner_user, company_name="Kalt KG", email="kalt@kunde.de")
    lead_contact_log(lead=cold, actor=partner_user, channel="phone", outcome="reached")
    api_client.force_authenticate(partner_user)

    def ids(query):
        response = api_client.get("/api/leads/?" + query)
        assert response.status_code == 200, response.content
        return [row["id"] for row in response.json()["results"]]

    assert ids("stage=hot") == [str(hot.pk)]
    assert ids("status=contacted") == [str(cold.pk)]
    assert ids("channel=referral&source=referral") == [str(hot.pk)]
    assert ids("q=kalt@kunde.de") == [str(cold.pk)]
    assert ids("q=" + hot.public_id.lower()) == [str(hot.pk)]
    assert ids("q=heiß") == [str(hot.pk)]
    assert ids("ordering=-score")[0] == str(hot.pk)
    assert ids("ordering=-last_activity")[0] == str(cold.pk)
    assert api_client.get("/api/leads/?status=gewonnen").status_code == 400


@pytest.mark.parametrize("n", [3, 30])
def test_list_runs_in_constant_queries(api_client, partner_user, django_assert_num_queries, n):
    for _ in range(n):
        own_lead(partner_user)
    api_client.force_authenticate(partner_user)
    with django_assert_num_queries(2):  # count + page
        assert api_client.get("/api/leads/?page_size=50").json()["count"] == n


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


def test_reports_count_the_funnel_for_the_partner_only(api_client, partner_user, admin_user):
    # given: four leads of the partner at different depths and one of another partner
    own_lead(partner_user)
    contacted = own_lead(partner_user, channel="referral", source="referral")
    lead_contact_log(lead=contacted, actor=partner_user, channel="phone", outcome="reached")
    deal_for(partner_user, stage="won", value=1000)
    deal_for(partner_user, stage="lost")
    deal_for(PartnerFactory(), stage="won")
    api_client.force_authenticate(partner_user)

    # when
    body = api_client.get("/api/leads/reports/conversion/").json()

    # then
    steps = {step["step"]: step["count"] for step in body["steps"]}
    assert steps == {"leads": 4, "contacted": 3, "qualified": 2, "converted": 2, "won": 1}
    assert body["totals"]["won_value"] == "1000.00"
    assert body["time_to_first_contact"]["count"] == 1
    this_month = timezone.localdate().replace(day=1).isoformat()
    month = next(m for m in body["months"] if m["month"] == this_month)
    assert (month["won"], month["lost"], month["win_rate"]) == (1, 1, 50.0)

    start = (timezone.localdate() - dt.timedelta(days=400)).isoformat()
    sources = api_client.get(f"/api/leads/reports/sources?from={start}").json()
    assert {row["key"]: row["leads"] for row in sources["channels"]} == {"manual": 3, "referral": 1}
    assert sources["range"]["from"] == start
    clamped = api_client.get("/api/leads/reports/sources/?from=2000-01-01").json()
    assert clamped["range"]["from"] > "2020-01-01"  # at most three years per request
    assert api_client.get("/api/leads/reports/sources/?from=gestern").status_code == 400

    api_client.force_authenticate(admin_user)
    everything = api_client.get("/api/leads/reports/conversion/").json()
    assert {s["step"]: s["count"] for s in everything["steps"]}["won"] == 2


def test_lead_work_endpoints_are_partner_only(api_client, admin_user, partner_user):
    lead = own_lead(partner_user)
    lead_qualify(lead=lead, actor=partner_user)
    api_client.force_authenticate(admin_user)
    assert api_client.post(f"/api/leads/{lead.pk}/convert/", {}, format="json").status_code == 403
    assert api_client.get(f"/api/leads/{lead.pk}/").status_code == 403
