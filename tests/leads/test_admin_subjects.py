"""Data-subject rights in the pool console: export (Art. 15) and erasure (Art. 17) actions, the
"previously erased" filter and banner, and ``erased_before`` in the lead APIs."""

from __future__ import annotations

import json

import pytest
from django.contrib.messages import get_messages

from compliance.models import AuditEvent, SubjectErasure
from compliance.registry import SubjectQuery
from compliance.services.subjects import subject_erase
from leads.models import Lead, LeadIdentity
from leads.services import lead_ingest
from tests.accounts.factories import PartnerFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/leads/lead/"
EMAIL = "jonas.becker@beispiel-mail.de"


def _action(client, action: str, leads, **extra):
    data = {"action": action, "_selected_action": [str(lead.pk) for lead in leads], "select_across": "0", **extra}
    if "apply" not in extra:
        data["index"] = "0"
    return client.post(CHANGELIST, data)


def _messages(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


@pytest.fixture
def person(platform_org) -> Lead:
    lead = lead_ingest(
        payload={"email": EMAIL, "phone": "0151 23456789", "full_name": "Jonas Becker"}, channel="website"
    ).lead
    # the same person in a partner's tenant
    lead_ingest(payload={"phone": "+49 151 23456789"}, channel="manual", partner=PartnerFactory())
    return lead


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def test_the_export_action_downloads_the_persons_document_and_audits_it(admin_client, person):
    response = _action(admin_client, "export_subject_data", [person])

    assert response.status_code == 200 and response["Content-Type"].startswith("application/json")
    assert f"person-{person.public_id}-" in response["Content-Disposition"]
    document = json.loads(response.content)
    assert {row["email"] for row in document["leads"]} == {EMAIL, ""}
    assert len(document["leads"]) == 2
    exported = AuditEvent.objects.get(event_type="subject.exported")
    assert exported.actor_id is not None and EMAIL not in json.dumps(exported.payload)


def test_the_export_action_wants_exactly_one_lead(admin_client, person):
    other = lead_ingest(payload={"email": "x@y.de"}, channel="website").lead
    response = _action(admin_client, "export_subject_data", [person, other])
    assert response.status_code == 302
    assert not AuditEvent.objects.filter(event_type="subject.exported").exists()


def test_the_erase_action_confirms_asks_for_a_reason_then_erases_the_person(admin_client, person):
    # when: the action is chosen
    response = _action(admin_client, "erase_subject", [person])

    # then: a confirmation page naming the person's two leads, nothing erased yet
    page = response.content.decode()
    assert response.status_code == 200 and 'name="reason"' in page
    assert page.count("/admin/leads/lead/") >= 2 and "2" in page
    assert not SubjectErasure.objects.exists()

    # when: confirmed without a reason
    response = _action(admin_client, "erase_subject", [person], apply="1", reason="  ")
    assert response.status_code == 200 and 'class="errorlist' in response.content.decode()
    assert not SubjectErasure.objects.exists() and Lead.objects.get(pk=person.pk).email == EMAIL

    # when: confirmed with a reason
    response = _action(admin_client, "erase_subject", [person], apply="1", reason="Anfrage per E-Mail vom 03.12.")
    assert response.status_code == 302
    erasure = SubjectErasure.objects.get()
    assert erasure.status == "completed" and len(erasure.lead_ids) == 2 and erasure.reason.startswith("Anfrage")
    assert all(lead.email == "" and lead.erased_at for lead in Lead.objects.all())
    assert not LeadIdentity.objects.exists()
    assert any("2" in message for message in _messages(response))

    # and again: already erased, nothing changes
    admin_client.get(CHANGELIST)  # (shows and so drops the success message)
    response = _action(admin_client, "erase_subject", [person], apply="1", reason="nochmal")
    assert SubjectErasure.objects.count() == 1
    assert AuditEvent.objects.filter(event_type="subject.erased").count() == 1
    assert len(_messages(response)) == 1 and "2" not in _messages(response)[0]


def test_ops_staff_neither_see_nor_run_the_subject_actions(client, ops_user, person):
    client.force_login(ops_user)
    page = client.get(CHANGELIST).content.decode()
    assert 'value="export_csv"' in page
    assert 'value="export_subject_data"' not in page and 'value="erase_subject"' not in page

    export = _action(client, "export_subject_data", [person])
    erase = _action(client, "erase_subject", [person], apply="1", reason="x")

    assert export.status_code == 302 and erase.status_code == 302
    assert not AuditEvent.objects.filter(event_type="subject.exported").exists()
    assert not SubjectErasure.objects.exists() and Lead.objects.get(pk=person.pk).email == EMAIL


def test_a_lead_of_an_erased_person_is_flagged_filtered_and_bannered(admin_client, admin_user, person):
    subject_erase(SubjectQuery("lead", str(person.pk)), actor=admin_user, reason="Anfrage")
    returned = lead_ingest(payload={"email": EMAIL, "first_name": "Jonas"}, channel="website").lead
    stranger = lead_ingest(payload={"email": "fremd@beispiel.de"}, channel="website").lead
    assert returned.erased_before is not None

    page = admin_client.get(CHANGELIST, {"erased_before": "yes"}).content.decode()
    assert returned.public_id in page and stranger.public_id not in page and "lp-erased-before" in page
    page = admin_client.get(CHANGELIST, {"erased_before": "no"}).content.decode()
    assert returned.public_id not in page and stranger.public_id in page

    change = admin_client.get(f"/admin/leads/lead/{returned.pk}/change/").content.decode()
    assert "lp-erasure-notice" in change and returned.erased_before.strftime("%d.%m.%Y") in change
    erased = admin_client.get(f"/admin/leads/lead/{person.pk}/change/").content.decode()
    assert "lp-erasure-notice" in erased
    plain = admin_client.get(f"/admin/leads/lead/{stranger.pk}/change/").content.decode()
    assert "lp-erasure-notice" not in plain


def test_erased_before_is_in_the_lead_json_of_the_apis(api_client, admin_user, person):
    subject_erase(SubjectQuery("email", EMAIL), actor=admin_user, reason="Anfrage")
    partner = PartnerFactory()
    returned = lead_ingest(payload={"email": EMAIL}, channel="manual", partner=partner).lead

    api_client.force_authenticate(partner)
    body = api_client.get("/api/leads/").json()
    row = next(item for item in body["results"] if item["id"] == str(returned.pk))
    assert row["erased_before"] is not None

    api_client.force_authenticate(admin_user)
    pool = api_client.get("/api/admin/leads/pool/").json()
    assert all(item["erased_before"] is None for item in pool["results"])
