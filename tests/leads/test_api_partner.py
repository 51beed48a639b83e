"""Partner lead API: the list (API-500) with its filters, search, ordering and constant queries."""

from __future__ import annotations

import pytest

from leads.models import Lead
from leads.services import lead_contact_log
from tests.accounts.factories import PartnerFactory
from tests.deals.factories import accepted_pool_lead, own_lead

pytestmark = pytest.mark.django_db

SPEC_FIELDS = {
    "id", "public_id", "channel", "source", "status", "stage", "score", "p_score", "i_score", "e_score", "email",
    "phone", "first_name", "last_name", "company_name", "job_title", "interest_type", "assigned_partner", "is_test",
    "created_at", "updated_at", "score_breakdown",
}  # fmt: skip


def test_list_shows_own_and_accepted_leads_with_the_spec_fields(api_client, partner_user):
    mine = own_lead(partner_user, company_name="Eigen AG")
    accepted = accepted_pool_lead(partner_user)
    own_lead(PartnerFactory())  # another partner's
    api_client.force_authenticate(partner_user)

    body = api_client.get("/api/leads").json()

    assert body["count"] == 2
    assert {row["id"] for row in body["results"]} == {str(mine.pk), str(accepted.pk)}
    assert set(body["results"][0]) >= SPEC_FIELDS


def test_list_filters_search_and_ordering(api_client, partner_user):
    hot = own_lead(partner_user, company_name="Heiß GmbH", channel="referral", source="referral")
    Lead.objects.filter(pk=hot.pk).update(score=75, stage="hot")
    cold = own_lead(partner_user, company_name="Kalt KG", email="kalt@kunde.de")
    lead_contact_log(lead=cold, actor=partner_user, channel="phone", outcome="reached")
    api_client.force_authenticate(partner_user)

    def ids(query):
        response = api_client.get("/api/leads/?" + query)
        assert response.status_code == 200, response.content
        return [row["id"] for row in response.json()["results"]]

    assert ids("stage=hot") == [str(hot.pk)]
    assert ids("status=contacted") == [str(cold.pk)]
    assert ids("channel=referral&source=referral") == [str(hot.pk)]
    assert ids("q=kalt@kunde.de") == [str(cold.pk)]
    assert ids("q=" + hot.public_id.lower()) == [str(hot.pk)]
    assert ids("q=heiß") == [str(hot.pk)]
    assert ids("ordering=-score")[0] == str(hot.pk)
    assert ids("ordering=-last_activity")[0] == str(cold.pk)
    assert api_client.get("/api/leads/?status=gewonnen").status_code == 400


@pytest.mark.parametrize("n", [3, 30])
def test_list_runs_in_constant_queries(api_client, partner_user, django_assert_num_queries, n):
    for _ in range(n):
        own_lead(partner_user)
    api_client.force_authenticate(partner_user)
    with django_assert_num_queries(2):  # count + page
        assert api_client.get("/api/leads/?page_size=50").json()["count"] == n
