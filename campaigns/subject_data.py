"""The campaigns app in the subject data registry (section ``campaigns``).

We hold two things about a person: the link of their leads to the campaign whose form they filled
in (``AdCampaignLead``), and the Conversions API events about them, which carry Meta's lead id.
Erasure deletes the events not sent yet and blanks ``user_data`` in the sent ones; the links stay,
as anonymous statistics of the campaign (the lead row itself is erased by the leads app).
Registered on import (``CampaignsConfig.ready``).
"""

from __future__ import annotations

from typing import Any

from campaigns.models import AdCampaignLead, ConversionEvent
from compliance.registry import ErasureContext, Subject, register_subject_data
from leads.selectors.subjects import jsonable

ORDER = 45
SECTIONS = ("campaigns",)
EVENT_FIELDS = ("id", "campaign_id", "lead_id", "event_name", "event_key", "event_time", "payload", "status")


def subject_campaigns_export(subject: Subject) -> dict[str, list[Any]]:
    """The person's campaign links, each with its Conversions API events (two queries)."""
    ids = list(subject.lead_ids)
    if not ids:
        return {"campaigns": []}
    links = [
        jsonable(row)
        for row in AdCampaignLead.objects.filter(lead_id__in=ids)
        .order_by("created_at", "pk")
        .values("lead_id", "campaign_id", "campaign__name", "created_at")
    ]
    events: dict[str, list[dict[str, Any]]] = {}
    rows = ConversionEvent.objects.filter(lead_id__in=ids).order_by("event_time", "pk").values(*EVENT_FIELDS, "sent_at")
    for row in rows:
        events.setdefault(str(row["lead_id"]), []).append(jsonable(row))
    return {
        "campaigns": [
            {
                "lead_id": link["lead_id"],
                "campaign_id": link["campaign_id"],
                "campaign": link["campaign__name"],
                "linked_at": link["created_at"],
                "conversion_events": events.pop(link["lead_id"], []),
            }
            for link in links
        ]
        # Events of a lead whose link is gone (should not happen) are still the person's data.
        + [{"lead_id": lead_id, "conversion_events": rows} for lead_id, rows in events.items()]
    }


def subject_campaigns_erase(subject: Subject, context: ErasureContext) -> dict[str, int]:
    """Delete unsent events, blank ``user_data`` of sent ones; idempotent (zeros on a re-run)."""
    ids = list(subject.lead_ids)
    if not ids:
        return {"conversion_events_deleted": 0, "conversion_events_blanked": 0}
    events = ConversionEvent.objects.filter(lead_id__in=ids)
    deleted, _by_model = events.exclude(status=ConversionEvent.Status.SENT).delete()
    sent = list(events.filter(status=ConversionEvent.Status.SENT).exclude(payload__user_data={}))
    for event in sent:
        event.payload = {**event.payload, "user_data": {}}
    blanked = ConversionEvent.objects.bulk_update(sent, ["payload"]) if sent else 0
    return {"conversion_events_deleted": deleted, "conversion_events_blanked": blanked}


register_subject_data(
    "campaigns", sections=SECTIONS, exporter=subject_campaigns_export, eraser=subject_campaigns_erase, order=ORDER
)
