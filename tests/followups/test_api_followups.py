"""Smart follow-up API (API-560–566, 571, 577, 578), batch send, tasks with one-click actions."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import responses
from django.core import mail
from django.utils import timezone

from compliance.services import consent_doi_confirm, consent_doi_request
from core.exceptions import ConflictError
from followups.models import EmailMessage, FollowupTask, MessageTemplate, SequenceRun
from followups.selectors.tasks import task_actions
from followups.services.engine import run_due_steps
from followups.services.tasks import followup_task_complete
from leads.models import Lead, LeadActivity
from tests.accounts.factories import PartnerFactory
from tests.followups.factories import SequenceRunFactory
from tests.leads.factories import LeadFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def client(api_client, partner_user):
    api_client.force_authenticate(partner_user)
    return api_client


def _lead(partner, **fields) -> Lead:
    fields.setdefault("tenant", partner.organization)
    return LeadFactory(assigned_partner=partner, **fields)


def _consented(partner, **fields) -> Lead:
    lead = _lead(partner, **fields)
    _grant, token = consent_doi_request(actor=None, lead=lead, version="v1")
    consent_doi_confirm(token, ip="203.0.113.9", user_agent="pytest")
    return lead


def test_suggestions_endpoint(client, partner_user, api_client):
    lead = _lead(partner_user, score=70, phone="+49 151 2345678")
    response = client.get("/api/followups/smart-suggestions?limit=5")
    assert response.status_code == 200
    (item,) = response.json()["results"]
    assert item["lead"]["id"] == str(lead.pk) and item["reason"] == "showed_interest"
    assert item["priority"] == "urgent" and item["suggested_channel"] == "whatsapp"
    assert {a["type"] for a in item["actions"]} == {"whatsapp", "call", "copy"}
    assert item["actions"][0]["url"].startswith("https://wa.me/491512345678?text=Guten%20Tag")
    assert client.get("/api/followups/smart-suggestions/?limit=0").status_code == 400
    assert client.get("/api/followups/smart-suggestions/?priority=soon").status_code == 400


def test_should_followup_and_tenant_isolation(client, partner_user):
    lead = _lead(partner_user)
    assert client.get(f"/api/followups/should-followup/{lead.pk}/").json()["ok"] is True
    foreign = _lead(PartnerFactory())
    assert client.get(f"/api/followups/should-followup/{foreign.pk}").status_code == 404
    response = client.post("/api/followups/messages/preview/", {"lead": str(foreign.pk), "template": "offer_call"})
    assert response.status_code == 404


def test_sequence_start_runs_task_with_actions_response_and_stop(client, partner_user):
    codes = {s["code"] for s in client.get("/api/followups/sequences/").json()["results"]}
    assert {"first_contact_to_partner", "ghost_reactivation", "customer_to_partner"} <= codes
    lead = _lead(partner_user, first_name="Lisa", phone="0151 7654321")
    response = client.post(
        "/api/followups/sequence/start/", {"lead": str(lead.pk), "sequence": "first_contact_to_partner"}
    )
    assert response.status_code == 201, response.json()
    run_id = response.json()["id"]
    again = client.post(
        "/api/followups/sequence/start/", {"lead": lead.public_id, "sequence": "first_contact_to_partner"}
    )
    assert again.status_code == 409
    run_due_steps(now=timezone.now() + dt.timedelta(minutes=1))
    task = FollowupTask.objects.get(run_id=run_id)
    assert task.assignee == partner_user and task.message.startswith("Guten Tag Lisa Mustermann,")
    assert task_actions(task)[0]["url"].startswith("https://wa.me/491517654321?text=")
    runs = client.get(f"/api/followups/runs/?lead={lead.pk}&status=active").json()["results"]
    assert [(r["id"], r["current_step"]) for r in runs] == [(run_id, 1)]
    # The task is done with a positive outcome: a contact on the lead, and the step's branch (next step).
    followup_task_complete(task=task, actor=partner_user, outcome="positive")
    assert LeadActivity.objects.filter(lead=lead, activity_type="contact_logged").exists()
    assert Lead.objects.get(pk=lead.pk).last_activity_at is not None
    run = SequenceRun.objects.get(pk=run_id)
    assert run.outcome == "positive" and run.next_due_at is not None
    response = client.post(f"/api/followups/runs/{run_id}/response/", {"outcome": "negative"})
    assert response.json()["status"] == "completed"  # step 1: negative → move_to_nurture
    assert client.post(f"/api/followups/runs/{run_id}/stop/").status_code == 409
    # move_to_nurture enrolled the lead in the sequence's next one (ghost_reactivation): stop that by hand.
    (ghost,) = client.get(f"/api/followups/runs?lead={lead.public_id}&status=active").json()["results"]
    assert ghost["sequence"] == "ghost_reactivation"
    stopped = client.post(f"/api/followups/runs/{ghost['id']}/stop")
    assert stopped.status_code == 200 and stopped.json()["status"] == "cancelled"
    foreign = SequenceRunFactory(sequence=run.sequence, lead=_lead(PartnerFactory()))
    assert client.post(f"/api/followups/runs/{foreign.pk}/stop/").status_code == 404
    with pytest.raises(ConflictError):
        followup_task_complete(task=task, actor=partner_user)


def test_batch_send_sends_email_creates_tasks_and_skips_with_reasons(client, partner_user, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    MessageTemplate.objects.create(
        owner=partner_user,
        code="offer_call",
        name="Mein Anruf",
        channel="email",
        subject="Kurz sprechen?",
        body="Guten Tag {{ first_name }}, sollen wir telefonieren?",
    )
    consented = _consented(partner_user, first_name="Max")
    no_consent = _lead(partner_user)
    opted_out = _lead(partner_user, opted_out_at=timezone.now())
    recent = _lead(partner_user)
    LeadActivity.objects.create(
        lead=recent,
        activity_type="contact_logged",
        channel="phone",
        detail={"outcome": "no_answer"},
        occurred_at=timezone.now() - dt.timedelta(hours=1),
    )
    leads = [str(x.pk) for x in (consented, no_consent, opted_out, recent)]
    response = client.post("/api/followups/batch-send/", {"leads": leads, "template": "offer_call"}, format="json")
    assert response.status_code == 200, response.json()
    results = {r["lead"]: (r["status"], r["reason"]) for r in response.json()["results"]}
    assert results == {
        str(consented.pk): ("sent", None),
        str(no_consent.pk): ("skipped", "no_consent"),
        str(opted_out.pk): ("skipped", "opted_out"),
        str(recent.pk): ("skipped", "contacted_recently"),
    }
    (sent,) = mail.outbox
    assert sent.subject == "Kurz sprechen?" and "Guten Tag Max" in sent.body
    assert "List-Unsubscribe" in sent.extra_headers
    assert EmailMessage.objects.get(lead=consented).purpose == "personal"
    # The platform default (channel auto) becomes a WhatsApp task for a lead with a phone number.
    other = _lead(partner_user)
    response = client.post(
        "/api/followups/batch-send/", {"leads": [str(other.pk)], "template": "gentle_followup"}, format="json"
    )
    assert response.json()["results"][0]["status"] == "task"
    assert FollowupTask.objects.get(lead=other).channel == "whatsapp"
    foreign = _lead(PartnerFactory())
    response = client.post(
        "/api/followups/batch-send/", {"leads": [str(foreign.pk)], "template": "offer_call"}, format="json"
    )
    assert response.status_code == 404


def test_templates_list_prefers_own_copy_and_preview_never_evaluates_lead_data(client, partner_user):
    MessageTemplate.objects.create(owner=partner_user, code="offer_call", name="Meins", body="Hallo {{ first_name }}!")
    templates = {t["code"]: t for t in client.get("/api/followups/message-templates/?page_size=200").json()["results"]}
    assert templates["offer_call"]["is_own"] is True and templates["final_goodbye"]["is_own"] is False
    lead = _lead(partner_user, first_name="{{ partner_email }}{% now 'Y' %}")
    response = client.post("/api/followups/messages/preview/", {"lead": str(lead.pk), "template": "offer_call"})
    assert response.status_code == 200
    assert response.json()["body"] == "Hallo {{ partner_email }}{% now 'Y' %}!"
    assert (
        client.post("/api/followups/messages/preview/", {"lead": str(lead.pk), "template": "nope"}).status_code == 404
    )


@responses.activate
def test_llm_personalisation_sends_no_contact_data(client, partner_user, settings):
    settings.LLM_API_URL, settings.LLM_API_KEY, settings.LLM_MODEL = "https://llm.test", "k", "m"
    responses.post(
        "https://llm.test/v1/messages",
        json={"content": [{"type": "text", "text": "Hallo [VORNAME], wie wäre ein kurzes Telefonat?"}]},
    )
    lead = _lead(partner_user, first_name="Zora", last_name="Quast", email="zora@beispiel.de", phone="+4915199999")
    response = client.post(
        "/api/followups/messages/preview/", {"lead": str(lead.pk), "template": "offer_call", "personalise": True}
    )
    assert response.json()["source"] == "llm" and response.json()["body"].startswith("Hallo Zora,")
    prompt = json.loads(responses.calls[0].request.body)["messages"][0]["content"]
    for value in ("Zora", "Quast", "zora@beispiel.de", "15199999"):
        assert value not in prompt
