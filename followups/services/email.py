"""Sending emails exactly once: sequence steps, double-opt-in confirmations, test sends, unsubscribes.

Every email is first an ``EmailMessage`` row (status ``sending``, its Message-ID, the recipient's
blind index, the encrypted address and subject, the links it tracks), committed before the message
leaves; then it goes out through Django's email backend (SMTP, or an ESP through django-anymail) and
the row becomes ``sent``. A worker that dies between the two leaves the row ``sending``: whoever
executes the step again resends it with the **same** Message-ID, because receiving servers and
mailbox providers drop a second message with a Message-ID they have already accepted, so a mail
that did leave before the crash is not shown twice, and one that did not leave arrives once.

Marketing emails carry ``List-Unsubscribe`` (our HTTPS one-click link, API-592) and
``List-Unsubscribe-Post: List-Unsubscribe=One-Click`` (RFC 8058) and a visible link in the body.
Transactional mails (double opt-in, test sends) carry neither and are exempt from the caps.

A tick sends hundreds of mails: wrap it in ``email_connection()`` to reuse one SMTP connection, and
hand its sendable rows to ``email_steps_send`` (a few queries per batch instead of four per mail).
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import logging
import smtplib
from collections.abc import Iterator
from dataclasses import dataclass
from email.utils import parseaddr
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import override

from compliance.blind_index import email_index
from compliance.models import ConsentRecord
from compliance.selectors.consent import PENDING, consent_state
from compliance.services import audit_record
from compliance.services.consent import consent_doi_request
from core.exceptions import TransientError
from core.pii import scrub_pii
from followups.models import DUE_STEP_LEASE, DueStep, EmailMessage, EmailSuppression, Sequence, SequenceRun
from followups.rendering import RenderedEmail, lead_partner, partner_signature, render_step_email
from followups.selectors.eligibility import email_block_reason, email_block_reasons
from followups.services.engine import runs_exit
from followups.tokens import UnsubscribeTarget
from leads.models import Lead
from leads.services.consent import lead_marketing_consent_revoke

logger = logging.getLogger(__name__)

#: Rows in these states may be (re)sent with their Message-ID: nothing left, or we cannot know.
RESENDABLE = frozenset({EmailMessage.Status.QUEUED, EmailMessage.Status.SENDING, EmailMessage.Status.FAILED})
ONE_CLICK_VALUE = "List-Unsubscribe=One-Click"
#: A lead gets at most one double-opt-in mail in this time, however often a form is sent again.
DOI_RESEND_PAUSE = dt.timedelta(hours=24)

_connection: contextvars.ContextVar[Any] = contextvars.ContextVar("followups_email_connection", default=None)
#: Partners' signatures by partner id, for the duration of one ``email_connection()`` block (a tick).
_signatures: contextvars.ContextVar[dict | None] = contextvars.ContextVar("followups_signatures", default=None)


class EmailSendFailed(TransientError):
    """The backend refused or could not take the message; the row is ``failed`` and may be resent."""


@contextlib.contextmanager
def email_connection() -> Iterator[Any]:
    """One open backend connection for every send inside the block (a tick's batch), closed at its end."""
    if _connection.get() is not None:
        yield _connection.get()
        return
    connection = get_connection()
    connection.open()
    reset = _connection.set(connection)
    reset_signatures = _signatures.set({})
    try:
        yield connection
    finally:
        _signatures.reset(reset_signatures)
        _connection.reset(reset)
        with contextlib.suppress(Exception):
            connection.close()


def sender_domain() -> str:
    """The domain of ``DEFAULT_FROM_EMAIL``: the right-hand side of our Message-IDs."""
    address = parseaddr(settings.DEFAULT_FROM_EMAIL)[1]
    return address.rpartition("@")[2] or "localhost"


def message_id_for(token: str) -> str:
    return f"<{token}@{sender_domain()}>"


def _step_message(*, due: DueStep, run: Any, step: Any, lead: Any) -> EmailMessage:
    """The (unsaved) record of a sequence step's email, with its Message-ID."""
    message = EmailMessage(
        kind=EmailMessage.Kind.MARKETING,
        purpose=EmailMessage.Purpose.SEQUENCE,
        lead=lead,
        tenant_id=lead.tenant_id,
        due_step=due,
        run=run,
        sequence_id=run.sequence_id,
        step=step,
    )
    message.message_id = message_id_for(message.token)
    return message


def _recipient_hash(lead: Any) -> str:
    return getattr(lead, "email_hash", "") or email_index(lead.email)


def _deliver(
    message: EmailMessage,
    *,
    to: str,
    subject: str,
    html: str,
    text: str,
    unsubscribe: str = "",
    reply_to: str = "",
) -> str:
    """Hand one message to the backend; returns the ESP's message id ("" for SMTP)."""
    headers = {"Message-ID": message.message_id}
    if message.kind == EmailMessage.Kind.MARKETING:
        # RFC 8058: exactly one HTTPS URI and the one-click key; the ESP's DKIM signature must cover both.
        headers["List-Unsubscribe"] = f"<{unsubscribe}>"
        headers["List-Unsubscribe-Post"] = ONE_CLICK_VALUE
    mail = EmailMultiAlternatives(
        subject=subject,
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[to],
        reply_to=[reply_to] if reply_to else None,
        headers=headers,
        connection=_connection.get(),
    )
    mail.attach_alternative(html, "text/html")
    # Read by django-anymail backends only (SMTP ignores them): ESP events then name our row.
    mail.metadata = {"message_token": message.token, "purpose": message.purpose}
    mail.tags = [message.purpose]
    if message.kind == EmailMessage.Kind.TRANSACTIONAL:
        mail.track_clicks = False
        mail.track_opens = False
    try:
        _send_on_shared(mail)
    except Exception as exc:
        error = scrub_pii(f"{type(exc).__name__}: {exc}")[:500]
        EmailMessage.objects.filter(pk=message.pk).update(status=EmailMessage.Status.FAILED, error=error)
        message.status, message.error = EmailMessage.Status.FAILED, error
        logger.warning("email %s not sent: %s", message.pk, type(exc).__name__)
        raise EmailSendFailed(error) from exc
    # django-anymail: the ESP's id of the message (a bare id for one recipient; a set for several).
    esp_id = getattr(getattr(mail, "anymail_status", None), "message_id", None)
    if isinstance(esp_id, set | frozenset):
        esp_id = next(iter(esp_id)) if len(esp_id) == 1 else None
    return "" if esp_id is None else str(esp_id)


def _send_on_shared(mail: EmailMultiAlternatives) -> None:
    """Send; on a batch's shared connection that the server dropped (idle timeout), reconnect once.

    A dropped connection is closed so that the next mail of the batch opens a new one instead of
    failing too. The one retry may repeat a message the server took just before it hung up: it has
    the same Message-ID, which receivers drop as a duplicate.
    """
    try:
        mail.send(fail_silently=False)
    except Exception as exc:
        shared = _connection.get()
        if shared is None or mail.connection is not shared:
            raise
        with contextlib.suppress(Exception):
            shared.close()
        if not isinstance(exc, smtplib.SMTPServerDisconnected):
            raise
        mail.send(fail_silently=False)


def _mark_sent(message: EmailMessage, *, esp_message_id: str, now: dt.datetime) -> EmailMessage:
    updates: dict[str, Any] = {"status": EmailMessage.Status.SENT, "sent_at": now, "error": ""}
    if esp_message_id:
        updates["esp_message_id"] = esp_message_id[:255]
    # Conditional: an ESP webhook may have moved the row on (delivered, bounced) in the meantime.
    EmailMessage.objects.filter(pk=message.pk, status__in=RESENDABLE).update(**updates)
    for name, value in updates.items():
        setattr(message, name, value)
    return message


def _partner(run: SequenceRun, lead: Lead) -> Any:
    """The run's partner (or the lead's), loaded once per batch like its signature."""
    partner_id = run.partner_id or getattr(lead, "assigned_partner_id", None)
    if partner_id is None:
        return None
    cache = _signatures.get()
    if cache is not None and ("user", partner_id) in cache:
        return cache[("user", partner_id)]
    partner = run.partner if run.partner_id is not None else lead_partner(lead)
    if cache is not None:
        cache[("user", partner_id)] = partner
    return partner


def _signature(partner: Any) -> dict[str, str]:
    """The partner's signature, read once per batch (``email_connection``) instead of once per mail."""
    cache = _signatures.get()
    key = getattr(partner, "pk", None)
    if cache is None or key is None:
        return partner_signature(partner)
    if key not in cache:
        cache[key] = partner_signature(partner)
    return cache[key]


def _prepare(message: EmailMessage, *, step: Any, lead: Lead, partner: Any) -> RenderedEmail:
    """Render the step for the lead with the message's tracking token and fill the row's fields."""
    signature = _signature(partner)
    rendered = render_step_email(step=step, lead=lead, message=message, partner=partner, signature=signature)
    message.to_hash = _recipient_hash(lead)
    message.to_email = lead.email
    message.subject = rendered.subject
    message.links = rendered.links
    message.status = EmailMessage.Status.SENDING
    message.error = ""
    return rendered


def _insert(message: EmailMessage) -> bool:
    """Insert a new row; False when its unique key (due step, Message-ID) exists already.

    Outside a transaction (the tick) the insert commits on its own: no savepoint round trips.
    """
    try:
        if transaction.get_connection().in_atomic_block:
            with transaction.atomic():
                message.save(force_insert=True)
        else:
            message.save(force_insert=True)
    except IntegrityError:
        return False
    return True


def email_step_send(*, due: DueStep, owner: str, now: dt.datetime | None = None) -> EmailMessage | None:
    """Send the email of a claimed due step exactly once; the ``EmailMessage``, or None if refused now.

    ``owner`` is the lease owner of ``due`` (``core.leases``). The lead's eligibility (consent,
    opt-out, suppression, erasure, address) is checked again right before sending: a refusal notes
    its reason on the due row and returns None. A row already ``sent`` for this step is returned
    as it is; a row left ``sending``/``failed`` by an earlier attempt is resent with its Message-ID.
    Call it outside a transaction: the row must be committed before the message leaves.
    """
    now = now or timezone.now()
    run = due.run
    step = due.step
    lead = run.lead
    if step.sequence_id == run.sequence_id:
        step.sequence = run.sequence  # loaded with the run by the tick: no query per mail
    reason = email_block_reason(lead, now=now)
    if reason:
        DueStep.objects.filter(pk=due.pk).update(note=reason[:64])
        # A row an earlier attempt left unsent will not be sent now (a sent one stays as it is).
        EmailMessage.objects.filter(due_step=due, status__in=RESENDABLE).update(
            status=EmailMessage.Status.SUPPRESSED, error=reason
        )
        return None
    partner = _partner(run, lead)
    # The common case first: no row yet. The unique due step decides between two executors.
    message = _step_message(due=due, run=run, step=step, lead=lead)
    rendered = _prepare(message, step=step, lead=lead, partner=partner)
    if not _insert(message):
        existing = EmailMessage.objects.filter(due_step=due).first()
        if existing is None or existing.status not in RESENDABLE:
            return existing  # sent already (or being sent by the executor that recorded it)
        if owner and not DueStep.objects.filter(DUE_STEP_LEASE.held_by(owner), pk=due.pk).exists():
            return None  # our lease was taken over: the new holder resends it
        # An earlier attempt died after recording: the same row and Message-ID go out again.
        message = existing
        rendered = _prepare(message, step=step, lead=lead, partner=partner)
        message.save(update_fields=["to_hash", "to_email", "subject", "links", "status", "error"])
    esp_id = _deliver(
        message,
        to=lead.email,
        subject=rendered.subject,
        html=rendered.html,
        text=rendered.text,
        unsubscribe=rendered.unsubscribe_url,
        reply_to=getattr(partner, "email", "") or "",
    )
    return _mark_sent(message, esp_message_id=esp_id, now=now)


def email_steps_send(
    *, dues: list[DueStep], owner: str, now: dt.datetime | None = None
) -> dict[Any, EmailMessage | None]:
    """``email_step_send`` for a tick's whole batch: the same guarantees with a few queries per batch.

    One eligibility re-check for all leads, one read of rows earlier attempts left, one insert of
    the new rows (committed before anything leaves), the sends over the batch's connection, one
    update marking the sent ones. Returns, per due row pk, its ``EmailMessage`` (``sent``, or
    ``failed`` when the backend refused it: retry later, the Message-ID stays) or None (refused now;
    the reason is on the due row). Rows of a batch share nothing but the connection: one failed send
    does not stop the others. Call it outside a transaction.
    """
    now = now or timezone.now()
    results: dict[Any, EmailMessage | None] = {}
    if not dues:
        return results
    leads = {due.run.lead_id: due.run.lead for due in dues}
    reasons = email_block_reasons(leads.values(), now=now)
    blocked: dict[str, list[Any]] = {}
    for due in dues:
        reason = reasons[due.run.lead_id]
        if reason:
            blocked.setdefault(reason, []).append(due.pk)
            results[due.pk] = None
    for reason, pks in blocked.items():
        DueStep.objects.filter(pk__in=pks).update(note=reason[:64])
        EmailMessage.objects.filter(due_step__in=pks, status__in=RESENDABLE).update(
            status=EmailMessage.Status.SUPPRESSED, error=reason
        )
    ready = [due for due in dues if due.pk not in results]
    earlier = {m.due_step_id: m for m in EmailMessage.objects.filter(due_step__in=[due.pk for due in ready])}
    outgoing: list[tuple[DueStep, EmailMessage, RenderedEmail, Any]] = []
    new_rows: list[EmailMessage] = []
    for due in ready:
        run, step = due.run, due.step
        lead = run.lead
        if step.sequence_id == run.sequence_id:
            step.sequence = run.sequence
        message = earlier.get(due.pk)
        if message is not None and message.status not in RESENDABLE:
            results[due.pk] = message  # sent already
            continue
        partner = _partner(run, lead)
        if message is None:
            message = _step_message(due=due, run=run, step=step, lead=lead)
            new_rows.append(message)
        elif owner and not DueStep.objects.filter(DUE_STEP_LEASE.held_by(owner), pk=due.pk).exists():
            results[due.pk] = None  # our lease was taken over: the new holder resends it
            continue
        rendered = _prepare(message, step=step, lead=lead, partner=partner)
        if message.pk is not None:
            message.save(update_fields=["to_hash", "to_email", "subject", "links", "status", "error"])
        outgoing.append((due, message, rendered, partner))
    try:
        with transaction.atomic():
            EmailMessage.objects.bulk_create(new_rows)
    except IntegrityError:
        # Another executor recorded one of these steps meanwhile: fall back to one at a time.
        for item in outgoing:
            due = item[0]
            try:
                results[due.pk] = email_step_send(due=due, owner=owner, now=now)
            except EmailSendFailed:
                results[due.pk] = EmailMessage.objects.filter(due_step=due).first()
        return results
    sent: list[EmailMessage] = []
    for due, message, rendered, partner in outgoing:
        try:
            esp_id = _deliver(
                message,
                to=due.run.lead.email,
                subject=rendered.subject,
                html=rendered.html,
                text=rendered.text,
                unsubscribe=rendered.unsubscribe_url,
                reply_to=getattr(partner, "email", "") or "",
            )
        except EmailSendFailed:
            results[due.pk] = message  # status failed
            continue
        if esp_id:
            _mark_sent(message, esp_message_id=esp_id, now=now)
        else:
            sent.append(message)
        results[due.pk] = message
    if sent:
        EmailMessage.objects.filter(pk__in=[m.pk for m in sent], status__in=RESENDABLE).update(
            status=EmailMessage.Status.SENT, sent_at=now, error=""
        )
        for message in sent:
            message.status, message.sent_at, message.error = EmailMessage.Status.SENT, now, ""
    return results


def email_test_send(*, step: Any, lead: Lead, to_email: str, actor: Any) -> EmailMessage:
    """Send a step's email, rendered for ``lead``, to ``to_email`` (the admin's own address): transactional.

    Not tracked, not counted by the caps, no one-click header (a test is not marketing to the lead);
    the subject says it is a test.
    """
    to_email = (to_email or "").strip()
    if not to_email:
        raise ValueError("A test send needs an address.")
    rendered = render_step_email(step=step, lead=lead)
    subject = _("[Test] %(subject)s") % {"subject": rendered.subject}
    with transaction.atomic():
        message = EmailMessage(
            kind=EmailMessage.Kind.TRANSACTIONAL,
            purpose=EmailMessage.Purpose.TEST,
            lead=lead,
            tenant_id=lead.tenant_id,
            sequence_id=step.sequence_id,
            step=step,
            to_hash=email_index(to_email),
            to_email=to_email,
            subject=subject,
            status=EmailMessage.Status.SENDING,
        )
        message.message_id = message_id_for(message.token)
        message.save(force_insert=True)
        audit_record(
            event_type="email.test_sent",
            actor=actor,
            obj=message,
            tenant=None,
            payload={"step_id": step.pk, "sequence_id": step.sequence_id, "lead_id": str(lead.pk)},
        )
    esp_id = _deliver(message, to=to_email, subject=subject, html=rendered.html, text=rendered.text)
    return _mark_sent(message, esp_message_id=esp_id, now=timezone.now())


# --- Double opt-in -----------------------------------------------------------------------------


def doi_message_id(grant: ConsentRecord) -> str:
    """The Message-ID of a grant's confirmation mail: one per grant, so a retried task finds its row."""
    return f"<doi.{grant.pk}@{sender_domain()}>"


def doi_grant_needs_mail(record: ConsentRecord) -> bool:
    """A marketing-email grant of a lead by a form/import/service that nobody has sent a DOI link for."""
    return (
        record.code == ConsentRecord.Code.MARKETING_EMAIL
        and record.action == ConsentRecord.Action.GRANTED
        and record.subject_lead_id is not None
        and not record.doi_token_hash  # a consent_doi_request's grant: its caller holds the token
    )


def doi_pending_grant(lead: Lead) -> ConsentRecord | None:
    """The newest marketing-email grant of a lead whose consent waits for its double opt-in, if any."""
    state = consent_state(lead, ConsentRecord.Code.MARKETING_EMAIL)
    if state.status != PENDING:
        return None
    return (
        ConsentRecord.objects.filter(
            subject_lead_id=lead.pk,
            code=ConsentRecord.Code.MARKETING_EMAIL,
            action=ConsentRecord.Action.GRANTED,
            doi_token_hash="",
        )
        .order_by("-recorded_at", "-id")
        .first()
    )


def _doi_blocked(lead: Lead | None, grant: ConsentRecord) -> str | None:
    if lead is None or lead.erased_at is not None:
        return "erased"
    if not lead.email:
        return "no_email"
    if consent_state(lead, grant.code).status != PENDING:
        return "not_pending"  # confirmed already, or withdrawn since
    if EmailSuppression.objects.filter(email_hash=_recipient_hash(lead)).exists():
        return "suppressed"
    return None


def email_doi_send(*, grant_id: int, now: dt.datetime | None = None) -> EmailMessage | None:
    """Send the plain double-opt-in confirmation mail for a pending marketing grant, once per grant.

    The row (purpose ``doi``, Message-ID derived from the grant) is recorded before the mail leaves;
    a retried task finds it: ``sent`` → nothing happens; ``sending``/``failed`` → a fresh token is
    requested (the ledger keeps only its hash, so the old one is lost) and the mail resent with the
    same Message-ID. The token request carries the Message-ID as evidence. None when nothing is due.
    """
    now = now or timezone.now()
    grant = ConsentRecord.objects.select_related("subject_lead", "wording").filter(pk=grant_id).first()
    if grant is None or not doi_grant_needs_mail(grant):
        return None
    lead = grant.subject_lead
    message_id = doi_message_id(grant)
    message = EmailMessage.objects.filter(message_id=message_id).first()
    if message is not None and message.status not in RESENDABLE:
        return message
    if _doi_blocked(lead, grant):
        return None
    if message is None:
        recent = EmailMessage.objects.filter(
            lead=lead,
            purpose=EmailMessage.Purpose.DOI,
            status__in=[EmailMessage.Status.SENT, EmailMessage.Status.DELIVERED],
            sent_at__gte=now - DOI_RESEND_PAUSE,
        )
        if recent.exists():
            return None  # a form sent again and again must not flood the person with confirmation mails
    with override(settings.LANGUAGE_CODE):
        subject = _("Please confirm your email subscription")
    if message is None:
        message = EmailMessage(
            kind=EmailMessage.Kind.TRANSACTIONAL,
            purpose=EmailMessage.Purpose.DOI,
            lead=lead,
            tenant_id=lead.tenant_id,
            message_id=message_id,
            to_hash=_recipient_hash(lead),
            to_email=lead.email,
            subject=subject,
            status=EmailMessage.Status.SENDING,
        )
        if not _insert(message):
            return EmailMessage.objects.filter(message_id=message_id).first()  # a parallel task has it
    _record, token = consent_doi_request(
        actor=None,
        lead=lead,
        code=grant.code,
        version=grant.version,
        text=grant.text,
        source=grant.source,
        lawful_basis=grant.lawful_basis,
        evidence={"requested_for": grant.pk, "message_id": message_id},
        tenant=lead.tenant,
        expires_at=grant.expires_at,
    )
    confirm_url = f"{settings.SITE_URL}{reverse('consent:confirm', args=[token])}"
    context = {"confirm_url": confirm_url, "subject": subject}  # plain: no advertising, no personal data
    with override(settings.LANGUAGE_CODE):
        html = render_to_string("followups/email/doi_confirm.html", context)
        text = render_to_string("followups/email/doi_confirm.txt", context).strip() + "\n"
    esp_id = _deliver(message, to=lead.email, subject=subject, html=html, text=text)
    return _mark_sent(message, esp_message_id=esp_id, now=now)


# --- Unsubscribe (API-592) ---------------------------------------------------------------------


@dataclass(frozen=True)
class UnsubscribeOutcome:
    """What an unsubscribe did: ``scope`` ``all`` or ``sequence``, whether the ledger changed, runs ended."""

    scope: str
    revoked: bool
    runs_ended: int
    sequence_name: str = ""


SCOPE_ALL = "all"
SCOPE_SEQUENCE = "sequence"


def unsubscribe_context(target: UnsubscribeTarget) -> tuple[Lead | None, Sequence | None]:
    """The lead and sequence a valid token names (None for ones that are gone)."""
    lead = Lead.objects.filter(pk=target.lead_id).first() if _is_uuid(target.lead_id) else None
    sequence = Sequence.objects.filter(code=target.sequence_code).first() if target.sequence_code else None
    return lead, sequence


def _is_uuid(value: str) -> bool:
    import uuid

    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


@transaction.atomic
def email_unsubscribe(
    *, target: UnsubscribeTarget, scope: str = SCOPE_ALL, via: str = "one_click", now: dt.datetime | None = None
) -> UnsubscribeOutcome:
    """Opt a lead out: of all marketing (a consent-ledger withdrawal, every run ends) or of one sequence.

    Idempotent: a repeated unsubscribe changes nothing and reports the same scope. ``via`` (``one_click``
    or ``page``) goes into the evidence; no personal data does.
    """
    now = now or timezone.now()
    lead, sequence = unsubscribe_context(target)
    if scope == SCOPE_SEQUENCE and sequence is None:
        scope = SCOPE_ALL  # a link without (or with a deleted) sequence can only mean everything
    message = (
        EmailMessage.objects.filter(token=target.message_token).only("pk", "message_id", "lead_id").first()
        if target.message_token
        else None
    )
    if message is not None and message.lead_id is not None and str(message.lead_id) != str(target.lead_id):
        message = None
    if lead is None:
        return UnsubscribeOutcome(scope=scope, revoked=False, runs_ended=0)
    revoked = False
    if scope == SCOPE_ALL:
        evidence: dict[str, Any] = {"via": via}
        if sequence is not None:
            evidence["sequence"] = sequence.code
        if message is not None:
            evidence["message_id"] = message.message_id
        revoked = (
            lead_marketing_consent_revoke(
                lead=lead, actor=None, source=ConsentRecord.Source.UNSUBSCRIBE, evidence=evidence
            )
            is not None
        )
        ended = runs_exit(lead_ids=[lead.pk], reason=SequenceRun.ExitReason.UNSUBSCRIBED, actor=None)
    else:
        ended = runs_exit(lead_ids=[lead.pk], reason=SequenceRun.ExitReason.UNSUBSCRIBED, actor=None, sequence=sequence)
    if message is not None:
        EmailMessage.objects.filter(pk=message.pk, unsubscribed_at__isnull=True).update(unsubscribed_at=now)
    return UnsubscribeOutcome(
        scope=scope, revoked=revoked, runs_ended=ended or 0, sequence_name=sequence.name if sequence else ""
    )


__all__ = [
    "RenderedEmail",
    "email_connection",
    "email_doi_send",
    "email_step_send",
    "email_steps_send",
    "email_test_send",
    "email_unsubscribe",
]
