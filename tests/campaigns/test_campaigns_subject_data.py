"""The campaigns section of a data-subject export and erasure: links stay anonymous, events lose the Meta id."""

from __future__ import annotations

import pytest
from django.utils import timezone

from campaigns.models import AdCampaign, AdCampaignLead, ConversionEvent
from campaigns.subject_data import subject_campaigns_erase, subject_campaigns_export
from compliance.registry import ErasureContext, Subject, SubjectQuery, subject_data
from tests.campaigns.factories import AdCampaignFactory
from tests.leads.factories import LeadFactory

pytestmark = pytest.mark.django_db


def event(campaign, lead, key: str, status: str) -> ConversionEvent:
    return ConversionEvent.objects.create(
        campaign=campaign,
        lead=lead,
        event_name="Qualified",
        event_key=key,
        event_time=timezone.now(),
        status=status,
        payload={"event_name": "Qualified", "user_data": {"lead_id": "1234567890123"}, "custom_data": {}},
    )


@pytest.fixture
def person(db):
    campaign = AdCampaignFactory(status=AdCampaign.Status.ACTIVE, name="Frühjahr")
    lead = LeadFactory(tenant=campaign.tenant, facebook_lead_id="1234567890123")
    other = LeadFactory(tenant=campaign.tenant)
    AdCampaignLead.objects.create(campaign=campaign, lead=lead)
    AdCampaignLead.objects.create(campaign=campaign, lead=other)
    event(campaign, lead, "lead:1:status:contacted", ConversionEvent.Status.SENT)
    event(campaign, lead, "lead:1:status:qualified", ConversionEvent.Status.PENDING)
    event(campaign, other, "lead:2:status:contacted", ConversionEvent.Status.PENDING)
    subject = Subject(query=SubjectQuery(kind="lead", value=str(lead.pk)), lead_ids=[str(lead.pk)])
    return campaign, lead, subject


def test_the_section_is_registered_and_exports_links_with_events(person):
    campaign, lead, subject = person
    assert "campaigns" in {section for entry in subject_data() for section in entry.sections}
    (row,) = subject_campaigns_export(subject)["campaigns"]
    assert (row["lead_id"], row["campaign_id"], row["campaign"]) == (str(lead.pk), campaign.pk, "Frühjahr")
    assert [e["status"] for e in row["conversion_events"]] == ["sent", "pending"]
    assert row["conversion_events"][0]["payload"]["user_data"] == {"lead_id": "1234567890123"}
    assert subject_campaigns_export(Subject(query=subject.query)) == {"campaigns": []}


def test_erasure_deletes_pending_events_blanks_sent_ones_and_keeps_the_link(person):
    campaign, lead, subject = person
    context = ErasureContext(erasure_id="e1", reason_code="request", actor=None, at=timezone.now())
    assert subject_campaigns_erase(subject, context) == {"conversion_events_deleted": 1, "conversion_events_blanked": 1}
    sent = ConversionEvent.objects.get(lead=lead)
    assert sent.payload["user_data"] == {} and sent.payload["event_name"] == "Qualified"
    assert AdCampaignLead.objects.filter(lead=lead, campaign=campaign).exists()
    assert ConversionEvent.objects.count() == 2  # the other person's event stays
    # Idempotent: a re-run finds nothing left.
    assert subject_campaigns_erase(subject, context) == {"conversion_events_deleted": 0, "conversion_events_blanked": 0}
