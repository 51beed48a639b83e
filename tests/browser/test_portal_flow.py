"""One end-to-end flow in Debian's Chromium: log in, accept an offer, work the lead, drag the deal, see the report.

Screenshots of every step (and of the page at a failure) go to ``.artifacts/browser/`` (gitignored).
"""

from __future__ import annotations

import os

import pytest

from accounts.models import PartnerProfile
from deals.models import PartnerDeal
from leads.models import Lead
from leads.services import offer_create
from tests.accounts.factories import PASSWORD, PartnerFactory, UserFactory, ensure_platform_organization
from tests.browser.conftest import ARTIFACTS, CHROMIUM
from tests.leads.factories import LeadFactory

pytest.importorskip("playwright.sync_api", reason="playwright is installed with the dev extra")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is missing (scripts/test.sh installs it)"),
]


def _shot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _drag(page, card, target) -> None:
    """Drag with real mouse moves, holding the card by its text (SortableJS runs in fallback mode)."""
    start, end = card.locator(".meta").bounding_box(), target.bounding_box()
    x, y = start["x"] + start["width"] / 2, start["y"] + start["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 10, y + 10, steps=5)
    page.mouse.move(end["x"] + end["width"] / 2, end["y"] + 30, steps=20)
    page.mouse.up()


def test_partner_accepts_works_converts_drags_and_reports(live_server, page):
    # given: a partner with an open offer of a pool lead
    ensure_platform_organization()
    partner = PartnerFactory(email="browser@partner.de", first_name="Bea")
    PartnerProfile.objects.filter(user=partner).update(capacity=10)
    lead = LeadFactory(company_name="Browser GmbH", email="kontakt@browser-gmbh.de", first_name="Klara")
    offer_create(lead=lead, partner=partner, actor=UserFactory(role="platform_admin"))
    base = live_server.url + "/portal/leads"

    # log in
    page.goto(base + "/")
    page.fill("#id_username", partner.email)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(base + "/")
    _shot(page, "01-dashboard")

    # accept the offer from the inbox
    page.click("a[href='/portal/leads/inbox/']")
    page.wait_for_selector("table.list >> text=Browser GmbH")
    _shot(page, "02-inbox")
    page.click(f"form[action='/portal/leads/inbox/{lead.pk}/annehmen/'] button")
    page.wait_for_url(f"{base}/meine-leads/{lead.public_id}/")
    assert page.locator("a[href='mailto:kontakt@browser-gmbh.de']").is_visible()

    # log a contact, qualify, convert
    page.select_option("#id_contact_channel", "phone")
    page.select_option("#id_contact_outcome", "reached")
    page.fill("#id_contact_note", "Erstgespräch geführt, Budget 400k")
    page.click("#log-contact button[type=submit]")
    page.wait_for_selector("[data-testid=timeline] >> text=Erstgespräch geführt, Budget 400k")
    page.click("form[action$='/qualifizieren/'] button[type=submit]")
    page.wait_for_selector("#id_convert_value")
    _shot(page, "03-lead-qualified")
    page.fill("#id_convert_value", "400000")
    page.click("form[action$='/konvertieren/'] button[type=submit]")
    page.wait_for_url(f"{base}/pipeline/*/")
    deal = PartnerDeal.objects.get(lead_id=lead.pk)
    assert Lead.objects.get(pk=lead.pk).status == "converted"

    # drag the deal to the next stage on the board
    page.goto(base + "/pipeline/")
    card = page.locator(f"[data-testid=column-lead] [data-deal='{deal.pk}']")
    _drag(page, card, page.locator("[data-testid=column-qualified]"))
    page.wait_for_selector(f"[data-testid=column-qualified] [data-deal='{deal.pk}']")
    page.wait_for_selector("[data-testid=board-messages] .success")
    _shot(page, "04-pipeline-after-drag")
    assert PartnerDeal.objects.get(pk=deal.pk).stage == "qualified"

    # skipping ahead (qualified → won) is allowed (SPEC §4.8)
    card = page.locator(f"[data-testid=column-qualified] [data-deal='{deal.pk}']")
    with page.expect_response(lambda response: "/stage/" in response.url):  # the card moves before the answer
        _drag(page, card, page.locator("[data-testid=column-won]"))
    page.wait_for_selector(f"[data-testid=column-won] [data-deal='{deal.pk}']")
    assert PartnerDeal.objects.get(pk=deal.pk).stage == "won"

    # won is final: dragging it back is refused with a visible message
    card = page.locator(f"[data-testid=column-won] [data-deal='{deal.pk}']")
    _drag(page, card, page.locator("[data-testid=column-closing]"))
    page.wait_for_selector("[data-testid=board-messages] .error")
    assert page.locator(f"[data-testid=column-won] [data-deal='{deal.pk}']").count() == 1
    _shot(page, "05-pipeline-refused")

    # see it on the report
    page.click("a[href='/portal/leads/reports/']")
    assert page.locator("[data-testid=funnel-converted] .kpi-value").inner_text().strip() == "1"
    assert page.locator("[data-testid=funnel-contacted] .kpi-value").inner_text().strip() == "1"
    _shot(page, "06-reports")
