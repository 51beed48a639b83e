"""Offer reads: a partner's inbox of open pool offers and one offer of theirs (SPEC §8).

Partners only ever see their own offers that are still open (or accepted, while the lead is theirs);
anything else does not exist for them (404).
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
    """The offer of a lead a partner may still see: the open one, or the accepted one while the lead is theirs.

    Only these two: a rejected, expired or revoked offer (even one the sweeper has not marked yet) and
    any offer of a lead that went to someone else say nothing about the lead any more — the lead may
    have moved on to another partner, and its stage or score would leak their work. They are a 404,
    exactly like another partner's offer or a lead never offered (SPEC §6, issue 23). Returning the
    accepted offer keeps accepting twice idempotent; the caller shows the partner's own lead for it.
    """
    now = timezone.now()
    offers = LeadAssignment.objects.filter(lead_id=lead_id, partner=partner).select_related("lead")
    offer = offers.filter(status=LeadAssignment.Status.OFFERED, expires_at__gt=now).first()
    if offer is None:
        offer = (
            offers.filter(
                status=LeadAssignment.Status.ACCEPTED,
                lead__assigned_partner=partner,
                lead__merged_into__isnull=True,
            )
            .order_by("-offered_at", "-id")
            .first()
        )
    if offer is None:
        raise NotFoundError(_("No such offer."))
    return offer
