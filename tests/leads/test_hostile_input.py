"""Hostile input is never a 500 (issue 23): NUL and other control characters, lone surrogates, huge strings,
deep JSON and broken UTF-8 are a 400 in the error shape naming the field; nothing is stored, nothing logged."""

from __future__ import annotations

import json
import logging

import pytest
from django.db import DataError, connection
from rest_framework.test import APIClient

from accounts.services import api_key_create
from core.logging import JsonFormatter, safe_exception_text
from core.validation import json_problem, strip_unstorable, text_problem
from leads.models import Lead, LeadActivity
from leads.services import lead_ingest

pytestmark = pytest.mark.django_db

SECRET_ANSWER = "Geheime Antwort 4711"
SITE = "https://www.immo-beispiel.de"


@pytest.fixture
def client() -> APIClient:
    return APIClient()


@pytest.fixture
def capture_secret(platform_org) -> str:
    _key, secret = api_key_create(
        organization=platform_org, name="Website", scopes=["capture", "activities"], actor=None
    )
    return secret


def _post_json(client: APIClient, url: str, body: dict, **headers):
    """POST as the JSON a browser sends: ``json.dumps`` escapes a lone surrogate as ``\\ud800``."""
    return client.generic("POST", url, json.dumps(body), content_type="application/json", **headers)


def _assert_refused(response, field: str, caplog, capsys) -> None:
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] in ("validation_error", "parse_error"), error
    if field:
        assert field in error.get("fields", {}), error
    assert SECRET_ANSWER not in response.content.decode()
    logged = caplog.text + "".join(capsys.readouterr())
    assert SECRET_ANSWER not in logged and "Traceback" not in logged


HOSTILE_VALUES = {
    "nul": f"{SECRET_ANSWER}\u0000",
    "bell": f"{SECRET_ANSWER}\u0007",
    "escape": f"\u001b[31m{SECRET_ANSWER}",
    "c1": f"{SECRET_ANSWER}\u0085",
    "lone_surrogate": f"{SECRET_ANSWER}\ud800",
    "oversized": SECRET_ANSWER + "x" * 10_001,
}


@pytest.mark.parametrize("value", HOSTILE_VALUES.values(), ids=HOSTILE_VALUES.keys())
def test_api_505_attributes_refused(api_client, partner_user, value, caplog, capsys):
    api_client.force_authenticate(partner_user)
    body = {"email": "nul@kunde.de", "attributes": {"antwort": value}}
    response = _post_json(api_client, "/api/leads/", body)
    _assert_refused(response, "attributes", caplog, capsys)
    assert not Lead.objects.exists()


def test_api_505_nul_in_an_attribute_name_or_nested_deep_is_refused(api_client, partner_user, caplog, capsys):
    api_client.force_authenticate(partner_user)
    for attributes in ({f"{SECRET_ANSWER}\u0000": "x"}, {"a": [{"b": {"c": [f"{SECRET_ANSWER}\u0000"]}}]}):
        response = api_client.post("/api/leads/", {"email": "n@kunde.de", "attributes": attributes}, format="json")
        _assert_refused(response, "attributes", caplog, capsys)
    deep: dict = {"leaf": 1}
    for _ in range(11):
        deep = {"d": deep}
    response = api_client.post("/api/leads/", {"email": "n@kunde.de", "attributes": deep}, format="json")
    _assert_refused(response, "attributes", caplog, capsys)
    assert not Lead.objects.exists()


def test_api_505_text_fields_refuse_control_characters(api_client, partner_user, caplog, capsys):
    api_client.force_authenticate(partner_user)
    response = api_client.post("/api/leads/", {"email": "n@kunde.de", "company_name": f"{SECRET_ANSWER}\u0001"})
    _assert_refused(response, "company_name", caplog, capsys)
    ok = api_client.post(
        "/api/leads/", {"email": "n@kunde.de", "attributes": {"notiz": "Zeile 1\r\n\tZeile 2"}}, format="json"
    )
    assert ok.status_code == 201, ok.content  # tab, newline and carriage return are ordinary text


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 100_000 + b"]" * 100_000,  # deeper than the interpreter's recursion limit
        '{"email": "x@kunde.de", "company_name": "M\u00fcller"}'.encode("latin-1"),  # not UTF-8
        b'{"email": "x@kunde.de", "attributes": {"a": 1e400}}',  # infinity: jsonb has none
    ],
    ids=["deep", "latin1", "infinity"],
)
def test_api_505_broken_json_bodies_are_400(api_client, partner_user, raw, caplog, capsys):
    api_client.force_authenticate(partner_user)
    response = api_client.generic("POST", "/api/leads/", raw, content_type="application/json")
    _assert_refused(response, "", caplog, capsys)
    assert not Lead.objects.exists()


@pytest.mark.parametrize("value", [f"{SECRET_ANSWER}\u0000", f"{SECRET_ANSWER}\ud800"], ids=["nul", "surrogate"])
def test_api_506_detail_refused(api_client, platform_org, capture_secret, value, caplog, capsys):
    lead = lead_ingest(payload={"email": "pool@kunde.de"}, channel="website").lead
    response = _post_json(
        api_client,
        f"/api/leads/{lead.public_id}/activities/",
        {"type": "pricing_page_visited", "detail": {"url": value}},
        HTTP_X_API_KEY=capture_secret,
    )
    _assert_refused(response, "detail", caplog, capsys)
    assert not LeadActivity.objects.filter(lead=lead, activity_type="pricing_page_visited").exists()


@pytest.mark.parametrize("value", HOSTILE_VALUES.values(), ids=HOSTILE_VALUES.keys())
def test_api_580_attributes_refused(client, capture_secret, value, caplog, capsys):
    body = {"email": "web@kunde.de", "attributes": {"antwort": value}}
    response = _post_json(client, "/api/capture/", body, HTTP_X_API_KEY=capture_secret)
    _assert_refused(response, "attributes", caplog, capsys)
    assert not Lead.objects.exists()


@pytest.mark.parametrize("fmt", ["json", "form", "multipart"])
def test_api_580_extra_form_field_with_nul_refused(client, capture_secret, fmt, caplog, capsys):
    body = {"email": "web@kunde.de", "budget": f"{SECRET_ANSWER}\u0000"}
    if fmt == "form":
        from urllib.parse import urlencode

        response = client.generic(
            "POST",
            "/api/capture/",
            urlencode(body),
            content_type="application/x-www-form-urlencoded",
            HTTP_X_API_KEY=capture_secret,
        )
    else:
        response = client.post("/api/capture/", body, format=fmt, HTTP_X_API_KEY=capture_secret)
    _assert_refused(response, "budget", caplog, capsys)
    assert not Lead.objects.exists()


def test_api_580_hostile_extra_field_name_is_not_echoed(client, capture_secret, caplog, capsys):
    body = {"email": "web@kunde.de", f"{SECRET_ANSWER}\u0000": "x"}
    response = client.post("/api/capture/", body, format="json", HTTP_X_API_KEY=capture_secret)
    _assert_refused(response, "attributes", caplog, capsys)
    assert not Lead.objects.exists()


def test_api_580_non_utf8_form_body_is_400(client, capture_secret, caplog, capsys):
    raw = "email=web%40kunde.de&budget=M\u00fcller".encode("latin-1")
    response = client.generic(
        "POST", "/api/capture/", raw, content_type="application/x-www-form-urlencoded", HTTP_X_API_KEY=capture_secret
    )
    _assert_refused(response, "", caplog, capsys)
    assert not Lead.objects.exists()


def test_api_580_ordinary_answers_still_pass(client, capture_secret):
    body = {"email": "web@kunde.de", "budget": "300.000 €", "attributes": {"wunsch": "Balkon\nGarten"}}
    response = client.post("/api/capture/", body, format="json", HTTP_X_API_KEY=capture_secret)
    assert response.status_code == 200, response.content
    assert Lead.objects.get().attributes["wunsch"] == "Balkon\nGarten"


# --- Database errors are logged without their parameters --------------------------------------


def _database_error() -> DataError:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT %s::jsonb", [json.dumps({"antwort": SECRET_ANSWER + "\u0000"})])
    except DataError as exc:
        return exc
    raise AssertionError("PostgreSQL accepted a NUL in jsonb")


def test_a_database_error_is_logged_with_its_sqlstate_but_without_the_data():
    exc = _database_error()
    assert SECRET_ANSWER in str(exc)  # what PostgreSQL's CONTEXT line quotes
    text = safe_exception_text(exc)
    assert SECRET_ANSWER not in text and "SQLSTATE 22P05" in text and "Traceback" in text
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed: %s", (exc,), (DataError, exc, None))
    line = JsonFormatter().format(record)
    assert SECRET_ANSWER not in line and "22P05" in line


def test_an_unhandled_database_error_in_an_api_view_is_logged_without_the_data(
    api_client, partner_user, caplog, capsys, monkeypatch
):
    exc = _database_error()

    def fail(**kwargs):
        raise exc

    monkeypatch.setattr("leads.api.leads.lead_ingest", fail)
    api_client.force_authenticate(partner_user)
    with caplog.at_level(logging.ERROR):
        response = api_client.post("/api/leads/", {"email": "n@kunde.de"}, format="json")
    assert response.status_code == 500 and response.json()["error"]["code"] == "server_error"
    logged = caplog.text + "".join(capsys.readouterr())
    assert "Unhandled API error" in logged and SECRET_ANSWER not in logged


# --- The shared validator ------------------------------------------------------------------------


def test_validator_limits():
    assert text_problem("Zeile\tmit\r\nUmbruch") is None and text_problem("a\x00") and text_problem("a\x7f")
    assert json_problem({"a": [1, 2.5, True, None, "ok"]}) is None
    nested: list = []  # level 1
    for _ in range(9):
        nested = [nested]
    assert json_problem(nested) is None and json_problem([nested])
    assert json_problem(float("nan")) and json_problem(list(range(3000)))
    assert strip_unstorable({"a\x00": ["b\x00c", "\ud800", float("inf")]}) == {"a": ["bc", "\ufffd", None]}
