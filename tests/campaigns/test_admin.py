"""Campaigns in the operator console: the list with figures, booking, attaching hand-booked ids, templates."""

from __future__ import annotations

import pytest
from django.utils import translation

from campaigns.models import AdCampaign, AdCampaignLead, CampaignStats
from campaigns.services import booking
from tests.campaigns.factories import AdCampaignFactory, CampaignTemplateFactory
from tests.leads.factories import LeadFactory


@pytest.fixture(autouse=True)
def _english(settings):
    """The assertions read the English source texts (the platform's language is German)."""
    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/campaigns/adcampaign/"
S = AdCampaign.Status


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def test_the_changelist_shows_budget_spend_leads_and_cpl_in_constant_queries(
    admin_client, django_assert_max_num_queries
):
    campaign = AdCampaignFactory(status=S.ACTIVE, name="Kampagne Nord", budget_cents=100_000)
    CampaignStats.objects.create(campaign=campaign, date=campaign.start_date, spend_cents=30_000)
    CampaignStats.objects.create(campaign=campaign, date=campaign.end_date, spend_cents=10_000)
    for _ in range(4):
        AdCampaignLead.objects.create(campaign=campaign, lead=LeadFactory())

    with django_assert_max_num_queries(25) as captured:
        page = admin_client.get(CHANGELIST).content.decode()
    assert "Kampagne Nord" in page and "1.000,00 €" in page and "400,00 €" in page and "100,00 €" in page
    queries = len(captured)
    AdCampaignFactory.create_batch(4)
    with django_assert_max_num_queries(queries + 1):  # the partner filter lists one more partner
        assert admin_client.get(CHANGELIST + "?status__exact=draft").status_code == 200


def test_the_booking_action_books_pending_campaigns_and_shows_metas_error(admin_client, monkeypatch):
    ok, refused, draft = (
        AdCampaignFactory(status=S.PENDING),
        AdCampaignFactory(status=S.PENDING),
        AdCampaignFactory(),
    )
    booked = []

    def fake_book(*, campaign, actor):
        if campaign.pk == refused.pk:
            raise booking.MetaRejectedError("Meta: Das Budget ist zu niedrig.")
        booked.append(campaign.pk)
        return campaign

    monkeypatch.setattr("campaigns.admin.campaign_book", fake_book)
    response = admin_client.post(
        CHANGELIST,
        {"action": "book_in_meta", "_selected_action": [ok.pk, refused.pk, draft.pk]},
        follow=True,
    )

    assert booked == [ok.pk]
    texts = [str(message) for message in response.context["messages"]]
    assert any("Das Budget ist zu niedrig" in text for text in texts)
    assert any(draft.name in text for text in texts)


def test_an_admin_attaches_the_ids_of_a_hand_booked_campaign(admin_client):
    campaign = AdCampaignFactory(status=S.PENDING)
    url = f"{CHANGELIST}{campaign.pk}/attach-ids/"
    assert "Attach" in admin_client.get(f"{CHANGELIST}{campaign.pk}/change/").content.decode()

    response = admin_client.post(
        url, {"meta_campaign_id": "11", "meta_adset_id": "12", "meta_ad_id": "13", "meta_form_id": "14"}
    )

    assert response.status_code == 302
    campaign.refresh_from_db()
    assert (campaign.status, campaign.meta_form_id, campaign.meta_ad_id) == (S.ACTIVE, "14", "13")
    assert admin_client.post(url, {"meta_campaign_id": "x"}).status_code == 200  # the form's errors


def test_internal_ops_may_look_but_not_book(client, ops_user):
    campaign = AdCampaignFactory(status=S.PENDING)
    client.force_login(ops_user)

    assert client.get(f"{CHANGELIST}{campaign.pk}/attach-ids/").status_code == 403


def test_templates_are_editable_with_an_image_preview(admin_client):
    template = CampaignTemplateFactory(image="campaigns/kapitalanlage-rendite.png")

    page = admin_client.get(f"/admin/campaigns/campaigntemplate/{template.pk}/change/").content.decode()
    assert "/static/campaigns/kapitalanlage-rendite.png" in page
    assert admin_client.get("/admin/campaigns/campaigntemplate/").status_code == 200
