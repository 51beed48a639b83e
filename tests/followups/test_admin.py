"""The sequence editor and the engine's read-only admin pages (issue 20, admin part)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation

from compliance.blind_index import email_index
from compliance.models import AuditEvent
from followups.models import EmailEvent, EmailMessage, EmailSuppression, Sequence, SequenceStep
from followups.selectors.figures import EMPTY, sequence_figures, step_figures
from tests.followups.factories import SequenceFactory, SequenceRunFactory, SequenceStepFactory, sequence_with_steps
from tests.leads.factories import LeadFactory


@pytest.fixture(autouse=True)
def _english(settings):
    """The assertions read the English source texts (the platform's language is German)."""
    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


pytestmark = pytest.mark.django_db

SEQUENCES = "/admin/followups/sequence/"


@pytest.fixture
def staff(client, admin_user):
    client.force_login(admin_user)
    return client


def _form(platform_org, steps: list[dict], **fields) -> dict:
    """The add form's POST data: the sequence's fields and the steps inline."""
    data = {
        "name": "Willkommen",
        "code": "willkommen",
        "description": "",
        "kind": "nurture",
        "organization": platform_org.pk,
        "is_active": "on",
        "trigger": "lead_created",
        "trigger_filter": '{"channels": ["website"]}',
        "reenrol": "once",
        "reenrol_after_days": "",
        "steps-TOTAL_FORMS": str(len(steps)),
        "steps-INITIAL_FORMS": "0",
        "steps-MIN_NUM_FORMS": "0",
        "steps-MAX_NUM_FORMS": "1000",
        **fields,
    }
    for i, step in enumerate(steps):
        values = {
            "number": i + 1,
            "kind": "email",
            "delay_hours": 0,
            "subject": "Hallo {{ first_name }}",
            "body_html": "<p>Hallo {{ first_name|default:'zusammen' }}</p>",
            "body_text": "",
            "channel": "auto",
            "template_code": "",
            "conditions": "{}",
            "on_response": "{}",
            "is_active": "on",
            **step,
        }
        data.update({f"steps-{i}-{key}": value for key, value in values.items()})
    return data


def _email(step, *, sent=True, **fields) -> EmailMessage:
    lead = fields.pop("lead", None) or LeadFactory()
    return EmailMessage.objects.create(
        message_id=f"<{EmailMessage.objects.count()}-{step.pk}@test>",
        lead=lead,
        tenant=lead.tenant,
        sequence=step.sequence,
        step=step,
        to_hash=lead.email_hash,
        to_email=lead.email,
        subject="Hallo Erika",
        status=EmailMessage.Status.SENT if sent else EmailMessage.Status.QUEUED,
        sent_at=timezone.now() if sent else None,
        **fields,
    )


def _event(email, event_type, *, is_bot=False) -> EmailEvent:
    return EmailEvent.objects.create(
        esp="tracking",
        event_id=f"{email.pk}-{event_type}-{is_bot}",
        event_type=event_type,
        message=email,
        occurred_at=timezone.now(),
        is_bot=is_bot,
    )


# --- the editor: validation -------------------------------------------------------------------


def test_a_sequence_with_steps_is_created_in_the_editor(staff, platform_org):
    steps = [{}, {"kind": "task", "channel": "call", "subject": "", "body_html": "", "body_text": "Anrufen"}]
    response = staff.post(SEQUENCES + "add/", _form(platform_org, steps, exit_on=["replied", "bounced"]))
    assert response.status_code == 302, response.context["adminform"].form.errors
    sequence = Sequence.objects.get(code="willkommen")
    assert sequence.trigger_filter == {"channels": ["website"]} and sequence.exit_on == ["replied", "bounced"]
    assert list(sequence.steps.values_list("number", "kind")) == [(1, "email"), (2, "task")]


def test_an_email_step_needs_subject_and_body(staff, platform_org):
    response = staff.post(SEQUENCES + "add/", _form(platform_org, [{"subject": "", "body_html": ""}]))
    assert response.status_code == 200
    errors = response.context["inline_admin_formsets"][0].formset.errors[0]
    assert "subject" in errors and "body_html" in errors
    assert not Sequence.objects.filter(kind="nurture").exists()


def test_duplicate_step_numbers_are_refused_with_a_clear_error(staff, platform_org):
    response = staff.post(SEQUENCES + "add/", _form(platform_org, [{"number": 2}, {"number": 2}]))
    assert response.status_code == 200
    formset = response.context["inline_admin_formsets"][0].formset
    assert "used more than once: 2" in " ".join(formset.non_form_errors())
    assert not Sequence.objects.filter(kind="nurture").exists()


def test_a_template_syntax_error_names_the_field_and_the_error(staff, platform_org):
    steps = [{"subject": "Hallo {{ first_name|nosuchfilter }}", "body_html": "<p>{% if %}</p>"}]
    response = staff.post(SEQUENCES + "add/", _form(platform_org, steps))
    errors = response.context["inline_admin_formsets"][0].formset.errors[0]
    assert "Invalid filter: 'nosuchfilter'" in errors["subject"][0]
    assert errors["body_html"][0].startswith("Template error in this field:")
    assert "nosuchfilter" in response.content.decode()


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        (
            {"trigger_filter": '{"channel": ["website"]}'},
            "trigger_filter",
            "Unknown keys in the trigger filter: channel",
        ),
        ({"trigger_filter": '{"channels": ["fax"]}'}, "trigger_filter", "Unknown values for “channels”: fax"),
        ({"trigger_filter": '["website"]'}, "trigger_filter", "must be an object"),
        ({"reenrol": "after_days"}, "reenrol_after_days", "after how many days"),
    ],
)
def test_the_sequence_rules_are_validated(staff, platform_org, fields, field, message):
    response = staff.post(SEQUENCES + "add/", _form(platform_org, [{}], **fields))
    assert response.status_code == 200
    assert message in response.context["adminform"].form.errors[field][0]


# --- figures ---------------------------------------------------------------------------------


def test_figures_count_human_opens_and_clicks_only_and_take_one_query(django_assert_num_queries):
    sequence = sequence_with_steps(steps=2)
    first, second = sequence.steps.order_by("number")
    opened = _email(first, delivered_at=timezone.now(), replied_at=timezone.now())
    _event(opened, EmailEvent.Type.OPENED)
    EmailEvent.objects.create(  # a second human open: the email counts once
        esp="ses", event_id="again", event_type=EmailEvent.Type.OPENED, message=opened, occurred_at=timezone.now()
    )
    scanned = _email(first, bounced_at=timezone.now())
    _event(scanned, EmailEvent.Type.OPENED, is_bot=True)
    _event(scanned, EmailEvent.Type.CLICKED, is_bot=True)
    clicked = _email(second, unsubscribed_at=timezone.now())
    _event(clicked, EmailEvent.Type.CLICKED)
    _email(second, sent=False)  # queued: not sent
    _email(first, purpose=EmailMessage.Purpose.TEST)  # test sends never count
    other = sequence_with_steps(steps=1)

    with django_assert_num_queries(1):
        figures = sequence_figures([sequence.pk, other.pk])
    total = figures[sequence.pk]
    assert (total.sent, total.delivered, total.opened, total.clicked) == (3, 1, 1, 1)
    assert (total.replied, total.bounced, total.unsubscribed) == (1, 1, 1)
    assert total.rate("opened") == pytest.approx(1 / 3) and figures.get(other.pk, EMPTY).rate("opened") is None
    with django_assert_num_queries(1):
        per_step = step_figures(sequence_id=sequence.pk)
    assert (per_step[first.pk].sent, per_step[first.pk].opened, per_step[first.pk].clicked) == (2, 1, 0)
    assert (per_step[second.pk].sent, per_step[second.pk].clicked) == (1, 1)


def _queries(client, url: str) -> int:
    client.get(url)  # warm the per-process caches (content types, permissions)
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_the_list_and_the_change_page_show_figures_in_a_constant_number_of_queries(staff):
    sequence = sequence_with_steps(steps=2, name="Willkommen Kapitalanlage")
    _event(_email(sequence.steps.first()), EmailEvent.Type.OPENED)
    few = _queries(staff, SEQUENCES)
    few_detail = _queries(staff, f"{SEQUENCES}{sequence.pk}/change/")
    for _ in range(3):
        more = sequence_with_steps(steps=3)
        for step in more.steps.all():
            _event(_email(step), EmailEvent.Type.CLICKED)
    for step in [SequenceStepFactory(sequence=sequence, number=n) for n in (3, 4)]:
        _email(step)
    assert _queries(staff, SEQUENCES) == few
    assert _queries(staff, f"{SEQUENCES}{sequence.pk}/change/") == few_detail
    page = staff.get(SEQUENCES).content.decode()
    assert "Willkommen Kapitalanlage" in page and "100.0 %" in page  # one of one opened
    detail = staff.get(f"{SEQUENCES}{sequence.pk}/change/").content.decode()
    assert 'id="figures-steps"' in detail and "opened (human)" in detail


# --- preview, test send, pause ------------------------------------------------------------------


def test_the_preview_renders_the_step_for_a_chosen_lead_in_a_sandboxed_frame(staff):
    step = SequenceStepFactory(
        subject="Hallo {{ first_name }}",
        body_html='<p>Hallo {{ first_name }}</p><a href="https://example.org/x">x</a>',
        body_text="Text für {{ first_name }}",
    )
    lead = LeadFactory(first_name="Jörg<b>")
    response = staff.get(f"{SEQUENCES}{step.sequence_id}/preview/", {"step": step.pk, "lead": lead.public_id})
    page = response.content.decode()
    assert response.status_code == 200
    assert 'sandbox=""' in page and "srcdoc=" in page
    # Escaped in the mail, and the whole mail escaped again inside srcdoc: nothing leaks into the admin page.
    assert "&lt;p&gt;Hallo Jörg&amp;lt;b&amp;gt;&lt;/p&gt;" in page and "<p>Hallo" not in page
    assert "Text für Jörg" in page
    assert response.context["preview"].subject.startswith("Hallo Jörg")


def test_the_preview_shows_a_template_error_and_an_unknown_lead(staff):
    step = SequenceStepFactory()
    SequenceStep.objects.filter(pk=step.pk).update(body_html="{% if %}")  # saved around the form's check
    url = f"{SEQUENCES}{step.sequence_id}/preview/"
    page = staff.get(url, {"step": step.pk, "lead": LeadFactory().public_id}).content.decode()
    assert 'id="preview-error"' in page
    assert "No lead with this id." in staff.get(url, {"step": step.pk, "lead": "SOT-LEAD-NOPE"}).content.decode()
    assert staff.get(url, {"step": step.pk, "lead": "not-a-uuid-at-all"}).status_code == 200


def test_the_test_send_goes_to_the_admins_own_address(staff, admin_user, smtp_server):
    step = SequenceStepFactory(subject="Hallo {{ first_name }}")
    lead = LeadFactory(first_name="Jörg")
    url = f"{SEQUENCES}{step.sequence_id}/test-send/"
    assert staff.get(url).status_code == 405
    response = staff.post(url, {"step": step.pk, "lead": lead.public_id}, follow=True)
    assert f"A test email went to {admin_user.email}." in response.content.decode()
    assert [envelope[1] for envelope in smtp_server.envelopes] == [[admin_user.email]]
    assert "Hallo Jörg" in smtp_server[0]["Subject"]
    sent = EmailMessage.objects.get()
    assert sent.purpose == EmailMessage.Purpose.TEST and sent.to_email == admin_user.email


def test_a_sequence_is_paused_and_resumed(staff):
    sequence = SequenceFactory()
    assert staff.get(f"{SEQUENCES}{sequence.pk}/pause/").status_code == 405
    staff.post(f"{SEQUENCES}{sequence.pk}/pause/")
    sequence.refresh_from_db()
    assert sequence.paused_at is not None
    assert "Resume sequence" in staff.get(f"{SEQUENCES}{sequence.pk}/change/").content.decode()
    staff.post(SEQUENCES, {"action": "resume_sequences", "_selected_action": [sequence.pk]})
    sequence.refresh_from_db()
    assert sequence.paused_at is None and sequence.is_active


# --- runs, emails, events, suppression ----------------------------------------------------------


def test_runs_emails_and_events_are_read_only_and_decrypt_only_on_the_detail(staff):
    lead = LeadFactory(email="geheim@beispiel.de")
    run = SequenceRunFactory(lead=lead, exit_reason="replied", status="cancelled")
    step = SequenceStepFactory(sequence=run.sequence)
    email = _email(step, lead=lead, run=run)
    event = _event(email, EmailEvent.Type.CLICKED)
    runs = staff.get("/admin/followups/sequencerun/", {"status": "cancelled", "exit_reason": "replied"})
    assert lead.public_id in runs.content.decode() and f"/admin/leads/lead/{lead.pk}/change/" in runs.content.decode()
    listing = staff.get("/admin/followups/emailmessage/").content.decode()
    assert lead.public_id in listing and "geheim@beispiel.de" not in listing and "Hallo Erika" not in listing
    assert staff.get("/admin/followups/emailmessage/", {"q": "geheim@beispiel.de"}).context["cl"].result_count == 1
    detail = staff.get(f"/admin/followups/emailmessage/{email.pk}/change/").content.decode()
    assert "geheim@beispiel.de" in detail and "Hallo Erika" in detail
    assert staff.get(f"/admin/followups/emailevent/{event.pk}/change/").status_code == 200
    assert staff.get("/admin/followups/emailevent/", {"is_bot__exact": "0"}).status_code == 200
    for path in ("sequencerun", "emailmessage", "emailevent"):
        assert staff.get(f"/admin/followups/{path}/add/").status_code == 403


def test_an_address_is_added_to_and_removed_from_the_suppression_list(staff, admin_user):
    response = staff.post("/admin/followups/emailsuppression/add/", {"address": "Weg@Beispiel.de", "reason": "manual"})
    assert response.status_code == 302
    suppression = EmailSuppression.objects.get()
    assert suppression.email_hash == email_index("weg@beispiel.de") and suppression.reason == "manual"
    again = staff.post("/admin/followups/emailsuppression/add/", {"address": "weg@beispiel.de", "reason": "manual"})
    assert "already on the suppression list" in again.content.decode()
    listing = staff.get("/admin/followups/emailsuppression/", {"q": "weg@beispiel.de"})
    assert listing.context["cl"].result_count == 1
    staff.post(
        "/admin/followups/emailsuppression/",
        {"action": "remove_selected", "_selected_action": [suppression.pk]},
    )
    assert not EmailSuppression.objects.exists()
    assert AuditEvent.objects.filter(actor=admin_user).count() >= 2


def test_partners_do_not_reach_the_editor(client, partner_user):
    client.force_login(partner_user)
    assert client.get(SEQUENCES).status_code == 302


def test_used_steps_and_sequences_with_runs_are_not_deleted(staff, platform_org):
    run = SequenceRunFactory()
    sequence = run.sequence
    step = SequenceStepFactory(sequence=sequence, number=1)
    _email(step)
    data = _form(platform_org, [{"id": step.pk, "sequence": sequence.pk, "DELETE": "on"}])
    data.update(code=sequence.code, name=sequence.name, **{"steps-INITIAL_FORMS": "1"})
    response = staff.post(f"{SEQUENCES}{sequence.pk}/change/", data)
    assert response.status_code == 200
    assert "switch it off (active) instead of deleting it" in " ".join(
        response.context["inline_admin_formsets"][0].formset.non_form_errors()
    )
    assert SequenceStep.objects.filter(pk=step.pk).exists()
    assert staff.get(f"{SEQUENCES}{sequence.pk}/delete/").status_code == 403
    assert staff.get(f"{SEQUENCES}{SequenceFactory().pk}/delete/").status_code == 200
