"""The "Heute" page in Debian's Chromium: a partner opens it from the navigation, snoozes a reminder and completes a
task without leaving the page (htmx swaps the rows). Screenshots go to ``.artifacts/browser/``.
"""

from __future__ import annotations

import datetime as dt
import os

import pytest
from django.utils import timezone

from followups.models import FollowupTask, Reminder
from tests.accounts.factories import PASSWORD, PartnerFactory, ensure_platform_organization
from tests.browser.conftest import ARTIFACTS, CHROMIUM
from tests.deals.factories import own_lead

pytest.importorskip("playwright.sync_api", reason="playwright is installed with the dev extra")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is missing (scripts/test.sh installs it)"),
]


def test_partner_snoozes_a_reminder_and_completes_a_task_on_heute(live_server, page):
    # given: a partner with an overdue reminder and a task due today
    ensure_platform_organization()
    partner = PartnerFactory(email="heute@partner.de", first_name="Hella")
    now = timezone.now()
    lisa = own_lead(partner, first_name="Lisa", last_name="Lang", phone="+4915123456789")
    tom = own_lead(partner, first_name="Tom", last_name="Tasker", phone="+4915198765432")
    reminder = Reminder.objects.create(
        lead=lisa,
        tenant_id=lisa.tenant_id,
        user=partner,
        action_type=Reminder.ActionType.CALL,
        priority=Reminder.Priority.HIGH,
        scheduled_for=now - dt.timedelta(hours=1),
        first_scheduled_for=now - dt.timedelta(hours=1),
    )
    task = FollowupTask.objects.create(
        lead=tom,
        tenant_id=tom.tenant_id,
        assignee=partner,
        channel="whatsapp",
        message="Hallo Tom, passt Ihnen ein kurzes Telefonat?",
        due_at=now - dt.timedelta(minutes=5),
    )
    base = live_server.url + "/portal/leads"

    page.goto(base + "/heute/")
    page.fill("#id_username", partner.email)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(base + "/heute/")
    assert page.locator(".mainnav a").first.get_attribute("data-testid") == "nav-today"

    # the reminder and the task are listed, the task with its WhatsApp link
    row = page.locator(f"#today-reminder-{reminder.pk}")
    row.wait_for()
    wa = page.locator(f"#today-task-{task.pk} [data-testid=open-whatsapp]").get_attribute("href")
    assert wa.startswith("https://wa.me/4915198765432?text=Hallo%20Tom")
    page.screenshot(path=str(ARTIFACTS / "heute-01-list.png"), full_page=True)

    # snooze: the row is swapped in place and says it was snoozed
    row.locator("[data-testid=snooze]").click()
    page.wait_for_selector(f"#today-reminder-{reminder.pk} [data-testid=snooze-count]")
    # done: the task row turns into a done line
    page.locator(f"#today-task-{task.pk} [data-testid=done]").click()
    page.wait_for_selector("[data-testid=today-done]")
    assert page.url == base + "/heute/"
    page.screenshot(path=str(ARTIFACTS / "heute-02-done.png"), full_page=True)

    reminder.refresh_from_db()
    task.refresh_from_db()
    assert reminder.snooze_count == 1 and reminder.scheduled_for > now
    assert task.status == FollowupTask.Status.DONE
