"""Pool API (API-550–553) for admins/ops and the partner inbox (API-510–512)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import PartnerProfile, User
from compliance.models import ConsentRecord
from leads.models import Lead, LeadAssignment
from leads.services import offer_accept, offer_create, offer_reject
from tests.accounts.factories import PartnerFactory
from tests.leads.factories import LeadFactory

pytestmark = pytest.mark.django_db

POOL = "/api/admin/leads/pool/"


def _partner(capacity: int = 25) -> User:
    partner = PartnerFactory()
    PartnerProfile.objects.filter(user=partner).update(capacity=capacity)
    return partner


def _offer(lead: Lead, partner: User, actor: User, **changes) -> LeadAssignment:
    offer = offer_create(lead=lead, partner=partner, actor=actor)
    if changes:
        LeadAssignment.objects.filter(pk=offer.pk).update(**changes)
        offer.refresh_from_db()
    return offer


# --- API-550 ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("role", "status"), [("sales_partner", 403), ("team_leader", 403), (None, 401)])
def test_pool_is_for_admins_and_ops_only(api_client, role, status):
    if role:
        api_client.force_authenticate(PartnerFactory(role=role))
    response = api_client.get(POOL)
    assert response.status_code == status
    assert set(response.json()["error"]) >= {"code", "message"}


def test_pool_lists_pool_leads_with_contact_data_and_offer(api_client, ops_user, admin_user):
    # given: one pool lead with an open offer, one accepted by a partner, one merged away
    partner = _partner()
    offered = LeadFactory(email="offen@beispiel.de")
    offer = _offer(offered, partner, admin_user)
    taken = LeadFactory()
    offer_accept(offer=_offer(taken, partner, admin_user), actor=partner)
    survivor = LeadFactory()
    LeadFactory(merged_into=survivor)
    api_client.force_authenticate(ops_user)

    # when
    body = api_client.get(POOL).json()

    # then
    ids = [row["id"] for row in body["results"]]
    assert ids == [str(survivor.pk), str(offered.pk)]  # newest first; accepted and merged leads are not in the pool
    row = body["results"][1]
    assert row["email"] == "offen@beispiel.de" and row["public_id"] == offered.public_id
    assert row["offer_status"] == "offered"
    assert row["open_offer"]["partner"] == {"id": partner.pk, "email": partner.email}
    assert row["open_offer"]["id"] == offer.pk
    assert {"p_score", "i_score", "e_score", "stage", "assigned_partner", "is_test", "created_at"} <= row.keys()
    assert body["next"] is None


@pytest.fixture
def filter_leads(admin_user):
    now = timezone.now()
    partner = _partner()
    leads = {
        "burning_fb": LeadFactory(score=90, stage="burning", channel="facebook", last_activity_at=now),
        "warm_li": LeadFactory(
            score=45, stage="warm", channel="linkedin", source="referral", last_activity_at=now - timedelta(days=5)
        ),
        "cold_old": LeadFactory(score=10, stage="cold", last_activity_at=now - timedelta(days=20), is_test=True),
        "hot_quiet": LeadFactory(score=70, stage="hot", last_activity_at=now - timedelta(days=10)),
    }
    _offer(leads["hot_quiet"], partner, admin_user)
    offer_reject(offer=_offer(leads["warm_li"], partner, admin_user), actor=partner, reason="nein")
    return leads, partner


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"stage": "burning"}, {"burning_fb"}),
        ({"score_band": "31-60"}, {"warm_li"}),
        ({"score_band": "61-80"}, {"hot_quiet"}),
        ({"channel": "linkedin"}, {"warm_li"}),
        ({"source": "referral"}, {"warm_li"}),
        ({"activity": "0-3"}, {"burning_fb"}),
        ({"activity": "4-7"}, {"warm_li"}),
        ({"activity": "8-14"}, {"hot_quiet"}),
        ({"activity": "15+"}, {"cold_old"}),
        ({"offer_status": "offered"}, {"hot_quiet"}),
        ({"offer_status": "rejected"}, {"warm_li"}),
        ({"offer_status": "none"}, {"burning_fb", "cold_old"}),
        ({"is_test": "true"}, {"cold_old"}),
        ({"stage": "warm", "channel": "facebook"}, set()),
    ],
)
def test_pool_filters_match_the_admin(api_client, admin_user, filter_leads, params, expected):
    leads, _partner_user = filter_leads
    api_client.force_authenticate(admin_user)
    response = api_client.get(POOL, params)
    assert response.status_code == 200, response.json()
    names = {name for name, lead in leads.items() if str(lead.pk) in {r["id"] for r in response.json()["results"]}}
    assert names == expected


def test_pool_filters_by_partner_with_open_offer_and_exact_search(api_client, admin_user, filter_leads):
    leads, partner = filter_leads
    api_client.force_authenticate(admin_user)
    rows = api_client.get(POOL, {"partner": partner.pk}).json()["results"]
    assert [r["id"] for r in rows] == [str(leads["hot_quiet"].pk)]
    email = leads["warm_li"].email
    rows = api_client.get(POOL, {"q": email.upper()}).json()["results"]
    assert [r["id"] for r in rows] == [str(leads["warm_li"].pk)]
    assert api_client.get(POOL, {"q": email.split("@")[0]}).json()["results"] == []  # no partial matches
    rows = api_client.get(POOL, {"q": leads["cold_old"].public_id.lower()}).json()["results"]
    assert [r["id"] for r in rows] == [str(leads["cold_old"].pk)]


def test_pool_rejects_unknown_filter_values_with_the_error_shape(api_client, admin_user):
    api_client.force_authenticate(admin_user)
    response = api_client.get(POOL, {"stage": "lukewarm"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error" and "stage" in response.json()["error"]["fields"]
    for params in ({"cursor": "not-a-cursor"}, {"ordering": "name"}, {"page_size": "x"}):
        assert api_client.get(POOL, params).status_code == 400


@pytest.mark.parametrize("ordering", ["-created_at", "created_at", "-score", "score"])
def test_pool_keyset_pagination_walks_every_lead_once(api_client, admin_user, ordering):
    # given: ties on score and on created_at, which the id must break
    stamp = timezone.now() - timedelta(hours=1)
    leads = [LeadFactory(score=score) for score in (50, 50, 50, 80, 10, 80, 50)]
    Lead.objects.filter(pk__in=[leads[0].pk, leads[1].pk]).update(created_at=stamp)
    api_client.force_authenticate(admin_user)

    # when: walk the pages of three
    seen, url, pages = [], POOL, 0
    params = {"ordering": ordering, "page_size": 3}
    while url:
        body = api_client.get(url, params if url == POOL else None).json()
        seen += [r["id"] for r in body["results"]]
        url, pages = body["next"], pages + 1

    # then
    key = {
        "-created_at": lambda x: (x.created_at, str(x.pk)),
        "created_at": lambda x: (x.created_at, str(x.pk)),
        "-score": lambda x: (x.score, x.created_at, str(x.pk)),
        "score": lambda x: (x.score, x.created_at, str(x.pk)),
    }[ordering]
    fresh = sorted(Lead.objects.filter(pk__in=[lead.pk for lead in leads]), key=key, reverse=ordering.startswith("-"))
    assert seen == [str(lead.pk) for lead in fresh]
    assert pages == 3


def test_pool_list_query_count_is_constant(api_client, admin_user, django_assert_max_num_queries):
    api_client.force_authenticate(admin_user)
    partner = _partner(capacity=100)
    api_client.get(POOL)  # warm the cached platform organization
    counts = []
    for n in (3, 30):
        for _ in range(n):
            _offer(LeadFactory(), partner, admin_user)
        # at most: platform organization (cached), one page of leads, one prefetch of their offers
        with django_assert_max_num_queries(3) as ctx:
            response = api_client.get(POOL, {"page_size": 50})
        assert response.status_code == 200 and len(response.json()["results"]) == 3 + 30 * (n == 30)
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1]


def test_pool_paths_work_with_and_without_trailing_slash(api_client, admin_user):
    lead = LeadFactory()
    partner = _partner()
    api_client.force_authenticate(admin_user)
    assert api_client.get(POOL.rstrip("/")).status_code == 200
    assert api_client.get(f"{POOL}stats").status_code == 200
    assert api_client.get(f"{POOL}stats/").status_code == 200
    assert api_client.post(f"{POOL}{lead.pk}/assign", {"partner": partner.pk}, format="json").status_code == 201
    assert api_client.post(f"{POOL}{lead.pk}/reject", {"reason": "Spam"}, format="json").status_code == 200


# --- API-551 / 552 ----------------------------------------------------------------------------


def test_assign_by_partner_id_or_email_creates_an_offer(api_client, ops_user):
    partner = _partner()
    first, second = LeadFactory(), LeadFactory()
    api_client.force_authenticate(ops_user)
    response = api_client.post(f"{POOL}{first.pk}/assign/", {"partner": partner.pk}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "offered" and body["partner"]["email"] == partner.email and body["automatic"] is False
    response = api_client.post(f"{POOL}{second.pk}/assign/", {"partner": partner.email.upper()}, format="json")
    assert response.status_code == 201
    assert LeadAssignment.objects.filter(partner=partner, offered_by=ops_user).count() == 2


def test_assign_errors_use_the_error_shape(api_client, admin_user):
    partner, other = _partner(), _partner(capacity=0)
    lead = LeadFactory()
    api_client.force_authenticate(admin_user)
    response = api_client.post(f"{POOL}{lead.pk}/assign/", {"partner": "nobody@example.org"}, format="json")
    assert response.status_code == 400 and response.json()["error"]["fields"]["partner"]
    response = api_client.post(f"{POOL}{lead.pk}/assign/", {"partner": admin_user.pk}, format="json")
    assert response.status_code == 400  # not a partner
    response = api_client.post(f"{POOL}{lead.pk}/assign/", {"partner": other.pk}, format="json")
    assert response.status_code == 409 and response.json()["error"]["code"] == "partner_capacity_full"
    assert api_client.post(f"{POOL}{lead.pk}/assign/", {"partner": partner.pk}, format="json").status_code == 201
    response = api_client.post(f"{POOL}{lead.pk}/assign/", {"partner": partner.pk}, format="json")
    assert response.status_code == 409 and response.json()["error"]["code"] == "offer_open"
    missing = "00000000-0000-0000-0000-000000000000"
    assert api_client.post(f"{POOL}{missing}/assign/", {"partner": partner.pk}, format="json").status_code == 404


def test_reject_marks_a_pool_lead_lost(api_client, admin_user):
    lead = LeadFactory()
    api_client.force_authenticate(admin_user)
    assert api_client.post(f"{POOL}{lead.pk}/reject/", {}, format="json").status_code == 400
    response = api_client.post(f"{POOL}{lead.pk}/reject/", {"reason": "Spam"}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "lost"
    lead.refresh_from_db()
    assert lead.lost_reason == "Spam"
    assert str(lead.pk) not in {r["id"] for r in api_client.get(POOL, {"status": "new"}).json()["results"]}


# --- API-553 ----------------------------------------------------------------------------------


def test_stats_figures(api_client, admin_user, platform_org):
    # given: three pool leads today (two channels), one two days ago, one partner lead that never was in the pool
    now = timezone.now()
    today = timezone.localdate()
    a, b = _partner(), _partner()
    l1, l2 = LeadFactory(channel="facebook", score=90, stage="burning"), LeadFactory(channel="facebook")
    l3 = LeadFactory(channel="website")
    old = LeadFactory(channel="linkedin")
    Lead.objects.filter(pk=old.pk).update(created_at=now - timedelta(days=2))
    LeadFactory(tenant=a.organization, assigned_partner=a, source="meta_self", channel="facebook")
    LeadFactory(channel="website", is_test=True)
    # offers: a accepts two (after 2 h and 4 h), b rejects one, one to a expires
    for lead, hours in ((l1, 2), (l2, 4)):
        offer = _offer(lead, a, admin_user)
        offer_accept(offer=offer, actor=a)
        LeadAssignment.objects.filter(pk=offer.pk).update(responded_at=offer.offered_at + timedelta(hours=hours))
    offer_reject(offer=_offer(l3, b, admin_user), actor=b, reason="nein")
    _offer(old, a, admin_user, status="expired", responded_at=now)
    api_client.force_authenticate(admin_user)

    # when
    body = api_client.get(f"{POOL}stats/", {"from": (today - timedelta(days=6)).isoformat(), "to": today}).json()

    # then
    assert body["range"] == {"from": (today - timedelta(days=6)).isoformat(), "to": today.isoformat()}
    volume = {c["channel"]: c for c in body["volume"]["channels"]}
    assert volume["facebook"]["total"] == 2 and volume["facebook"]["counts"][-1] == 2  # accepted pool leads count
    assert volume["linkedin"]["counts"][-3] == 1 and body["volume"]["total"] == 4
    assert len(body["volume"]["days"]) == 7
    assert body["pool"]["size"] == 2  # l3 (rejected, back in pool) and old; accepted and test leads are not waiting
    ages = {row["bucket"]: row["count"] for row in body["pool_age"]}
    assert ages["0-1"] == 1 and ages["2-3"] == 1
    stages = {row["stage"]: row["count"] for row in body["stages"]}
    assert stages == {"cold": 2, "warm": 0, "hot": 0, "burning": 0}
    partners = {p["partner_id"]: p for p in body["offers"]["partners"]}
    assert partners[a.pk]["accepted"] == 2 and partners[a.pk]["expired"] == 1
    assert partners[a.pk]["acceptance_rate"] == pytest.approx(2 / 3, abs=1e-4)
    assert partners[a.pk]["median_hours_to_accept"] == 3.0
    assert partners[b.pk]["rejected"] == 1 and partners[b.pk]["acceptance_rate"] == 0
    assert partners[b.pk]["median_hours_to_accept"] is None
    assert body["offers"]["totals"]["offers"] == 4 and body["offers"]["totals"]["acceptance_rate"] == 0.5
    assert body["expiries"]["total"] == 1 and body["expiries"]["counts"][-1] == 1


def test_stats_validates_dates(api_client, admin_user):
    api_client.force_authenticate(admin_user)
    response = api_client.get(f"{POOL}stats/", {"from": "gestern"})
    assert response.status_code == 400 and response.json()["error"]["code"] == "validation_error"
    body = api_client.get(f"{POOL}stats/", {"from": "2020-01-01"}).json()
    assert len(body["volume"]["days"]) == 366  # clamped to a year


# --- API-510–512 ------------------------------------------------------------------------------

INBOX = "/api/leads/inbox/"


def test_inbox_shows_my_open_offers_without_contact_data(api_client, admin_user, django_assert_num_queries):
    me, other = _partner(), _partner()
    mine = LeadFactory(company_name="Muster GmbH", email="geheim@beispiel.de")
    offer = _offer(mine, me, admin_user)
    _offer(LeadFactory(), other, admin_user)
    _offer(LeadFactory(), me, admin_user, expires_at=timezone.now() - timedelta(minutes=1))  # overdue: hidden
    api_client.force_authenticate(me)
    with django_assert_num_queries(2):  # count + page
        body = api_client.get(INBOX).json()
    assert [r["id"] for r in body["results"]] == [offer.pk]
    lead = body["results"][0]["lead"]
    assert lead["public_id"] == mine.public_id and lead["company_name"] == "Muster GmbH"
    assert not {"email", "phone", "first_name", "last_name"} & lead.keys()
    assert "geheim" not in str(body)
    assert api_client.get(INBOX.rstrip("/")).status_code == 200


def test_inbox_is_for_partners_only(api_client, admin_user):
    api_client.force_authenticate(admin_user)
    assert api_client.get(INBOX).status_code == 403


def test_accept_via_api_moves_the_lead_and_is_idempotent(api_client, admin_user):
    me = _partner()
    lead = LeadFactory(email="kunde@beispiel.de")
    _offer(lead, me, admin_user)
    api_client.force_authenticate(me)
    response = api_client.post(f"{INBOX}{lead.pk}/accept/")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["offer"]["status"] == "accepted"
    assert body["lead"]["email"] == "kunde@beispiel.de" and body["lead"]["assigned_partner"] == me.pk
    again = api_client.post(f"{INBOX}{lead.pk}/accept")
    assert again.status_code == 200 and again.json()["offer"]["id"] == body["offer"]["id"]
    assert ConsentRecord.objects.filter(subject_lead=lead).count() == 1
    assert api_client.get(INBOX).json()["results"] == []


def test_a_partner_gets_404_for_anything_not_theirs(api_client, admin_user):
    me, other = _partner(), _partner()
    theirs = LeadFactory()
    _offer(theirs, other, admin_user)
    never_offered = LeadFactory()
    api_client.force_authenticate(me)
    for lead in (theirs, never_offered):
        for action, data in (("accept", {}), ("reject", {"reason": "x"})):
            response = api_client.post(f"{INBOX}{lead.pk}/{action}/", data, format="json")
            assert response.status_code == 404, (action, response.json())
            assert response.json()["error"]["code"] == "not_found"
    assert api_client.post(f"{INBOX}not-a-uuid/accept/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.assigned_partner_id is None


def test_reject_via_api_needs_a_reason_and_frees_the_lead(api_client, admin_user):
    me = _partner()
    lead = LeadFactory()
    _offer(lead, me, admin_user)
    api_client.force_authenticate(me)
    assert api_client.post(f"{INBOX}{lead.pk}/reject/", {}, format="json").status_code == 400
    response = api_client.post(f"{INBOX}{lead.pk}/reject/", {"reason": "Keine Kapazität"}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "rejected"
    response = api_client.post(f"{INBOX}{lead.pk}/accept/")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


def _old_offer_then_b_accepts(admin_user, how: str) -> tuple[User, User, Lead]:
    """Partner A's offer ends (rejected, run out before the sweeper, or expired); then partner B accepts the lead."""
    a, b = _partner(), _partner()
    lead = LeadFactory(company_name="Geheim GmbH", email="kunde@beispiel.de", score=77)
    offer = _offer(lead, a, admin_user)
    if how == "rejected":
        offer_reject(offer=offer, actor=a, reason="nein")
    else:
        LeadAssignment.objects.filter(pk=offer.pk).update(
            expires_at=timezone.now() - timedelta(seconds=1), **({"status": "expired"} if how == "expired" else {})
        )
        if how == "overdue":
            return a, b, lead  # not swept yet: nobody else can be offered it
        offer = LeadAssignment.objects.get(pk=offer.pk)
    offer_accept(offer=_offer(lead, b, admin_user), actor=b)
    return a, b, lead


@pytest.mark.parametrize("how", ["rejected", "overdue", "expired"])
def test_an_old_offer_says_nothing_about_the_lead(api_client, admin_user, how):
    a, b, lead = _old_offer_then_b_accepts(admin_user, how)
    api_client.force_authenticate(a)
    for action, data in (("reject", {"reason": "nochmal"}), ("accept", {}), ("reject", {})):
        response = api_client.post(f"{INBOX}{lead.pk}/{action}/", data, format="json")
        assert response.status_code == 404, (action, response.json())
        assert response.json()["error"]["code"] == "not_found"
        body = response.content.decode()
        assert lead.public_id not in body and "Geheim" not in body and "kunde@" not in body and "77" not in body
    assert api_client.get(INBOX).json()["results"] == []
    lead.refresh_from_db()
    assert lead.assigned_partner_id == (None if how == "overdue" else b.pk)


def test_the_partner_who_accepted_keeps_an_idempotent_accept_and_cannot_reject(api_client, admin_user):
    _, b, lead = _old_offer_then_b_accepts(admin_user, "rejected")
    api_client.force_authenticate(b)
    response = api_client.post(f"{INBOX}{lead.pk}/accept/")
    assert response.status_code == 200 and response.json()["lead"]["assigned_partner"] == b.pk
    response = api_client.post(f"{INBOX}{lead.pk}/reject/", {"reason": "doch nicht"}, format="json")
    assert response.status_code == 409 and response.json()["error"]["code"] == "offer_not_open"


def test_every_operation_names_its_api_id_in_the_schema(api_client, admin_user):
    api_client.force_authenticate(admin_user)
    schema = api_client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    summaries = {
        (path, method): op.get("summary", "")
        for path, item in schema["paths"].items()
        for method, op in item.items()
        if isinstance(op, dict)
    }
    expected = {
        ("/api/admin/leads/pool/", "get"): "API-550",
        ("/api/admin/leads/pool/{lead_id}/assign/", "post"): "API-551",
        ("/api/admin/leads/pool/{lead_id}/reject/", "post"): "API-552",
        ("/api/admin/leads/pool/stats/", "get"): "API-553",
        ("/api/leads/inbox/", "get"): "API-510",
        ("/api/leads/inbox/{lead_id}/accept/", "post"): "API-511",
        ("/api/leads/inbox/{lead_id}/reject/", "post"): "API-512",
    }
    for key, api_id in expected.items():
        assert summaries.get(key, "").startswith(api_id), (key, sorted(summaries))


def test_stats_warm_task_refreshes_the_cached_default_range(platform_org, django_assert_max_num_queries):
    from leads.selectors.pool import pool_stats
    from leads.tasks import pool_stats_warm_task

    pool_stats_warm_task.delay()
    with django_assert_max_num_queries(0):
        cached = pool_stats()
    assert "generated_at" in cached
