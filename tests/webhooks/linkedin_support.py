"""LinkedIn test helpers: settings, an independent signer, stub URLs and a connection factory."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import timedelta
from urllib.parse import quote

import factory
from django.utils import timezone

from tests.webhooks.conftest import fixture_bytes, fixture_json
from webhooks.models import LinkedInConnection

CLIENT_ID = "test_client_id"
CLIENT_SECRET = "test_client_secret"  # the secret of the protocols README's test vectors
API = "https://api.linkedin.test"
OAUTH = "https://www.linkedin.test/oauth/v2"
VERSION = "202601"
SITE = "https://leads.example.test"
CALLBACK = f"{SITE}/integrations/linkedin/callback/"

OWNER = "urn:li:sponsoredAccount:1234567"
RESPONSE_ID = "249592fc-d272-44ba-a7db-c2bdce579507-6"
VECTOR = "linkedin/notification_signature_vector.json"
VECTOR_SIGNATURE = "3d49f9a7b2718e187ab0912abe3b4c99d84bfbe79a6b9a299c0367d08665eb94"
BODY_ONLY_SIGNATURE = "ef4237cfd657a5b8bcc910950191abc63d55d55ebb2df565da0b51254a76c588"
CHALLENGE = "890e4665-4dfe-4ab1-b689-ed553bceeed0"
CHALLENGE_RESPONSE = "2f02d4233a0396d6b4632fc7be62fd3ab68183421f688efcda0c1fcb2615273e"

DE_OWNER = "urn:li:sponsoredAccount:508123456"
DE_RESPONSE_ID = "7c1e9f40-3b2a-4d6e-8f10-2a3b4c5d6e7f-2"


def apply_settings(settings) -> None:
    settings.LINKEDIN_CLIENT_ID = CLIENT_ID
    settings.LINKEDIN_CLIENT_SECRET = CLIENT_SECRET
    settings.LINKEDIN_API_URL = API
    settings.LINKEDIN_OAUTH_URL = OAUTH
    settings.LINKEDIN_VERSION = VERSION
    settings.SITE_URL = SITE
    settings.WEBHOOK_IP_ALLOWLIST_LINKEDIN = []


def li_sign(body: bytes, secret: str = CLIENT_SECRET) -> str:
    """What LinkedIn sends in ``X-LI-Signature`` (computed here independently of the app's code)."""
    return hmac.new(secret.encode(), b"hmacsha256=" + body, hashlib.sha256).hexdigest()


def response_url(response_id: str = RESPONSE_ID) -> str:
    return f"{API}/rest/leadFormResponses/{quote(response_id, safe='')}"


def form_url(form_id: str | int = 7234246) -> str:
    return f"{API}/rest/leadForms/{form_id}"


def notification(
    action: str = "CREATED", response_id: str = RESPONSE_ID, owner: str = OWNER, form: str = "7234246,1"
) -> dict:
    body = json.loads(fixture_bytes(VECTOR))
    body.update(
        leadGenFormResponse=f"urn:li:leadGenFormResponse:{response_id}",
        leadGenForm=f"urn:li:versionedLeadGenForm:(urn:li:leadGenForm:{form})",
        owner={"organization" if ":organization:" in owner else "sponsoredAccount": owner},
        leadAction=action,
    )
    return body


def compact(value) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def lead_response(response_id: str = RESPONSE_ID, **changes) -> dict:
    return {**fixture_json("linkedin/lead_form_response_postman.json"), "id": response_id, **changes}


def stub_lead(api, response_id: str = RESPONSE_ID, *, form: bool = True, **changes) -> dict:
    """Stub the response fetch (and the form definition it names)."""
    body = lead_response(response_id, **changes)
    api.get(response_url(response_id), json=body)
    if form:
        api.get(form_url(7234246), json=fixture_json("linkedin/lead_form_7234246.json"))
    return body


def stub_error(api, url: str, fixture: str, status: int, **kwargs) -> None:
    api.get(url, body=fixture_bytes(f"linkedin/{fixture}"), status=status, content_type="application/json", **kwargs)


class LinkedInConnectionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LinkedInConnection

    owner_urn = factory.Sequence(lambda n: f"urn:li:sponsoredAccount:9{n:06d}")
    name = factory.Sequence(lambda n: f"Werbekonto {n}")
    access_token = factory.Sequence(lambda n: f"AQV_member_token_{n}")
    access_token_expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=50))
