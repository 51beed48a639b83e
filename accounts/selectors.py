"""Read queries for accounts."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import PartnerProfile, User


def partner_list_active() -> QuerySet[PartnerProfile]:
    """Active partners with their team, ready for the offer dialog."""
    return (
        PartnerProfile.objects.select_related("user", "team")
        .filter(is_active=True, user__is_active=True)
        .order_by("display_name", "user__email")
    )


def user_get_by_id_or_email(value: str | int) -> User | None:
    """Resolve ``{"partner": <user id or email>}`` style references."""
    text = str(value).strip()
    if text.isdigit():
        return User.objects.filter(pk=int(text)).first()
    return User.objects.filter(email=text.lower()).first()


def staff_list_active() -> QuerySet[User]:
    """Active platform admins and internal ops users: who hears about pool leads and broken connections."""
    return User.objects.filter(is_active=True, role__in=User.STAFF_ROLES).order_by("pk")
