"""Rendering of sequence emails and task messages with Django's template engine (SPEC §11).

A step's subject and bodies are Django templates over the lead's fields (``{{ first_name|default:"Hallo" }}``)
and, for a partner's lead, the partner's name and address. The HTML part is rendered with autoescape
and wrapped in the base layout (``templates/followups/email/base.html``: the partner's signature, the
visible unsubscribe link, the open pixel); the plain-text part is the step's ``body_text`` or, when
that is empty, derived from the HTML. For a real send (``message`` given) every http(s) link of the
body is rewritten to our click redirect ``/e/c/<token>/<index>/`` and its original URL kept in
``links`` (the redirect goes only there: no open redirect); the admin's preview (no message) shows
the mail without tracking. A template that does not compile or fails while rendering raises
``EmailRenderError``: a half-rendered mail never leaves.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from functools import lru_cache
from html.parser import HTMLParser
from typing import Any

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.template import Context, Template, TemplateSyntaxError
from django.template.loader import render_to_string
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _

from core.exceptions import DomainError
from followups.tokens import unsubscribe_token, unsubscribe_url

#: The lead's fields a template may use (besides the derived ``full_name``/``salutation_name``).
LEAD_FIELDS = (
    "first_name",
    "last_name",
    "email",
    "company_name",
    "job_title",
    "postcode",
    "city",
    "region",
    "country",
    "public_id",
)
_HREF = re.compile(r"""(<a\b[^>]*?\bhref\s*=\s*)(["'])(.*?)\2""", re.IGNORECASE | re.DOTALL)
_LINE_BREAKS = re.compile(r"[\r\n]+")


class EmailRenderError(DomainError):
    """A step's template does not compile or fails while rendering: nothing is sent."""

    status_code = 400
    code = "email_template_error"


@dataclass
class RenderedEmail:
    """A rendered email: subject, HTML and text parts, and the original URLs the HTML links to (by index)."""

    subject: str
    html: str
    text: str
    links: list[str] = field(default_factory=list)
    unsubscribe_url: str = ""


@lru_cache(maxsize=512)
def _compiled(source: str) -> Template:
    """Compile once per distinct source: a tick renders the same step for hundreds of leads."""
    return Template(source)


def _render(source: str, context: dict[str, Any], *, autoescape: bool, what: str) -> str:
    if not source:
        return ""
    try:
        return _compiled(source).render(Context(context, autoescape=autoescape))
    except TemplateSyntaxError as exc:
        raise EmailRenderError(
            _("The %(part)s of this step is not a valid template: %(error)s") % {"part": what, "error": exc},
            fields={what: [str(exc)]},
        ) from exc
    except Exception as exc:  # a filter or tag that raises: never a half-rendered mail
        raise EmailRenderError(
            _("The %(part)s of this step could not be rendered: %(error)s")
            % {"part": what, "error": type(exc).__name__},
            fields={what: [type(exc).__name__]},
        ) from exc


def template_check(source: str, *, what: str = "body") -> None:
    """Raise ``EmailRenderError`` when ``source`` is not a valid Django template (for the admin's form)."""
    try:
        _compiled(source)
    except TemplateSyntaxError as exc:
        raise EmailRenderError(
            _("The %(part)s of this step is not a valid template: %(error)s") % {"part": what, "error": exc},
            fields={what: [str(exc)]},
        ) from exc


def partner_signature(partner: Any) -> dict[str, str]:
    """The partner's name, email and company for the signature (empty for the platform's own leads)."""
    if partner is None:
        return {"partner_name": "", "partner_email": "", "partner_company": ""}
    try:
        profile = partner.partner_profile
    except ObjectDoesNotExist:
        profile = None
    name = (profile.display_name or "") if profile is not None else ""
    name = name or partner.get_full_name() or ""
    organization = getattr(partner, "organization", None)
    company = "" if organization is None or getattr(organization, "is_platform", False) else organization.name
    return {"partner_name": name, "partner_email": partner.email or "", "partner_company": company}


def lead_partner(lead: Any, message: Any = None) -> Any:
    """The partner whose signature the mail carries: the run's partner, else the lead's assigned partner."""
    run = getattr(message, "run", None) if message is not None else None
    if run is not None and run.partner_id is not None:
        return run.partner
    if getattr(lead, "assigned_partner_id", None) is not None:
        return lead.assigned_partner
    return None


def lead_context(lead: Any, *, partner: Any = None, signature: dict[str, str] | None = None) -> dict[str, Any]:
    """The variables of a step template: the lead's fields (decrypted) and the partner's signature.

    ``signature``: the partner's, computed once by a caller that sends many mails for the same partner.
    """
    context: dict[str, Any] = {name: getattr(lead, name, "") or "" for name in LEAD_FIELDS}
    context["full_name"] = " ".join(p for p in (context["first_name"], context["last_name"]) if p)
    context.update(signature if signature is not None else partner_signature(partner))
    return context


def _track_links(body_html: str, token: str) -> tuple[str, list[str]]:
    """Rewrite http(s) links to the click redirect; returns the new HTML and the original URLs by index."""
    links: list[str] = []
    index_of: dict[str, int] = {}

    def replace(match: re.Match) -> str:
        original = html.unescape(match.group(3)).strip()
        if not original.lower().startswith(("http://", "https://")):
            return match.group(0)  # mailto:, tel:, anchors stay as they are
        if original not in index_of:
            index_of[original] = len(links)
            links.append(original)
        tracked = f"{settings.SITE_URL}/e/c/{token}/{index_of[original]}/"
        return f"{match.group(1)}{match.group(2)}{tracked}{match.group(2)}"

    return _HREF.sub(replace, body_html), links


class _TextExtractor(HTMLParser):
    """HTML → readable plain text: paragraphs and breaks become lines, links become ``text (url)``."""

    BLOCKS = frozenset({"p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "table", "tr", "blockquote"})
    SKIP = frozenset({"style", "script", "head", "title"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip = 0
        self.href: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIP:
            self.skip += 1
        elif tag == "br":
            self.parts.append("\n")
        elif tag in self.BLOCKS:
            self.parts.append("\n\n")
        elif tag == "li":
            self.parts.append("\n- ")
        elif tag == "a":
            self.href.append(dict(attrs).get("href"))
        elif tag == "img":
            alt = dict(attrs).get("alt")
            if alt:
                self.parts.append(alt)

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP:
            self.skip = max(0, self.skip - 1)
        elif tag in self.BLOCKS:
            self.parts.append("\n\n")
        elif tag == "a" and self.href:
            href = self.href.pop()
            if href and href.lower().startswith(("http://", "https://", "mailto:")):
                self.parts.append(f" ({href.removeprefix('mailto:')})")

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.parts.append(re.sub(r"\s+", " ", data))


def html_to_text(body_html: str) -> str:
    """A plain-text version of an HTML body (the text part when a step has no ``body_text``)."""
    parser = _TextExtractor()
    parser.feed(body_html)
    parser.close()
    lines = [line.strip() for line in "".join(parser.parts).splitlines()]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def render_step_email(
    *,
    step: Any,
    lead: Any,
    message: Any = None,
    partner: Any = None,
    unsubscribe: str | None = None,
    signature: dict[str, str] | None = None,
) -> RenderedEmail:
    """Render a step's email for a lead: the admin's preview (no ``message``) or a send (with tracking).

    ``unsubscribe``: the API-592 link; by default one for this lead and the step's sequence (and the
    message's token when sending).
    """
    if signature is None:
        partner = partner if partner is not None else lead_partner(lead, message)
    context = lead_context(lead, partner=partner, signature=signature)
    if unsubscribe is None:
        token = unsubscribe_token(
            lead_id=lead.pk,
            sequence_code=step.sequence.code,
            message_token=getattr(message, "token", "") or "",
        )
        unsubscribe = unsubscribe_url(token)
    context["unsubscribe_url"] = unsubscribe
    subject = _LINE_BREAKS.sub(" ", _render(step.subject, context, autoescape=False, what="subject")).strip()
    body_html = _render(step.body_html, context, autoescape=True, what="body_html")
    if step.body_text:
        body_text = _render(step.body_text, context, autoescape=False, what="body_text").strip()
    else:
        body_text = html_to_text(body_html)
    links: list[str] = []
    pixel = ""
    if message is not None:
        body_html, links = _track_links(body_html, message.token)
        pixel = f"{settings.SITE_URL}/e/o/{message.token}.gif"
    layout = {**context, "subject": subject, "body_html": mark_safe(body_html), "body_text": body_text}  # noqa: S308
    layout["pixel_url"] = pixel
    try:
        full_html = render_to_string("followups/email/base.html", layout)
        full_text = render_to_string("followups/email/base.txt", layout)
    except Exception as exc:
        raise EmailRenderError(_("The email layout could not be rendered: %(error)s") % {"error": exc}) from exc
    return RenderedEmail(
        subject=subject, html=full_html, text=full_text.strip() + "\n", links=links, unsubscribe_url=unsubscribe
    )


def render_task_message(*, step: Any, lead: Any, partner: Any = None) -> str:
    """The suggested message of a task step for a lead (text, no escaping: the partner copies it)."""
    context = lead_context(lead, partner=partner if partner is not None else lead_partner(lead))
    if step.body_text:
        return _render(step.body_text, context, autoescape=False, what="body_text").strip()
    return html_to_text(_render(step.body_html, context, autoescape=True, what="body_html"))
