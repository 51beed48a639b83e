"""Leads' portal pages (leads.views): the inbox of pool offers and Meine Leads."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import Notification
from compliance.models import ConsentRecord
from leads.models import Lead, LeadAssignment
from leads.services import offer_accept, offer_create, offer_reject, offer_revoke
from tests.accounts.factories import PartnerFactory, UserFactory
from tests.deals.factories import own_lead
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


# --- Meine Leads -----------------------------------------------------------------------------


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


@pytest.mark.parametrize("how", ["rejected", "overdue", "expired"])
def test_an_old_offer_is_a_404_on_every_inbox_page(client, partner, how):
    admin = UserFactory(role="platform_admin")
    offer = _offer(partner, company_name="Geheim GmbH", email="kunde@beispiel.de")
    lead = offer.lead
    if how == "rejected":
        offer_reject(offer=offer, actor=partner, reason="nein")
    else:
        LeadAssignment.objects.filter(pk=offer.pk).update(
            expires_at=timezone.now() - timedelta(seconds=1), **({"status": "expired"} if how == "expired" else {})
        )
    if how != "overdue":  # an overdue offer is still the open one until the sweeper runs
        other = PartnerFactory()
        offer_accept(offer=offer_create(lead=lead, partner=other, actor=admin), actor=other)
    base = f"{PORTAL}/inbox/{lead.pk}/"
    for response in (
        client.get(base),
        client.get(base, HTTP_HX_REQUEST="true"),
        client.post(base + "annehmen/"),
        client.post(base + "ablehnen/", {"reason": "nochmal"}),
        client.post(base + "ablehnen/", {"reason": ""}),
    ):
        assert response.status_code == 404, response.request
        body = response.content.decode()
        assert lead.public_id not in body and "Geheim" not in body and "kunde@" not in body
    assert lead.public_id not in client.get(PORTAL + "/inbox/").content.decode()
    assert LeadAssignment.objects.filter(partner=partner, status="accepted").count() == 0


def test_the_partner_who_accepted_is_sent_to_meine_leads(client, partner):
    offer = _offer(partner)
    client.post(f"{PORTAL}/inbox/{offer.lead_id}/annehmen/")
    lead = Lead.objects.get(pk=offer.lead_id)
    mine = f"/meine-leads/{lead.public_id}/"
    response = client.get(f"{PORTAL}/inbox/{offer.lead_id}/")
    assert response.status_code == 302 and response["Location"].endswith(mine)
    again = client.post(f"{PORTAL}/inbox/{offer.lead_id}/annehmen/")  # idempotent
    assert again.status_code == 302 and again["Location"].endswith(mine)
    assert ConsentRecord.objects.filter(subject_lead=lead).count() == 1
    refused = client.post(f"{PORTAL}/inbox/{offer.lead_id}/ablehnen/", {"reason": "doch nicht"})
    assert refused.status_code == 302 and refused["Location"].endswith("/inbox/")
    assert Lead.objects.get(pk=lead.pk).assigned_partner_id == partner.pk


def test_notices_of_a_withdrawn_or_expired_offer_link_to_the_inbox(partner, django_capture_on_commit_callbacks):
    admin = UserFactory(role="platform_admin")
    offer = _offer(partner)
    with django_capture_on_commit_callbacks(execute=True):
        offer_revoke(offer=offer, actor=admin)
    notice = Notification.objects.get(recipient=partner, dedup_key=f"offer:{offer.pk}:revoked")
    assert notice.url.endswith("/portal/leads/inbox/")
