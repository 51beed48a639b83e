"""Insights sync: one request per campaign and range, daily upserts, restated days, throttling."""

from __future__ import annotations

import datetime as dt
import io
import json
from urllib.parse import parse_qs, urlparse

import pytest
import responses
from django.core.management import CommandError, call_command
from django.utils import timezone

from campaigns.models import AdCampaign, CampaignStats
from campaigns.services.insights import campaign_insights_sync, campaigns_insights_sync, campaigns_to_sync
from campaigns.tasks import campaign_insights_sync_task
from integrations.meta.reporting import insights_row_parse, lead_count, spend_cents
from tests.campaigns.factories import AdCampaignFactory

pytestmark = pytest.mark.django_db

GRAPH = "https://graph.test/v25.0"
TODAY = dt.date(2026, 3, 10)
NOW = timezone.make_aware(dt.datetime(2026, 3, 10, 6, 0))


@pytest.fixture(autouse=True)
def ads_settings(settings):
    settings.META_GRAPH_API_URL = GRAPH
    settings.META_ADS_ACCESS_TOKEN = "EAASystemUser"
    settings.META_APP_SECRET = "secret"
    return settings


@pytest.fixture
def graph():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def booked(meta_id: str = "120001", status=AdCampaign.Status.ACTIVE, **fields) -> AdCampaign:
    fields.setdefault("start_date", dt.date(2026, 3, 1))
    fields.setdefault("end_date", dt.date(2026, 3, 31))
    return AdCampaignFactory(status=status, meta_campaign_id=meta_id, **fields)


def row(day: str, spend: str = "12.34", leads: int = 2, **extra) -> dict:
    actions = [
        {"action_type": "link_click", "value": "9"},
        {"action_type": "lead", "value": str(leads + 1)},
        {"action_type": "onsite_conversion.lead_grouped", "value": str(leads)},
    ]
    return {
        "date_start": day,
        "date_stop": day,
        "spend": spend,
        "impressions": "1000",
        "clicks": "25",
        "actions": actions,
        **extra,
    }


def query(call) -> dict:
    return {k: v[0] for k, v in parse_qs(urlparse(call.request.url).query).items()}


def test_parsing_spend_counts_and_lead_actions():
    assert spend_cents("123.45") == 12345 and spend_cents("0.005") == 1 and spend_cents(None) == 0
    assert spend_cents("abc") == 0 and spend_cents("-3") == 0
    assert lead_count([{"action_type": "lead", "value": "4"}]) == 4
    assert (
        lead_count(
            [{"action_type": "lead", "value": "4"}, {"action_type": "onsite_conversion.lead_grouped", "value": "3"}]
        )
        == 3
    )
    assert lead_count(None) == 0
    day = insights_row_parse(row("2026-03-02", spend="7.5", leads=1))
    assert (day.date, day.spend_cents, day.impressions, day.clicks, day.meta_leads) == (
        dt.date(2026, 3, 2),
        750,
        1000,
        25,
        1,
    )
    assert insights_row_parse({"spend": "1"}) is None


def test_first_run_reads_from_the_start_in_one_request_following_paging(graph):
    campaign = booked()
    url = f"{GRAPH}/120001/insights"
    # Two stubs of one URL answer in turn: the first page, then the page after the cursor.
    graph.get(
        url,
        json={
            "data": [row("2026-03-01"), row("2026-03-02")],
            "paging": {"cursors": {"after": "C2"}, "next": f"{url}?after=C2&access_token=x"},
        },
    )
    graph.get(url, json={"data": [row("2026-03-03", spend="1.00")], "paging": {"cursors": {"after": "C3"}}})
    assert campaign_insights_sync(campaign=campaign, now=NOW) == 3
    first = query(graph.calls[0])
    assert first["level"] == "campaign" and first["time_increment"] == "1"
    assert set(first["fields"].split(",")) >= {"spend", "impressions", "clicks", "actions"}
    assert json.loads(first["time_range"]) == {"since": "2026-03-01", "until": "2026-03-10"}
    assert first["access_token"] == "EAASystemUser" and "appsecret_proof" in first
    assert query(graph.calls[1])["after"] == "C2" and len(graph.calls) == 2
    stats = {s.date.day: s for s in CampaignStats.objects.filter(campaign=campaign)}
    assert sorted(stats) == [1, 2, 3] and stats[1].spend_cents == 1234 and stats[3].spend_cents == 100
    assert stats[1].meta_leads == 2 and stats[1].clicks == 25
    campaign.refresh_from_db()
    assert campaign.insights_synced_through == TODAY and campaign.insights_synced_at == NOW


def test_later_runs_reread_the_last_three_days_and_upsert(graph):
    campaign = booked(insights_synced_through=dt.date(2026, 3, 9))
    CampaignStats.objects.create(campaign=campaign, date=dt.date(2026, 3, 8), spend_cents=100)
    graph.get(f"{GRAPH}/120001/insights", json={"data": [row("2026-03-08", spend="5.00"), row("2026-03-09")]})
    assert campaign_insights_sync(campaign=campaign, now=NOW) == 2
    assert json.loads(query(graph.calls[0])["time_range"]) == {"since": "2026-03-07", "until": "2026-03-10"}
    assert CampaignStats.objects.get(campaign=campaign, date=dt.date(2026, 3, 8)).spend_cents == 500
    assert CampaignStats.objects.filter(campaign=campaign).count() == 2
    # Idempotent: the same answer again changes nothing.
    campaign_insights_sync(campaign=campaign, now=NOW)
    assert CampaignStats.objects.filter(campaign=campaign).count() == 2


def test_a_rate_limit_stops_the_run_and_the_next_run_continues(graph):
    first, second = booked("111"), booked("222")
    error = {"error": {"message": "Too many calls", "code": 80004, "error_subcode": 2446079}}
    graph.get(f"{GRAPH}/111/insights", json=error, status=400)
    graph.get(f"{GRAPH}/222/insights", json={"data": [row("2026-03-02")]})
    run = campaigns_insights_sync(now=NOW)
    assert run.stopped and run.campaigns == 0 and len(graph.calls) == 1
    assert not CampaignStats.objects.exists()
    first.refresh_from_db()
    assert first.insights_synced_through is None and second.pk


def test_usage_headers_near_the_quota_pause_the_following_calls(graph):
    booked("111")
    booked("222")
    usage = json.dumps(
        {
            "act_1": [
                {
                    "type": "ads_insights",
                    "call_count": 97,
                    "total_cputime": 10,
                    "total_time": 10,
                    "estimated_time_to_regain_access": 5,
                }
            ]
        }
    )
    graph.get(f"{GRAPH}/111/insights", json={"data": [row("2026-03-02")]}, headers={"X-Business-Use-Case-Usage": usage})
    graph.get(f"{GRAPH}/222/insights", json={"data": [row("2026-03-02")]})
    run = campaigns_insights_sync(now=NOW)
    assert run.campaigns == 1 and run.stopped and len(graph.calls) == 1


def test_due_campaigns_are_active_paused_and_recently_completed():
    active, paused = booked("1"), booked("2", status=AdCampaign.Status.PAUSED)
    recent = booked("3", status=AdCampaign.Status.COMPLETED, completed_at=NOW - dt.timedelta(days=2))
    booked("4", status=AdCampaign.Status.COMPLETED, completed_at=NOW - dt.timedelta(days=30))
    AdCampaignFactory(status=AdCampaign.Status.PENDING)
    booked("", status=AdCampaign.Status.ACTIVE)
    assert set(campaigns_to_sync(now=NOW)) == {active, paused, recent}


def test_the_task_and_the_command(graph):
    campaign = booked(
        "555",
        start_date=timezone.localdate() - dt.timedelta(days=2),
        end_date=timezone.localdate() + dt.timedelta(days=20),
    )
    graph.get(f"{GRAPH}/555/insights", json={"data": [row(str(timezone.localdate() - dt.timedelta(days=1)))]})
    assert campaign_insights_sync_task(campaign.pk)["days"] == 1
    out = io.StringIO()
    call_command(
        "sync_campaign_insights", "--campaign", str(campaign.pk), "--since", str(campaign.start_date), stdout=out
    )
    assert "1 campaigns synced, 1 days written" in out.getvalue()
    assert json.loads(query(graph.calls[-1])["time_range"])["since"] == str(campaign.start_date)
    with pytest.raises(CommandError):
        call_command("sync_campaign_insights", "--campaign", "999999")
    with pytest.raises(CommandError):
        call_command("sync_campaign_insights", "--since", "gestern")


def test_nothing_is_read_before_the_start_without_meta_id_or_without_token(graph, settings):
    future = booked(start_date=TODAY + dt.timedelta(days=2), end_date=TODAY + dt.timedelta(days=30))
    assert campaign_insights_sync(campaign=future, now=NOW) == 0
    assert campaign_insights_sync(campaign=AdCampaignFactory(), now=NOW) == 0
    settings.META_ADS_ACCESS_TOKEN = ""
    assert campaigns_insights_sync(now=NOW).stopped == "no_token"
    assert not graph.calls
