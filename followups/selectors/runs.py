"""Read queries on sequence runs, tenant-scoped: another partner's run does not exist (404).

Each run carries its current step's name and the time its next step is due (``next_due_at``, kept by
the engine), so lists need no per-run queries.
"""

from __future__ import annotations

from typing import Any

from django.db.models import CharField, OuterRef, QuerySet, Subquery
from django.utils.translation import gettext as _

from accounts.models import User
from core.exceptions import NotFoundError
from followups.models import SequenceRun, SequenceStep


def _with_step(qs: QuerySet[SequenceRun]) -> QuerySet[SequenceRun]:
    """Annotate ``current_step_kind``/``current_step_subject`` from the step the run last executed."""
    step = SequenceStep.objects.filter(sequence_id=OuterRef("sequence_id"), number=OuterRef("current_step"))
    return qs.annotate(
        current_step_kind=Subquery(step.values("kind")[:1], output_field=CharField()),
        current_step_subject=Subquery(step.values("subject")[:1], output_field=CharField()),
    )


def run_queryset_for(principal: Any) -> QuerySet[SequenceRun]:
    """Runs a principal may reach: staff all, a partner their organization's and the ones they work."""
    qs = SequenceRun.objects.select_related("sequence", "lead")
    if getattr(principal, "role", None) in User.STAFF_ROLES and getattr(principal, "is_active", False):
        return qs
    if getattr(principal, "is_partner", False) and getattr(principal, "is_authenticated", False):
        return qs.filter(tenant_id=principal.organization_id)
    return qs.none()


def runs_for_partner(principal: Any, *, lead: Any = None, status: str = "") -> QuerySet[SequenceRun]:
    """API-564: the principal's runs (``?lead=&status=``), newest first, with current step and next due time."""
    qs = run_queryset_for(principal)
    if getattr(principal, "is_partner", False) and not getattr(principal, "is_staff_role", False):
        qs = qs.filter(partner_id=principal.pk)
    if lead is not None:
        qs = qs.filter(lead_id=getattr(lead, "pk", lead))
    if status:
        qs = qs.filter(status=status)
    return _with_step(qs).order_by("-enrolled_at", "-pk")


def runs_of_lead(principal: Any, *, lead: Any) -> QuerySet[SequenceRun]:
    """Every reachable run of one lead (all partners of the tenant), newest first."""
    return _with_step(run_queryset_for(principal).filter(lead_id=getattr(lead, "pk", lead))).order_by("-enrolled_at")


def run_get_for(principal: Any, run_id: Any) -> SequenceRun:
    """One reachable run; anything else (another tenant's too) is a 404."""
    try:
        pk = int(run_id)
    except (TypeError, ValueError):
        pk = None
    run = run_queryset_for(principal).filter(pk=pk).first() if pk is not None else None
    if run is None:
        raise NotFoundError(_("Sequence run not found."))
    return run
