"""Schemathesis on EVERY operation of /api/schema/: whatever it sends, the API never answers 5xx.

Each operation runs under the principal it is meant for (a partner with a JWT, staff for the pool and
merge operations, a capture API key for API-580, nobody for the token endpoints). Half of the calls aim
at real objects of that principal (so the deeper code paths run too), the other half at random ids.
Valid and schema-breaking input are mixed. Bounded (``MAX_EXAMPLES`` per operation) and derandomized so
it stays fast and repeatable in CI; the schema-conformance checks of the partner operations live in
tests/portal/test_api_schema.py.
"""

from __future__ import annotations

import itertools

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework_simplejwt.tokens import RefreshToken
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from accounts.models import ApiKey
from accounts.services import api_key_create
from leads.services import lead_contact_log, offer_create
from tests.accounts.factories import PartnerFactory, UserFactory
from tests.deals.factories import deal_for, own_lead
from tests.leads.factories import LeadFactory

MAX_EXAMPLES = 10  # 64 operations: about 650 requests in all

#: Who calls an operation; every other operation is a partner's.
STAFF_OPERATIONS = {
    "pool_list",
    "pool_lead_assign",
    "pool_lead_reject",
    "pool_stats",
    "API-507_lead_merge",
    "API-590_lead_export",
    "API-590_subject_export",
    "API-591_lead_erase",
    "API-591_subject_erase",
    "API-547_campaign_book",
}
API_KEY_OPERATIONS = {"API-580_capture"}
ANONYMOUS_OPERATIONS = {
    "auth_token_create",
    "auth_token_refresh_create",
    "API-592_unsubscribe",
    "API-592_unsubscribe_page",
}


_SCHEMA: dict[str, object] = {}


def _schema(app):
    if "all" not in _SCHEMA:
        _SCHEMA["all"] = schemathesis.openapi.from_wsgi("/api/schema/", app)
    return _SCHEMA["all"]


@pytest.fixture
def world(db, platform_org):
    partner = PartnerFactory()
    lead = own_lead(partner, company_name="Schema GmbH")
    lead_contact_log(lead=lead, actor=partner, channel="phone", outcome="reached")
    deal = deal_for(partner, stage="proposal")
    staff = UserFactory(role="platform_admin")
    offered = LeadFactory()
    offer_create(lead=offered, partner=partner, actor=staff)
    _key, raw_key = api_key_create(
        organization=platform_org, name="Schemathesis", scopes=[ApiKey.Scope.CAPTURE.value], actor=None
    )
    return {
        "partner": {"Authorization": f"Bearer {RefreshToken.for_user(partner).access_token}"},
        "staff": {"Authorization": f"Bearer {RefreshToken.for_user(staff).access_token}"},
        "api_key": {"X-Api-Key": raw_key},
        "anonymous": {},
        "lead": lead.public_id,
        "offered_pk": offered.pk,
        "partner_id": partner.pk,
        "deal": str(deal.pk),
        "turn": itertools.count(),
    }


def _principal(operation_id: str) -> str:
    if operation_id in STAFF_OPERATIONS:
        return "staff"
    if operation_id in API_KEY_OPERATIONS:
        return "api_key"
    if operation_id in ANONYMOUS_OPERATIONS:
        return "anonymous"
    return "partner"


def _real_lead(operation_id: str, world: dict) -> str | int:
    # The pool, the inbox and the data-subject API act on a pool lead (by primary key), the rest on the partner's own.
    return world["offered_pk"] if operation_id.startswith(("pool_", "inbox_", "API-59")) else world["lead"]


def test_every_operation_of_the_schema_is_covered(wsgi_app):
    found = sorted(op.ok().definition.raw["operationId"] for op in _schema(wsgi_app).get_all_operations())
    assert found == OPERATION_IDS
    assert set(found) >= STAFF_OPERATIONS | API_KEY_OPERATIONS | ANONYMOUS_OPERATIONS


OPERATION_IDS = [
    "API-500_lead_list",
    "API-501_lead_detail",
    "API-502_lead_qualify",
    "API-503_lead_convert",
    "API-504_lead_contact",
    "API-505_lead_create",
    "API-506_lead_activity_create",
    "API-507_lead_merge",
    "API-520_deal_list",
    "API-521_deal_create",
    "API-522_deal_detail",
    "API-523_deal_move_stage",
    "API-524_deal_win",
    "API-525_deal_lose",
    "API-530_report_conversion",
    "API-531_report_sources",
    "API-540_campaign_list",
    "API-541_campaign_create",
    "API-542_campaign_detail",
    "API-542_campaign_update",
    "API-543_campaign_pause",
    "API-544_campaign_resume",
    "API-545_campaign_stats",
    "API-546_campaign_submit",
    "API-547_campaign_book",
    "API-548_campaign_complete",
    "API-549_campaign_template_list",
    "API-560_followup_suggestions",
    "API-561_followup_batch_send",
    "API-562_followup_sequence_start",
    "API-563_followup_sequences",
    "API-564_followup_runs",
    "API-565_followup_run_stop",
    "API-566_followup_run_response",
    "API-567_reminder_list",
    "API-568_reminder_create",
    "API-569_reminder_snooze",
    "API-570_reminder_complete",
    "API-571_followup_should",
    "API-572_team_template_list",
    "API-573_team_template_publish",
    "API-574_team_template_clone",
    "API-575_team_template_push",
    "API-576_team_template_performance",
    "API-577_followup_message_templates",
    "API-578_followup_message_preview",
    "API-579_escalation_list",
    "API-580_capture",
    "API-590_lead_export",
    "API-590_subject_export",
    "API-591_lead_erase",
    "API-591_subject_erase",
    "API-592_unsubscribe",
    "API-592_unsubscribe_page",
    "auth_me",
    "auth_token_create",
    "auth_token_refresh_create",
    "inbox_accept",
    "inbox_list",
    "inbox_reject",
    "pool_lead_assign",
    "pool_lead_reject",
    "pool_list",
    "pool_stats",
]


@pytest.mark.parametrize("operation_id", OPERATION_IDS)
def test_no_operation_answers_a_server_error(operation_id, wsgi_app, world):
    operation = _schema(wsgi_app).find_operation_by_id(operation_id)
    headers = world[_principal(operation_id)]

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    # Valid input (deep paths) and input that breaks the schema (the edge's validation), mixed.
    @given(
        case=st.one_of(operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE))
    )
    def run(case):
        params = case.path_parameters or {}
        if next(world["turn"]) % 2 == 0:
            if "lead_id" in params:
                params["lead_id"] = _real_lead(operation_id, world)
            if "deal_id" in params:
                params["deal_id"] = world["deal"]
            if isinstance(case.body, dict) and "partner" in case.body:
                case.body["partner"] = str(world["partner_id"])
        response = case.call(headers=headers)
        case.validate_response(response, checks=[not_a_server_error])

    run()


def test_pool_assign_refuses_a_partner_id_of_non_ascii_digits(api_client, world):
    """Found by schemathesis: ``"²".isdigit()`` is true but ``int("²")`` fails, which was a 500."""
    api_client.credentials(HTTP_AUTHORIZATION=world["staff"]["Authorization"])
    response = api_client.post(f"/api/admin/leads/pool/{world['offered_pk']}/assign/", {"partner": "²"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
