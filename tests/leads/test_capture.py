"""API-580 website capture: auth, honeypot, consent, CORS, rate limit, validation (SPEC §5, §6)."""

from __future__ import annotations

import re
from urllib.parse import urlencode

import pytest
from rest_framework.test import APIClient

from accounts.models import ApiKey
from accounts.services import api_key_create, api_key_revoke
from compliance.models import AuditEvent, ConsentRecord
from leads.models import Lead, LeadActivity
from tests.accounts.factories import OrganizationFactory

pytestmark = pytest.mark.django_db

URL = "/api/capture/"
SITE = "https://www.immo-beispiel.de"


@pytest.fixture
def capture_key(platform_org) -> tuple[ApiKey, str]:
    return api_key_create(
        organization=platform_org, name="Website", scopes=["capture"], actor=None, allowed_origins=[SITE + "/"]
    )


@pytest.fixture
def client() -> APIClient:
    return APIClient()


def post(client: APIClient, secret: str | None, data: dict, fmt: str = "json", **headers):
    if secret is not None:
        headers["HTTP_X_API_KEY"] = secret
    return client.post(URL, data, format=fmt, **headers)


def test_json_capture_creates_a_pool_lead_with_attribution_and_returns_its_public_id(client, capture_key):
    _key, secret = capture_key
    # when
    response = post(
        client,
        secret,
        {
            "email": "Anna.Mueller@Example.de",
            "full_name": "Anna Müller",
            "phone": "0151 23456789",
            "interest_type": "Kauf",
            "budget": "300.000 €",
            "referrer": "https://www.google.de/",
        },
        HTTP_REFERER=f"{SITE}/kapitalanlage?utm_source=google&utm_campaign=fruehjahr",
    )
    # then
    assert response.status_code == 200, response.content
    body = response.json()
    assert re.fullmatch(r"SOT-LEAD-[A-Z2-7]{8}", body["public_id"]) and body["status"] == "ok"
    lead = Lead.objects.get(public_id=body["public_id"])
    assert (lead.channel, lead.source, lead.tenant.is_platform) == ("website", "zone1_pool", True)
    assert (lead.email, lead.phone, lead.first_name, lead.last_name) == (
        "anna.mueller@example.de",
        "+4915123456789",
        "Anna",
        "Müller",
    )
    assert lead.landing_page == f"{SITE}/kapitalanlage?utm_source=google&utm_campaign=fruehjahr"
    assert (lead.utm_source, lead.utm_campaign, lead.referrer) == ("google", "fruehjahr", "https://www.google.de/")
    assert lead.attributes["budget"] == "300.000 €" and lead.interest_type == "buy"
    assert LeadActivity.objects.filter(lead=lead, activity_type="form_submitted").exists()
    assert lead.score > 0


def test_form_encoded_capture_records_the_consent_with_text_version_and_evidence(client, capture_key):
    _key, secret = capture_key
    form = {
        "email": "bert@example.de",
        "consent": "on",
        "consent_text": "Ich möchte Angebote per E-Mail erhalten.",
        "consent_version": "2026-01",
        "nachricht": "Bitte rufen Sie mich an",
    }
    response = client.post(
        URL,
        urlencode(form),
        content_type="application/x-www-form-urlencoded",
        HTTP_X_API_KEY=secret,
        HTTP_ORIGIN=SITE,
        REMOTE_ADDR="203.0.113.20",
        HTTP_USER_AGENT="Firefox",
    )
    assert response.status_code == 200, response.content
    lead = Lead.objects.get(public_id=response.json()["public_id"])
    assert lead.consent_marketing is True and lead.consent_at is not None
    assert lead.attributes["nachricht"] == "Bitte rufen Sie mich an"
    consent = ConsentRecord.objects.get(subject_lead=lead)
    assert (consent.code, consent.version, consent.text) == (
        "MARKETING_EMAIL",
        "2026-01",
        "Ich möchte Angebote per E-Mail erhalten.",
    )
    assert consent.evidence["ip"] == "203.0.113.20" and consent.evidence["origin"] == SITE
    assert consent.evidence["user_agent"] == "Firefox" and consent.evidence["api_key"] == _key.prefix
    assert AuditEvent.objects.filter(event_type="consent.granted", object_id=str(lead.pk)).exists()


def test_honeypot_is_answered_like_a_success_and_nothing_is_stored(client, capture_key):
    _key, secret = capture_key
    response = post(client, secret, {"email": "bot@spam.example", "fax": "+49 30 1234567", "consent": True})
    assert response.status_code == 200
    assert re.fullmatch(r"SOT-LEAD-[A-Z2-7]{8}", response.json()["public_id"])
    assert not Lead.objects.exists() and not ConsentRecord.objects.exists()
    # Even invalid data: a bot learns nothing from the answer.
    assert post(client, secret, {"fax": "x"}).status_code == 200


def test_the_same_person_twice_is_one_lead_and_the_answer_does_not_reveal_it(client, capture_key):
    _key, secret = capture_key
    first = post(client, secret, {"email": "carla@example.de", "interessen": ["kauf", "miete"]}, fmt="multipart")
    second = post(client, secret, {"email": "CARLA@example.de", "phone": "+49 170 1234567"})
    assert first.status_code == second.status_code == 200
    assert first.json()["public_id"] == second.json()["public_id"]
    lead = Lead.objects.get()
    assert lead.phone == "+491701234567" and lead.attributes["interessen"] == ["kauf", "miete"]


def test_an_idempotency_key_makes_a_retried_submission_a_no_op(client, capture_key):
    _key, secret = capture_key
    data = {"email": "dora@example.de", "consent": True, "consent_version": "v1"}
    first = post(client, secret, data, HTTP_IDEMPOTENCY_KEY="form-42")
    again = post(client, secret, data, HTTP_IDEMPOTENCY_KEY="form-42")
    assert first.json() == again.json()
    assert ConsentRecord.objects.count() == 1


def test_a_partner_organizations_key_captures_into_its_own_tenant(client):
    org = OrganizationFactory()
    _key, secret = api_key_create(organization=org, name="Partner site", scopes=["capture"], actor=None)
    response = post(client, secret, {"email": "eva@example.de"})
    assert Lead.objects.get(public_id=response.json()["public_id"]).tenant == org


@pytest.mark.parametrize(
    ("secret", "status", "code"),
    [
        (None, 401, "not_authenticated"),
        ("lp_deadbeef_not-a-real-key", 401, "authentication_failed"),
    ],
)
def test_capture_requires_an_api_key(client, capture_key, secret, status, code):
    response = post(client, secret, {"email": "x@example.de"})
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert not Lead.objects.exists()


def test_capture_requires_the_capture_scope_and_a_usable_key(client, platform_org, capture_key):
    _other, tracking = api_key_create(organization=platform_org, name="Tracking", scopes=["activities"], actor=None)
    assert post(client, tracking, {"email": "x@example.de"}).status_code == 403
    key, secret = capture_key
    api_key_revoke(api_key=key, actor=None)
    assert post(client, secret, {"email": "x@example.de"}).status_code == 401
    assert not Lead.objects.exists()


def test_validation_errors_use_the_error_shape_with_field_details(client, capture_key):
    _key, secret = capture_key
    missing = post(client, secret, {"first_name": "Anna"})
    assert missing.status_code == 400
    error = missing.json()["error"]
    assert error["code"] == "validation_error" and set(error["fields"]) == {"email", "phone"}

    invalid = post(client, secret, {"email": "anna(at)example", "phone": "12"})
    assert set(invalid.json()["error"]["fields"]) == {"email", "phone"}

    no_version = post(client, secret, {"email": "anna@example.de", "consent": True})
    assert no_version.status_code == 400 and list(no_version.json()["error"]["fields"]) == ["consent_version"]

    too_long = post(client, secret, {"email": "anna@example.de", "postcode": "1" * 40})
    assert "postcode" in too_long.json()["error"]["fields"]
    assert not Lead.objects.exists()


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ("{kein json", "parse_error"),
        ('["anna@example.de"]', "validation_error"),
        ('"anna@example.de"', "validation_error"),
    ],
)
def test_a_json_body_that_is_not_an_object_is_a_400_not_a_crash(client, capture_key, body, code):
    _key, secret = capture_key
    response = client.post(URL, body, content_type="application/json", HTTP_X_API_KEY=secret)
    assert response.status_code == 400 and response.json()["error"]["code"] == code
    assert not Lead.objects.exists()


def test_unsupported_content_type_and_oversized_bodies_are_refused(client, capture_key):
    _key, secret = capture_key
    xml = client.post(URL, "<lead/>", content_type="application/xml", HTTP_X_API_KEY=secret)
    assert xml.status_code == 415 and xml.json()["error"]["code"] == "unsupported_media_type"
    huge = post(client, secret, {"email": "anna@example.de", "notes": "x" * 70_000})
    assert huge.status_code == 413 and huge.json()["error"]["code"] == "payload_too_large"


def test_cors_preflight_is_allowed_for_origins_on_a_capture_key_and_the_post_for_the_keys_own(
    client, platform_org, capture_key
):
    _key, secret = capture_key
    api_key_create(
        organization=platform_org,
        name="Other site",
        scopes=["capture"],
        actor=None,
        allowed_origins=["https://other.example"],
    )
    # The preflight carries no key: allowed for any origin listed on a usable capture key.
    preflight = client.options(
        URL,
        HTTP_ORIGIN=SITE,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="x-api-key",
    )
    assert preflight.status_code == 204
    assert preflight["Access-Control-Allow-Origin"] == SITE
    assert "X-Api-Key" in preflight["Access-Control-Allow-Headers"]
    assert "POST" in preflight["Access-Control-Allow-Methods"]
    unknown = client.options(URL, HTTP_ORIGIN="https://evil.example", HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST")
    assert unknown.status_code == 403 and not unknown.has_header("Access-Control-Allow-Origin")

    # The POST is checked against the key's own origins.
    allowed = post(client, secret, {"email": "f@example.de"}, HTTP_ORIGIN=SITE)
    assert allowed.status_code == 200 and allowed["Access-Control-Allow-Origin"] == SITE
    assert "Origin" in allowed["Vary"]
    foreign = post(client, secret, {"email": "g@example.de"}, HTTP_ORIGIN="https://other.example")
    assert foreign.status_code == 403 and foreign.json()["error"]["code"] == "origin_not_allowed"
    assert not foreign.has_header("Access-Control-Allow-Origin")
    assert Lead.objects.count() == 1
    # Server-to-server calls send no Origin: CORS does not apply.
    assert post(client, secret, {"email": "h@example.de"}).status_code == 200


def test_a_revoked_keys_origins_get_no_preflight(client, capture_key):
    key, _secret = capture_key
    api_key_revoke(api_key=key, actor=None)
    assert client.options(URL, HTTP_ORIGIN=SITE, HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST").status_code == 403


def test_rate_limit_per_client_ip_answers_429_with_retry_after(client, capture_key, settings):
    settings.WEBHOOK_RATE_LIMIT = "2/m"
    _key, secret = capture_key
    statuses = [post(client, secret, {"email": f"r{n}@example.de"}).status_code for n in range(3)]
    assert statuses == [200, 200, 429]
    limited = post(client, secret, {"email": "r9@example.de"}, HTTP_ORIGIN=SITE)
    assert limited.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(limited["Retry-After"]) <= 60
    # The page may read the refusal (its site is on a capture key).
    assert limited["Access-Control-Allow-Origin"] == SITE
    # Another visitor has its own budget.
    assert post(client, secret, {"email": "s@example.de"}, REMOTE_ADDR="198.51.100.4").status_code == 200
    assert Lead.objects.count() == 3


def test_capture_is_documented_in_the_openapi_schema(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").content.decode()
    assert "API-580_capture" in schema and "/api/capture/" in schema
    assert "CaptureInput" in schema and "application/x-www-form-urlencoded" in schema


def test_the_readme_form_snippet_posts_fields_the_api_accepts(client, capture_key):
    """The copy-paste form in the README must keep working: its field names, honeypot and consent."""
    from html.parser import HTMLParser
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    snippet = re.search(r"```html\n(.*?)```", readme, flags=re.S).group(1)

    class Fields(HTMLParser):
        names: list[str] = []

        def handle_starttag(self, tag, attrs):
            attrs = dict(attrs)
            if tag in ("input", "select") and attrs.get("name"):
                self.names.append(attrs["name"])

    parser = Fields()
    parser.feed(snippet)
    assert {"email", "fax", "consent", "consent_version"} <= set(parser.names)
    assert "YOUR-CAPTURE-KEY" in snippet and '"X-Api-Key"' in snippet and "/api/capture/" in snippet
    values = {"full_name": "Clara Weiß", "email": "clara@example.de", "phone": "0151 23456789", "fax": ""}
    form = {name: values.get(name, "true" if name == "consent" else "x") for name in parser.names}
    form.update(interest_type="buy", consent_version="2026-01", consent_text="Ich möchte Informationen erhalten.")
    form.update(landing_page=SITE + "/", referrer="")
    _key, secret = capture_key
    # when
    response = client.post(
        URL, urlencode(form), content_type="application/x-www-form-urlencoded", HTTP_X_API_KEY=secret
    )
    # then
    assert response.status_code == 200, response.content
    lead = Lead.objects.get(public_id=response.json()["public_id"])
    assert (lead.first_name, lead.interest_type, lead.consent_marketing) == ("Clara", "buy", True)
    assert ConsentRecord.objects.filter(subject_lead=lead, version="2026-01").exists()
