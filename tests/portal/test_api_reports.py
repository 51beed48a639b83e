"""Report API: the conversion funnel (API-530) and lead sources (API-531), partner-scoped, staff see all."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from leads.services import lead_contact_log
from tests.accounts.factories import PartnerFactory
from tests.deals.factories import deal_for, own_lead

pytestmark = pytest.mark.django_db


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
