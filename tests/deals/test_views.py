"""Deals' portal pages (deals.views): converting a lead from its page, the kanban and the deal page."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.test import Client
from django.utils import timezone

from deals.models import PartnerDeal
from leads.models import Lead
from tests.deals.factories import deal_for, own_lead

pytestmark = pytest.mark.django_db

PORTAL = "/portal/leads"


@pytest.fixture
def partner(portal_partner):
    return portal_partner


@pytest.fixture
def client(portal_client) -> Client:
    return portal_client


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
    assert f'href="{PORTAL}/pipeline/{deal.pk}/"' in client.get(url).content.decode()  # the lead page links its deal
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

    # Without JavaScript: a plain form post and a redirect back to the board.
    plain = client.post(url, {"stage": "proposal"})
    assert plain.status_code == 302 and plain["Location"] == f"{PORTAL}/pipeline/"

    # Back a stage, then straight to won.
    client.post(url, {"stage": "lead"}, HTTP_HX_REQUEST="true")
    assert PartnerDeal.objects.get(pk=deal.pk).stage == "lead"
    won = client.post(url, {"stage": "won"}, HTTP_HX_REQUEST="true").content.decode()
    assert 'class="success"' in won and PartnerDeal.objects.get(pk=deal.pk).stage == "won"

    # Won is final: moving it out is refused with a message, not a crash.
    refused = client.post(url, {"stage": "closing"}, HTTP_HX_REQUEST="true").content.decode()
    assert 'class="error"' in refused and deal.title in refused
    assert PartnerDeal.objects.get(pk=deal.pk).stage == "won"


def test_cards_offer_every_allowed_target(client, partner):
    deal = deal_for(partner, stage="proposal")
    board = client.get(PORTAL + "/pipeline/").content.decode()
    card = board[board.index(f'data-deal="{deal.pk}"') :]
    card = card[: card.index("</li>")]
    options = re.findall(r'<option value="(\w+)"', card)
    # Every other open stage and won; lost needs a reason (the deal page). The next stage is preselected.
    assert options == ["lead", "qualified", "negotiation", "closing", "won"]
    assert '<option value="negotiation" selected>' in card

    won = deal_for(partner, stage="won")
    board = client.get(PORTAL + "/pipeline/").content.decode()
    won_card = board[board.index(f'data-deal="{won.pk}"') :]
    assert "<select" not in won_card[: won_card.index("</li>")]

    page = client.get(f"{PORTAL}/pipeline/{deal.pk}/").content.decode()
    assert re.findall(r'<option value="(\w+)"', page[page.index('id="id_move_stage"') :][:2000]) == [
        "lead",
        "qualified",
        "negotiation",
        "closing",
    ]
    assert "gewonnen/" in page  # win from any open stage


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
