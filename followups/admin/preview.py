"""Preview and test-send glue of the sequence editor: the email as the lead would get it, without tracking."""

from __future__ import annotations

from dataclasses import dataclass, field

from followups.rendering import EmailRenderError, render_step_email
from followups.services.email import email_test_send


@dataclass
class Preview:
    subject: str = ""
    html: str = ""
    text: str = ""
    links: list[str] = field(default_factory=list)
    error: str = ""


def render_preview(*, step, lead) -> Preview:
    """The rendered step for ``lead``; a template error comes back as ``error``, never half a mail."""
    try:
        rendered = render_step_email(step=step, lead=lead)
    except EmailRenderError as exc:
        return Preview(error=str(exc))
    return Preview(subject=rendered.subject, html=rendered.html, text=rendered.text, links=list(rendered.links))


def test_send(*, step, lead, user):
    """The step rendered for ``lead``, sent to the signed-in admin's own address (never to the lead)."""
    return email_test_send(step=step, lead=lead, to_email=user.email, actor=user)
