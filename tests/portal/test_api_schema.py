"""Schemathesis against /api/schema/ as an authenticated partner: no 5xx, nothing that contradicts the schema.

Bounded and derandomized so it stays fast and repeatable in CI. Half of the generated calls aim at
the partner's real lead and deal (so the 2xx answers are checked too), the other half at random ids.
"""

from __future__ import annotations

import itertools

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from rest_framework_simplejwt.tokens import RefreshToken
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from leads.services import lead_contact_log
from tests.accounts.factories import PartnerFactory
from tests.deals.factories import deal_for, own_lead

#: The partner lead, deal and report operations of this feature (API-500–505, 520–525, 530, 531).
PARTNER_OPERATIONS = r"^API-5(0[0-5]|2[0-5]|3[01])_"
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


_SCHEMAS: dict[str, object] = {}


def _schema(app):
    if "partner" not in _SCHEMAS:
        _SCHEMAS["partner"] = schemathesis.openapi.from_wsgi("/api/schema/", app).include(
            operation_id_regex=PARTNER_OPERATIONS
        )
    return _SCHEMAS["partner"]


@pytest.fixture
def partner_world(db, platform_org):
    partner = PartnerFactory()
    lead = own_lead(partner, company_name="Schema GmbH")
    lead_contact_log(lead=lead, actor=partner, channel="phone", outcome="reached")
    deal = deal_for(partner, stage="proposal")
    token = str(RefreshToken.for_user(partner).access_token)
    return {"token": token, "lead": lead.public_id, "deal": str(deal.pk), "turn": itertools.count()}


OPERATION_IDS = [
    "API-500_lead_list",
    "API-501_lead_detail",
    "API-502_lead_qualify",
    "API-503_lead_convert",
    "API-504_lead_contact",
    "API-505_lead_create",
    "API-520_deal_list",
    "API-521_deal_create",
    "API-522_deal_detail",
    "API-523_deal_move_stage",
    "API-524_deal_win",
    "API-525_deal_lose",
    "API-530_report_conversion",
    "API-531_report_sources",
]


def test_every_partner_operation_is_named_with_its_api_id(wsgi_app):
    found = sorted(op.ok().definition.raw["operationId"] for op in _schema(wsgi_app).get_all_operations())
    assert found == sorted(OPERATION_IDS)


@pytest.mark.parametrize("operation_id", OPERATION_IDS)
def test_partner_api_conforms_to_its_schema(operation_id, wsgi_app, partner_world):
    operation = _schema(wsgi_app).find_operation_by_id(operation_id)
    headers = {"Authorization": f"Bearer {partner_world['token']}"}

    @settings(max_examples=15, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy())
    def run(case):
        params = case.path_parameters or {}
        if next(partner_world["turn"]) % 2 == 0:
            if "lead_id" in params:
                params["lead_id"] = partner_world["lead"]
            if "deal_id" in params:
                params["deal_id"] = partner_world["deal"]
        response = case.call(headers=headers)
        case.validate_response(response, checks=CHECKS)

    run()
