"""The deals app in the subject data registry: the deals of the person's leads and their stage history.

A deal copies the lead's contact data at conversion (encrypted) and is titled after the company or
the person. Erasure blanks the contact data, the company name and the free-text reasons and retitles
the deal with the lead's public id; value, stage, commission split, owner and dates stay (a deal is
business record: commissions are paid on it).
"""

from __future__ import annotations

from typing import Any

from compliance.registry import ErasureContext, Subject, register_subject_data
from deals.models import DealStageChange, PartnerDeal
from leads.selectors.subjects import jsonable
from leads.services.erasure import holding

ORDER = 40
SECTIONS = ("deals",)
CONTACT_FIELDS = ("contact_name", "contact_email", "contact_phone")


def subject_deals_export(subject: Subject) -> dict[str, list[Any]]:
    """Each deal of the person's leads, contact data decrypted, with its stage changes (two queries)."""
    ids = list(subject.lead_ids)
    if not ids:
        return {"deals": []}
    fields = [f.attname for f in PartnerDeal._meta.concrete_fields]
    deals = [
        jsonable(row) for row in PartnerDeal.objects.filter(lead_id__in=ids).order_by("created_at").values(*fields)
    ]
    changes: dict[str, list[dict[str, Any]]] = {row["id"]: [] for row in deals}
    change_fields = [f.attname for f in DealStageChange._meta.concrete_fields]
    rows = DealStageChange.objects.filter(deal_id__in=list(changes)).order_by("created_at", "pk").values(*change_fields)
    for row in rows:
        changes[str(row["deal_id"])].append(jsonable(row))
    return {"deals": [{**deal, "stage_changes": changes[deal["id"]]} for deal in deals]}


def subject_deals_erase(subject: Subject, context: ErasureContext) -> dict[str, int]:
    """Blank the deals' contact data and free text, retitle them neutrally; idempotent (zeros on a re-run).

    Title and reasons are encrypted (no SQL comparison): the person's few deals are checked here and
    written back with one ``bulk_update`` statement.
    """
    ids = list(subject.lead_ids)
    if not ids:
        return {"deals": 0, "stage_changes": 0}
    rows = PartnerDeal.objects.filter(lead_id__in=ids).values_list(
        "pk", "title", "lead__public_id", "company_name", "lost_reason", *CONTACT_FIELDS
    )
    dirty = [
        PartnerDeal(pk=pk, title=public_id, company_name="", lost_reason="", **dict.fromkeys(CONTACT_FIELDS, ""))
        for pk, title, public_id, *free in rows
        if title != public_id or any(free)
    ]
    # ``updated_at`` stays: the board orders by it, and the deal did not move.
    deals = PartnerDeal.objects.bulk_update(dirty, ["title", "company_name", "lost_reason", *CONTACT_FIELDS])
    changes = holding(DealStageChange.objects.filter(deal__lead_id__in=ids), "reason").update(reason="")
    return {"deals": deals, "stage_changes": changes}


def register() -> None:
    """Called from ``DealsConfig.ready``."""
    register_subject_data(
        "deals", sections=SECTIONS, exporter=subject_deals_export, eraser=subject_deals_erase, order=ORDER
    )
