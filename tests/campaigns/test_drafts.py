"""Campaign drafts (SPEC §10): shipped templates, create/edit with the housing rules, submit with Meta's terms."""

from __future__ import annotations

import datetime as dt
import struct
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import translation

from accounts.models import Notification
from campaigns.models import AdCampaign, CampaignStatusChange, CampaignTemplate
from campaigns.services.drafts import (
    TosRequired,
    campaign_create,
    campaign_submit,
    campaign_update_draft,
    regions_clean,
)
from compliance.models import AuditEvent, ConsentRecord
from core.exceptions import ConflictError
from tests.accounts.factories import PartnerFactory, UserFactory
from tests.campaigns.factories import AdCampaignFactory, CampaignTemplateFactory


@pytest.fixture(autouse=True)
def _english(settings):
    """The assertions read the English source texts (the platform's language is German)."""
    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


pytestmark = pytest.mark.django_db
TODAY = dt.date(2026, 12, 3)


def _create(partner, **overrides):
    values = {
        "template": CampaignTemplateFactory(),
        "budget_cents": 50_000,
        "start_date": TODAY + dt.timedelta(days=1),
        "end_date": TODAY + dt.timedelta(days=31),
        "regions": ["de", {"city_key": "2519536", "name": "Berlin", "radius_km": "25"}],
        "today": TODAY,
    }
    return campaign_create(partner=partner, actor=partner, **{**values, **overrides})


def test_the_shipped_templates_are_active_with_german_copy_a_full_lead_form_and_real_images():
    templates = list(CampaignTemplate.objects.filter(is_active=True))
    assert 3 <= len(templates) <= 5
    for template in templates:
        assert template.category == "Kapitalanlage allgemein" and template.headline and template.privacy_policy_url
        types = {question["type"] for question in template.form_questions}
        keys = {question["key"] for question in template.form_questions}
        assert {"EMAIL", "PHONE", "FULL_NAME", "POST_CODE", "CUSTOM"} <= types
        assert {"interest_type", "investment_budget", "timeframe"} <= keys
        assert all(q["label"] and q["options"] for q in template.form_questions if q["type"] == "CUSTOM")
        image = Path(settings.BASE_DIR) / "static" / template.image
        header = image.read_bytes()[:24]
        assert header[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", header[16:24]) == (1200, 628)


def test_a_new_draft_is_normalised_recorded_in_its_history_and_audited():
    partner = PartnerFactory()

    campaign = _create(partner)

    assert campaign.status == AdCampaign.Status.DRAFT and campaign.tenant_id == partner.organization_id
    assert campaign.regions == ["DE", {"city_key": "2519536", "radius_km": 25, "name": "Berlin"}]
    assert campaign.name.startswith(campaign.template.name)
    assert CampaignStatusChange.objects.get(campaign=campaign).to_status == "draft"
    assert AuditEvent.objects.filter(event_type="campaign.created", object_id=str(campaign.pk)).exists()


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"budget_cents": 9_999}, "budget_cents"),
        ({"start_date": TODAY - dt.timedelta(days=1)}, "start_date"),
        ({"end_date": TODAY + dt.timedelta(days=1)}, "end_date"),
        ({"end_date": TODAY + dt.timedelta(days=400)}, "end_date"),
        (
            {"start_date": TODAY + dt.timedelta(days=4 * 365), "end_date": TODAY + dt.timedelta(days=4 * 366)},
            "start_date",
        ),
        ({"regions": []}, "regions"),
        ({"template": None}, "template"),
    ],
)
def test_a_draft_is_refused_with_the_field_that_is_wrong(overrides, field):
    with pytest.raises(ValidationError) as caught:
        _create(PartnerFactory(), **overrides)
    assert field in caught.value.message_dict


@pytest.mark.parametrize(
    "region",
    [
        {"city_key": "2519536", "radius_km": 25, "age_min": 30},
        {"city_key": "2519536", "radius_km": 25, "genders": [1]},
        {"city_key": "2519536", "radius_km": 25, "zips": ["10115"]},
    ],
)
def test_meta_housing_rules_refuse_age_gender_and_postcode_targeting(region):
    with pytest.raises(ValidationError) as caught:
        regions_clean([region])
    assert "Housing" in caught.value.message_dict["regions"][0]


@pytest.mark.parametrize("regions", [[{"city_key": "1", "radius_km": 14}], ["FR"], [{"radius_km": 20}], "DE"])
def test_a_small_radius_an_unknown_country_or_a_city_without_key_is_refused(regions):
    with pytest.raises(ValidationError):
        regions_clean(regions)


def test_an_inactive_template_cannot_be_booked():
    with pytest.raises(ValidationError) as caught:
        _create(PartnerFactory(), template=CampaignTemplateFactory(is_active=False))
    assert "template" in caught.value.message_dict


def test_a_draft_is_editable_until_it_is_submitted():
    campaign = AdCampaignFactory()

    campaign = campaign_update_draft(campaign=campaign, actor=campaign.partner, budget_cents=20_000, headline="Neu")
    assert (campaign.budget_cents, campaign.headline) == (20_000, "Neu")

    AdCampaign.objects.filter(pk=campaign.pk).update(status=AdCampaign.Status.PENDING)
    with pytest.raises(ConflictError) as caught:
        campaign_update_draft(campaign=campaign, actor=campaign.partner, budget_cents=30_000)
    assert caught.value.code == "not_a_draft"


def test_the_first_submission_needs_the_meta_terms_and_records_them_once_per_partner():
    staff = UserFactory(role="platform_admin")
    campaign = AdCampaignFactory()
    partner = campaign.partner

    with pytest.raises(TosRequired) as caught:
        campaign_submit(campaign=campaign, actor=partner)
    assert caught.value.status_code == 409 and caught.value.code == "tos_required"

    campaign = campaign_submit(
        campaign=campaign, actor=partner, accept_tos=True, ip="203.0.113.7", user_agent="Firefox/140"
    )

    assert campaign.status == AdCampaign.Status.PENDING and campaign.submitted_at is not None
    consent = ConsentRecord.objects.get(subject_user=partner, code="META_ADS_TOS")
    assert campaign.tos_consent_id == consent.pk and consent.version == "v1" and consent.text
    assert consent.evidence["ip"] == "203.0.113.7" and consent.evidence["user_agent"] == "Firefox/140"
    assert AuditEvent.objects.filter(event_type="campaign.submitted", object_id=str(campaign.pk)).exists()
    assert Notification.objects.filter(recipient=staff, url__contains=f"/adcampaign/{campaign.pk}/").exists()

    # the next campaign of the same partner goes through without asking again
    second = campaign_submit(campaign=AdCampaignFactory(partner=partner), actor=partner)
    assert second.status == AdCampaign.Status.PENDING and second.tos_consent_id == consent.pk
    assert ConsentRecord.objects.filter(subject_user=partner, code="META_ADS_TOS").count() == 1


def test_submitting_twice_changes_nothing_and_a_booked_campaign_cannot_be_submitted():
    campaign = AdCampaignFactory()
    campaign_submit(campaign=campaign, actor=campaign.partner, accept_tos=True)
    assert campaign_submit(campaign=campaign, actor=campaign.partner).status == AdCampaign.Status.PENDING

    AdCampaign.objects.filter(pk=campaign.pk).update(status=AdCampaign.Status.ACTIVE)
    with pytest.raises(ConflictError):
        campaign_submit(campaign=campaign, actor=campaign.partner)
