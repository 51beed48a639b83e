"""The portal's "Werbung" pages: list, new/edit draft with preview, submit with Meta's terms, actions, chart, CSV."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from campaigns.models import AdCampaign, AdCampaignLead, CampaignStats
from compliance.models import ConsentRecord
from tests.campaigns.factories import AdCampaignFactory, CampaignTemplateFactory
from tests.leads.factories import LeadFactory

pytestmark = pytest.mark.django_db

PORTAL = "/portal/leads/werbung"
S = AdCampaign.Status


def _form(template, **overrides):
    start = timezone.localdate() + dt.timedelta(days=1)
    return {
        "template": template.code,
        "name": "Frühjahr München",
        "budget_euros": "250",
        "start_date": start.isoformat(),
        "end_date": (start + dt.timedelta(days=20)).isoformat(),
        "countries": ["DE", "AT"],
        "city_key": "",
        "city_name": "",
        "radius_km": "",
        "headline": "",
        "text": "",
        **overrides,
    }


def test_the_list_shows_figures_per_campaign_in_constant_queries(
    portal_client, portal_partner, django_assert_max_num_queries
):
    campaign = AdCampaignFactory(partner=portal_partner, status=S.ACTIVE, name="Sommer Berlin")
    CampaignStats.objects.create(campaign=campaign, date=campaign.start_date, spend_cents=9_000)
    AdCampaignLead.objects.create(
        campaign=campaign, lead=LeadFactory(tenant=portal_partner.organization, assigned_partner=portal_partner)
    )
    AdCampaignFactory(name="Fremde Kampagne")

    with django_assert_max_num_queries(20) as captured:
        page = portal_client.get(PORTAL + "/").content.decode()
    assert "Sommer Berlin" in page and "Fremde Kampagne" not in page
    assert "90 €" in page and 'href="/portal/leads/werbung/neu/"' in page
    queries = len(captured)
    AdCampaignFactory.create_batch(5, partner=portal_partner)
    with django_assert_max_num_queries(queries):
        portal_client.get(PORTAL + "/")


def test_a_partner_creates_a_draft_from_the_form_with_the_preview(portal_client, portal_partner):
    template = CampaignTemplateFactory(headline="Rendite mit Wohnraum")
    page = portal_client.get(PORTAL + "/neu/").content.decode()
    assert 'data-testid="ad-preview"' in page

    response = portal_client.post(PORTAL + "/neu/", _form(template, city_key="2867714", radius_km="20"))

    campaign = AdCampaign.objects.get(partner=portal_partner)
    assert response.status_code == 302 and response["Location"] == f"{PORTAL}/{campaign.pk}/"
    assert campaign.budget_cents == 25_000 and campaign.name == "Frühjahr München"
    assert campaign.regions == ["DE", "AT", {"city_key": "2867714", "radius_km": 20}]
    detail = portal_client.get(response["Location"]).content.decode()
    assert "Rendite mit Wohnraum" in detail and template.primary_text in detail


def test_the_form_shows_what_is_wrong(portal_client, portal_partner):
    template = CampaignTemplateFactory()

    response = portal_client.post(
        PORTAL + "/neu/", _form(template, budget_euros="50", countries=[], city_key="", start_date="2020-01-01")
    )

    assert response.status_code == 200 and not AdCampaign.objects.exists()
    assert len(response.context["form"].errors) >= 2


def test_the_preview_follows_the_overrides(portal_client):
    template = CampaignTemplateFactory()

    html = portal_client.post(
        PORTAL + "/vorschau/", {"template": template.code, "headline": "Meine Zeile", "text": ""}
    ).content.decode()

    assert "Meine Zeile" in html and template.primary_text in html and template.image in html


def test_submit_shows_the_terms_and_needs_the_checkbox_the_first_time(portal_client, portal_partner):
    campaign = AdCampaignFactory(partner=portal_partner)
    detail = portal_client.get(f"{PORTAL}/{campaign.pk}/").content.decode()
    assert "Lead Ads Terms" in detail and 'name="accept_tos"' in detail

    portal_client.post(f"{PORTAL}/{campaign.pk}/einreichen/", {})
    assert AdCampaign.objects.get(pk=campaign.pk).status == S.DRAFT

    portal_client.post(f"{PORTAL}/{campaign.pk}/einreichen/", {"accept_tos": "on"}, HTTP_USER_AGENT="Browser/1")
    assert AdCampaign.objects.get(pk=campaign.pk).status == S.PENDING
    record = ConsentRecord.objects.get(subject_user=portal_partner, code="META_ADS_TOS")
    assert record.source == ConsentRecord.Source.PORTAL and record.evidence["user_agent"] == "Browser/1"
    second = AdCampaignFactory(partner=portal_partner)
    assert 'name="accept_tos"' not in portal_client.get(f"{PORTAL}/{second.pk}/").content.decode()


def test_an_active_campaign_shows_figures_chart_and_pauses(portal_client, portal_partner):
    today = timezone.localdate()
    campaign = AdCampaignFactory(
        partner=portal_partner,
        status=S.ACTIVE,
        start_date=today - dt.timedelta(days=3),
        end_date=today + dt.timedelta(days=10),
    )
    CampaignStats.objects.create(campaign=campaign, date=today - dt.timedelta(days=2), spend_cents=5_000)

    page = portal_client.get(f"{PORTAL}/{campaign.pk}/").content.decode()
    assert 'data-testid="campaign-charts"' in page and "<svg" in page and "50 €" in page

    portal_client.post(f"{PORTAL}/{campaign.pk}/pausieren/")
    assert AdCampaign.objects.get(pk=campaign.pk).status == S.PAUSED
    portal_client.post(f"{PORTAL}/{campaign.pk}/beenden/")
    assert AdCampaign.objects.get(pk=campaign.pk).status == S.COMPLETED


def test_the_csv_has_one_row_per_day_and_a_total(portal_client, portal_partner):
    campaign = AdCampaignFactory(
        partner=portal_partner, status=S.ACTIVE, start_date=dt.date(2026, 11, 1), end_date=dt.date(2026, 11, 3)
    )
    CampaignStats.objects.create(campaign=campaign, date=dt.date(2026, 11, 2), spend_cents=1_234, clicks=7)

    response = portal_client.get(f"{PORTAL}/{campaign.pk}/export.csv")

    assert response["Content-Type"].startswith("text/csv")
    lines = response.content.decode("utf-8-sig").strip().splitlines()
    assert lines[2].startswith("2026-11-01;") and lines[3].startswith("2026-11-02;12,34;0;7;")
    assert len(lines) == 2 + 3 + 1


def test_another_partners_campaign_is_a_404_and_a_submitted_one_is_not_editable(portal_client, portal_partner):
    other = AdCampaignFactory()
    for url in (f"{PORTAL}/{other.pk}/", f"{PORTAL}/{other.pk}/bearbeiten/", f"{PORTAL}/{other.pk}/export.csv"):
        assert portal_client.get(url).status_code == 404
    assert portal_client.post(f"{PORTAL}/{other.pk}/pausieren/").status_code == 404

    pending = AdCampaignFactory(partner=portal_partner, status=S.PENDING)
    response = portal_client.get(f"{PORTAL}/{pending.pk}/bearbeiten/")
    assert response.status_code == 302 and response["Location"] == f"{PORTAL}/{pending.pk}/"
