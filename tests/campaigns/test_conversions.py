"""Closed loop: campaign leads' status and deal stage changes → Conversions API outbox → batched sends."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import responses
from django.utils import timezone

from campaigns.models import CONVERSION_LEASE, AdCampaign, AdCampaignLead, ConversionEvent
from campaigns.services import conversions
from campaigns.services.conversions import conversion_events_send, lead_status_conversion_record
from core.leases import lease_claim_batch
from deals.services import deal_move_stage, lead_convert
from leads.models import Lead
from leads.services.core import lead_status_transition
from tests.campaigns.factories import AdCampaignFactory
from tests.leads.factories import LeadFactory

pytestmark = pytest.mark.django_db

GRAPH = "https://graph.test/v25.0"
DATASET = "987654321098765"
EVENTS_URL = f"{GRAPH}/{DATASET}/events"
Status = ConversionEvent.Status


@pytest.fixture(autouse=True)
def capi_settings(settings):
    settings.META_GRAPH_API_URL = GRAPH
    settings.META_DATASET_ID = DATASET
    settings.META_ADS_ACCESS_TOKEN = ""  # recording only; the send tests set a token
    settings.META_APP_SECRET = ""
    return settings


@pytest.fixture
def graph():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def campaign(db):
    return AdCampaignFactory(status=AdCampaign.Status.ACTIVE, meta_campaign_id="120001")


def campaign_lead(campaign, n: int = 0, **fields) -> Lead:
    fields.setdefault("facebook_lead_id", f"12345678901234{n}")
    lead = LeadFactory(
        tenant=campaign.tenant,
        assigned_partner=campaign.partner,
        channel=Lead.Channel.FACEBOOK,
        source=Lead.Source.META_SELF,
        **fields,
    )
    AdCampaignLead.objects.create(campaign=campaign, lead=lead)
    return lead


def test_status_and_stage_changes_of_a_campaign_lead_are_queued_once(campaign, django_capture_on_commit_callbacks):
    lead = campaign_lead(campaign)
    with django_capture_on_commit_callbacks(execute=True):
        lead = lead_status_transition(lead=lead, to=Lead.Status.QUALIFIED, actor=campaign.partner)
    with django_capture_on_commit_callbacks(execute=True):
        deal = lead_convert(lead=lead, actor=campaign.partner, deal_value=1000)
    with django_capture_on_commit_callbacks(execute=True):
        deal_move_stage(deal=deal, to="won", actor=campaign.partner)
    keys = list(ConversionEvent.objects.order_by("id").values_list("event_key", "event_name"))
    assert keys == [
        (f"lead:{lead.pk}:status:qualified", "Qualified"),
        (f"lead:{lead.pk}:status:converted", "Converted"),
        (f"deal:{deal.pk}:stage:won", "Won"),
    ]
    event = ConversionEvent.objects.get(event_key=f"deal:{deal.pk}:stage:won")
    assert event.campaign_id == campaign.pk and event.status == Status.PENDING
    assert event.payload == {
        "event_name": "Won",
        "event_time": int(event.event_time.timestamp()),
        "action_source": "system_generated",
        "user_data": {"lead_id": "123456789012340"},
        "custom_data": {"event_source": "crm", "lead_event_source": conversions.LEAD_EVENT_SOURCE},
    }
    # The same change heard twice (a redelivered signal) stays one event.
    assert lead_status_conversion_record(lead=lead, to_status="qualified") is None
    assert ConversionEvent.objects.count() == 3


def test_nothing_is_queued_without_dataset_for_other_leads_or_without_a_meta_id(campaign, settings, platform_org):
    other = LeadFactory()
    no_meta_id = campaign_lead(campaign, facebook_lead_id="")
    assert lead_status_conversion_record(lead=other, to_status="contacted") is None
    assert lead_status_conversion_record(lead=no_meta_id, to_status="contacted") is None
    settings.META_DATASET_ID = ""
    assert lead_status_conversion_record(lead=campaign_lead(campaign, 1), to_status="contacted") is None
    assert not ConversionEvent.objects.exists()


def test_a_routed_lead_gets_its_first_stage_and_a_send_is_queued(
    campaign, settings, graph, django_capture_on_commit_callbacks
):
    from campaigns.receivers import link_routed_lead
    from campaigns.services.routing import campaign_route_ref
    from leads.models import LeadFormRoute

    settings.META_ADS_ACCESS_TOKEN = "EAASystemUser"
    graph.post(EVENTS_URL, json={"events_received": 1, "messages": []})
    lead = LeadFactory(tenant=campaign.tenant, facebook_lead_id="99887766554433")
    route = LeadFormRoute(
        form_id="1", partner=campaign.partner, tenant=campaign.tenant, ref=campaign_route_ref(campaign)
    )
    with django_capture_on_commit_callbacks(execute=True):
        link_routed_lead(sender=LeadFormRoute, route=route, lead=lead)
    event = ConversionEvent.objects.get()
    assert event.event_key == f"lead:{lead.pk}:status:new" and event.status == Status.SENT
    assert json.loads(graph.calls[0].request.body)["data"][0]["user_data"] == {"lead_id": "99887766554433"}


def test_send_posts_batches_and_marks_rows_sent(campaign, settings, graph, monkeypatch):
    settings.META_ADS_ACCESS_TOKEN = "EAASystemUser"
    monkeypatch.setattr(conversions, "BATCH_SIZE", 2)
    for n in range(3):
        lead_status_conversion_record(lead=campaign_lead(campaign, n), to_status="contacted")
    graph.post(EVENTS_URL, json={"events_received": 2, "messages": []})
    counts = conversion_events_send()
    assert counts == {"sent": 3, "failed": 0, "batches": 2}
    sizes = [len(json.loads(call.request.body)["data"]) for call in graph.calls]
    assert sizes == [2, 1]
    assert set(ConversionEvent.objects.values_list("status", flat=True)) == {Status.SENT}
    assert conversion_events_send()["batches"] == 0  # each event once


def test_a_failed_batch_is_retried_with_backoff_and_old_events_are_given_up(campaign, settings, graph):
    settings.META_ADS_ACCESS_TOKEN = "EAASystemUser"
    now = timezone.now()
    fresh = lead_status_conversion_record(lead=campaign_lead(campaign, 1), to_status="contacted")
    old = lead_status_conversion_record(
        lead=campaign_lead(campaign, 2), to_status="contacted", at=now - dt.timedelta(days=8)
    )
    graph.post(EVENTS_URL, json={"error": {"message": "Service unavailable", "code": 2}}, status=503)
    counts = conversion_events_send(now=now)
    assert counts["sent"] == 0 and counts["failed"] == 1
    fresh.refresh_from_db()
    old.refresh_from_db()
    assert old.status == Status.FAILED and "7 days" in old.last_error
    assert fresh.status == Status.PENDING and fresh.attempts == 1 and fresh.next_attempt_at > now
    assert "HTTP 503" in fresh.last_error
    # Not due yet: nothing is sent; once due, the retry goes out.
    assert conversion_events_send(now=now)["batches"] == 0
    graph.replace(responses.POST, EVENTS_URL, json={"events_received": 1})
    assert conversion_events_send(now=fresh.next_attempt_at)["sent"] == 1


def test_rows_claimed_by_another_sender_are_not_sent_twice(campaign, settings, graph):
    settings.META_ADS_ACCESS_TOKEN = "EAASystemUser"
    event = lead_status_conversion_record(lead=campaign_lead(campaign), to_status="contacted")
    taken = lease_claim_batch(CONVERSION_LEASE, owner="other", duration=dt.timedelta(minutes=10), limit=10)
    assert taken == [event.pk]
    assert conversion_events_send()["batches"] == 0 and not graph.calls
    # The other sender died: after its lease the row is taken over.
    graph.post(EVENTS_URL, json={"events_received": 1})
    assert conversion_events_send(now=timezone.now() + dt.timedelta(minutes=11))["sent"] == 1
