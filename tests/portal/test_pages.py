"""Portal pages: the shell and its own pages, and a constant number of queries on every page whatever the data size."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts.models import Notification
from deals.models import PartnerDeal
from leads.models import Lead, LeadAssignment
from leads.services import lead_contact_log, lead_qualify, offer_create
from tests.accounts.factories import PartnerFactory, UserFactory
from tests.deals.factories import deal_for, own_lead
from tests.leads.factories import LeadFactory

pytestmark = pytest.mark.django_db

PORTAL = "/portal/leads"


@pytest.fixture
def partner(portal_partner):
    return portal_partner


@pytest.fixture
def client(portal_client) -> Client:
    return portal_client


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


# --- Dashboard -------------------------------------------------------------------------------


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
    deal = deal_for(partner, stage="won")

    # when / then: the navigation is German, with the labels of the issue
    page = client.get(PORTAL + "/").content.decode()
    for label in ("Partnerportal", "Meine Leads", "Werbung", "Quellen", "Reports", "Abmelden", "Deals je Phase"):
        assert label in page, label
    assert "My leads" not in page

    # a refusal on the board (won is final) names the stages in German
    refused = client.post(
        f"{PORTAL}/pipeline/{deal.pk}/stage/", {"stage": "closing"}, HTTP_HX_REQUEST="true"
    ).content.decode()
    error = refused[refused.index('class="error"') :]
    error = error[: error.index("</li>")]
    assert "Gewonnen → Abschluss" in error

    # English only on request
    english = client.get(PORTAL + "/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "My leads" in english and "Meine Leads" not in english
