"""A campaign end to end in Debian's Chromium: create with the live preview, submit with Meta's terms, booked by
hand (service call), then active with its chart. Screenshots go to ``.artifacts/browser/``.
"""

from __future__ import annotations

import datetime as dt
import os

import pytest
from django.utils import timezone

from campaigns.models import AdCampaign, CampaignStats
from campaigns.services.booking import campaign_attach_ids
from compliance.models import ConsentRecord, ConsentWording
from tests.accounts.factories import PASSWORD, PartnerFactory, UserFactory, ensure_platform_organization
from tests.browser.conftest import ARTIFACTS, CHROMIUM
from tests.campaigns.factories import CampaignTemplateFactory

pytest.importorskip("playwright.sync_api", reason="playwright is installed with the dev extra")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is missing (scripts/test.sh installs it)"),
]


def _shot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_partner_books_a_campaign_and_sees_it_run(live_server, page):
    # given: a partner and a template (transactional tests flush the shipped ones, the terms' wording too)
    ensure_platform_organization()
    ConsentWording.objects.get_or_create(
        code="META_ADS_TOS", version="v1", defaults={"text_de": "Ich akzeptiere die Lead Ads Terms von Meta."}
    )
    partner = PartnerFactory(email="werbung@partner.de", first_name="Wera")
    template = CampaignTemplateFactory(
        name="Kapitalanlage Test", headline="Vermögen aufbauen", image="campaigns/kapitalanlage-skyline.png"
    )
    base = live_server.url + "/portal/leads"

    page.goto(base + "/werbung/")
    page.fill("#id_username", partner.email)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(base + "/werbung/")

    # a new campaign: the preview follows the headline as it is typed
    page.click("[data-testid=new-campaign]")
    page.wait_for_selector("[data-testid=ad-preview]")
    page.select_option("#id_template", template.code)
    page.fill("#id_budget_euros", "300")
    page.fill("#id_headline", "Ihre Wohnung als Rente")
    page.wait_for_selector("[data-testid=ad-headline] >> text=Ihre Wohnung als Rente")
    _shot(page, "campaign-01-new")
    page.click("#campaign-form button[type=submit]")
    page.wait_for_url(f"{base}/werbung/*/")
    campaign = AdCampaign.objects.get(partner=partner)
    assert (campaign.budget_cents, campaign.headline, campaign.regions) == (30_000, "Ihre Wohnung als Rente", ["DE"])

    # submit with Meta's terms
    page.check("#id_accept_tos")
    page.click("#submit-campaign button[type=submit]")
    page.wait_for_selector("#submit-campaign", state="detached")
    campaign.refresh_from_db()
    assert campaign.status == AdCampaign.Status.PENDING
    assert ConsentRecord.objects.filter(subject_user=partner, code="META_ADS_TOS").exists()
    _shot(page, "campaign-02-submitted")

    # an admin attaches the ids of the campaign booked by hand; Meta reports two days
    campaign_attach_ids(
        campaign=campaign,
        ids={"meta_campaign_id": "901", "meta_adset_id": "902", "meta_ad_id": "903", "meta_form_id": "904"},
        actor=UserFactory(role="platform_admin"),
    )
    today = timezone.localdate()
    AdCampaign.objects.filter(pk=campaign.pk).update(start_date=today - dt.timedelta(days=2))
    for days_ago, spend in ((2, 4_200), (1, 5_800)):
        CampaignStats.objects.create(
            campaign=campaign, date=today - dt.timedelta(days=days_ago), spend_cents=spend, meta_leads=2
        )

    # the partner sees it active with its chart
    page.reload()
    page.wait_for_selector("[data-testid=campaign-charts] svg")
    assert page.locator("[data-testid=kpi-spend] .kpi-value").inner_text().strip() == "100 €"
    assert page.locator("[data-testid=status-history] li").count() == 3
    assert page.locator("form[action$='/pausieren/']").is_visible()
    _shot(page, "campaign-03-active")
