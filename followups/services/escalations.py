"""Escalations (SPEC §11): a team member has not reached a lead for 7 days, the leader hears of it.

"Reached" means a logged contact (any outcome: the outcome sits in the encrypted detail) or the lead
answering (a reply or an inbound message) within the last 7 days. Only open leads (new, contacted,
qualified) assigned to a member of a team, at least 7 days old, count. One query per team finds them
(set-based); each becomes an ``Escalation`` (unique lead+week) and the leader gets one notice per lead
and week, in-app and by email. Names are decrypted only for the notice text, never logged.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any
from zoneinfo import ZoneInfo

from django.db import transaction
from django.db.models import Exists, Max, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone
from django.utils.translation import gettext_noop

from accounts.models import Notification, Team
from followups.models import Escalation
from followups.selectors.should import INBOUND_ACTIVITIES
from leads.models import Lead, LeadActivity
from leads.services.work import CONTACT_ACTIVITY

logger = logging.getLogger(__name__)

ESCALATION_DAYS = 7
OPEN_STATUSES = (Lead.Status.NEW, Lead.Status.CONTACTED, Lead.Status.QUALIFIED)
REACHED_ACTIVITIES = (CONTACT_ACTIVITY, *INBOUND_ACTIVITIES)
#: Leads escalated per team and run at most (the rest follow the next day).
TEAM_LIMIT = 500
WEEK_TIME_ZONE = ZoneInfo("Europe/Berlin")


def week_of(now: dt.datetime) -> dt.date:
    """The Monday of ``now``'s week (German time)."""
    day = now.astimezone(WEEK_TIME_ZONE).date()
    return day - dt.timedelta(days=day.weekday())


def unreached_leads(*, team: Team, now: dt.datetime, week: dt.date) -> QuerySet[Lead]:
    """The team members' open leads not reached for ``ESCALATION_DAYS`` and not yet escalated this week."""
    cutoff = now - dt.timedelta(days=ESCALATION_DAYS)
    reached = LeadActivity.objects.filter(
        lead=OuterRef("pk"), activity_type__in=REACHED_ACTIVITIES, occurred_at__gte=cutoff
    )
    last_reached = (
        LeadActivity.objects.filter(lead=OuterRef("pk"), activity_type__in=REACHED_ACTIVITIES)
        .values("lead")
        .annotate(last=Max("occurred_at"))
        .values("last")[:1]
    )
    return (
        Lead.objects.filter(
            assigned_partner__partner_profile__team=team,
            assigned_partner__is_active=True,
            status__in=OPEN_STATUSES,
            merged_into__isnull=True,
            erased_at__isnull=True,
            is_test=False,
            created_at__lte=cutoff,
        )
        .exclude(assigned_partner_id=team.leader_id)
        .exclude(Exists(reached))
        .exclude(Exists(Escalation.objects.filter(lead=OuterRef("pk"), week=week)))
        .annotate(last_reached=Subquery(last_reached))
        .select_related("assigned_partner")
        .order_by("created_at")[:TEAM_LIMIT]
    )


def escalations_check(*, now: dt.datetime | None = None) -> int:
    """Escalate every team's unreached leads; returns the number of leaders' notices sent."""
    now = now or timezone.now()
    week = week_of(now)
    notified = 0
    for team in Team.objects.select_related("leader").filter(leader__is_active=True):
        leads = list(unreached_leads(team=team, now=now, week=week))
        if not leads:
            continue
        rows = [
            Escalation(
                lead=lead,
                member=lead.assigned_partner,
                leader=team.leader,
                team=team,
                week=week,
                days_without_contact=min(32767, (now - (lead.last_reached or lead.created_at)).days),
            )
            for lead in leads
        ]
        Escalation.objects.bulk_create(rows, ignore_conflicts=True)
        created = Escalation.objects.filter(week=week, lead_id__in=[lead.pk for lead in leads], notified_at=None)
        by_lead = {lead.pk: lead for lead in leads}
        for escalation in created.only("id", "lead_id", "member_id"):
            lead = by_lead.get(escalation.lead_id)
            if lead is not None and _notify_leader(escalation=escalation, team=team, lead=lead, now=now):
                notified += 1
        logger.info("Escalations checked", extra={"team": team.pk, "leads": len(leads)})
    return notified


def _notify_leader(*, escalation: Escalation, team: Team, lead: Lead, now: dt.datetime) -> bool:
    """Claim the escalation's notice (conditional update) and tell the leader; False when already told."""
    from accounts.services import notify

    with transaction.atomic():
        if not Escalation.objects.filter(pk=escalation.pk, notified_at=None).update(notified_at=now):
            return False
        member = lead.assigned_partner
        notify(
            users=[team.leader],
            kind=Notification.Kind.SYSTEM,
            title=gettext_noop("%(member)s has not reached %(lead)s for %(days)s days. Need help?"),
            context={
                "member": (member.first_name or member.email) if member else "",
                # Notices are stored and mailed in plain text: the lead's public id, never its name (SPEC §12).
                "lead": lead.public_id,
                "days": ESCALATION_DAYS,
            },
            dedup_key=f"escalation:{escalation.pk}",
            email=True,
        )
    return True


def escalations_for_leader(leader: Any) -> QuerySet[Escalation]:
    """The escalations a leader sees: their teams' (newest first)."""
    return (
        Escalation.objects.filter(Q(leader_id=leader.pk) | Q(team__leader_id=leader.pk))
        .select_related("member", "lead")
        .order_by("-created_at", "-id")
    )
