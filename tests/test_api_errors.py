"""One JSON error shape for every 4xx/5xx under /api/, plus /healthz, the schema and the docs."""

from __future__ import annotations

import pytest
from django.test import override_settings

from core.exceptions import DomainError, NotFoundError, TransitionNotAllowed

pytestmark = pytest.mark.django_db


def assert_error_shape(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert {"code", "message"} <= set(body["error"])
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    if code:
        assert body["error"]["code"] == code
    return body["error"]


def test_unknown_api_path_is_json_404(client):
    assert_error_shape(client.get("/api/does-not-exist/"), 404, "not_found")


def test_non_api_404_stays_html(client):
    response = client.get("/nirgendwo/")
    assert response.status_code == 404
    assert not response["Content-Type"].startswith("application/json")


def test_method_not_allowed(api_client):
    error = assert_error_shape(api_client.get("/api/auth/token/"), 405, "method_not_allowed")
    assert "GET" in error["message"]


def test_validation_error_lists_fields(api_client):
    error = assert_error_shape(api_client.post("/api/auth/token/", {}, format="json"), 400, "validation_error")
    assert set(error["fields"]) == {"email", "password"}


def test_malformed_json_is_parse_error(api_client):
    response = api_client.generic("POST", "/api/auth/token/", "{not json", content_type="application/json")
    assert_error_shape(response, 400, "parse_error")


def test_unsupported_media_type(api_client):
    response = api_client.generic("POST", "/api/auth/token/", "a=b", content_type="text/plain")
    assert_error_shape(response, 415, "unsupported_media_type")


def test_unauthenticated(api_client):
    assert_error_shape(api_client.get("/api/auth/me/"), 401, "not_authenticated")


def test_errors_are_german_by_default_and_english_on_request(api_client):
    german = api_client.get("/api/auth/me/").json()["error"]["message"]
    english = api_client.get("/api/auth/me/", HTTP_ACCEPT_LANGUAGE="en").json()["error"]["message"]
    assert english == "Authentication credentials were not provided."
    assert german != english


def test_unhandled_exception_is_json_500_without_details(api_client, partner_user, monkeypatch):
    from accounts.api import MeApi

    def boom(self, request):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(MeApi, "get", boom)
    api_client.force_authenticate(partner_user)
    error = assert_error_shape(api_client.get("/api/auth/me/"), 500, "server_error")
    assert "secret" not in error["message"]


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (TransitionNotAllowed("won", "lead"), 409, "transition_not_allowed"),
        (NotFoundError("Lead nicht gefunden."), 404, "not_found"),
        (DomainError("Kapazität erreicht.", code="capacity_exceeded"), 422, "capacity_exceeded"),
    ],
)
def test_domain_errors_map_to_their_status(api_client, partner_user, monkeypatch, error, status, code):
    from accounts.api import MeApi

    def fail(self, request):
        raise error

    monkeypatch.setattr(MeApi, "get", fail)
    api_client.force_authenticate(partner_user)
    assert_error_shape(api_client.get("/api/auth/me/"), status, code)


def test_healthz_reports_database_and_redis(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"]["ok"] and body["database"]["vendor"] == "postgresql"
    assert body["redis"] == {"ok": True, "configured": True, "latency_ms": body["redis"]["latency_ms"]}


def test_healthz_is_503_when_redis_is_unreachable(client):
    with override_settings(REDIS_URL="redis://127.0.0.1:1/0"):
        response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["redis"]["ok"] is False and body["database"]["ok"] is True


def test_request_id_is_echoed_or_minted(client):
    assert client.get("/healthz", HTTP_X_REQUEST_ID="abc-123")["X-Request-ID"] == "abc-123"
    minted = client.get("/healthz", HTTP_X_REQUEST_ID="bad id with spaces")["X-Request-ID"]
    assert minted != "bad id with spaces" and len(minted) == 32


def test_openapi_schema_and_offline_docs(client):
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"/api/auth/token/" in schema.content
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"cdn." not in docs.content  # Swagger UI comes from our own static files


def test_django_level_500_under_api_is_json(rf):
    from core.api import server_error

    response = server_error(rf.get("/api/leads/"))
    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    assert b'"server_error"' in response.content


def test_csrf_failure_under_api_is_json_403(rf):
    from core.api import csrf_failure

    refused = csrf_failure(rf.post("/api/leads/"), reason="CSRF cookie not set.")
    assert refused.status_code == 403 and b'"csrf_failed"' in refused.content
    assert csrf_failure(rf.post("/admin/login/"), reason="x")["Content-Type"].startswith("text/html")


def test_html_error_pages_are_german(client):
    response = client.get("/nirgendwo/")
    assert response.status_code == 404
    assert "Seite nicht gefunden" in response.content.decode()
