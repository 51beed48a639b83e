"""API-590/591: platform admins export and erase data subjects; everyone else gets 404 (401 without credentials)."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.models import ApiKey
from accounts.services import api_key_create
from compliance import crypto, registry
from compliance.models import AuditEvent, ErasureTombstone, SubjectErasure
from compliance.registry import STANDARD_SECTIONS
from tests.accounts.factories import PartnerFactory, UserFactory
from tests.compliance.subjects_support import SubjectWorld, register_compliance, registry_swapped
from tests.leads.factories import LeadFactory

EMAIL = "erika.beispiel@beispiel.de"
UNKNOWN = "00000000-0000-4000-8000-000000000000"


@pytest.fixture
def world(db, platform_org):
    with registry_swapped():
        world = SubjectWorld()
        registry.register_subject_resolver(world.resolve)
        world.register("leads", section="leads", order=10, forgets_identities=True)
        world.register("deals", section="deals", order=20)
        register_compliance()
        yield world


@pytest.fixture
def lead(world):
    leads = [LeadFactory(email=EMAIL), LeadFactory(email=EMAIL)]
    world.add_person([item.pk for item in leads], email=EMAIL)
    return leads[0]


@pytest.fixture
def admin_client(db, api_client):
    admin = UserFactory(role="platform_admin")
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(admin).access_token}")
    api_client.user = admin
    return api_client


def _paths(lead_id: str) -> list[tuple[str, str, dict]]:
    return [
        ("get", f"/api/admin/leads/{lead_id}/export/", {}),
        ("get", f"/api/admin/data-subjects/export/?email={EMAIL}", {}),
        ("post", f"/api/admin/leads/{lead_id}/erase/", {"reason": "Art. 17"}),
        ("post", "/api/admin/data-subjects/erase/", {"email": EMAIL, "reason": "Art. 17"}),
    ]


def _call(client, method: str, path: str, body: dict):
    return client.get(path) if method == "get" else client.post(path, body, format="json")


# --- API-590 -----------------------------------------------------------------------------------


def test_admin_downloads_the_export_of_a_lead(admin_client, lead):
    response = admin_client.get(f"/api/admin/leads/{lead.pk}/export/")
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith('attachment; filename="subject-export-')
    assert response["Content-Disposition"].endswith('.json"')
    assert response["Cache-Control"] == "no-store"
    document = response.json()
    assert set(STANDARD_SECTIONS) <= set(document) and document["generated_at"]
    assert document["query"] == {"kind": "lead", "value": str(lead.pk)}
    assert len(document["leads"]) == 2 and {"section": "leads", "count": 2} in document["contents"]
    event = AuditEvent.objects.get(event_type="subject.exported")
    assert event.actor_id == admin_client.user.pk and crypto.decrypt(event.payload["reason_encrypted"]) == (
        "Auskunftsersuchen (Art. 15 DSGVO)"
    )


def test_export_by_email_or_phone(admin_client, lead):
    response = admin_client.get("/api/admin/data-subjects/export/", {"email": EMAIL.upper(), "reason": "Brief"})
    assert response.status_code == 200 and len(response.json()["deals"]) == 2
    assert crypto.decrypt(AuditEvent.objects.get(event_type="subject.exported").payload["reason_encrypted"]) == "Brief"
    nobody = admin_client.get("/api/admin/data-subjects/export/", {"phone": "+49 30 1234567"})
    assert nobody.status_code == 200
    assert all(nobody.json()[name] == [] for name in STANDARD_SECTIONS)


@pytest.mark.parametrize(
    ("params", "field"),
    [({}, "non_field_errors"), ({"email": EMAIL, "phone": "+4930123"}, "non_field_errors"), ({"email": "x"}, "email")],
)
def test_export_needs_exactly_one_valid_email_or_phone(admin_client, world, params, field):
    response = admin_client.get("/api/admin/data-subjects/export/", params)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error" and field in error["fields"]
    assert not AuditEvent.objects.filter(event_type="subject.exported").exists()


def test_unknown_lead_is_404_on_export_and_erase(admin_client, world):
    assert admin_client.get(f"/api/admin/leads/{UNKNOWN}/export/").status_code == 404
    response = admin_client.post(f"/api/admin/leads/{UNKNOWN}/erase/", {"reason": "x"}, format="json")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    assert not SubjectErasure.objects.exists()


# --- API-591 -----------------------------------------------------------------------------------


def test_admin_erases_a_lead_and_a_second_request_changes_nothing(admin_client, lead, world):
    response = admin_client.post(f"/api/admin/leads/{lead.pk}/erase", {"reason": "Löschantrag"}, format="json")
    assert response.status_code == 200
    body = response.json()
    erasure = SubjectErasure.objects.get()
    assert body == {
        "erasure_id": str(erasure.pk),
        "status": "completed",
        "already_erased": False,
        "leads": 2,
        "counts": {"leads": {"rows": 2}, "deals": {"rows": 2}, "compliance": {"consent_evidence": 0}},
    }
    assert erasure.reason == "Löschantrag" and erasure.requested_by == admin_client.user
    rows = (SubjectErasure.objects.count(), ErasureTombstone.objects.count(), AuditEvent.objects.count())

    again = admin_client.post("/api/admin/data-subjects/erase/", {"email": EMAIL, "reason": "nochmal"}, format="json")

    assert again.status_code == 200
    assert again.json() == {
        "erasure_id": str(erasure.pk),
        "status": "completed",
        "already_erased": True,
        "leads": 2,
        "counts": {},
    }
    assert (SubjectErasure.objects.count(), ErasureTombstone.objects.count(), AuditEvent.objects.count()) == rows


def test_erasing_an_email_that_matches_nobody_answers_not_found_status(admin_client, world):
    response = admin_client.post(
        "/api/admin/data-subjects/erase/", {"phone": "+49 30 1234567", "reason": "x"}, format="json"
    )
    assert response.status_code == 200
    expected = {"erasure_id": None, "status": "not_found", "already_erased": False, "leads": 0, "counts": {}}
    assert response.json() == expected


@pytest.mark.parametrize(
    "body",
    [
        {"email": EMAIL},
        {"email": EMAIL, "reason": "  "},
        {"reason": "x"},
        {"email": EMAIL, "phone": "1", "reason": "x"},
        {"email": "kein-at", "reason": "x"},
    ],
)
def test_erase_needs_a_reason_and_exactly_one_of_email_and_phone(admin_client, lead, body):
    response = admin_client.post("/api/admin/data-subjects/erase/", body, format="json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "validation_error"
    assert not SubjectErasure.objects.exists()


def test_erase_of_a_lead_needs_a_reason(admin_client, lead):
    response = admin_client.post(f"/api/admin/leads/{lead.pk}/erase/", {}, format="json")
    assert response.status_code == 400 and "reason" in response.json()["error"]["fields"]


# --- who may call them -------------------------------------------------------------------------


def _assert_hidden(client, lead) -> None:
    for method, path, body in _paths(str(lead.pk)):
        response = _call(client, method, path, body)
        assert response.status_code == 404, (path, response.status_code)
        assert response.json()["error"]["code"] == "not_found"
    assert not SubjectErasure.objects.exists()
    assert not AuditEvent.objects.filter(event_type__startswith="subject.").exists()


def test_a_partner_gets_404_on_every_endpoint(api_client, lead):
    partner = PartnerFactory()
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(partner).access_token}")
    _assert_hidden(api_client, lead)


def test_ops_staff_get_404_too(api_client, lead):
    api_client.force_authenticate(UserFactory(role="internal_ops"))
    _assert_hidden(api_client, lead)


def test_an_api_key_gets_404(api_client, lead, platform_org):
    _key, raw = api_key_create(
        organization=platform_org, name="Website", scopes=[ApiKey.Scope.CAPTURE.value], actor=None
    )
    api_client.credentials(HTTP_X_API_KEY=raw)
    _assert_hidden(api_client, lead)


def test_a_partner_session_gets_404(lead):
    client = Client(enforce_csrf_checks=False)
    client.force_login(PartnerFactory())
    for method, path, body in _paths(str(lead.pk)):
        response = client.get(path) if method == "get" else client.post(path, body, content_type="application/json")
        assert response.status_code == 404, path


def test_without_credentials_the_answer_is_401(api_client, lead):
    for method, path, body in _paths(str(lead.pk)):
        response = _call(api_client, method, path, body)
        assert response.status_code == 401, path
        assert response.json()["error"]["code"] == "not_authenticated"
    assert not SubjectErasure.objects.exists()


def test_the_endpoints_are_in_the_schema(admin_client, world):
    schema = admin_client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    operations = {operation["operationId"]: operation for methods in paths.values() for operation in methods.values()}
    expected = ("API-590_lead_export", "API-590_subject_export", "API-591_lead_erase", "API-591_subject_erase")
    for operation_id in expected:
        assert operation_id in operations
        assert operations[operation_id]["summary"].startswith(operation_id[:7])
    assert "/api/admin/leads/{lead_id}/export/" in paths and "/api/admin/data-subjects/erase/" in paths


# --- admin -------------------------------------------------------------------------------------


def test_the_admin_lists_erasures_and_tombstones_read_only_and_finds_them_by_email(admin_client, lead, world):
    admin_client.post(f"/api/admin/leads/{lead.pk}/erase/", {"reason": "Löschantrag von Erika"}, format="json")
    erasure = SubjectErasure.objects.get()
    client = Client()
    client.force_login(admin_client.user)

    listing = client.get("/admin/compliance/subjecterasure/")
    assert listing.status_code == 200 and "Löschantrag" not in listing.content.decode()
    found = client.get("/admin/compliance/subjecterasure/", {"q": str(lead.pk)})
    assert str(erasure.pk) in found.content.decode()
    detail = client.get(f"/admin/compliance/subjecterasure/{erasure.pk}/change/")
    page = detail.content.decode()
    assert detail.status_code == 200 and "Löschantrag von Erika" in page and "deals" in page
    assert 'name="_save"' not in page  # read-only
    tombstones = client.get("/admin/compliance/erasuretombstone/", {"q": f" {EMAIL.upper()} "})
    assert tombstones.status_code == 200 and tombstones.context["cl"].result_count == 1
    other = client.get("/admin/compliance/erasuretombstone/", {"q": "andere@beispiel.de"})
    assert other.context["cl"].result_count == 0
    assert client.get("/admin/compliance/subjecterasure/add/").status_code == 403
