"""A booked form's leads go to the booking partner (meta_self) and are linked to the campaign."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest

from campaigns.models import AdCampaign, AdCampaignLead
from campaigns.services.routing import campaign_route_register
from leads.models import Lead, LeadFormRoute
from leads.services import lead_ingest
from leads.signals import lead_routed
from tests.campaigns.factories import AdCampaignFactory
from tests.webhooks import conftest as webhook_fixtures
from tests.webhooks.conftest import GRAPH, fixture_bytes, fixture_json
from tests.webhooks.factories import MetaPageConnectionFactory
from webhooks.models import WebhookEvent

pytestmark = pytest.mark.django_db

# The webhook tests' fixtures: signed posts through the real URL, Meta's settings, the Graph stub.
meta_settings = webhook_fixtures.meta_settings
graph = webhook_fixtures.graph
post_webhook = webhook_fixtures.post_webhook

VECTOR = "facebook/leadgen_signature_vector.json"
PAGE, LEADGEN, FORM = "153125381133", "123123123123", "12312312312"


@pytest.fixture
def deliver(post_webhook, django_capture_on_commit_callbacks):
    def run():
        with django_capture_on_commit_callbacks(execute=True):
            response = post_webhook("facebook", fixture_bytes(VECTOR))
        assert response.status_code == 200, response.content

    return run


@pytest.fixture
def campaign(db):
    campaign = AdCampaignFactory(status=AdCampaign.Status.ACTIVE, meta_form_id=FORM, meta_campaign_id="120000001")
    campaign_route_register(campaign=campaign)
    return campaign


def stub_lead(graph):
    graph.get(f"{GRAPH}/{LEADGEN}", json={**fixture_json("facebook/graph_lead_docs.json"), "id": LEADGEN})


def test_a_lead_of_a_booked_form_goes_to_the_booking_partner_and_is_linked(campaign, graph, deliver):
    MetaPageConnectionFactory(page_id=PAGE, access_token="EAAPageToken")
    stub_lead(graph)
    deliver()
    lead = WebhookEvent.objects.get().lead
    assert lead.source == Lead.Source.META_SELF
    assert (lead.assigned_partner_id, lead.tenant_id) == (campaign.partner_id, campaign.tenant_id)
    assert AdCampaignLead.objects.get().lead_id == lead.pk
    assert campaign.leads.get().lead == lead


def test_a_redelivered_webhook_links_once(campaign, graph, deliver):
    MetaPageConnectionFactory(page_id=PAGE)
    stub_lead(graph)
    deliver()
    deliver()
    assert Lead.objects.count() == 1 and AdCampaignLead.objects.count() == 1


def test_an_inactive_route_leaves_the_lead_in_the_pool(campaign, graph, deliver, platform_org):
    LeadFormRoute.objects.update(is_active=False)
    MetaPageConnectionFactory(page_id=PAGE)
    stub_lead(graph)
    deliver()
    lead = Lead.objects.get()
    assert lead.source == Lead.Source.ZONE1_POOL and lead.assigned_partner_id is None
    assert not AdCampaignLead.objects.exists()


def test_the_ads_page_without_connection_is_read_with_the_ads_token(campaign, graph, deliver, settings):
    settings.META_ADS_PAGE_ID, settings.META_ADS_ACCESS_TOKEN = PAGE, "EAASystemUser"
    stub_lead(graph)
    deliver()
    (call,) = graph.calls
    assert parse_qs(urlparse(call.request.url).query)["access_token"] == ["EAASystemUser"]
    assert WebhookEvent.objects.get().status == WebhookEvent.Status.PROCESSED
    assert Lead.objects.get().assigned_partner_id == campaign.partner_id


def test_a_page_connection_of_the_ads_page_wins_over_the_ads_token(campaign, graph, deliver, settings):
    settings.META_ADS_PAGE_ID, settings.META_ADS_ACCESS_TOKEN = PAGE, "EAASystemUser"
    MetaPageConnectionFactory(page_id=PAGE, access_token="EAAPageToken")
    stub_lead(graph)
    deliver()
    (call,) = graph.calls
    assert parse_qs(urlparse(call.request.url).query)["access_token"] == ["EAAPageToken"]


def test_another_page_without_connection_still_fails(graph, deliver, settings):
    settings.META_ADS_PAGE_ID, settings.META_ADS_ACCESS_TOKEN = "999", "EAASystemUser"
    deliver()
    event = WebhookEvent.objects.get()
    assert event.status == WebhookEvent.Status.FAILED and event.error_code == "no_connection"


def test_lead_routed_is_sent_after_commit_with_route_and_lead(campaign, django_capture_on_commit_callbacks):
    heard = []

    def listener(sender, route, lead, **kwargs):
        heard.append((route.form_id, lead.pk))

    lead_routed.connect(listener)
    try:
        route = LeadFormRoute.objects.get()
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            result = lead_ingest(payload={"email": "r@beispiel.de"}, channel=Lead.Channel.FACEBOOK, route=route)
            assert heard == []
        assert callbacks and heard == [(FORM, result.lead.pk)]
    finally:
        lead_routed.disconnect(listener)


def test_the_receiver_ignores_foreign_routes_and_is_idempotent(campaign, partner_user):
    lead = Lead.objects.create(tenant=campaign.tenant, channel=Lead.Channel.FACEBOOK, email="x@beispiel.de")
    foreign = LeadFormRoute(form_id="1", partner=partner_user, tenant=partner_user.organization, ref="property:7")
    lead_routed.send_robust(sender=LeadFormRoute, route=foreign, lead=lead)
    assert not AdCampaignLead.objects.exists()
    route = LeadFormRoute.objects.get()
    for _ in range(2):
        lead_routed.send_robust(sender=LeadFormRoute, route=route, lead=lead)
    assert AdCampaignLead.objects.get().campaign_id == campaign.pk
