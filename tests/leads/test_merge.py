"""Undoable merges: survivorship, moved rows, the journal, and exact undo."""

from __future__ import annotations

import pytest
from django.utils import timezone

from compliance.models import AuditEvent, ConsentRecord
from compliance.selectors import consent_state
from compliance.services import consent_grant
from core.exceptions import ConflictError, DomainError
from leads.models import Company, Lead, LeadActivity, LeadEnrichment, LeadIdentity, LeadIntent, LeadMerge
from leads.services import lead_ingest, lead_merge, lead_opt_out, lead_unmerge
from tests.accounts.factories import PartnerFactory

pytestmark = pytest.mark.django_db


def _lead(payload, channel="website", **kwargs):
    return lead_ingest(payload=payload, channel=channel, **kwargs).lead


def _snapshot(lead: Lead) -> dict:
    lead = Lead.objects.get(pk=lead.pk)
    return {
        "fields": {f: getattr(lead, f) for f in ("email", "phone", "first_name", "last_name", "city", "attributes")},
        "consent": (lead.consent_marketing, lead.opted_out_at),
        "merged_into": lead.merged_into_id,
        "activities": sorted(LeadActivity.objects.filter(lead=lead).values_list("pk", flat=True)),
        "identities": sorted(LeadIdentity.objects.filter(lead=lead).values_list("pk", flat=True)),
        "enrichments": sorted(LeadEnrichment.objects.filter(lead=lead).values_list("pk", flat=True)),
        "intents": sorted(LeadIntent.objects.filter(lead=lead).values_list("pk", flat=True)),
        "companies": sorted(Company.leads.through.objects.filter(lead=lead).values_list("company_id", flat=True)),
        "consents": sorted(ConsentRecord.objects.filter(subject_lead=lead).values_list("pk", flat=True)),
    }


def test_manual_merge_and_unmerge_round_trip(platform_org, admin_user):
    # given: two records of the same person with their own rows
    survivor = _lead({"email": "eva@kanzlei-klein.de", "first_name": "Eva", "attributes": {"budget": "200k"}})
    other = _lead(
        {"phone": "+49 89 1234567", "last_name": "Klein", "city": "München", "attributes": {"budget": "300k"}}
    )
    consent_grant(code="MARKETING_EMAIL", version="v1", actor=None, lead=other, text="Ja")
    intent = LeadIntent.objects.create(lead=other, intent_level="high", source_type="instagram_message")
    other_enrichments = set(LeadEnrichment.objects.filter(lead=other).values_list("pk", flat=True))
    assert other_enrichments  # the offline provider ran at capture
    company, _created = Company.objects.get_or_create(tenant=platform_org, domain="kanzlei-klein.de")
    company.leads.add(other)
    before = {"survivor": _snapshot(survivor), "other": _snapshot(other)}

    # when
    lead_merge(survivor=survivor, others=[other], actor=admin_user)

    # then: data filled, rows moved, other hidden, journal written
    merged = Lead.objects.get(pk=survivor.pk)
    assert (merged.first_name, merged.last_name, merged.city, merged.phone) == (
        "Eva",
        "Klein",
        "München",
        "+49891234567",
    )
    assert merged.attributes["budget"] == "200k"
    assert LeadActivity.objects.filter(lead=merged).count() == 2
    assert LeadIdentity.objects.filter(lead=merged).count() == 2
    assert ConsentRecord.objects.filter(subject_lead=merged).count() == 1
    assert other_enrichments <= set(LeadEnrichment.objects.filter(lead=merged).values_list("pk", flat=True))
    assert LeadIntent.objects.get(pk=intent.pk).lead_id == merged.pk
    assert list(company.leads.all()) == [merged]  # linked by its email domain at capture, kept once
    assert Lead.objects.get(pk=other.pk).merged_into_id == survivor.pk
    entry = LeadMerge.objects.get(merged_lead=other)
    assert entry.kind == "manual" and entry.actor == admin_user
    assert {"field": "attributes.budget", "value": "300k"}.items() <= entry.change_data["alternatives"][0].items()
    assert AuditEvent.objects.filter(event_type="lead.merged", object_id=str(survivor.pk)).count() == 1

    # when: undo
    revived = lead_unmerge(merge=entry, actor=admin_user)

    # then: both records are exactly as before
    assert revived.pk == other.pk
    assert _snapshot(survivor) == before["survivor"]
    assert _snapshot(other) == before["other"]
    entry.refresh_from_db()
    assert entry.undone_at is not None and entry.undone_by == admin_user
    with pytest.raises(ConflictError):
        lead_unmerge(merge=entry, actor=admin_user)


def test_unmerge_keeps_edits_made_after_the_merge(platform_org, admin_user):
    survivor = _lead({"email": "a@x.de"})
    other = _lead({"phone": "+4930111222", "city": "Berlin"})
    lead_merge(survivor=survivor, others=[other], actor=admin_user)
    Lead.objects.filter(pk=survivor.pk).update(city="Potsdam")

    lead_unmerge(merge=LeadMerge.objects.get(merged_lead=other), actor=admin_user)

    assert Lead.objects.get(pk=survivor.pk).city == "Potsdam"
    event = AuditEvent.objects.get(event_type="lead.unmerged")
    assert event.payload["conflicts"] == ["city"]


def test_undo_of_a_merged_delivery_splits_it_off_as_its_own_lead(platform_org, admin_user):
    # given: a second person shares the first one's email (a family address)
    first = _lead({"email": "familie@example.de", "first_name": "Jan"})
    lead_ingest(
        payload={"email": "familie@example.de", "phone": "+49 171 2223334", "last_name": "Roth"},
        channel="facebook",
        idempotency_key="fb-77",
    )
    entry = LeadMerge.objects.get(survivor=first, merged_lead__isnull=True)

    # when
    split = lead_unmerge(merge=entry, actor=admin_user)

    # then: the delivery is its own lead again with its phone, channel id and activity
    survivor = Lead.objects.get(pk=first.pk)
    assert (survivor.phone, survivor.last_name) == ("", "")
    split = Lead.objects.get(pk=split.pk)
    assert (split.phone, split.last_name, split.channel) == ("+491712223334", "Roth", "facebook")
    assert set(LeadIdentity.objects.filter(lead=split).values_list("kind", flat=True)) == {"phone", "facebook_lead_id"}
    assert LeadActivity.objects.filter(lead=split).count() == 1
    assert LeadIdentity.objects.filter(lead=survivor).get().kind == "email"
    assert LeadMerge.objects.get(pk=entry.pk).split_lead_id == split.pk
    # and a later delivery with that phone goes to the split-off lead
    assert lead_ingest(payload={"phone": "01712223334"}, channel="website").lead.pk == split.pk


def test_the_newest_consent_decision_decides_after_a_merge_and_its_undo(platform_org, admin_user):
    # given: an older lead that consented three days ago, and the same person opting out today
    three_days_ago = timezone.now() - timezone.timedelta(days=3)
    older = _lead({"phone": "+4940123123", "consent_marketing": True, "captured_at": three_days_ago.isoformat()})
    Lead.objects.filter(pk=older.pk).update(created_at=three_days_ago)
    opted_out = _lead({"email": "stop@example.de", "consent_marketing": True})
    lead_opt_out(lead=opted_out, actor=None, reason="E-Mail: bitte nicht mehr kontaktieren")

    # when
    lead_merge(survivor=Lead.objects.get(pk=older.pk), others=[opted_out], actor=admin_user)

    # then: both histories are the survivor's, and the opt-out is the newest decision
    survivor = Lead.objects.get(pk=older.pk)
    assert survivor.opted_out_at is not None and survivor.consent_marketing is False
    assert consent_state(survivor, "marketing_email").status == "revoked"
    assert ConsentRecord.objects.filter(subject_lead=survivor).count() == 3

    # and the undo gives each lead its own records and cache back
    lead_unmerge(merge=LeadMerge.objects.get(survivor=survivor, merged_lead=opted_out), actor=admin_user)
    survivor, revived = Lead.objects.get(pk=older.pk), Lead.objects.get(pk=opted_out.pk)
    assert (survivor.consent_marketing, survivor.opted_out_at) == (True, None)
    assert consent_state(survivor, "marketing_email").status == "pending"
    assert revived.consent_marketing is False and revived.opted_out_at is not None


def test_a_new_form_after_an_opt_out_consents_again_pending_the_double_opt_in(platform_org):
    lead = _lead({"email": "stop@example.de", "consent_marketing": True})
    lead_opt_out(lead=lead, actor=None, reason="E-Mail: bitte nicht mehr kontaktieren")
    assert Lead.objects.get(pk=lead.pk).consent_marketing is False

    # a later form with the box ticked is a new decision: it is recorded and is the newest
    again = lead_ingest(payload={"email": "stop@example.de", "consent_marketing": True}, channel="website").lead

    assert again.pk == lead.pk
    lead = Lead.objects.get(pk=lead.pk)
    assert (lead.consent_marketing, lead.opted_out_at) == (True, None)
    state = consent_state(lead, "marketing_email")
    assert state.status == "pending" and not state.allowed  # no advertising before the confirmation
    actions = list(
        ConsentRecord.objects.filter(subject_lead=lead).order_by("recorded_at", "id").values_list("action", flat=True)
    )
    assert actions == ["granted", "revoked", "granted"]


def test_consent_from_a_new_form_is_taken_when_nobody_opted_out(platform_org):
    lead = _lead({"email": "yes@example.de"})
    lead_ingest(payload={"email": "yes@example.de", "consent_marketing": "ja"}, channel="website")
    lead = Lead.objects.get(pk=lead.pk)
    assert lead.consent_marketing and lead.consent_at is not None


def test_real_data_turns_a_test_lead_real_but_not_back(platform_org):
    lead = _lead({"email": "test@meta.com"}, channel="facebook", idempotency_key="t1")
    assert Lead.objects.get(pk=lead.pk).is_test
    lead_ingest(payload={"email": "test@meta.com", "full_name": "Echte Person"}, channel="website")
    assert Lead.objects.get(pk=lead.pk).is_test is True  # test@meta.com is still a test address


def test_merge_refuses_other_tenants_merged_leads_and_nothing(platform_org, admin_user):
    pool = _lead({"email": "p@x.de"})
    own = _lead({"email": "o@x.de"}, channel="facebook", partner=PartnerFactory())
    with pytest.raises(DomainError):
        lead_merge(survivor=pool, others=[own], actor=admin_user)
    with pytest.raises(DomainError):
        lead_merge(survivor=pool, others=[pool], actor=admin_user)
    other = _lead({"email": "q@x.de"})
    lead_merge(survivor=pool, others=[other], actor=admin_user)
    with pytest.raises(ConflictError):
        lead_merge(survivor=_lead({"email": "r@x.de"}), others=[other], actor=admin_user)


def test_merge_keeps_one_open_offer(platform_org, admin_user):
    from leads.services.offers import offer_create

    a, b = _lead({"email": "a@o.de"}), _lead({"email": "b@o.de"})
    p1, p2 = PartnerFactory(), PartnerFactory()
    offer_create(lead=a, partner=p1, actor=admin_user)
    offer_b = offer_create(lead=b, partner=p2, actor=admin_user)

    lead_merge(survivor=a, others=[b], actor=admin_user)

    offer_b.refresh_from_db()
    assert offer_b.status == "revoked" and offer_b.lead_id == a.pk
    assert a.offers.filter(status="offered").count() == 1


def test_lead_update_joins_the_identity_graph_and_refuses_taken_contacts(platform_org, admin_user):
    from leads.services.ingest import lead_update

    lead = _lead({"email": "alt@x.de"})
    other = _lead({"email": "besetzt@x.de"})

    lead = lead_update(lead=lead, data={"email": " Neu@X.de ", "city": "Bremen"}, actor=admin_user)

    assert (lead.email, lead.city) == ("neu@x.de", "Bremen")
    assert lead_ingest(payload={"email": "neu@x.de"}, channel="website").lead.pk == lead.pk
    assert lead_ingest(payload={"email": "alt@x.de"}, channel="website").lead.pk == lead.pk
    assert AuditEvent.objects.filter(event_type="lead.updated", object_id=str(lead.pk)).exists()
    with pytest.raises(ConflictError) as exc:
        lead_update(lead=lead, data={"email": "besetzt@x.de"}, actor=admin_user)
    assert other.public_id in exc.value.message
    with pytest.raises(DomainError):
        lead_update(lead=lead, data={"status": "won"}, actor=admin_user)


def test_admin_edit_goes_through_lead_update(client, platform_org, admin_user):
    lead = _lead({"email": "edit@x.de", "first_name": "Alt"})
    taken = _lead({"email": "taken@x.de"})
    client.force_login(admin_user)
    url = f"/admin/leads/lead/{lead.pk}/change/"
    form = client.get(url).context["adminform"].form
    data = {k: ("" if v is None else v) for k, v in form.initial.items() if k in form.fields}
    data["attributes"] = "{}"
    data.update({"first_name": "Neu", "email": "taken@x.de"})

    refused = client.post(url, data)

    assert refused.status_code == 200 and taken.public_id in refused.content.decode()
    data["email"] = "edit@x.de"
    assert client.post(url, data).status_code == 302
    assert Lead.objects.get(pk=lead.pk).first_name == "Neu"
    assert AuditEvent.objects.filter(event_type="lead.updated", object_id=str(lead.pk)).exists()


def test_a_merge_of_an_erased_person_cannot_be_undone(platform_org, admin_user):
    """The journal's values went with the person: undoing would split off an empty lead."""
    from compliance.registry import SubjectQuery
    from compliance.services.subjects import subject_erase

    survivor = _lead({"email": "erika@beispiel.de", "first_name": "Erika"})
    other = _lead({"phone": "+49 171 5550101", "last_name": "Muster"})
    lead_merge(survivor=survivor, others=[other], actor=admin_user)
    entry = LeadMerge.objects.get(survivor=survivor, merged_lead=other)
    subject_erase(SubjectQuery("lead", str(survivor.pk)), actor=admin_user, reason="Art. 17")

    with pytest.raises(ConflictError) as caught:
        lead_unmerge(merge=entry, actor=admin_user)
    assert caught.value.code == "erased"
    assert Lead.objects.get(pk=other.pk).merged_into_id == survivor.pk
    assert LeadMerge.objects.get(pk=entry.pk).undone_at is None
