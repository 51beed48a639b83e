"""Options shared by ``export_subject`` and ``erase_subject``: who the person is, who asks."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError, CommandParser
from django.utils.translation import gettext as _

from compliance.registry import SubjectQuery


def add_subject_arguments(parser: CommandParser) -> None:
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--email", help="Every lead with this email address, in every tenant.")
    group.add_argument("--phone", help="Every lead with this phone number (any notation; default region DE).")
    group.add_argument("--lead", help="A lead id (UUID): that lead's person.")
    parser.add_argument("--actor", default=None, help="Email of the admin answering the request (audit trail).")


def subject_query_from(options: dict[str, Any]) -> SubjectQuery:
    for kind in ("email", "phone", "lead"):
        if options.get(kind) is not None:
            return SubjectQuery(kind=kind, value=options[kind])
    raise CommandError(_("Give exactly one of --email, --phone and --lead."))


def actor_from(options: dict[str, Any]) -> Any | None:
    """``--actor``: the user the audit trail names; None (the system) without it."""
    email = (options.get("actor") or "").strip()
    if not email:
        return None
    user = get_user_model().objects.filter(email__iexact=email).first()
    if user is None:
        raise CommandError(_("No user with email %(email)s.") % {"email": email})
    return user
