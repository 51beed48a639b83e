"""Receivers of the lower floors' domain events (connected by import in ``CampaignsConfig.ready``).

- ``leads.lead_routed``: a lead of a booked form → linked to its campaign (``AdCampaignLead``);
  idempotent, because Meta delivers webhooks more than once.
- ``leads.lead_status_changed`` and ``deals.deal_stage_changed``: a campaign lead's progress →
  the Conversions API outbox (when ``META_DATASET_ID`` is set), sent by a task queued after commit
  and by the beat.

Signals arrive after the change committed; a failing receiver is logged and undoes nothing.
"""

from __future__ import annotations

import logging
from typing import Any

from django.dispatch import receiver

from campaigns.services.conversions import (
    conversions_enabled,
    deal_stage_conversion_record,
    lead_status_conversion_record,
)
from campaigns.services.routing import routed_lead_link
from core.transactions import on_commit
from deals.models import PartnerDeal
from deals.signals import deal_stage_changed
from leads.models import Lead, LeadFormRoute
from leads.signals import lead_routed, lead_status_changed

logger = logging.getLogger(__name__)


def _queue_send() -> None:
    from campaigns.tasks import conversion_events_send_task

    on_commit(conversion_events_send_task.delay)


@receiver(lead_routed, sender=LeadFormRoute, dispatch_uid="campaigns.link_routed_lead")
def link_routed_lead(sender: Any, *, route: LeadFormRoute, lead: Lead, **kwargs: Any) -> None:
    linked = routed_lead_link(route=route, lead=lead)
    # Meta wants every stage, the first included: the lead as it arrived.
    if linked is not None and conversions_enabled() and lead_status_conversion_record(lead=lead, to_status=lead.status):
        _queue_send()


@receiver(lead_status_changed, sender=Lead, dispatch_uid="campaigns.lead_status_conversion")
def lead_status_conversion(sender: Any, *, lead: Lead, to_status: str, **kwargs: Any) -> None:
    if conversions_enabled() and lead_status_conversion_record(lead=lead, to_status=to_status):
        _queue_send()


@receiver(deal_stage_changed, sender=PartnerDeal, dispatch_uid="campaigns.deal_stage_conversion")
def deal_stage_conversion(sender: Any, *, deal: PartnerDeal, to_stage: str, **kwargs: Any) -> None:
    if conversions_enabled() and deal_stage_conversion_record(deal=deal, to_stage=to_stage):
        _queue_send()
