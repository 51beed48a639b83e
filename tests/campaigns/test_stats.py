"""API-545 figures: Meta's days joined with our leads, qualified, deals, won; constant query counts."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from campaigns.models import AdCampaign, AdCampaignLead, CampaignStats
from campaigns.selectors.stats import campaign_figures, campaign_stats
from deals.models import PartnerDeal
from leads.models import Lead
from tests.campaigns.factories import AdCampaignFactory
from tests.leads.factories import LeadFactory

pytestmark = pytest.mark.django_db

START = dt.date(2026, 3, 1)


def campaign_with_days(**fields) -> AdCampaign:
    fields.setdefault("partner", AdCampaignFactory().partner)
    campaign = AdCampaignFactory(
        status=AdCampaign.Status.ACTIVE, start_date=START, end_date=START + dt.timedelta(days=9), **fields
    )
    for day, spend in ((0, 3000), (1, 5000), (2, 2000)):
        CampaignStats.objects.create(
            campaign=campaign,
            date=START + dt.timedelta(days=day),
            spend_cents=spend,
            impressions=1000,
            clicks=10,
            meta_leads=2,
        )
    return campaign


def link(campaign: AdCampaign, day: int, *, status=Lead.Status.NEW, stage=None, value="0", is_test=False) -> Lead:
    lead = LeadFactory(
        tenant=campaign.tenant, assigned_partner=campaign.partner, source=Lead.Source.META_SELF, is_test=is_test
    )
    Lead.objects.filter(pk=lead.pk).update(status=status)
    at = timezone.make_aware(dt.datetime.combine(START + dt.timedelta(days=day), dt.time(12)))
    row = AdCampaignLead.objects.create(campaign=campaign, lead=lead)
    AdCampaignLead.objects.filter(pk=row.pk).update(created_at=at)
    if stage:
        PartnerDeal.objects.create(
            tenant=campaign.tenant, owner=campaign.partner, lead=lead, title="Deal", stage=stage, deal_value=value
        )
    return lead


def test_stats_join_meta_days_with_our_leads_and_deals():
    campaign = campaign_with_days()
    link(campaign, 0)
    link(campaign, 0, status=Lead.Status.QUALIFIED)
    link(campaign, 1, status=Lead.Status.CONVERTED, stage=PartnerDeal.Stage.WON, value="250000.00")
    link(campaign, 1, status=Lead.Status.CONVERTED, stage=PartnerDeal.Stage.PROPOSAL, value="1000")
    link(campaign, 1, is_test=True)  # Meta's test tool: not counted
    stats = campaign_stats(campaign=campaign, date_from=START, date_to=START + dt.timedelta(days=3))
    assert [d["date"] for d in stats["days"]] == [START + dt.timedelta(days=n) for n in range(4)]
    first, second, third, fourth = stats["days"]
    assert (first["spend_cents"], first["leads"], first["qualified"], first["cost_per_lead_cents"]) == (
        3000,
        2,
        1,
        1500,
    )
    assert first["cost_per_qualified_cents"] == 3000 and first["cost_per_won_cents"] is None
    assert (second["leads"], second["qualified"], second["deals"], second["won"]) == (2, 2, 2, 1)
    assert second["won_value"] == Decimal("250000.00") and second["cost_per_won_cents"] == 5000
    assert third["leads"] == 0 and third["cost_per_lead_cents"] is None and third["spend_cents"] == 2000
    assert fourth["spend_cents"] == 0 and fourth["impressions"] == 0
    totals = stats["totals"]
    assert totals["spend_cents"] == 10000 and totals["impressions"] == 3000 and totals["meta_leads"] == 6
    assert (totals["leads"], totals["qualified"], totals["deals"], totals["won"]) == (4, 3, 2, 1)
    assert totals["cost_per_lead_cents"] == 2500 and totals["cost_per_won_cents"] == 10000


def test_without_leads_the_cost_per_lead_is_null_and_the_default_range_is_the_runtime():
    campaign = campaign_with_days()
    stats = campaign_stats(campaign=campaign)
    assert stats["days"][0]["date"] == START and stats["days"][-1]["date"] == START + dt.timedelta(days=9)
    assert stats["totals"]["cost_per_lead_cents"] is None and stats["totals"]["spend_cents"] == 10000


def test_a_range_filters_days_and_leads():
    campaign = campaign_with_days()
    link(campaign, 0)
    link(campaign, 2)
    stats = campaign_stats(
        campaign=campaign, date_from=START + dt.timedelta(days=1), date_to=START + dt.timedelta(days=2)
    )
    assert stats["totals"]["spend_cents"] == 7000 and stats["totals"]["leads"] == 1
    assert len(stats["days"]) == 2


def test_campaign_stats_runs_two_queries_however_many_leads():
    campaign = campaign_with_days()
    for day in range(3):
        link(campaign, day, status=Lead.Status.CONVERTED, stage=PartnerDeal.Stage.WON, value="10")
    with CaptureQueriesContext(connection) as queries:
        campaign_stats(campaign=campaign)
    assert len(queries) == 2


def test_figures_for_a_list_in_constant_queries():
    campaigns = [campaign_with_days() for _ in range(3)]
    link(campaigns[0], 0, status=Lead.Status.CONVERTED, stage=PartnerDeal.Stage.WON, value="500")
    link(campaigns[0], 1)
    with CaptureQueriesContext(connection) as few:
        campaign_figures([campaigns[0].pk])
    with CaptureQueriesContext(connection) as many:
        figures = campaign_figures([c.pk for c in campaigns] + [999999])
    assert len(few) == len(many) == 2
    first = figures[campaigns[0].pk]
    assert (first["spend_cents"], first["leads"], first["won"], first["cost_per_lead_cents"]) == (10000, 2, 1, 5000)
    assert first["won_value"] == Decimal("500") and first["cost_per_won_cents"] == 10000
    assert figures[campaigns[1].pk]["leads"] == 0 and figures[campaigns[1].pk]["cost_per_lead_cents"] is None
    assert figures[999999]["spend_cents"] == 0
    assert campaign_figures([]) == {}


def test_a_running_campaign_shows_its_days_up_to_today():
    today = timezone.localdate()
    campaign = AdCampaignFactory(
        status=AdCampaign.Status.ACTIVE, start_date=today - dt.timedelta(days=4), end_date=today + dt.timedelta(days=25)
    )
    days = campaign_stats(campaign=campaign)["days"]
    assert len(days) == 5 and days[-1]["date"] == today
