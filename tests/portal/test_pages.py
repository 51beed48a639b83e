"""Portal pages: what a partner sees and does, and a constant number of queries whatever the data size."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Notification, PartnerProfile
from compliance.models import ConsentRecord
from deals.models import PartnerDeal
from leads.models import Lead, LeadAssignment
from leads.services import lead_contact_log, lead_qualify, offer_create
from tests.accounts.factories import PartnerFactory, UserFactory
from tests.deals.factories import deal_for, own_lead
from tests.leads.factories import LeadFactory

pytestmark = pytest.mark.django_db

PORTAL = "/portal/leads"


@pytest.fixture
def partner(platform_org):
    user = PartnerFactory(first_name="Anna")
    PartnerProfile.objects.filter(user=user).update(capacity=200)
    return user


@pytest.fixture
def client(partner) -> Client:
    c = Client()
    c.force_login(partner)
    return c


def _offer(partner, **lead_fields) -> LeadAssignment:
    admin = UserFactory(role="platform_admin")
    return offer_create(lead=LeadFactory(**lead_fields), partner=partner, actor=admin)


# --- Query counts: 3 vs 30 -------------------------------------------------------------------


def _queries(client: Client, url: str) -> int:
    client.get(url)  # warm caches (tenant config, platform organization)
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return len(ctx.captured_queries)


def _grow_leads(partner, n):
    for i in range(n):
        lead = own_lead(partner, company_name=f"Firma {i}")
        lead_contact_log(lead=lead, actor=partner, channel="phone", outcome="reached", note="Notiz")
    for i in range(n):
        _offer(partner, company_name=f"Angebot {i}")
    Notification.objects.bulk_create(Notification(recipient=partner, title=f"Hinweis {i}") for i in range(n))


def _grow_deals(partner, n):
    stages = ["lead", "qualified", "proposal", "won", "lost"]
    for i in range(n):
        deal_for(partner, stage=stages[i % len(stages)], value=1000 + i)


PAGES = ["/", "/inbox/", "/meine-leads/", "/meine-leads/?status=contacted&sort=-score&q=Firma", "/pipeline/",
         "/sources/", "/reports/", "/reports/export.csv", "/benachrichtigungen/"]  # fmt: skip


def test_pages_run_a_constant_number_of_queries(client, partner, django_assert_num_queries):
    # given: 3 of everything
    _grow_leads(partner, 3)
    _grow_deals(partner, 3)
    deal = PartnerDeal.objects.first()
    lead = Lead.objects.filter(assigned_partner=partner).first()
    offer = LeadAssignment.objects.filter(partner=partner, status="offered").first()
    pages = [*PAGES, f"/meine-leads/{lead.public_id}/", f"/pipeline/{deal.pk}/", f"/inbox/{offer.lead_id}/"]
    small = {page: _queries(client, PORTAL + page) for page in pages}

    # when: ten times as much, and more activity on the same lead and deal
    _grow_leads(partner, 27)
    _grow_deals(partner, 27)
    for _ in range(27):
        lead_contact_log(lead=lead, actor=partner, channel="email", outcome="no_answer")

    # then
    for page in pages:
        client.get(PORTAL + page)
        with django_assert_num_queries(small[page]):
            assert client.get(PORTAL + page).status_code == 200
    assert small["/"] <= 14 and small["/meine-leads/"] <= 10 and small["/pipeline/"] <= 9


# --- Dashboard, lists -------------------------------------------------------------------------


def test_dashboard_shows_kpis_and_the_pipeline_chart(client, partner):
    hot = own_lead(partner)
    Lead.objects.filter(pk=hot.pk).update(score=85, stage="burning")
    own_lead(partner)
    _offer(partner)
    deal_for(partner, stage="won", value=250000)
    Notification.objects.create(recipient=partner, title="Brennender Lead SOT-LEAD-XYZ", kind="hot_lead")

    page = client.get(PORTAL + "/").content.decode()

    assert '<svg class="lp-chart"' in page
    assert "250.000 €" in page  # won this month, German grouping
    assert "Brennender Lead SOT-LEAD-XYZ" in page  # notification in the header
    assert f"/portal/leads/meine-leads/{hot.public_id}/" in page  # hot lead listed


def test_lead_list_filters_sorts_and_paginates(client, partner):
    for i in range(30):
        own_lead(partner, company_name=f"Firma {i:02d}")
    special = own_lead(partner, company_name="Sonderfall AG", channel="referral", source="referral")
    Lead.objects.filter(pk=special.pk).update(score=90, stage="burning")

    first = client.get(PORTAL + "/meine-leads/").content.decode()
    assert "31 Leads" in first or "31 leads" in first
    assert "page=2" in first
    by_score = client.get(PORTAL + "/meine-leads/?sort=-score").content.decode()
    assert by_score.index("Sonderfall AG") < re.search(r"Firma \d\d", by_score).start()
    filtered = client.get(PORTAL + "/meine-leads/?channel=referral").content.decode()
    assert "Sonderfall AG" in filtered and "Firma 01" not in filtered
    assert "Sonderfall AG" in client.get(PORTAL + "/meine-leads/?q=sonderfall").content.decode()
    # htmx swaps only the results
    partial = client.get(PORTAL + "/meine-leads/?stage=burning", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="lead-results")
    assert partial.content.decode().lstrip().startswith('<section class="card" id="lead-results">')
    assert client.get(PORTAL + "/meine-leads/?status=kaputt&page=99").status_code == 200


def test_partner_creates_an_own_lead(client, partner):
    response = client.post(
        PORTAL + "/meine-leads/neu/", {"channel": "referral", "first_name": "Tom", "email": "tom@kunde.de"}
    )
    lead = Lead.objects.get(assigned_partner=partner)
    assert response.status_code == 302 and response["Location"].endswith(f"/meine-leads/{lead.public_id}/")
    assert (lead.source, lead.channel, lead.tenant_id) == ("referral", "referral", partner.organization_id)
    assert client.post(PORTAL + "/meine-leads/neu/", {"channel": "manual", "first_name": "Ohne"}).status_code == 200


# --- Inbox ------------------------------------------------------------------------------------


def test_inbox_shows_offers_without_contact_data_and_accepts(client, partner):
    offer = _offer(partner, company_name="Angebot GmbH", email="geheim@kunde.de")
    page = client.get(PORTAL + "/inbox/").content.decode()
    assert "Angebot GmbH" in page and "geheim@kunde.de" not in page
    detail = client.get(f"{PORTAL}/inbox/{offer.lead_id}/").content.decode()
    assert "geheim@kunde.de" not in detail and "1/3" in detail

    response = client.post(f"{PORTAL}/inbox/{offer.lead_id}/annehmen/")

    lead = Lead.objects.get(pk=offer.lead_id)
    assert response.status_code == 302 and response["Location"].endswith(f"/meine-leads/{lead.public_id}/")
    assert lead.assigned_partner_id == partner.pk
    assert ConsentRecord.objects.filter(subject_lead=lead, code="LEAD_SPLIT_AGREEMENT").exists()
    assert "geheim@kunde.de" in client.get(response["Location"]).content.decode()


def test_inbox_reject_needs_a_reason(client, partner):
    offer = _offer(partner)
    client.post(f"{PORTAL}/inbox/{offer.lead_id}/ablehnen/", {"reason": ""})
    assert LeadAssignment.objects.get(pk=offer.pk).status == "offered"
    response = client.post(f"{PORTAL}/inbox/{offer.lead_id}/ablehnen/", {"reason": "Nicht meine Region"})
    assert response.status_code == 302
    offer.refresh_from_db()
    assert (offer.status, offer.reason) == ("rejected", "Nicht meine Region")


# --- Lead work --------------------------------------------------------------------------------


def test_log_contact_qualify_and_convert_from_the_lead_page(client, partner):
    lead = own_lead(partner)
    url = f"{PORTAL}/meine-leads/{lead.public_id}/"
    due = timezone.localdate() + dt.timedelta(days=2)

    client.post(
        url + "kontakt/", {"channel": "phone", "outcome": "callback", "note": "Rückruf Di", "next_follow_up": due}
    )
    client.post(url + "notiz/", {"note": "Hat zwei Wohnungen"})
    page = client.get(url).content.decode()
    assert "Rückruf Di" in page and "Hat zwei Wohnungen" in page and due.strftime("%d.%m.%Y") in page
    assert Lead.objects.get(pk=lead.pk).status == "contacted"

    client.post(url + "qualifizieren/", {"note": "Budget da"})
    assert Lead.objects.get(pk=lead.pk).status == "qualified"
    response = client.post(url + "konvertieren/", {"deal_value": "300000", "stage": "lead"})

    deal = PartnerDeal.objects.get(lead=lead)
    assert response.status_code == 302 and response["Location"] == f"{PORTAL}/pipeline/{deal.pk}/"
    assert Lead.objects.get(pk=lead.pk).status == "converted"
    assert client.post(url + "unbekannt/", {}).status_code == 404


def test_refusals_are_shown_not_crashed(client, partner):
    lead = own_lead(partner)
    url = f"{PORTAL}/meine-leads/{lead.public_id}/"
    response = client.post(url + "konvertieren/", {"stage": "lead"}, follow=True)
    assert response.status_code == 200
    assert 'class="error"' in response.content.decode()
    past = timezone.localdate() - dt.timedelta(days=3)
    response = client.post(url + "wiedervorlage/", {"next_follow_up": past}, follow=True)
    assert 'class="error"' in response.content.decode()


# --- Pipeline ---------------------------------------------------------------------------------


def test_kanban_moves_with_htmx_and_shows_refusals(client, partner):
    deal = deal_for(partner, stage="lead")
    url = f"{PORTAL}/pipeline/{deal.pk}/stage/"
    board = client.get(PORTAL + "/pipeline/").content.decode()
    assert f'data-move-url="{url}"' in board and 'data-stage="qualified"' in board

    moved = client.post(url, {"stage": "qualified"}, HTTP_HX_REQUEST="true")
    assert moved.status_code == 200 and moved.content.decode().lstrip().startswith('<div id="board"')
    assert 'class="success"' in moved.content.decode()
    assert PartnerDeal.objects.get(pk=deal.pk).stage == "qualified"

    refused = client.post(url, {"stage": "won"}, HTTP_HX_REQUEST="true").content.decode()
    assert 'class="error"' in refused and deal.title in refused
    assert PartnerDeal.objects.get(pk=deal.pk).stage == "qualified"

    # Without JavaScript: a plain form post and a redirect back to the board.
    plain = client.post(url, {"stage": "proposal"})
    assert plain.status_code == 302 and plain["Location"] == f"{PORTAL}/pipeline/"


def test_deal_page_wins_and_loses(client, partner):
    closing = deal_for(partner, stage="closing", value=100)
    url = f"{PORTAL}/pipeline/{closing.pk}/"
    assert "0,3333" not in client.get(url).content.decode()  # own lead: no platform share
    client.post(url + "bearbeiten/", {"deal_value": "200", "expected_close_date": "2031-01-31", "listing_id": "W-1"})
    client.post(url + "gewonnen/", {"deal_value": "210"})
    closing.refresh_from_db()
    assert (closing.stage, str(closing.deal_value), closing.listing_id) == ("won", "210.00", "W-1")

    other = deal_for(partner, stage="proposal")
    client.post(f"{PORTAL}/pipeline/{other.pk}/verloren/", {"reason": ""})
    assert PartnerDeal.objects.get(pk=other.pk).stage == "proposal"
    client.post(f"{PORTAL}/pipeline/{other.pk}/verloren/", {"reason": "Zu teuer"})
    assert PartnerDeal.objects.get(pk=other.pk).stage == "lost"


# --- Sources, reports, campaigns, notifications -----------------------------------------------


def test_sources_reports_and_csv(client, partner):
    contacted = own_lead(partner, channel="referral", source="referral", source_campaign="Frühjahr")
    lead_contact_log(lead=contacted, actor=partner, channel="phone", outcome="reached")
    lead_qualify(lead=contacted, actor=partner)
    deal_for(partner, stage="won", value=5000)

    sources = client.get(PORTAL + "/sources/").content.decode()
    assert "Frühjahr" in sources and sources.count('<svg class="lp-chart"') == 3
    reports = client.get(PORTAL + "/reports/").content.decode()
    assert 'data-testid="funnel-won"' in reports and sources.count("<svg") >= 3

    csv_response = client.get(PORTAL + "/reports/export.csv?date_from=2026-01-01")
    assert csv_response["Content-Type"].startswith("text/csv")
    text = csv_response.content.decode("utf-8-sig")
    assert "5000,00" in text and text.count("\n") > 10
    assert client.get(PORTAL + "/reports/?date_from=kaputt").status_code == 200


def test_campaigns_placeholder_keeps_navigation(client):
    page = client.get(PORTAL + "/werbung/").content.decode()
    for path in ("/inbox/", "/meine-leads/", "/pipeline/", "/sources/", "/reports/"):
        assert f'href="{PORTAL}{path}"' in page
    assert client.get(PORTAL + "/werbung/123/").status_code == 404


def test_notifications_mark_read(client, partner):
    first = Notification.objects.create(recipient=partner, title="Neues Angebot")
    Notification.objects.create(recipient=partner, title="Noch eins")
    Notification.objects.create(recipient=PartnerFactory(), title="Fremd")
    client.post(PORTAL + "/benachrichtigungen/", {"id": first.pk})
    assert Notification.objects.filter(recipient=partner, read_at__isnull=True).count() == 1
    client.post(PORTAL + "/benachrichtigungen/")
    assert not Notification.objects.filter(recipient=partner, read_at__isnull=True).exists()
    assert Notification.objects.filter(title="Fremd", read_at__isnull=True).exists()


def test_the_portal_speaks_german_by_default_and_english_on_request(client, partner):
    # given: a browser that asks for nothing in particular, and a deal to move
    deal = deal_for(partner, stage="lead")

    # when / then: the navigation is German, with the labels of the issue
    page = client.get(PORTAL + "/").content.decode()
    for label in ("Partnerportal", "Meine Leads", "Werbung", "Quellen", "Reports", "Abmelden", "Deals je Phase"):
        assert label in page, label
    assert "My leads" not in page

    # a refusal on the board is German, stage names included
    refused = client.post(
        f"{PORTAL}/pipeline/{deal.pk}/stage/", {"stage": "won"}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "Nicht möglich" in refused and "Gewonnen" in refused

    # English only on request
    english = client.get(PORTAL + "/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "My leads" in english and "Meine Leads" not in english
