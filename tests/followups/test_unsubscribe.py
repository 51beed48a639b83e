"""API-592: one-click unsubscribe (RFC 8058) and the preference page, with the link of a real email."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from compliance.models import ConsentRecord
from compliance.selectors.consent import consent_state
from compliance.services import consent_doi_confirm, consent_doi_request
from followups.models import DueStep, EmailMessage, SequenceRun
from followups.services.email import email_step_send
from followups.tokens import unsubscribe_token
from tests.followups.factories import DueStepFactory, SequenceRunFactory, SequenceStepFactory
from tests.leads.factories import LeadFactory

pytestmark = pytest.mark.django_db
OWNER = "test-host:1:task:abcd"
ONE_CLICK = "List-Unsubscribe=One-Click"
FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def client():
    return Client(enforce_csrf_checks=True)  # a mailbox provider's POST has no CSRF token


@pytest.fixture
def mailed(smtp_server, settings):
    """A consented lead in two sequences who got an email of the first; its unsubscribe URL from the header."""
    settings.SITE_URL = "https://leads.example.org"
    lead = LeadFactory(first_name="Erika")
    _grant, token = consent_doi_request(actor=None, lead=lead, version="v1")
    consent_doi_confirm(token, ip=None, user_agent="pytest")
    run = SequenceRunFactory(lead=lead, sequence__name="Rechner-Nachfass")
    other = SequenceRunFactory(lead=lead)
    step = SequenceStepFactory(sequence=run.sequence, number=1)
    due = DueStepFactory(
        run=run,
        step=step,
        status=DueStep.Status.CLAIMED,
        claimed_by=OWNER,
        lease_expires_at=timezone.now() + dt.timedelta(minutes=5),
    )
    message = email_step_send(due=due, owner=OWNER)
    header = smtp_server[0]["List-Unsubscribe"].strip()
    path = header[1:-1].removeprefix("https://leads.example.org")
    return {"lead": lead, "run": run, "other": other, "message": message, "path": path}


def _marketing(lead):
    return consent_state(lead, "MARKETING_EMAIL")


def test_get_shows_the_choice_and_never_opts_out(client, mailed):
    response = client.get(mailed["path"], HTTP_USER_AGENT="Mozilla/5.0 (SafeLinks scanner)")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/html")
    body = response.content.decode()
    assert 'name="scope" value="all"' in body and 'name="scope" value="sequence"' in body
    assert "Rechner-Nachfass" in body and response["Cache-Control"] == "no-store"
    assert _marketing(mailed["lead"]).allowed
    assert SequenceRun.objects.filter(status=SequenceRun.Status.ACTIVE).count() == 2


@pytest.mark.parametrize("multipart", [False, True], ids=["urlencoded", "multipart"])
def test_one_click_post_opts_out_at_once_without_login_or_redirect(client, mailed, multipart):
    if multipart:
        response = client.post(mailed["path"], {"List-Unsubscribe": "One-Click"})
    else:
        response = client.post(mailed["path"], ONE_CLICK, content_type=FORM)
    assert response.status_code == 200 and response.content == b""
    state = _marketing(mailed["lead"])
    assert state.status == "revoked" and state.record.source == ConsentRecord.Source.UNSUBSCRIBE
    evidence = ConsentRecord.objects.get(pk=state.record.pk).evidence
    assert evidence == {
        "via": "one_click",
        "sequence": mailed["run"].sequence.code,
        "message_id": mailed["message"].message_id,
    }
    runs = SequenceRun.objects.filter(lead=mailed["lead"])
    assert {(r.status, r.exit_reason) for r in runs} == {(SequenceRun.Status.CANCELLED, "unsubscribed")}
    assert EmailMessage.objects.get(pk=mailed["message"].pk).unsubscribed_at is not None


def test_the_path_without_trailing_slash_works_too(client, mailed):
    response = client.post(mailed["path"].rstrip("/"), ONE_CLICK, content_type=FORM)
    assert response.status_code == 200 and _marketing(mailed["lead"]).status == "revoked"


def test_a_repeated_unsubscribe_is_still_200_and_records_one_withdrawal(client, mailed):
    for _ in range(2):
        response = client.post(mailed["path"], ONE_CLICK, content_type=FORM)
        assert response.status_code == 200
    response = client.post(mailed["path"], {"scope": "all"})
    assert response.status_code == 200
    revoked = ConsentRecord.objects.filter(subject_lead=mailed["lead"], action=ConsentRecord.Action.REVOKED)
    assert revoked.count() == 1


def test_the_page_choice_only_this_sequence_keeps_consent_and_other_runs(client, mailed):
    response = client.post(mailed["path"], {"scope": "sequence"})
    assert response.status_code == 200 and "Rechner-Nachfass" in response.content.decode()
    assert _marketing(mailed["lead"]).allowed
    mailed["run"].refresh_from_db()
    mailed["other"].refresh_from_db()
    assert (mailed["run"].status, mailed["run"].exit_reason) == (SequenceRun.Status.CANCELLED, "unsubscribed")
    assert mailed["other"].status == SequenceRun.Status.ACTIVE


def test_the_page_choice_all_withdraws_consent_and_shows_the_done_page(client, mailed):
    response = client.post(mailed["path"], {"scope": "all"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/html")
    assert _marketing(mailed["lead"]).status == "revoked"
    assert not SequenceRun.objects.filter(lead=mailed["lead"], status=SequenceRun.Status.ACTIVE).exists()


def test_a_post_without_the_one_click_body_is_a_400_that_says_what_is_expected(client, mailed):
    for response in (
        client.post(mailed["path"]),
        client.post(mailed["path"], "List-Unsubscribe=Yes", content_type=FORM),
        client.post(mailed["path"], {"scope": "everything"}),
    ):
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["code"] == "unsubscribe_invalid_request" and "List-Unsubscribe=One-Click" in error["message"]
    assert _marketing(mailed["lead"]).allowed


def test_unknown_and_tampered_tokens_are_404(client, mailed):
    valid = mailed["path"].split("/")[3]
    tampered = valid[:-2] + ("AA" if not valid.endswith("AA") else "BB")
    forged = unsubscribe_token(lead_id=mailed["lead"].pk).replace(":", ":x", 1)
    for token in ("nonsense", tampered, forged, "x" * 500):
        assert client.get(f"/api/unsubscribe/{token}/").status_code == 404
        response = client.post(f"/api/unsubscribe/{token}/", ONE_CLICK, content_type=FORM)
        assert response.status_code == 404
    assert _marketing(mailed["lead"]).allowed


def test_a_token_signed_with_another_salt_is_refused(client, mailed):
    from django.core import signing

    token = signing.dumps([str(mailed["lead"].pk), "", ""], salt="something.else", compress=True)
    assert client.post(f"/api/unsubscribe/{token}/", ONE_CLICK, content_type=FORM).status_code == 404


def test_a_link_of_a_lead_that_is_gone_answers_200_quietly(client, db):
    token = unsubscribe_token(lead_id="00000000-0000-0000-0000-000000000000", sequence_code="gone")
    response = client.post(f"/api/unsubscribe/{token}/", ONE_CLICK, content_type=FORM)
    assert response.status_code == 200


def test_the_openapi_schema_documents_api_592(client, db, admin_user):
    client.force_login(admin_user)
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    operations = {
        op["operationId"]: (path, method)
        for path, item in schema["paths"].items()
        for method, op in item.items()
        if isinstance(op, dict) and "operationId" in op
    }
    assert operations["API-592_unsubscribe"] == ("/api/unsubscribe/{token}/", "post")
    assert operations["API-592_unsubscribe_page"] == ("/api/unsubscribe/{token}/", "get")
