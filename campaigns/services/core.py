"""The one status transition of a campaign: transition table, history row and audit event together."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns.models import AdCampaign, CampaignStatusChange
from compliance.services import audit_record
from core.exceptions import TransitionNotAllowed

S = AdCampaign.Status

#: Allowed moves; a move to the current status is a no-op. Completed and rejected are final
#: (a rejected campaign is fixed by a new draft: Meta's review rejected the ad itself).
CAMPAIGN_TRANSITIONS: dict[str, set[str]] = {
    S.DRAFT: {S.PENDING},
    S.PENDING: {S.ACTIVE, S.DRAFT, S.REJECTED},
    S.ACTIVE: {S.PAUSED, S.COMPLETED, S.REJECTED},
    S.PAUSED: {S.ACTIVE, S.COMPLETED, S.REJECTED},
    S.COMPLETED: set(),
    S.REJECTED: set(),
}

#: The audit event of each target status (SPEC §10: ``campaign.created/submitted/activated/…``).
AUDIT_EVENTS = {
    S.PENDING: "campaign.submitted",
    S.ACTIVE: "campaign.activated",
    S.PAUSED: "campaign.paused",
    S.COMPLETED: "campaign.completed",
    S.REJECTED: "campaign.rejected",
    S.DRAFT: "campaign.returned_to_draft",
}


@transaction.atomic
def campaign_transition(
    *, campaign: AdCampaign, to: str, actor: Any | None, note: str = "", **updates: Any
) -> AdCampaign:
    """Move a campaign to ``to`` under a row lock; ``updates`` are saved with it (e.g. ``status_reason``)."""
    locked = AdCampaign.objects.select_for_update().get(pk=campaign.pk)
    if locked.status == to:
        return locked
    if to not in CAMPAIGN_TRANSITIONS[locked.status]:
        raise TransitionNotAllowed(
            locked.status,
            to,
            _("Not possible: %(from)s → %(to)s.") % {"from": locked.get_status_display(), "to": S(to).label},
        )
    from_status = locked.status
    locked.status = to
    fields = {"status", "updated_at", *updates}
    for name, value in updates.items():
        setattr(locked, name, value)
    now = timezone.now()
    if to == S.PENDING and locked.submitted_at is None:
        locked.submitted_at = now
        fields.add("submitted_at")
    if to == S.ACTIVE and locked.booked_at is None:
        locked.booked_at = now
        fields.add("booked_at")
    if to == S.COMPLETED:
        locked.completed_at = now
        fields.add("completed_at")
    locked.save(update_fields=sorted(fields))
    user = actor if getattr(actor, "pk", None) is not None and hasattr(actor, "email") else None
    CampaignStatusChange.objects.create(campaign=locked, from_status=from_status, to_status=to, actor=user, note=note)
    audit_record(
        event_type=AUDIT_EVENTS[to],
        actor=actor,
        obj=locked,
        tenant=locked.tenant,
        payload={"from": from_status, "to": to},
    )
    return locked


@transaction.atomic
def campaign_created_record(*, campaign: AdCampaign, actor: Any | None) -> None:
    """History and audit of a new draft (``campaign.created``)."""
    user = actor if getattr(actor, "pk", None) is not None and hasattr(actor, "email") else None
    CampaignStatusChange.objects.create(campaign=campaign, from_status="", to_status=campaign.status, actor=user)
    audit_record(event_type="campaign.created", actor=actor, obj=campaign, tenant=campaign.tenant, payload={})
