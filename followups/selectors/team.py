"""Reads of team templates: who sees which template, a template's clones and its performance.

A leader sees the templates they published; a member sees the published templates of their own team;
anyone else gets a 404. Performance reads a constant number of queries whatever the team's size.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q, QuerySet
from django.utils.translation import gettext as _

from core.exceptions import NotFoundError
from followups.models import SequenceRun, TeamTemplate, TeamTemplateClone
from leads.models import Lead

#: A run counts as answered when the lead responded (an outcome was recorded) or the run ended on a reply.
RESPONDED = Q(outcome__in=("positive", "negative")) | Q(
    exit_reason__in=(SequenceRun.ExitReason.REPLIED, SequenceRun.ExitReason.MEETING_BOOKED)
)
CONVERTED_STATUSES = (Lead.Status.QUALIFIED, Lead.Status.CONVERTED)


def member_team_id(user: Any) -> int | None:
    """The team the user belongs to (``PartnerProfile.team``), or None."""
    from accounts.models import PartnerProfile

    return PartnerProfile.objects.filter(user_id=user.pk).values_list("team_id", flat=True).first()


def templates_for(user: Any) -> QuerySet[TeamTemplate]:
    """API-572: a leader's own templates and the published templates of the user's team."""
    visible = Q(leader_id=user.pk)
    team_id = member_team_id(user)
    if team_id is not None:
        visible |= Q(team_id=team_id, is_published=True)
    return TeamTemplate.objects.filter(visible).annotate(clone_count=Count("clones")).order_by("-updated_at", "-id")


def template_get_for(user: Any, template_id: Any, *, leader_only: bool = False) -> TeamTemplate:
    """One template the user may see (``leader_only``: that they lead); anything else is a 404."""
    try:
        pk = int(template_id)
    except (TypeError, ValueError):
        pk = None
    if pk is not None and not 0 < pk < 2**63:
        pk = None
    template = TeamTemplate.objects.filter(pk=pk).select_related("team").first() if pk else None
    if template is not None:
        if template.leader_id == user.pk or template.team.leader_id == user.pk:
            return template
        if not leader_only and template.is_published and member_team_id(user) == template.team_id:
            return template
    raise NotFoundError(_("Team template not found."))


def template_clone_of(*, template: TeamTemplate, user: Any) -> TeamTemplateClone | None:
    return TeamTemplateClone.objects.filter(template=template, user_id=user.pk).first()


def _rate(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def template_performance(*, template: TeamTemplate) -> dict[str, Any]:
    """API-576: clones, response and conversion rates of the runs of the cloned sequences, per member.

    Two queries: the clones with their members, and the runs grouped by member.
    """
    clones = list(TeamTemplateClone.objects.filter(template=template).select_related("user").order_by("id"))
    runs = (
        SequenceRun.objects.filter(sequence__origin__template=template)
        .values("partner_id")
        .annotate(
            runs=Count("id"),
            responses=Count("id", filter=RESPONDED),
            conversions=Count("id", filter=Q(lead__status__in=CONVERTED_STATUSES)),
        )
        .order_by()
    )
    by_member = {row["partner_id"]: row for row in runs}
    members = []
    for clone in clones:
        row = by_member.get(clone.user_id, {})
        count = row.get("runs", 0)
        members.append(
            {
                "user": clone.user_id,
                "name": clone.user.get_full_name(),
                "version": clone.version,
                "runs": count,
                "responses": row.get("responses", 0),
                "conversions": row.get("conversions", 0),
                "response_rate": _rate(row.get("responses", 0), count),
                "conversion_rate": _rate(row.get("conversions", 0), count),
            }
        )
    total = sum(m["runs"] for m in members)
    active = sorted(
        (m for m in members if m["runs"]), key=lambda m: (m["conversion_rate"], m["response_rate"], m["runs"])
    )
    return {
        "template": template.pk,
        "version": template.version,
        "clones": len(clones),
        "runs": total,
        "response_rate": _rate(sum(m["responses"] for m in members), total),
        "conversion_rate": _rate(sum(m["conversions"] for m in members), total),
        "members": members,
        "best_member": active[-1] if active else None,
        "worst_member": active[0] if len(active) > 1 else None,
    }
