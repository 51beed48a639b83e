"""Option lookups shared by the lead commands (``import_leads``, ``export_leads``)."""

from __future__ import annotations

from django.core.management.base import CommandError
from django.utils.translation import gettext as _

from accounts.models import Organization, User


def organization_by_slug_or_id(value: str) -> Organization:
    """``--tenant``: an organization slug, or its numeric id."""
    query = Organization.objects.filter(slug=value)
    if value.isdigit():
        query = query | Organization.objects.filter(pk=int(value))
    tenant = query.first()
    if tenant is None:
        raise CommandError(_("No organization with slug or id %(value)s.") % {"value": value})
    return tenant


def user_by_email(email: str) -> User:
    """``--actor``: the user the audit trail names (case-insensitive email)."""
    user = User.objects.filter(email__iexact=email.strip()).first()
    if user is None:
        raise CommandError(_("No user with email %(email)s.") % {"email": email})
    return user
