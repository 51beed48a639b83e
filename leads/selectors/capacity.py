"""Partner capacity: how many open leads and offers a partner holds against their limit."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Count, Q

from accounts.models import User
from leads.models import Lead, LeadAssignment

#: Lead statuses that occupy a partner's capacity (worked, not finished).
OPEN_LEAD_STATUSES = (Lead.Status.NEW, Lead.Status.CONTACTED, Lead.Status.QUALIFIED)


@dataclass(frozen=True)
class PartnerCapacity:
    partner_id: int
    capacity: int
    open_leads: int
    open_offers: int

    @property
    def used(self) -> int:
        return self.open_leads + self.open_offers

    @property
    def free(self) -> int:
        return max(0, self.capacity - self.used)


def partner_capacities(partner_ids: Iterable[int] | None = None) -> dict[int, PartnerCapacity]:
    """Capacity, open leads and open offers per active partner, in two aggregate queries."""
    partners = User.objects.filter(role__in=User.PARTNER_ROLES, partner_profile__isnull=False)
    if partner_ids is not None:
        partners = partners.filter(pk__in=list(partner_ids))
    rows = partners.annotate(
        open_leads=Count(
            "assigned_leads",
            filter=Q(assigned_leads__merged_into__isnull=True, assigned_leads__status__in=OPEN_LEAD_STATUSES),
            distinct=True,
        )
    ).values_list("pk", "partner_profile__capacity", "open_leads")
    offers = dict(
        LeadAssignment.objects.filter(status=LeadAssignment.Status.OFFERED, partner_id__in=[r[0] for r in rows])
        .values("partner_id")
        .annotate(n=Count("id"))
        .values_list("partner_id", "n")
    )
    return {
        pk: PartnerCapacity(partner_id=pk, capacity=capacity, open_leads=open_leads, open_offers=offers.get(pk, 0))
        for pk, capacity, open_leads in rows
    }
