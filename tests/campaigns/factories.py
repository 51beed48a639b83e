"""Shared factories of the campaigns tests (templates and partner campaigns)."""

from __future__ import annotations

import datetime

import factory

from campaigns.models import AdCampaign, CampaignTemplate
from tests.accounts.factories import PartnerFactory


class CampaignTemplateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CampaignTemplate

    code = factory.Sequence(lambda n: f"vorlage-{n}")
    name = factory.Sequence(lambda n: f"Immobilienbewertung {n}")
    category = "Kapitalanlage allgemein"
    headline = "Was ist Ihre Wohnung wert?"
    primary_text = "Kostenlose Ersteinschätzung vom Profi in Ihrer Region."
    description = "Unverbindlich und kostenlos"
    call_to_action = CampaignTemplate.CallToAction.LEARN_MORE
    image = "campaigns/kapitalanlage-skyline.png"
    form_questions = factory.LazyFunction(
        lambda: [
            {"key": "full_name", "type": "FULL_NAME"},
            {"key": "email", "type": "EMAIL"},
            {"key": "phone", "type": "PHONE"},
            {
                "key": "objektart",
                "type": "CUSTOM",
                "label": "Welche Immobilie?",
                "options": [{"key": "wohnung", "value": "Wohnung"}, {"key": "haus", "value": "Haus"}],
            },
        ]
    )
    privacy_policy_url = "https://example.de/datenschutz"
    privacy_policy_text = "Datenschutzerklärung"


class AdCampaignFactory(factory.django.DjangoModelFactory):
    """A draft campaign of a new partner; pass ``status``/``meta_*_id`` for later states."""

    class Meta:
        model = AdCampaign

    partner = factory.SubFactory(PartnerFactory)
    tenant = factory.LazyAttribute(lambda o: o.partner.organization)
    template = factory.SubFactory(CampaignTemplateFactory)
    name = factory.Sequence(lambda n: f"Kampagne {n}")
    budget_cents = 50000
    start_date = factory.LazyFunction(lambda: datetime.date.today() + datetime.timedelta(days=1))
    end_date = factory.LazyAttribute(lambda o: o.start_date + datetime.timedelta(days=30))
    regions = factory.LazyFunction(lambda: ["DE"])
    status = AdCampaign.Status.DRAFT
