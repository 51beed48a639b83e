"""Enrichment providers (offline, Clearbit-style HTTP) and the AI analysis (offline and LLM)."""

from __future__ import annotations

import json

import pytest
import responses

from core.exceptions import TransientError
from leads.models import Company, Lead, LeadEnrichment, LeadIntent
from leads.services import lead_enrich, lead_ingest
from leads.services.enrichment import guess_company_name, parse_analysis, seniority_of

pytestmark = pytest.mark.django_db

ENRICH_URL = "http://127.0.0.1:9/enrich"
LLM_URL = "http://127.0.0.1:9/llm"
CLEARBIT_COMPANY = {
    "name": "Nordlicht Logistik KG",
    "domain": "nordlicht-logistik.de",
    "category": {"industry": "Logistics"},
    "metrics": {"employees": 1800, "employeesRange": "1K-5K", "estimatedAnnualRevenue": "$100M-$250M"},
    "geo": {"countryCode": "DE"},
    "linkedin": {"handle": "company/nordlicht"},
}


def test_company_name_guess_and_seniority():
    assert guess_company_name("mueller-bau.de") == "Mueller Bau"
    assert guess_company_name("acme-gmbh.de") == "Acme GmbH"
    assert seniority_of("Geschäftsführerin") == "c_level"
    assert seniority_of("Head of Sales") == "director"
    assert seniority_of("Sachbearbeiter") == "staff"


def test_offline_enrichment_flags_free_mail_as_b2c(platform_org):
    lead = lead_ingest(payload={"email": "privat@web.de", "job_title": "CEO"}, channel="website").lead
    data = LeadEnrichment.objects.get(lead=lead).company_data
    assert data["b2c"] is True and "company_domain" not in data
    assert data["decision_maker"] is True and data["seniority"] == "c_level"
    lead = lead_ingest(payload={"email": "info@firma.at"}, channel="website").lead
    data = LeadEnrichment.objects.get(lead=lead).company_data
    assert (data["b2c"], data["country"], data["company_name"]) == (False, "AT", "Firma")
    assert Company.objects.get(domain="firma.at").leads.get() == lead


@responses.activate
def test_http_provider_fills_company_data_and_rescores(settings, platform_org, django_capture_on_commit_callbacks):
    settings.ENRICHMENT_API_URL, settings.ENRICHMENT_API_KEY = ENRICH_URL, "k-123"
    call = responses.get(f"{ENRICH_URL}/v2/companies/find", json=CLEARBIT_COMPANY)

    with django_capture_on_commit_callbacks(execute=True):
        lead = lead_ingest(payload={"email": "a.b@nordlicht-logistik.de"}, channel="linkedin").lead

    assert call.call_count == 1
    request = call.calls[0].request
    assert request.headers["Authorization"] == "Bearer k-123" and "domain=nordlicht-logistik.de" in request.url
    lead = Lead.objects.get(pk=lead.pk)
    assert (lead.industry, lead.employees, lead.company_size_band) == ("Logistics", 1800, "1K-5K")
    assert lead.company_name == "Nordlicht Logistik"  # the offline guess came first and is kept
    assert "company_size_large" in {i["code"] for i in lead.score_breakdown["items"]}
    assert LeadEnrichment.objects.get(lead=lead, provider="http").raw_response["name"] == "Nordlicht Logistik KG"


@responses.activate
def test_http_provider_errors(settings, platform_org):
    settings.ENRICHMENT_API_URL = ENRICH_URL
    lead = lead_ingest(payload={"email": "x@unknown-firm.de"}, channel="website").lead
    responses.get(f"{ENRICH_URL}/v2/companies/find", status=503)
    with pytest.raises(TransientError):
        lead_enrich(lead_id=lead.pk)
    responses.replace(responses.GET, f"{ENRICH_URL}/v2/companies/find", status=404)
    lead_enrich(lead_id=lead.pk)
    assert LeadEnrichment.objects.get(lead=lead, provider="http").raw_response == {"status": 404, "found": False}


def _llm_reply(text: str) -> dict:
    return {"id": "msg_1", "type": "message", "role": "assistant", "content": [{"type": "text", "text": text}]}


@responses.activate
def test_llm_analysis_uses_the_messages_api_without_contact_data(settings, platform_org):
    settings.LLM_API_URL, settings.LLM_API_KEY, settings.LLM_MODEL = LLM_URL, "sk-test", "claude-test"
    analysis = {
        "intent_level": "high",
        "buying_signals": ["Budgetrechner genutzt"],
        "recommended_approach": "Anrufen",
        "qualification_score": 87,
        "next_best_action": "Termin vorschlagen",
    }
    call = responses.post(f"{LLM_URL}/v1/messages", json=_llm_reply("```json\n" + json.dumps(analysis) + "\n```"))
    lead = lead_ingest(
        payload={"email": "geheim@kunde.de", "full_name": "Geheim Name", "job_title": "CFO"}, channel="website"
    ).lead

    lead_enrich(lead_id=lead.pk)

    body = json.loads(call.calls[0].request.body)
    assert call.calls[0].request.headers["x-api-key"] == "sk-test"
    assert call.calls[0].request.headers["anthropic-version"] == "2023-06-01"
    assert body["model"] == "claude-test" and body["messages"][0]["role"] == "user"
    assert "geheim@kunde.de" not in body["messages"][0]["content"] and "Geheim" not in body["messages"][0]["content"]
    intent = LeadIntent.objects.get(lead=lead, source_type="ai_analysis")
    assert (intent.source_id, intent.intent_level, intent.intent_score) == ("llm", "high", 87)
    assert intent.analysis == analysis


@responses.activate
def test_unusable_llm_answer_falls_back_to_the_offline_analyser(settings, platform_org):
    settings.LLM_API_URL, settings.LLM_API_KEY, settings.LLM_MODEL = LLM_URL, "sk-test", "claude-test"
    responses.post(f"{LLM_URL}/v1/messages", json=_llm_reply("Ich bin mir nicht sicher."))
    lead = lead_ingest(payload={"email": "z@kunde.de"}, channel="website").lead
    lead_enrich(lead_id=lead.pk)
    intent = LeadIntent.objects.get(lead=lead, source_type="ai_analysis")
    assert intent.source_id == "offline_analyser"
    assert set(intent.analysis) == {
        "intent_level",
        "buying_signals",
        "recommended_approach",
        "qualification_score",
        "next_best_action",
    }


def test_analysis_shape_is_validated():
    with pytest.raises(ValueError):
        parse_analysis('{"intent_level": "sehr hoch"}')
    with pytest.raises(ValueError):
        parse_analysis(
            json.dumps(
                {
                    "intent_level": "extreme",
                    "buying_signals": [],
                    "recommended_approach": "",
                    "qualification_score": 1,
                    "next_best_action": "",
                }
            )
        )
