"""What the lead pages show about a lead's sequences: its runs and its emails (admin panel and portal card).

Two queries whatever the number of rows (runs with their sequence, emails with their sequence and
step), both bounded. The caller has already checked that the viewer may see the lead (the admin's
permission, or ``lead_get_for`` in the portal); runs and emails are narrowed to the lead's tenant too,
so a lead moved between tenants never shows another tenant's history.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Count, Q

from followups.models import EmailMessage, SequenceRun

PANEL_LIMIT = 20


@dataclass
class LeadSequencePanel:
    runs: list[SequenceRun] = field(default_factory=list)
    emails: list[EmailMessage] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.emails)

    def __bool__(self) -> bool:
        return bool(self.runs or self.emails)


def lead_runs(*, lead, limit: int = PANEL_LIMIT) -> list[SequenceRun]:
    """The lead's runs, newest first, each with ``step_count`` (its sequence's active steps)."""
    return list(
        SequenceRun.objects.filter(lead=lead, tenant_id=lead.tenant_id)
        .select_related("sequence", "partner")
        .annotate(step_count=Count("sequence__steps", filter=Q(sequence__steps__is_active=True), distinct=True))
        .order_by("-enrolled_at", "-pk")[:limit]
    )


def lead_emails(*, lead, limit: int = PANEL_LIMIT) -> list[EmailMessage]:
    """The lead's emails, newest first (test sends aside: they went to a staff address, not to the lead)."""
    return list(
        EmailMessage.objects.filter(lead=lead)
        .filter(Q(tenant_id=lead.tenant_id) | Q(tenant__isnull=True))
        .exclude(purpose=EmailMessage.Purpose.TEST)
        .select_related("sequence", "step")
        .defer("to_email")
        .order_by("-created_at", "-pk")[:limit]
    )


def lead_sequence_panel(*, lead, limit: int = PANEL_LIMIT) -> LeadSequencePanel:
    return LeadSequencePanel(runs=lead_runs(lead=lead, limit=limit), emails=lead_emails(lead=lead, limit=limit))
