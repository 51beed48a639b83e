"""notify: in-app notices now, email and Slack after commit, once per user and dedup key."""

from __future__ import annotations

import json
from smtplib import SMTPServerDisconnected

import pytest
import responses
from django.core import mail
from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext_noop

from accounts.models import Notification, User
from accounts.selectors import staff_list_active
from accounts.services import notification_email_send, notify
from core.exceptions import TransientError
from integrations.slack import SlackError, slack_post
from tests.accounts.factories import UserFactory

pytestmark = pytest.mark.django_db

SLACK = "http://127.0.0.1:9/slack"
TITLE = gettext_noop("Burning lead %(public_id)s (score %(score)s)")
BODY = gettext_noop("Call now: %(company)s, channel %(channel)s.")
CONTEXT = {"public_id": "SOT-LEAD-AAAAAAAA", "score": 91, "company": "Muster GmbH", "channel": "Website"}


def _notify(users, **kwargs):
    defaults = {"kind": Notification.Kind.HOT_LEAD, "title": TITLE, "body": BODY, "context": CONTEXT}
    return notify(users=users, **{**defaults, **kwargs})


def test_notices_are_written_at_once_and_the_email_leaves_after_commit(settings, django_capture_on_commit_callbacks):
    settings.SITE_URL = "https://leads.example.org"
    first, second = UserFactory(), UserFactory()
    with translation.override("en"), django_capture_on_commit_callbacks(execute=True):
        notices = _notify([first, second], url="/portal/leads/", email=True, dedup_key="k")
        assert Notification.objects.count() == 2 and not mail.outbox  # the email waits for the commit
    assert [n.recipient for n in notices] == [first, second]
    notice = notices[0]
    assert notice.title == "Burning lead SOT-LEAD-AAAAAAAA (score 91)"
    assert notice.body == "Call now: Muster GmbH, channel Website."
    assert notice.url == "https://leads.example.org/portal/leads/"  # a link that leaves the app is absolute
    (message,) = mail.outbox
    assert message.to == [first.email, second.email] and message.subject == notice.title
    assert message.body == f"{notice.body}\n\nhttps://leads.example.org/portal/leads/"


def test_in_app_only_keeps_the_path_skips_inactive_users_and_speaks_the_active_language(
    django_capture_on_commit_callbacks,
):
    active, inactive = UserFactory(), UserFactory(is_active=False)
    with translation.override("de"), django_capture_on_commit_callbacks(execute=True):
        (notice,) = _notify([active, inactive], url="/admin/")
    assert notice.recipient == active and notice.url == "/admin/"
    assert notice.title == "Brennender Lead SOT-LEAD-AAAAAAAA (Score 91)"
    assert not mail.outbox and not Notification.objects.filter(recipient=inactive).exists()


@responses.activate
def test_a_repeat_with_the_same_dedup_key_sends_nothing(settings, django_capture_on_commit_callbacks):
    settings.SLACK_WEBHOOK_URL = SLACK
    slack = responses.post(SLACK, json={"ok": True})
    user = UserFactory()
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            _notify([user], url="/x/", email=True, slack="%(title)s", dedup_key="once")
    newcomer = UserFactory()
    with django_capture_on_commit_callbacks(execute=True):
        (notice,) = _notify([user, newcomer], url="/x/", email=True, dedup_key="once")
    assert notice.recipient == newcomer
    assert Notification.objects.filter(recipient=user).count() == 1 and slack.call_count == 1
    assert [m.to for m in mail.outbox] == [[user.email], [newcomer.email]]


@responses.activate
def test_slack_is_posted_once_per_call_only_when_configured(settings, django_capture_on_commit_callbacks):
    slack = responses.post(SLACK, json={"ok": True})
    users = [UserFactory(), UserFactory()]
    settings.SLACK_WEBHOOK_URL = ""
    with django_capture_on_commit_callbacks(execute=True):
        _notify(users, url="/x/", slack=":fire: %(title)s <%(url)s|%(public_id)s>")
    assert slack.call_count == 0
    settings.SLACK_WEBHOOK_URL, settings.SITE_URL = SLACK, "https://leads.example.org"
    with translation.override("en"), django_capture_on_commit_callbacks(execute=True):
        _notify(users, url="/x/", slack=":fire: %(title)s <%(url)s|%(public_id)s>")
    assert slack.call_count == 1
    text = json.loads(slack.calls[0].request.body)["text"]
    assert text == ":fire: Burning lead SOT-LEAD-AAAAAAAA (score 91) <https://leads.example.org/x/|SOT-LEAD-AAAAAAAA>"


def test_nothing_is_written_or_sent_when_the_caller_rolls_back(django_capture_on_commit_callbacks):
    user = UserFactory()
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError), transaction.atomic():
        _notify([user], url="/x/", email=True)
        raise RuntimeError
    assert not Notification.objects.exists() and not mail.outbox


def test_failed_deliveries_are_transient_so_their_task_retries(monkeypatch, settings):
    settings.SLACK_WEBHOOK_URL = SLACK
    notice = Notification.objects.create(recipient=UserFactory(), title="T", body="B", url="https://x/")

    def down(**kwargs):
        raise SMTPServerDisconnected("gone")

    monkeypatch.setattr("accounts.services.send_mail", down)
    with pytest.raises(TransientError):
        notification_email_send(notification_ids=[notice.pk])
    with responses.RequestsMock() as mock:
        mock.post(SLACK, status=500)
        with pytest.raises(SlackError) as exc:
            slack_post("hello")
    assert isinstance(exc.value, TransientError)


def test_staff_are_the_active_admins_and_ops_users(admin_user, ops_user):
    UserFactory(role=User.Role.PLATFORM_ADMIN, is_active=False)
    UserFactory(role=User.Role.SALES_PARTNER)
    assert list(staff_list_active()) == [admin_user, ops_user]
