"""The company lookup and the LLM client alone: request shape and what each answer becomes."""

from __future__ import annotations

import json

import pytest
import requests
import responses

from core.exceptions import TransientError
from integrations.enrichment.client import company_find
from integrations.llm.client import complete

ENRICH_URL = "http://127.0.0.1:9/enrich"
LLM_URL = "http://127.0.0.1:9/llm"
FIND = f"{ENRICH_URL}/v2/companies/find"


@pytest.fixture(autouse=True)
def client_settings(settings):
    settings.ENRICHMENT_API_URL, settings.ENRICHMENT_API_KEY = ENRICH_URL, "k-123"
    settings.LLM_API_URL, settings.LLM_API_KEY, settings.LLM_MODEL = LLM_URL, "sk-test", "claude-test"
    return settings


@responses.activate
def test_a_found_company_becomes_its_facts_and_the_body_is_kept():
    body = {"name": "Nordlicht", "domain": "", "metrics": {"employees": 1800}, "linkedin": {"handle": "company/n"}}
    call = responses.get(FIND, json=body)
    lookup = company_find("nordlicht-logistik.de")
    assert call.calls[0].request.headers["Authorization"] == "Bearer k-123"
    assert "domain=nordlicht-logistik.de" in call.calls[0].request.url
    assert lookup.company == {
        "company_name": "Nordlicht",
        "company_domain": "nordlicht-logistik.de",
        "employees": 1800,
        "company_linkedin_url": "https://www.linkedin.com/company/n",
    }
    assert lookup.raw == body and not lookup.refused


@responses.activate
@pytest.mark.parametrize(
    ("answer", "raw", "refused"),
    [
        ({"status": 404}, {"status": 404, "found": False}, False),
        ({"status": 422}, {"status": 422, "found": False}, False),
        ({"status": 401, "body": "no key"}, {"status": 401, "error": "no key"}, True),
        ({"status": 200, "body": "<html>"}, {"status": 200, "error": "invalid JSON"}, False),
    ],
)
def test_other_answers_are_recorded_without_facts(answer, raw, refused):
    responses.get(FIND, **answer)
    lookup = company_find("firma.de")
    assert (lookup.company, lookup.raw, lookup.refused) == ({}, raw, refused)


@responses.activate
@pytest.mark.parametrize("answer", [{"status": 429}, {"status": 503}, {"body": requests.Timeout("slow")}])
def test_throttling_outages_and_timeouts_are_transient(answer):
    responses.get(FIND, **answer)
    with pytest.raises(TransientError):
        company_find("firma.de")


@responses.activate
def test_the_llm_gets_one_user_message_and_its_text_parts_come_back():
    reply = {"content": [{"type": "text", "text": '{"a": '}, {"type": "tool_use"}, {"type": "text", "text": "1}"}]}
    call = responses.post(f"{LLM_URL}/v1/messages", json=reply)
    assert complete("Analysiere") == '{"a": 1}'
    request = call.calls[0].request
    assert request.headers["x-api-key"] == "sk-test" and request.headers["anthropic-version"] == "2023-06-01"
    assert json.loads(request.body) == {
        "model": "claude-test",
        "max_tokens": 1024,
        "messages": [{"role": "user", "content": "Analysiere"}],
    }


@responses.activate
@pytest.mark.parametrize(("status", "error"), [(529, TransientError), (500, TransientError), (400, ValueError)])
def test_llm_errors(status, error):
    responses.post(f"{LLM_URL}/v1/messages", status=status, json={})
    with pytest.raises(error):
        complete("x")
