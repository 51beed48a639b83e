"""Automatic assignment of pool leads (SPEC §8), off by default, every decision stored.

Candidates are active partners (team leaders too) whose regions/postcodes and interest types fit
the lead, who have free capacity and have not rejected this lead or let its offer expire. Round
robin picks the candidate who was offered a lead longest ago; weighted picks the one with the most
free capacity (ties: longest ago, then id), so over time leads spread in proportion to free
capacity. The tenant's settings row is locked while deciding, so two simultaneous decisions never
both fill a partner's last free slot.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Max

from accounts.models import User
from leads.models import AssignmentDecision, Lead, LeadAssignment, PipelineSettings
from leads.selectors.capacity import partner_capacities


def _location_fits(profile, lead: Lead) -> tuple[bool, str]:
    regions = [str(r).strip().lower() for r in profile.regions or [] if str(r).strip()]
    postcodes = [str(p).strip() for p in profile.postcodes or [] if str(p).strip()]
    if not regions and not postcodes:
        return True, "serves every region"
    if lead.region and lead.region.strip().lower() in regions:
        return True, f"region {lead.region}"
    if lead.postcode and any(lead.postcode.strip().startswith(prefix) for prefix in postcodes):
        return True, f"postcode {lead.postcode}"
    return False, "region/postcode does not fit"


def _interest_fits(profile, lead: Lead) -> tuple[bool, str]:
    wanted = list(profile.interest_types or [])
    if not wanted or not lead.interest_type:
        return True, "any interest"
    if lead.interest_type in wanted:
        return True, f"interest {lead.interest_type}"
    return False, f"interest {lead.interest_type} not served"


def _candidates(lead: Lead) -> list[dict[str, Any]]:
    partners = list(
        User.objects.filter(
            role__in=User.PARTNER_ROLES, is_active=True, partner_profile__is_active=True
        ).select_related("partner_profile")
    )
    capacities = partner_capacities([p.pk for p in partners])
    # A partner who rejected the lead, or let its offer expire, is not offered it again automatically.
    passed = dict(
        LeadAssignment.objects.filter(
            lead=lead, status__in=[LeadAssignment.Status.REJECTED, LeadAssignment.Status.EXPIRED]
        ).values_list("partner_id", "status")
    )
    last_offer = dict(
        LeadAssignment.objects.filter(partner_id__in=[p.pk for p in partners])
        .values("partner_id")
        .annotate(last=Max("offered_at"))
        .values_list("partner_id", "last")
    )
    rows = []
    for partner in partners:
        profile = partner.partner_profile
        capacity = capacities.get(partner.pk)
        free = capacity.free if capacity else 0
        reasons = []
        eligible = True
        for fits, reason in (_location_fits(profile, lead), _interest_fits(profile, lead)):
            reasons.append(reason)
            eligible &= fits
        if partner.pk in passed:
            label = (
                "rejected this lead" if passed[partner.pk] == LeadAssignment.Status.REJECTED else "let the offer expire"
            )
            eligible, reasons = False, [*reasons, label]
        if free <= 0:
            eligible, reasons = False, [*reasons, "no free capacity"]
        rows.append(
            {
                "partner_id": partner.pk,
                "email": partner.email,
                "capacity": capacity.capacity if capacity else profile.capacity,
                "used": capacity.used if capacity else 0,
                "free": free,
                "last_offered_at": last_offer[partner.pk].isoformat() if partner.pk in last_offer else None,
                "eligible": eligible,
                "reasons": reasons,
            }
        )
    return rows


def _pick(mode: str, eligible: list[dict[str, Any]]) -> tuple[dict[str, Any], str]:
    # ISO timestamps sort chronologically; "never offered" sorts first.
    def longest_ago(row):
        return (row["last_offered_at"] or "", row["partner_id"])

    if mode == PipelineSettings.AssignmentMode.WEIGHTED:
        total = sum(row["free"] for row in eligible)
        for row in eligible:
            row["weight"] = round(row["free"] / total, 4) if total else 0
        winner = min(eligible, key=lambda r: (-r["free"], *longest_ago(r)))
        return winner, f"weighted: most free capacity ({winner['free']} of {winner['capacity']})"
    winner = min(eligible, key=longest_ago)
    when = winner["last_offered_at"] or "never"
    return winner, f"round robin: offered longest ago ({when})"


def lead_auto_assign(*, lead: Lead, actor: User | None = None) -> LeadAssignment | None:
    """Offer a pool lead to the best-fitting partner when the tenant switched auto-assignment on."""
    from leads.services.offers import offer_create

    with transaction.atomic():
        settings_row = PipelineSettings.objects.select_for_update().filter(tenant_id=lead.tenant_id).first()
        if settings_row is None or not settings_row.auto_assign_enabled:
            return None
        lead = Lead.objects.select_for_update().get(pk=lead.pk)
        if (
            lead.merged_into_id is not None
            or lead.assigned_partner_id is not None
            or lead.is_test
            or lead.status in (Lead.Status.CONVERTED, Lead.Status.LOST)
            or lead.score < settings_row.auto_assign_min_score
            or LeadAssignment.objects.filter(lead=lead, status=LeadAssignment.Status.OFFERED).exists()
        ):
            return None
        candidates = _candidates(lead)
        eligible = [row for row in candidates if row["eligible"]]
        winner, rule = (None, "no eligible partner") if not eligible else _pick(settings_row.auto_assign_mode, eligible)
        decision = AssignmentDecision.objects.create(
            tenant_id=lead.tenant_id,
            lead=lead,
            mode=settings_row.auto_assign_mode,
            candidates=candidates,
            winner_id=winner["partner_id"] if winner else None,
            rule=rule,
        )
        if winner is None:
            return None
        partner = User.objects.get(pk=winner["partner_id"])
        return offer_create(lead=lead, partner=partner, actor=actor, decision=decision)
