"""The portal's "Heute" page: what is due today in priority order, one-click actions (htmx and plain POST),
isolation, a constant number of queries, and the lead page's next follow-up."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from followups.models import FollowupTask, Reminder
from leads.models import LeadActivity
from portal import today_views
from tests.accounts.factories import PartnerFactory
from tests.deals.factories import own_lead

pytestmark = pytest.mark.django_db

PORTAL = "/portal/leads"
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def partner(portal_partner):
    return portal_partner


@pytest.fixture
def client(portal_client):
    return portal_client


@pytest.fixture
def no_suggestions(monkeypatch):
    """Rows from reminders and tasks only (the suggestion engine is tested in ``tests/followups``)."""
    monkeypatch.setattr(today_views, "followup_suggestions", lambda user, **kwargs: [])


def _reminder(partner, *, hours: float = -1, priority: str = "normal", lead=None, **fields) -> Reminder:
    lead = lead or own_lead(partner, first_name="Lisa", last_name="Lang")
    when = timezone.now() + dt.timedelta(hours=hours)
    return Reminder.objects.create(
        lead=lead,
        tenant_id=lead.tenant_id,
        user=partner,
        action_type=fields.pop("action_type", Reminder.ActionType.CALL),
        priority=priority,
        scheduled_for=when,
        first_scheduled_for=when,
        **fields,
    )


def _task(partner, *, hours: float = -1, lead=None, channel: str = "whatsapp") -> FollowupTask:
    lead = lead or own_lead(partner, first_name="Tom", last_name="Tasker")
    return FollowupTask.objects.create(
        lead=lead,
        tenant_id=lead.tenant_id,
        assignee=partner,
        channel=channel,
        message="Hallo Tom, kurze Rückfrage zu Ihrem Angebot.",
        due_at=timezone.now() + dt.timedelta(hours=hours),
    )


def test_heute_is_first_in_the_navigation_and_says_what_to_do_when_empty(client, no_suggestions):
    response = client.get(PORTAL + "/heute/")

    html = response.content.decode()
    assert response.status_code == 200
    nav = html[html.index('class="mainnav"') :]
    assert nav.index('data-testid="nav-today"') < nav.index("/portal/leads/inbox/")
    assert 'data-testid="today-empty"' in html
    assert "/portal/leads/inbox/" in html  # the empty state points to where work comes from


def test_rows_come_in_priority_order_with_one_click_actions(client, partner, monkeypatch):
    # given: a normal reminder later today, an urgent one overdue, a due task and a suggestion for another lead
    later = _reminder(partner, hours=0.5, priority="low")
    overdue = _reminder(partner, hours=-2, priority="normal")
    task = _task(partner, hours=-1)
    tomorrow = _reminder(partner, hours=30)  # not today
    hot = own_lead(partner, first_name="Hanna", last_name="Heiß", phone="0151 2345678")
    suggestion = SimpleNamespace(
        lead=hot,
        priority="high",
        reason="hot_lead",
        suggested_time=timezone.now(),
        suggested_channel="whatsapp",
        template="first_contact",
        message="Hallo Hanna!",
        confidence=0.8,
    )
    monkeypatch.setattr(today_views, "followup_suggestions", lambda user, **kwargs: [suggestion])

    html = client.get(PORTAL + "/heute/").content.decode()

    ids = [f"today-reminder-{overdue.pk}", f"today-task-{task.pk}", f"today-suggestion-{hot.pk}"]
    positions = [html.index(i) for i in ids]
    assert positions == sorted(positions)
    assert html.index(f"today-reminder-{later.pk}") > positions[-1]
    assert f"today-reminder-{tomorrow.pk}" not in html
    assert "https://wa.me/491512345678?text=Hallo%20Hanna%21" in html
    assert "Hot lead" in html or "Heißer Lead" in html


def test_snooze_with_htmx_answers_the_updated_row(client, partner, no_suggestions):
    reminder = _reminder(partner, hours=-1)

    response = client.post(f"{PORTAL}/heute/erinnerung/{reminder.pk}/spaeter/", **HTMX)

    reminder.refresh_from_db()
    assert response.status_code == 200
    assert reminder.snooze_count == 1 and reminder.status == Reminder.Status.OPEN
    assert reminder.scheduled_for > timezone.now()
    html = response.content.decode()
    assert f'id="today-reminder-{reminder.pk}"' in html and "<html" not in html


def test_done_without_javascript_redirects_back(client, partner, no_suggestions):
    reminder = _reminder(partner)
    task = _task(partner)

    first = client.post(f"{PORTAL}/heute/erinnerung/{reminder.pk}/erledigt/")
    second = client.post(f"{PORTAL}/heute/aufgabe/{task.pk}/erledigt/", **HTMX)

    reminder.refresh_from_db()
    task.refresh_from_db()
    assert first.status_code == 302 and first["Location"] == PORTAL + "/heute/"
    assert reminder.status == Reminder.Status.DONE
    assert second.status_code == 200 and 'data-testid="today-done"' in second.content.decode()
    assert task.status == FollowupTask.Status.DONE


def test_log_contact_from_a_suggestion(client, partner):
    lead = own_lead(partner)

    response = client.post(f"{PORTAL}/heute/kontakt/{lead.public_id}/", {"channel": "whatsapp"}, **HTMX)

    assert response.status_code == 200
    activity = LeadActivity.objects.filter(lead=lead, activity_type="contact_logged").get()
    assert activity.channel == "whatsapp"


def test_another_partners_rows_are_404(client, partner, no_suggestions):
    other = PartnerFactory()
    reminder = _reminder(other)
    task = _task(other)
    lead = own_lead(other)

    for url in (
        f"{PORTAL}/heute/erinnerung/{reminder.pk}/erledigt/",
        f"{PORTAL}/heute/aufgabe/{task.pk}/erledigt/",
        f"{PORTAL}/heute/kontakt/{lead.public_id}/",
    ):
        assert client.post(url).status_code == 404, url
    assert f"today-reminder-{reminder.pk}" not in client.get(PORTAL + "/heute/").content.decode()
    reminder.refresh_from_db()
    assert reminder.status == Reminder.Status.OPEN


def test_the_page_runs_a_constant_number_of_queries(client, partner, django_assert_num_queries):
    def grow(n):
        for _ in range(n):
            lead = own_lead(partner)
            _reminder(partner, lead=lead)
            _task(partner, lead=lead)
            own_lead(partner)  # a lead only the suggestions know about

    grow(2)
    client.get(PORTAL + "/heute/")
    with CaptureQueriesContext(connection) as small:
        assert client.get(PORTAL + "/heute/").status_code == 200
    grow(6)
    with django_assert_num_queries(len(small.captured_queries)):
        assert client.get(PORTAL + "/heute/").status_code == 200


def test_lead_page_shows_the_next_follow_up_with_its_buttons(client, partner):
    lead = own_lead(partner)
    reminder = _reminder(partner, lead=lead, hours=3)

    html = client.get(f"{PORTAL}/meine-leads/{lead.public_id}/").content.decode()

    assert 'data-testid="lead-next-followup"' in html
    assert f"/heute/erinnerung/{reminder.pk}/spaeter/" in html
    assert f"/heute/erinnerung/{reminder.pk}/erledigt/" in html
    assert html.count('data-testid="lead-sequences"') == 1  # the sequences card is not duplicated
