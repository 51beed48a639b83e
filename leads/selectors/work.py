"""Reads of a partner's lead work: the lead lists (portal and API-500), one page's rows, timeline, follow-ups.

Every function starts from the tenant-scoped ``lead_queryset_for`` and runs a fixed number of
queries whatever the number of leads (never a query per row).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import CharField, F, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Cast

from leads.models import Lead, LeadActivity
from leads.selectors import lead_queryset_for, lead_search_q
from leads.services.work import CONTACT_ACTIVITY, FOLLOW_UP_ACTIVITY

#: Orderings of the lead lists (portal and API-500); ties broken by id so pages never overlap.
LEAD_ORDERINGS: dict[str, tuple[Any, ...]] = {
    "-score": ("-score", "-created_at", "-id"),
    "score": ("score", "created_at", "id"),
    "-last_activity": (F("last_activity_at").desc(nulls_last=True), "-created_at", "-id"),
    "last_activity": (F("last_activity_at").asc(nulls_first=True), "created_at", "id"),
    "-created": ("-created_at", "-id"),
    "created": ("created_at", "id"),
}
DEFAULT_LEAD_ORDERING = "-last_activity"


def _planning_activities() -> Q:
    """Activities that set the follow-up: every plan (a cleared one too) and contacts that planned a date.

    ``detail`` is encrypted, so the date is read from the clear ``next_follow_up`` column.
    """
    return Q(activity_type=FOLLOW_UP_ACTIVITY) | Q(activity_type=CONTACT_ACTIVITY, next_follow_up__isnull=False)


def next_follow_up_subquery() -> Subquery:
    """The lead's latest planned follow-up (ISO date text, or null when cleared or never planned)."""
    latest = (
        LeadActivity.objects.filter(_planning_activities(), lead=OuterRef("pk"))
        .order_by("-occurred_at", "-id")
        .annotate(due=Cast("next_follow_up", CharField()))
        .values("due")[:1]
    )
    return Subquery(latest)


def lead_list_for(
    principal,
    *,
    status: str = "",
    stage: str = "",
    channel: str = "",
    source: str = "",
    q: str = "",
    ordering: str = DEFAULT_LEAD_ORDERING,
) -> QuerySet[Lead]:
    """A principal's leads with the list filters; ``q`` is an exact email/phone/id or part of the company name."""
    qs = lead_queryset_for(principal)
    if status:
        qs = qs.filter(status=status)
    if stage:
        qs = qs.filter(stage=stage)
    if channel:
        qs = qs.filter(channel=channel)
    if source:
        qs = qs.filter(source=source)
    term = (q or "").strip()
    if term:
        exact = lead_search_q(term)
        by_company = Q(company_name__icontains=term) if "@" not in term and len(term) >= 2 else None
        if exact is not None and by_company is not None:
            qs = qs.filter(exact | by_company)
        elif exact is not None or by_company is not None:
            qs = qs.filter(exact if exact is not None else by_company)
        else:
            qs = qs.none()
    return qs.order_by(*LEAD_ORDERINGS.get(ordering, LEAD_ORDERINGS[DEFAULT_LEAD_ORDERING]))


def lead_rows(ids: list, *, with_follow_up: bool = False) -> list[Lead]:
    """The full rows of one page of lead ids, in the ids' order (one query).

    Lists sort and paginate the narrow id column first and load the wide rows (encrypted PII,
    JSON) and the follow-up subquery for that page only: a deep page then costs the same as the first.
    """
    qs = Lead.objects.filter(pk__in=ids).select_related("tenant", "assigned_partner")
    if with_follow_up:
        qs = qs.annotate(next_follow_up=next_follow_up_subquery())
    by_id = {lead.pk: lead for lead in qs}
    return [by_id[pk] for pk in ids if pk in by_id]


def lead_timeline(*, lead: Lead, limit: int = 50) -> list[LeadActivity]:
    """The newest activities of a lead, with who did them."""
    return list(LeadActivity.objects.filter(lead=lead).select_related("actor").order_by("-occurred_at", "-id")[:limit])


def lead_next_follow_up(*, lead: Lead) -> dt.date | None:
    """The date of the lead's latest follow-up plan, or None."""
    activity = (
        LeadActivity.objects.filter(_planning_activities(), lead=lead)
        .order_by("-occurred_at", "-id")
        .only("next_follow_up")
        .first()
    )
    return activity.next_follow_up if activity else None
