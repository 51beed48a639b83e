"""Follow-up messages (SPEC §11): templates rendered for a lead, an optional LLM suggestion, personal emails.

A ``MessageTemplate`` is the partner's own copy when they have one, else the platform default. It is a
Django template of OURS; the lead's values are only its context (a value like ``{{ x }}`` in a lead's name
is printed, never evaluated: no template injection). Text is rendered without autoescape (the partner
copies it into WhatsApp or a mail).

With an LLM configured (``integrations.llm``) the message is a personalised rewrite of the template: the
prompt carries the template text, the reason, the interest type and the stage, never contact data
(name, email, phone); the name goes back in for the ``[VORNAME]`` marker afterwards. Prompt and answer are
logged without personal data. The API only ever returns a suggestion: the partner edits before sending.

Personal email (API-561 batch send): the partner's 1:1 email to their own lead. Decided: it is recorded
as ``kind=marketing``, ``purpose=personal`` — it needs marketing consent (UWG §7: an email about the
business opportunity is advertising), it carries the one-click unsubscribe header, it respects opt-outs
and the suppression list, and it respects and counts towards the global frequency cap. It is sent at once
(no send window: the partner pressed send) and with the partner as Reply-To.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.template import Context, Template, TemplateSyntaxError
from django.utils import timezone
from django.utils.translation import gettext as _

from compliance.services import audit_record
from core.exceptions import DomainError, NotFoundError, TransientError
from core.pii import scrub_pii
from followups.models import EmailMessage, FollowupTask, MessageTemplate, SequenceStep
from followups.rendering import lead_context, partner_signature
from followups.selectors import eligibility
from followups.services import guardrails
from integrations.llm import client as llm_client

logger = logging.getLogger(__name__)

NAME_MARKER = "[VORNAME]"
#: API-561: at most this many leads per request (the view is rate-limited on top).
BATCH_MAX = 50


@dataclass(frozen=True)
class GeneratedMessage:
    subject: str
    body: str
    template: str
    source: str  # "template" | "llm"
    channel: str = SequenceStep.Channel.AUTO


# --- Templates ----------------------------------------------------------------------------------------------


def templates_for(user: Any) -> list[MessageTemplate]:
    """API-577: the user's own active templates and the platform defaults they have no copy of, by code."""
    rows = MessageTemplate.objects.filter(Q(owner__isnull=True) | Q(owner_id=getattr(user, "pk", None)), is_active=True)
    chosen: dict[str, MessageTemplate] = {}
    for template in rows:
        if template.code not in chosen or template.owner_id is not None:
            chosen[template.code] = template
    return [chosen[code] for code in sorted(chosen)]


def templates_by_code(user: Any, codes: set[str] | None = None) -> dict[str, MessageTemplate]:
    """The template the user gets for each code (own copy first), in one query."""
    rows = MessageTemplate.objects.filter(Q(owner__isnull=True) | Q(owner_id=getattr(user, "pk", None)), is_active=True)
    if codes is not None:
        rows = rows.filter(code__in=codes)
    chosen: dict[str, MessageTemplate] = {}
    for template in rows:
        if template.code not in chosen or template.owner_id is not None:
            chosen[template.code] = template
    return chosen


def template_get(user: Any, code: str) -> MessageTemplate:
    template = templates_by_code(user, {code}).get(code)
    if template is None:
        raise NotFoundError(_("Message template not found."))
    return template


@lru_cache(maxsize=256)
def _compiled(source: str) -> Template:
    """Compile once per distinct source: a suggestion list renders the same templates for many leads."""
    return Template(source)


def _render(source: str, context: dict[str, Any]) -> str:
    if not source:
        return ""
    try:
        return _compiled(source).render(Context(context, autoescape=False)).strip()
    except TemplateSyntaxError as exc:
        raise DomainError(
            _("The message template is not valid: %(error)s") % {"error": exc}, code="template_error"
        ) from exc


def render_template(template: MessageTemplate, *, lead: Any, partner: Any = None, signature: dict | None = None):
    """(subject, body) of ``template`` for ``lead``, signed by ``partner`` (the lead's partner by default)."""
    partner = partner if partner is not None else getattr(lead, "assigned_partner", None)
    context = lead_context(lead, partner=partner, signature=signature)
    return _render(template.subject, context).replace("\n", " "), _render(template.body, context)


# --- Generation ---------------------------------------------------------------------------------------------


def _llm_prompt(*, template_text: str, reason: str, interest_type: str, stage: str) -> str:
    return (
        "Du schreibst für eine Vertriebspartnerin oder einen Vertriebspartner im DACH-Raum eine kurze, "
        "persönliche Follow-up-Nachricht an einen Kontakt. Sie-Form, warm und professionell, höchstens "
        "fünf Sätze, keine Versprechen zu Einkommen oder Heilwirkung, keine Emojis. Verwende genau "
        f"einmal den Platzhalter {NAME_MARKER} für den Vornamen und keine anderen Platzhalter.\n"
        f"Anlass: {reason}\nInteresse: {interest_type or 'unbekannt'}\nPhase: {stage or 'unbekannt'}\n"
        f"Vorlage:\n{template_text}\n\nAntworte nur mit dem Nachrichtentext."
    )


def _llm_body(*, template: MessageTemplate, lead: Any, reason: str) -> str | None:
    """The LLM's rewrite with the first name put back, or None (not configured, failed, empty)."""
    if not llm_client.configured():
        return None
    prompt = _llm_prompt(
        template_text=template.body, reason=reason, interest_type=lead.interest_type or "", stage=lead.stage or ""
    )
    try:
        answer = llm_client.complete(prompt).strip()
    except (TransientError, ValueError) as exc:
        logger.warning("followup message: LLM unavailable (%s)", type(exc).__name__)
        return None
    logger.info("followup message: LLM prompt=%r answer=%r", scrub_pii(prompt), scrub_pii(answer)[:2000])
    if not answer:
        return None
    first_name = (getattr(lead, "first_name", "") or "").strip()
    # The answer is text, never a template: braces in it are printed as they are.
    return answer.replace(NAME_MARKER, first_name).replace("  ", " ")


def generate_message(
    *, lead: Any, reason: str, template_code: str | None = None, user: Any = None, use_llm: bool = True
) -> GeneratedMessage:
    """A suggested message for ``lead``: the template (``template_code``, else the reason's) for the user."""
    user = user if user is not None else getattr(lead, "assigned_partner", None)
    template = template_get(user, template_code or reason)
    subject, body = render_template(template, lead=lead, partner=user)
    if use_llm:
        rewritten = _llm_body(template=template, lead=lead, reason=reason)
        if rewritten:
            return GeneratedMessage(subject, rewritten, template.code, "llm", template.channel)
    return GeneratedMessage(subject, body, template.code, "template", template.channel)


def message_preview(*, user: Any, lead: Any, template_code: str) -> GeneratedMessage:
    """API-578: the template rendered for the lead (no LLM: a preview shows the template as it is)."""
    template = template_get(user, template_code)
    subject, body = render_template(template, lead=lead, partner=user)
    return GeneratedMessage(subject, body, template.code, "template", template.channel)


# --- Personal email and batch send (API-561) ------------------------------------------------------------------


def personal_email_send(*, lead: Any, template: MessageTemplate, actor: Any, now: dt.datetime | None = None):
    """Send the partner's own email (``template`` rendered for ``lead``) now; marketing rules, see above.

    The template's source is rendered here with the lead's values as context (never text rendered twice).
    Call it outside a transaction: the row is committed before the message leaves.
    """
    from compliance.blind_index import email_index
    from followups.rendering import render_step_email
    from followups.services import email as email_service
    from followups.tokens import unsubscribe_token, unsubscribe_url
    from followups.yaml_sequences import text_to_html

    now = now or timezone.now()
    step = SequenceStep(
        subject=template.subject, body_html=text_to_html(template.body), body_text=template.body, kind="email"
    )
    message = EmailMessage(
        kind=EmailMessage.Kind.MARKETING,
        purpose=EmailMessage.Purpose.PERSONAL,
        lead=lead,
        tenant_id=lead.tenant_id,
        to_hash=lead.email_hash or email_index(lead.email),
        to_email=lead.email,
        status=EmailMessage.Status.SENDING,
    )
    message.message_id = email_service.message_id_for(message.token)
    unsubscribe = unsubscribe_url(unsubscribe_token(lead_id=lead.pk, message_token=message.token))
    rendered = render_step_email(step=step, lead=lead, message=message, partner=actor, unsubscribe=unsubscribe)
    message.subject, message.links = rendered.subject, rendered.links
    with transaction.atomic():
        message.save(force_insert=True)
        audit_record(
            event_type="email.personal_sent",
            actor=actor,
            obj=message,
            tenant=lead.tenant,
            payload={"lead": str(lead.pk), "template": template.code},
        )
    esp_id = email_service._deliver(
        message,
        to=lead.email,
        subject=rendered.subject,
        html=rendered.html,
        text=rendered.text,
        unsubscribe=unsubscribe,
        reply_to=getattr(actor, "email", "") or "",
    )
    return email_service._mark_sent(message, esp_message_id=esp_id, now=now)


def _email_blocked(lead: Any, *, now: dt.datetime, block: str | None, sent: list) -> str | None:
    if block:
        return block
    if guardrails.next_cap_slot(sent, now=now) > now:
        return "frequency_cap"
    return None


def batch_send(*, user: Any, leads: list[Any], template_code: str, now: dt.datetime | None = None) -> list[dict]:
    """API-561: one result per lead: ``sent`` (email), ``task`` (other channels) or ``skipped`` with a reason.

    Skipped: opted out, lost, too many unanswered, contacted in the last 24 h (``should_followup``), and for
    email a block (no consent, suppressed, no address) or the frequency cap. ``leads`` are the user's own.
    """
    from followups.selectors.should import should_followup_many
    from followups.selectors.suggestions import suggest_channels

    now = now or timezone.now()
    template = template_get(user, template_code)
    decisions = should_followup_many(leads, now=now)
    channels = suggest_channels(leads, now=now)
    email_leads = [lead for lead in leads if _channel_for(template, channels.get(lead.pk)) == "email"]
    blocks = eligibility.email_block_reasons(email_leads, now=now) if email_leads else {}
    sends = guardrails.recent_sends([lead.email_hash for lead in email_leads if lead.email_hash], now=now)
    signature = partner_signature(user)
    results: list[dict] = []
    for lead in leads:
        decision = decisions[lead.pk]
        if not decision.ok:
            results.append({"lead": lead.pk, "status": "skipped", "reason": decision.reason})
            continue
        channel = _channel_for(template, channels.get(lead.pk))
        subject, body = render_template(template, lead=lead, partner=user, signature=signature)
        if channel == "email":
            reason = _email_blocked(lead, now=now, block=blocks.get(lead.pk), sent=sends.get(lead.email_hash, []))
            if reason:
                results.append({"lead": lead.pk, "status": "skipped", "reason": reason})
                continue
            try:
                personal_email_send(lead=lead, template=template, actor=user, now=now)
            except TransientError:
                results.append({"lead": lead.pk, "status": "skipped", "reason": "send_failed"})
                continue
            results.append({"lead": lead.pk, "status": "sent", "reason": None})
            continue
        task_create(lead=lead, user=user, channel=channel, template=template, subject=subject, body=body, now=now)
        results.append({"lead": lead.pk, "status": "task", "reason": None})
    return results


def _channel_for(template: MessageTemplate, suggested: str | None) -> str:
    """The template's channel, or for ``auto`` the lead's suggested one (Instagram becomes a message task)."""
    channel = template.channel if template.channel != SequenceStep.Channel.AUTO else (suggested or "message")
    return channel if channel in SequenceStep.Channel.values else SequenceStep.Channel.MESSAGE


@transaction.atomic
def task_create(
    *, lead: Any, user: Any, channel: str, template: MessageTemplate, subject: str, body: str, now: dt.datetime
) -> FollowupTask:
    """A task for the partner carrying the rendered message (batch send on a non-email channel)."""
    task = FollowupTask.objects.create(
        lead=lead,
        tenant_id=lead.tenant_id,
        assignee=user,
        channel=channel,
        template_code=template.code,
        subject=subject,
        message=body,
        due_at=now,
    )
    audit_record(
        event_type="followups.task_created",
        actor=user,
        obj=task,
        tenant=lead.tenant,
        payload={"lead": str(lead.pk), "template": template.code, "channel": channel},
    )
    return task
