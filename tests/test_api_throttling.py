"""API throttles (issue 23, finding 4): per user, per API key, per IP without credentials; 429 + Retry-After."""

from __future__ import annotations

import pytest
from django.conf import settings as django_settings
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.models import ApiKey
from accounts.services import api_key_create
from tests.accounts.factories import PartnerFactory

ME = "/api/auth/me/"


@pytest.fixture
def low_rates(settings):
    """Lower the budgets for one test; DRF reloads its settings, the throttles read them per request."""
    settings.REST_FRAMEWORK = {
        **django_settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"user": "3/min", "anon": "2/min"},
    }


def _jwt_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
    return client


def _key_client(organization, scopes=("leads:read",)) -> APIClient:
    _key, raw = api_key_create(organization=organization, name="Throttle test", scopes=scopes, actor=None)
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=raw)
    return client


def _assert_throttled(response) -> None:
    assert response.status_code == 429
    retry_after = int(response["Retry-After"])
    assert 1 <= retry_after <= 60
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == "throttled"
    assert str(retry_after) in body["error"]["message"]


def test_a_user_gets_429_with_retry_after_in_the_error_shape_and_others_go_on(db, platform_org, low_rates):
    anna, ben = PartnerFactory(), PartnerFactory()
    anna_client = _jwt_client(anna)
    assert [anna_client.get(ME).status_code for _ in range(3)] == [200, 200, 200]
    _assert_throttled(anna_client.get(ME))
    # Another user has a budget of their own; so has the same user's next API key.
    assert _jwt_client(ben).get(ME).status_code == 200


def test_a_session_user_is_throttled_like_a_jwt_user(db, platform_org, low_rates):
    client = APIClient()
    client.force_login(PartnerFactory())
    assert [client.get(ME).status_code for _ in range(3)] == [200, 200, 200]
    _assert_throttled(client.get(ME))


def test_each_api_key_has_its_own_budget(db, platform_org, low_rates):
    partner = PartnerFactory()
    first = _key_client(partner.organization)
    assert [first.get(ME).status_code for _ in range(3)] == [200, 200, 200]
    _assert_throttled(first.get(ME))
    # A second key of the same organization, and the organization's user, are counted apart.
    assert _key_client(partner.organization).get(ME).status_code == 200
    assert _jwt_client(partner).get(ME).status_code == 200


def test_calls_without_credentials_are_throttled_per_ip(db, low_rates):
    client = APIClient()
    codes = [client.post("/api/auth/token/refresh/", {"refresh": "x"}, format="json").status_code for _ in range(2)]
    assert 429 not in codes
    _assert_throttled(client.post("/api/auth/token/refresh/", {"refresh": "x"}, format="json"))
    # Another client IP has its own budget.
    other = client.post("/api/auth/token/refresh/", {"refresh": "x"}, format="json", REMOTE_ADDR="203.0.113.9")
    assert other.status_code != 429


def test_the_capture_api_keeps_its_own_limit_and_is_not_throttled_here(db, platform_org, low_rates):
    client = _key_client(platform_org, scopes=(ApiKey.Scope.CAPTURE.value,))
    body = {"email": "visitor@example.com", "first_name": "Vera", "last_name": "Besucher"}
    codes = [client.post("/api/capture/", body, format="json").status_code for _ in range(5)]
    assert 429 not in codes


def test_the_budget_spent_above_does_not_leak_into_later_tests(db, platform_org):
    """conftest clears the cache around each test: the same IP and the default rates start afresh."""
    rates = django_settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    assert int(rates["user"].split("/")[0]) >= 600
    assert int(rates["anon"].split("/")[0]) >= 60
    client = APIClient()
    codes = [client.post("/api/auth/token/refresh/", {"refresh": "x"}, format="json").status_code for _ in range(5)]
    assert 429 not in codes
