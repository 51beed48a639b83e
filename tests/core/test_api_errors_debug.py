"""The JSON error shape under /api/ holds with DEBUG on too (core.middleware.ApiErrorMiddleware)."""

from __future__ import annotations

import pytest
from django.http import HttpResponse
from django.test import Client
from django.urls import path
from django.views.decorators.http import require_POST

from config.urls import urlpatterns as project_urlpatterns

SECRET = "kaputt-4711-geheim"


def _boom(request):
    raise RuntimeError(SECRET)


@require_POST
def _plain_post_only(request):
    return HttpResponse("ok")


# The project's routes plus two plain Django views: one that crashes, one POST-only (a 405 in plain Django).
urlpatterns = [
    path("api/test-boom/", _boom),
    path("api/test-post-only/", _plain_post_only),
    path("test-boom/", _boom),
    *project_urlpatterns,
]

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]


@pytest.fixture
def debug(settings):
    settings.DEBUG = True
    return settings


def test_unknown_api_url_is_json_404_in_debug(debug, client):
    response = client.get("/api/gibt-es-nicht/")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"error": {"code": "not_found", "message": "Nicht gefunden."}}
    assert "X-Request-ID" in response  # the outer middleware still decorate the answer


def test_unknown_url_outside_api_keeps_the_html_debug_page(debug, client):
    response = client.get("/gibt-es-nicht/")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
    assert b"Page not found" in response.content  # Django's technical 404


def test_unhandled_error_under_api_is_json_500_without_traceback(debug, caplog):
    client = Client(raise_request_exception=False)

    with caplog.at_level("ERROR", logger="django.request"):
        response = client.get("/api/test-boom/")

    assert response.status_code == 500
    assert response.json()["error"]["code"] == "server_error"
    body = response.content.decode()
    assert SECRET not in body and "Traceback" not in body and "RuntimeError" not in body
    # The traceback goes to the server log only, logged once.
    records = [r for r in caplog.records if r.name == "django.request"]
    assert len(records) == 1 and records[0].exc_info[0] is RuntimeError


def test_unhandled_error_outside_api_keeps_the_debug_page(debug):
    response = Client(raise_request_exception=False).get("/test-boom/")

    assert response.status_code == 500
    assert response["Content-Type"].startswith("text/html") and SECRET in response.content.decode()


def test_wrong_method_on_a_plain_api_view_is_json_405(debug, client):
    response = client.get("/api/test-post-only/")

    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
    assert response["Allow"] == "POST"


def test_drf_errors_pass_through_unchanged(debug, client):
    response = client.delete("/api/auth/token/")  # DRF's own 405 JSON

    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
    assert "DELETE" in response.json()["error"]["message"]


def test_without_debug_the_handlers_answer_json_as_before(settings, client):
    settings.DEBUG = False

    response = client.get("/api/gibt-es-nicht/")

    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
