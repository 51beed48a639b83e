"""Webhook test helpers: recorded payloads from ../shared/protocols, real signatures, a Graph stub."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from pathlib import Path

import pytest
import responses

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
APP_SECRET = "test_app_secret"
VERIFY_TOKEN = "meatyhamhock"
GRAPH = "https://graph.test/v21.0"


def fixture_bytes(name: str, **replace: str) -> bytes:
    """The recorded body exactly as stored; ``__TS__`` (a message time) becomes now, in ms."""
    raw = (FIXTURES / name).read_bytes()
    raw = raw.replace(b'"__TS__"', str(replace.pop("ts_ms", int(time.time() * 1000))).encode())
    for old, new in replace.items():
        raw = raw.replace(old.encode(), new.encode())
    return raw


def fixture_json(name: str) -> dict:
    return json.loads(fixture_bytes(name))


def sign(body: bytes, secret: str = APP_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@pytest.fixture(autouse=True)
def meta_settings(settings):
    settings.META_APP_SECRET = APP_SECRET
    settings.META_INSTAGRAM_APP_SECRET = ""
    settings.META_VERIFY_TOKEN = VERIFY_TOKEN
    settings.META_GRAPH_API_URL = GRAPH
    settings.WEBHOOK_RATE_LIMIT = "1000/m"
    settings.TRUSTED_PROXIES = []
    settings.WEBHOOK_IP_ALLOWLIST_FACEBOOK = []
    settings.WEBHOOK_IP_ALLOWLIST_INSTAGRAM = []
    return settings


@pytest.fixture
def graph():
    """Stub of the Graph API; any request that is not registered fails the test."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def post_webhook(client):
    """POST a body to ``/webhooks/<provider>/`` signed like Meta (or with the given signature)."""

    def post(provider: str, body: bytes, *, signature: str | None = "sign", **extra):
        headers = dict(extra)
        if signature == "sign":
            headers["HTTP_X_HUB_SIGNATURE_256"] = sign(body)
        elif signature is not None:
            headers["HTTP_X_HUB_SIGNATURE_256"] = signature
        headers.setdefault("content_type", "application/json")
        return client.generic("POST", f"/webhooks/{provider}/", body, **headers)

    return post
