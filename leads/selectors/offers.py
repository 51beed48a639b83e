"""Offer reads: a partner's inbox of open pool offers and one offer of theirs (SPEC §8).

Partners only ever see their own offers; another partner's offer does not exist for them (404).
"""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from core.exceptions import NotFoundError
from leads.models import LeadAssignment


def partner_open_offers(*, partner: User) -> QuerySet[LeadAssignment]:
    """The partner's inbox: open offers that have not run out, soonest deadline first."""
    return (
        LeadAssignment.objects.filter(
            partner=partner, status=LeadAssignment.Status.OFFERED, expires_at__gt=timezone.now()
        )
        .select_related("lead")
        .order_by("expires_at", "id")
    )


def offer_get_for_partner(*, lead_id, partner: User) -> LeadAssignment:
    """The partner's offer of a lead (the open one, else the latest); another partner's lead is a 404."""
    offers = LeadAssignment.objects.filter(lead_id=lead_id, partner=partner).select_related("lead")
    offer = offers.filter(status=LeadAssignment.Status.OFFERED).first() or offers.order_by("-offered_at", "-id").first()
    if offer is None:
        raise NotFoundError(_("No such offer."))
    return offer
