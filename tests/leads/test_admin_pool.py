"""The pool console in Django Admin: changelist, filters, bulk actions, lead panels, statistics."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import PartnerProfile, User
from compliance.models import AuditEvent
from core.pagination import EstimatedCountPaginator
from leads.models import Lead, LeadActivity, LeadAssignment, LeadIntent, LeadMerge, LeadScoreHistory
from leads.services import lead_merge, offer_accept, offer_create
from tests.accounts.factories import PartnerFactory
from tests.leads.factories import LeadFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/leads/lead/"


def _partner(capacity: int = 25, name: str = "") -> User:
    partner = PartnerFactory()
    PartnerProfile.objects.filter(user=partner).update(capacity=capacity, display_name=name)
    return partner


def _action(client, action: str, leads, **extra):
    data = {"action": action, "_selected_action": [str(lead.pk) for lead in leads], "select_across": "0", **extra}
    if "apply" not in extra:
        data["index"] = "0"
    return client.post(CHANGELIST, data)


def _shown(response, leads: dict[str, Lead]) -> set[str]:
    page = response.content.decode()
    return {name for name, lead in leads.items() if lead.public_id in page}


@pytest.fixture
def staff_client(client, ops_user):
    client.force_login(ops_user)
    return client


# --- changelist -------------------------------------------------------------------------------


def test_changelist_columns_and_merged_leads_hidden(staff_client, admin_user):
    partner = _partner(name="Anna Berger")
    lead = LeadFactory(score=85, stage="burning", company_name="Muster GmbH", first_name="Erika", last_name="Muster")
    offer_create(lead=lead, partner=partner, actor=admin_user)
    merged = LeadFactory(merged_into=LeadFactory())
    page = staff_client.get(CHANGELIST).content.decode()
    assert 'class="lp-badge lp-stage-burning"' in page
    assert "Erika Muster" in page and "Muster GmbH" in page  # decrypted name
    assert "lp-offer-offered" in page and partner.email in page
    assert merged.public_id not in page
    assert "/admin/leads/lead/statistics/" in page
    assert 'name="q"' in page


@pytest.fixture
def filter_leads(admin_user):
    now = timezone.now()
    partner = _partner()
    leads = {
        "burning_fb": LeadFactory(score=90, stage="burning", channel="facebook", last_activity_at=now),
        "warm_li": LeadFactory(
            score=45, stage="warm", channel="linkedin", source="referral", last_activity_at=now - timedelta(days=5)
        ),
        "cold_test": LeadFactory(score=10, stage="cold", last_activity_at=now - timedelta(days=20), is_test=True),
        "hot_offered": LeadFactory(score=70, stage="hot", last_activity_at=now - timedelta(days=10)),
        "with_partner": LeadFactory(tenant=partner.organization, assigned_partner=partner, status="contacted"),
    }
    offer_create(lead=leads["hot_offered"], partner=_partner(), actor=admin_user)
    return leads, partner


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"stage": "warm"}, {"warm_li"}),
        ({"score_band": "81-100"}, {"burning_fb"}),
        ({"score_band": "61-80"}, {"hot_offered"}),
        ({"score_band": "31-60"}, {"warm_li"}),
        ({"score_band": "0-30", "scope": "pool"}, {"cold_test"}),
        ({"source": "referral"}, {"warm_li"}),
        ({"channel": "linkedin"}, {"warm_li"}),
        ({"status": "contacted"}, {"with_partner"}),
        ({"activity": "0-3", "scope": "pool"}, {"burning_fb"}),
        ({"activity": "4-7"}, {"warm_li"}),
        ({"activity": "8-14"}, {"hot_offered"}),
        ({"activity": "15+"}, {"cold_test"}),
        ({"offer_status": "offered"}, {"hot_offered"}),
        ({"test": "yes"}, {"cold_test"}),
        ({"scope": "partner"}, {"with_partner"}),
        ({"scope": "pool", "test": "no"}, {"burning_fb", "warm_li", "hot_offered"}),
    ],
)
def test_changelist_filters(staff_client, filter_leads, params, expected):
    leads, _partner_user = filter_leads
    response = staff_client.get(CHANGELIST, params)
    assert response.status_code == 200
    assert _shown(response, leads) == expected


def test_changelist_is_german_with_every_filter_and_the_search_help(staff_client):
    # No Accept-Language: the console speaks the platform's language (LANGUAGE_CODE = "de").
    page = staff_client.get(CHANGELIST).content.decode()
    for title in (
        "Stufe",
        "Score-Bereich",
        "Kanal",
        "Quelle",
        "Status",
        "Tage seit letzter Aktivität",
        "Zugewiesener Partner",
        "Angebotsstatus",
        "Testleads",
    ):
        assert f'data-filter-title="{title}"' in page, title
    assert "Exakte Suche nach E-Mail-Adresse, Telefonnummer oder öffentlicher ID" in page
    assert "verschlüsselt" in page  # the help text says why partial matches cannot work
    for action in ("Einem Partner anbieten", "Score neu berechnen", "Als CSV exportieren"):
        assert action in page, action


def test_changelist_partner_filter(staff_client, filter_leads):
    leads, partner = filter_leads
    assert _shown(staff_client.get(CHANGELIST, {"partner": partner.pk}), leads) == {"with_partner"}
    page = staff_client.get(CHANGELIST).content.decode()
    assert f"?partner={partner.pk}" in page


def test_changelist_exact_search_through_blind_index(staff_client):
    lead = LeadFactory(email="gesucht@beispiel.de", phone="+4915112345678")
    other = LeadFactory()
    leads = {"lead": lead, "other": other}
    assert _shown(staff_client.get(CHANGELIST, {"q": "Gesucht@Beispiel.de"}), leads) == {"lead"}
    assert _shown(staff_client.get(CHANGELIST, {"q": "0151 12345678"}), leads) == {"lead"}
    assert _shown(staff_client.get(CHANGELIST, {"q": lead.public_id}), leads) == {"lead"}
    assert _shown(staff_client.get(CHANGELIST, {"q": "gesucht"}), leads) == set()


def _queries(client, url, params=None) -> list[str]:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url, params or {}).status_code == 200
    return [q["sql"] for q in ctx.captured_queries]


@pytest.mark.parametrize("params", [{}, {"stage": "cold", "activity": "0-3", "offer_status": "offered"}])
def test_changelist_query_count_is_constant(staff_client, admin_user, params):
    partners = [_partner(capacity=100) for _ in range(3)]

    def add(n):
        for i in range(n):
            lead = LeadFactory(last_activity_at=timezone.now())
            offer_create(lead=lead, partner=partners[i % 3], actor=admin_user)
            LeadFactory(tenant=partners[i % 3].organization, assigned_partner=partners[i % 3])

    add(3)
    few = _queries(staff_client, CHANGELIST, params)
    add(30)
    many = _queries(staff_client, CHANGELIST, params)
    assert len(many) == len(few), "\n".join(many)


def test_big_changelist_uses_the_planner_estimate_not_count(staff_client, monkeypatch):
    LeadFactory.create_batch(3)
    monkeypatch.setattr(EstimatedCountPaginator, "exact_below", 0)  # behave as on a big table
    sql = _queries(staff_client, CHANGELIST, {"stage": "cold"})
    assert not [q for q in sql if "COUNT(" in q.upper() and "leads_lead" in q], sql
    assert any(q.startswith("EXPLAIN") for q in sql)


# --- bulk actions -----------------------------------------------------------------------------


def test_offer_action_shows_capacity_then_offers(staff_client, ops_user):
    # given
    full = _partner(capacity=1, name="Voll GmbH")
    LeadFactory(tenant=full.organization, assigned_partner=full)
    roomy = _partner(capacity=5, name="Frei GmbH")
    leads = [LeadFactory(), LeadFactory()]

    # when: the intermediate page
    response = _action(staff_client, "offer_to_partner", leads)

    # then: each partner with capacity, used and free; a full one cannot be chosen
    assert response.status_code == 200
    page = response.content.decode()
    assert "Frei GmbH" in page and "Voll GmbH" in page
    radios = dict(re.findall(r'<input type="radio" name="partner" value="(\d+)"([^>]*)>', page))
    assert "disabled" in radios[str(full.pk)] and "disabled" not in radios[str(roomy.pk)]
    assert all(lead.public_id in page for lead in leads)

    # when: applied
    response = _action(staff_client, "offer_to_partner", leads, apply="1", partner=str(roomy.pk))

    # then
    assert response.status_code == 302
    offers = LeadAssignment.objects.filter(partner=roomy, status="offered", offered_by=ops_user)
    assert {o.lead_id for o in offers} == {lead.pk for lead in leads}


def test_offer_action_reports_leads_it_could_not_offer(staff_client, admin_user):
    partner = _partner(capacity=1)
    leads = [LeadFactory(score=90), LeadFactory(score=10)]
    response = _action(staff_client, "offer_to_partner", leads, apply="1", partner=str(partner.pk))
    messages = [str(m) for m in response.wsgi_request._messages]
    assert any("1" in m and partner.email in m for m in messages)
    assert any(leads[1].public_id in m for m in messages)  # the second one hit the capacity
    assert LeadAssignment.objects.get(partner=partner).lead == leads[0]  # best score first


def test_reject_action_asks_for_a_reason(staff_client, ops_user):
    leads = [LeadFactory(), LeadFactory()]
    response = _action(staff_client, "reject_leads", leads)
    assert response.status_code == 200 and 'name="reason_code"' in response.content.decode()
    response = _action(staff_client, "reject_leads", leads, apply="1", reason_code="other", note="")
    assert response.status_code == 200  # "other" needs a note: the page comes back
    assert not Lead.objects.filter(status="lost").exists()
    response = _action(staff_client, "reject_leads", leads, apply="1", reason_code="spam", note="Bot")
    assert response.status_code == 302
    for lead in leads:
        lead.refresh_from_db()
        assert lead.status == "lost" and lead.lost_reason.endswith(": Bot")
    assert AuditEvent.objects.filter(event_type="lead.lost", actor=ops_user).count() == 2


def test_merge_action_keeps_the_oldest_and_is_undoable(staff_client, admin_user):
    oldest = LeadFactory(company_name="")
    newer = LeadFactory(company_name="Neu AG")
    Lead.objects.filter(pk=oldest.pk).update(created_at=timezone.now() - timedelta(days=3))
    response = _action(staff_client, "merge_leads", [newer, oldest])
    assert response.status_code == 200
    assert response.context["survivor"].pk == oldest.pk
    response = _action(staff_client, "merge_leads", [newer, oldest], apply="1")
    assert response.status_code == 302 and response.url.endswith(f"/admin/leads/lead/{oldest.pk}/change/")
    newer.refresh_from_db()
    assert newer.merged_into_id == oldest.pk

    # the merge journal panel offers the undo
    page = staff_client.get(response.url).content.decode()
    entry = LeadMerge.objects.get(survivor=oldest)
    undo_url = f"/admin/leads/lead/merges/{entry.pk}/undo/"
    assert undo_url in page
    assert staff_client.post(undo_url).status_code == 302
    newer.refresh_from_db()
    entry.refresh_from_db()
    assert newer.merged_into_id is None and entry.undone_at is not None


def test_rescore_action_goes_through_the_scoring_service(staff_client):
    lead = LeadFactory()
    LeadActivity.objects.create(lead=lead, activity_type="phone_clicked", occurred_at=timezone.now())
    response = _action(staff_client, "rescore_leads", [lead])
    assert response.status_code == 302
    lead.refresh_from_db()
    assert lead.i_score > 0 and LeadScoreHistory.objects.filter(lead=lead).exists()


def test_export_csv_is_decrypted_and_audited(staff_client, ops_user):
    lead = LeadFactory(email="export@beispiel.de", first_name="Jörg", company_name="=HYPERLINK(1)")
    response = _action(staff_client, "export_csv", [lead])
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(body), delimiter=";"))
    assert len(rows) == 2
    row = dict(zip(rows[0], rows[1], strict=True))
    assert "export@beispiel.de" in rows[1] and "Jörg" in rows[1]
    assert lead.phone in rows[1]  # E.164 numbers are not mangled
    assert "'=HYPERLINK(1)" in rows[1]  # formulas are neutralised
    assert row  # header and values line up
    event = AuditEvent.objects.get(event_type="leads.exported")
    assert event.actor == ops_user and event.payload["count"] == 1 and event.payload["lead_ids"] == [str(lead.pk)]


def test_leads_cannot_be_deleted_in_the_admin(client, admin_user):
    client.force_login(admin_user)
    lead = LeadFactory()
    assert client.get(f"/admin/leads/lead/{lead.pk}/delete/").status_code == 403
    page = client.get(CHANGELIST).content.decode()
    assert "delete_selected" not in page


# --- lead change view -------------------------------------------------------------------------


def test_change_view_has_read_only_status_and_the_panels(staff_client, admin_user):
    partner = _partner()
    lead = LeadFactory()
    LeadActivity.objects.create(lead=lead, activity_type="pricing_page_visited", occurred_at=timezone.now())
    offer_create(lead=lead, partner=partner, actor=admin_user)
    page = staff_client.get(f"/admin/leads/lead/{lead.pk}/change/").content.decode()
    assert 'name="status"' not in page and 'name="score"' not in page and 'name="tenant"' not in page
    for panel in ("panel-timeline", "panel-score", "panel-enrichment", "panel-offers", "panel-merges", "panel-audit"):
        assert f'id="{panel}"' in page
    assert "pricing_page_visited" in page and "lead.assigned" in page and partner.email in page
    assert "/revoke/" in page  # the open offer can be withdrawn


def test_change_view_offer_revoke_and_reject_buttons(staff_client, ops_user):
    partner = _partner()
    lead = LeadFactory()
    change = f"/admin/leads/lead/{lead.pk}/change/"
    assert staff_client.get(f"/admin/leads/lead/{lead.pk}/offer/").status_code == 405
    response = staff_client.post(f"/admin/leads/lead/{lead.pk}/offer/", {"partner": partner.pk})
    assert response.status_code == 302 and response.url == change
    offer = LeadAssignment.objects.get(lead=lead)
    assert offer.status == "offered" and offer.offered_by == ops_user
    # a second offer while one is open is refused with a message, not an error page
    response = staff_client.post(f"/admin/leads/lead/{lead.pk}/offer/", {"partner": _partner().pk}, follow=True)
    assert response.status_code == 200 and LeadAssignment.objects.filter(lead=lead).count() == 1
    response = staff_client.post(f"/admin/leads/lead/offers/{offer.pk}/revoke/", {"reason": "Versehen"})
    offer.refresh_from_db()
    assert response.status_code == 302 and offer.status == "revoked" and offer.reason == "Versehen"
    response = staff_client.post(f"/admin/leads/lead/{lead.pk}/reject/", {"reason_code": "invalid", "note": ""})
    lead.refresh_from_db()
    assert response.status_code == 302 and lead.status == "lost"


def test_merge_panel_shows_both_sides(staff_client, admin_user):
    survivor, other = LeadFactory(), LeadFactory()
    lead_merge(survivor=survivor, others=[other], actor=admin_user)
    page = staff_client.get(f"/admin/leads/lead/{other.pk}/change/").content.decode()
    assert survivor.public_id in page  # merged leads point to where they went


def test_change_view_shows_ai_insights_intents_and_the_emails_panel(staff_client):
    lead = LeadFactory()
    LeadIntent.objects.create(
        lead=lead, source_type="ai_analysis", analysis={"summary": "Will sofort investieren", "topics": ["ETF", "Gold"]}
    )
    LeadIntent.objects.create(lead=lead, source_type="instagram_message", intent_level="high", keywords=["preis"])
    page = staff_client.get(f"/admin/leads/lead/{lead.pk}/change/").content.decode()
    assert "Will sofort investieren" in page and "ETF, Gold" in page  # the AI analysis, list values joined
    assert "instagram_message" in page and "preis" in page  # detected intent
    assert 'id="panel-emails"' in page


# --- offer and merge journal lists ------------------------------------------------------------


def test_offer_list_action_withdraws_only_open_offers(staff_client, ops_user, admin_user):
    partner = _partner()
    open_offer = offer_create(lead=LeadFactory(), partner=partner, actor=admin_user)
    answered = offer_create(lead=LeadFactory(), partner=partner, actor=admin_user)
    offer_accept(offer=answered, actor=partner)
    url = "/admin/leads/leadassignment/"
    page = staff_client.get(url).content.decode()
    assert "revoke_offers" in page
    response = staff_client.post(
        url,
        {"action": "revoke_offers", "_selected_action": [str(open_offer.pk), str(answered.pk)], "index": "0"},
    )
    assert response.status_code == 302
    open_offer.refresh_from_db()
    answered.refresh_from_db()
    assert open_offer.status == "revoked" and answered.status == "accepted"
    assert AuditEvent.objects.filter(event_type="lead.offer_revoked", actor=ops_user).count() == 1
    # the offer list is read-only: no add, no edit
    assert staff_client.get(f"{url}add/").status_code == 403


def test_merge_journal_action_undoes_merges(staff_client, admin_user):
    survivor, other = LeadFactory(), LeadFactory()
    lead_merge(survivor=survivor, others=[other], actor=admin_user)
    entry = LeadMerge.objects.get(survivor=survivor)
    url = "/admin/leads/leadmerge/"
    assert "undo_merges" in staff_client.get(url).content.decode()
    response = staff_client.post(url, {"action": "undo_merges", "_selected_action": [str(entry.pk)], "index": "0"})
    assert response.status_code == 302
    other.refresh_from_db()
    entry.refresh_from_db()
    assert other.merged_into_id is None and entry.undone_at is not None


def test_partners_cannot_use_the_offer_or_merge_actions(client, partner_user, admin_user):
    offer = offer_create(lead=LeadFactory(), partner=_partner(), actor=admin_user)
    client.force_login(partner_user)
    response = client.post(
        "/admin/leads/leadassignment/", {"action": "revoke_offers", "_selected_action": [str(offer.pk)], "index": "0"}
    )
    assert response.status_code == 302 and "/admin/login/" in response.url
    offer.refresh_from_db()
    assert offer.status == "offered"


def test_add_lead_goes_through_ingest_with_dedup(client, admin_user, platform_org):
    client.force_login(admin_user)
    data = {"channel": "manual", "source": "zone1_pool", "email": "neu@beispiel.de", "first_name": "Neu"}
    response = client.post("/admin/leads/lead/add/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    (lead,) = Lead.objects.all()
    assert lead.tenant == platform_org and lead.email == "neu@beispiel.de"
    assert AuditEvent.objects.filter(event_type="lead.created", object_id=str(lead.pk), actor=admin_user).exists()
    # the same person again: merged into the existing lead, not a second one
    response = client.post("/admin/leads/lead/add/", {**data, "job_title": "Geschäftsführer"}, follow=True)
    assert response.status_code == 200
    assert Lead.objects.filter(merged_into__isnull=True).count() == 1
    lead.refresh_from_db()
    assert lead.job_title == "Geschäftsführer"  # the empty field was filled from the second capture
    # neither email nor phone: the form says so
    response = client.post("/admin/leads/lead/add/", {"channel": "manual", "source": "zone1_pool"})
    assert response.status_code == 200 and Lead.objects.count() == 1


# --- statistics and navigation ----------------------------------------------------------------


def test_statistics_page_renders_svg_charts_with_a_date_range(staff_client, admin_user):
    partner = _partner(name="Anna Berger")
    LeadFactory(channel="facebook")
    offer_create(lead=LeadFactory(channel="website"), partner=partner, actor=admin_user)
    response = staff_client.get("/admin/leads/lead/statistics/")
    assert response.status_code == 200
    page = response.content.decode()
    assert page.count("<svg") >= 5 and "Anna Berger" in page
    assert 'name="date_from"' in page and 'type="date"' in page
    today = timezone.localdate()
    response = staff_client.get(
        "/admin/leads/lead/statistics/",
        {"date_from": (today - timedelta(days=2)).isoformat(), "date_to": today},
        HTTP_ACCEPT_LANGUAGE="de",
    )
    assert response.context["stats"]["range"]["from"] == (today - timedelta(days=2)).isoformat()
    assert len(response.context["stats"]["volume"]["days"]) == 3
    # The server fills the range in; a browser's date input shows only ISO values, never "04.11.2026".
    german = staff_client.get("/admin/leads/lead/statistics/", HTTP_ACCEPT_LANGUAGE="de").content.decode()
    values = re.findall(r'type="date"[^>]*value="([^"]*)"|value="([^"]*)"[^>]*type="date"', german)
    filled = [a or b for a, b in values]
    assert len(filled) == 2 and all(re.fullmatch(r"\d{4}-\d{2}-\d{2}", value) for value in filled), filled
    assert "<script" not in page.split("<svg", 1)[1]  # server-rendered, no chart JavaScript


def test_partners_do_not_get_into_the_console(client, partner_user):
    client.force_login(partner_user)
    for url in (CHANGELIST, "/admin/leads/lead/statistics/"):
        response = client.get(url)
        assert response.status_code == 302 and "/admin/login/" in response.url


def test_navigation_is_grouped_by_domain(staff_client):
    page = staff_client.get("/admin/").content.decode()
    assert "/admin/leads/lead/statistics/" in page
    assert (
        page.index("/admin/leads/lead/") < page.index("/admin/leads/scoringrule/") < page.index("/admin/accounts/user/")
    )
    app_list = staff_client.get("/admin/").context["app_list"]
    names = [str(app["name"]) for app in app_list]
    assert len([n for n in names if n]) == len(names)
    leads_sections = [app for app in app_list if app["app_label"] == "leads"]
    assert len(leads_sections) == 2
    assert [m["object_name"] for m in leads_sections[0]["models"]][:3] == ["Lead", "LeadAssignment", "PoolStatistics"]
    app_index = staff_client.get("/admin/leads/")
    assert app_index.status_code == 200 and "/admin/leads/lead/statistics/" in app_index.content.decode()
