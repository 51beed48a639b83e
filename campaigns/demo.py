"""Demo campaigns for ``seed_demo``: every status, 60 days of Meta figures and linked leads.

Booked campaigns (active, paused, completed) get daily ``CampaignStats`` up to today and a few
Facebook leads that arrive through ``lead_ingest`` with the campaign's form route, as real ones
do; some are worked on (contacted, qualified, converted, won), so cost per lead, per qualified lead
and per won deal show something. Statuses move through ``campaign_transition`` (history, audit).
Idempotent: campaigns by partner and name, stats by campaign and day, leads by their Meta lead id.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.models import Organization, User
from campaigns.models import AdCampaign, AdCampaignLead, CampaignStats, CampaignTemplate
from campaigns.services.core import campaign_created_record, campaign_transition
from campaigns.services.routing import campaign_route_register
from deals.services import deal_win, lead_convert
from leads.models import Lead
from leads.services import lead_ingest, lead_status_transition
from leads.services.ingest import form_route_for

S = AdCampaign.Status
STATS_DAYS = 60
#: The path through ``campaign_transition`` from a new draft to each demo status.
PATHS = {
    S.DRAFT: [],
    S.PENDING: [S.PENDING],
    S.ACTIVE: [S.PENDING, S.ACTIVE],
    S.PAUSED: [S.PENDING, S.ACTIVE, S.PAUSED],
    S.COMPLETED: [S.PENDING, S.ACTIVE, S.COMPLETED],
    S.REJECTED: [S.PENDING, S.ACTIVE, S.REJECTED],
}
REJECTION = (
    "Ihre Anzeige wurde abgelehnt: Sie verstößt gegen die Richtlinie zu Sonderkategorien (Wohnraum). "
    "Bitte entfernen Sie Aussagen zu bestimmten Zielgruppen aus dem Anzeigentext."
)
FIRST_NAMES = ["Jana", "Tobias", "Katrin", "Stefan", "Nina", "Florian", "Sabine", "Andreas", "Julia", "Michael"]
LAST_NAMES = ["Keller", "Brandt", "Vogel", "Zimmermann", "Krüger", "Hartmann", "Lange", "Werner"]


@dataclass(frozen=True)
class DemoCampaign:
    name: str
    status: str
    partner: int
    start: int  # days from today
    days: int
    budget_cents: int
    regions: list[Any]
    leads: int = 0


CAMPAIGNS = [
    DemoCampaign(
        "Vermögensaufbau München",
        S.ACTIVE,
        0,
        -60,
        90,
        300000,
        [{"city_key": "2867714", "name": "München", "radius_km": 40}],
        leads=9,
    ),
    DemoCampaign("Rendite-Wohnungen Nürnberg", S.PAUSED, 1, -40, 60, 150000, ["DE"], leads=5),
    DemoCampaign(
        "Steuervorteile Hamburg",
        S.COMPLETED,
        2,
        -75,
        45,
        200000,
        [{"city_key": "2911298", "name": "Hamburg", "radius_km": 30}],
        leads=7,
    ),
    DemoCampaign("Altersvorsorge DACH", S.ACTIVE, 2, -20, 60, 250000, ["DE", "AT", "CH"], leads=4),
    DemoCampaign("Sommeraktion Kapitalanlage", S.DRAFT, 0, 10, 30, 100000, ["DE"]),
    DemoCampaign("Neubauprojekte Bayern", S.PENDING, 1, 3, 45, 120000, ["DE"]),
    DemoCampaign("Zielgruppe Familien", S.REJECTED, 0, -5, 30, 100000, ["AT"]),
]


def _template() -> CampaignTemplate:
    template = CampaignTemplate.objects.filter(is_active=True).order_by("sort_order", "name").first()
    if template is not None:
        return template
    template, _created = CampaignTemplate.objects.get_or_create(
        code="demo-kapitalanlage",
        defaults={
            "name": "Kapitalanlage allgemein",
            "headline": "Mit Immobilien Vermögen aufbauen",
            "primary_text": "Kostenlose Erstberatung zur Kapitalanlage in Ihrer Region.",
            "image": "campaigns/kapitalanlage.jpg",
            "form_questions": [{"key": "full_name", "type": "FULL_NAME"}, {"key": "email", "type": "EMAIL"}],
            "privacy_policy_url": "https://www.example.org/datenschutz",
            "privacy_policy_text": "Datenschutzerklärung",
        },
    )
    return template


def _campaign(spec: DemoCampaign, index: int, partner: User, template: CampaignTemplate, today: date) -> AdCampaign:
    campaign = AdCampaign.objects.filter(partner=partner, name=spec.name).first()
    if campaign is not None:
        return campaign
    start = today + timedelta(days=spec.start)
    campaign = AdCampaign.objects.create(
        partner=partner,
        tenant=partner.organization,
        template=template,
        name=spec.name,
        budget_cents=spec.budget_cents,
        start_date=start,
        end_date=start + timedelta(days=spec.days),
        regions=spec.regions,
    )
    campaign_created_record(campaign=campaign, actor=partner)
    for to in PATHS[spec.status]:
        updates: dict[str, Any] = {}
        if to == S.ACTIVE:
            base = f"{2385000000 + index * 1000}"
            updates = {
                "meta_form_id": f"{base}01",
                "meta_campaign_id": f"{base}02",
                "meta_adset_id": f"{base}03",
                "meta_creative_id": f"{base}04",
                "meta_ad_id": f"{base}05",
                "meta_effective_status": "ACTIVE",
            }
        elif to == S.PAUSED:
            updates = {"meta_effective_status": "PAUSED"}
        elif to == S.REJECTED:
            updates = {"status_reason": REJECTION, "meta_effective_status": "DISAPPROVED"}
        campaign = campaign_transition(campaign=campaign, to=to, actor=None, note="Demo", **updates)
    if campaign.status in (S.ACTIVE, S.PAUSED):
        campaign_route_register(campaign=campaign)
    return campaign


def _stats(campaign: AdCampaign, spec: DemoCampaign, rng: random.Random, today: date) -> int:
    """Up to ``STATS_DAYS`` days of plausible figures: the daily budget spent with some noise.

    Meta's lead count is close to the leads the campaign links, as in real life (a few more: test
    submissions, leads of people who were already known).
    """
    last = min(today - timedelta(days=1), campaign.end_date)
    first = max(campaign.start_date, last - timedelta(days=STATS_DAYS - 1))
    daily = campaign.budget_cents / max(1, (campaign.end_date - campaign.start_date).days)
    days = (last - first).days + 1
    lead_chance = min(1.0, 1.3 * spec.leads / max(1, days))
    rows = []
    for n in range(days):
        spend = int(daily * rng.uniform(0.6, 1.3))
        impressions = int(spend / 100 * rng.uniform(60, 120))
        clicks = int(impressions * rng.uniform(0.008, 0.02))
        rows.append(
            CampaignStats(
                campaign=campaign,
                date=first + timedelta(days=n),
                spend_cents=spend,
                impressions=impressions,
                clicks=clicks,
                meta_leads=int(rng.random() < lead_chance),
            )
        )
    if rows:
        CampaignStats.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["campaign", "date"],
            update_fields=["spend_cents", "impressions", "clicks", "meta_leads"],
        )
    campaign.insights_synced_through = last
    campaign.insights_synced_at = timezone.now()
    campaign.save(update_fields=["insights_synced_through", "insights_synced_at"])
    return len(rows)


def _leads(campaign: AdCampaign, spec: DemoCampaign, index: int, rng: random.Random, today: date) -> int:
    """Facebook leads through the campaign's form route; a few are worked on up to a won deal."""
    route = form_route_for(campaign.meta_form_id)
    partner = campaign.partner
    created = 0
    runtime = max(1, (min(today, campaign.end_date) - campaign.start_date).days)
    for n in range(spec.leads):
        # Every value is drawn even for a lead that exists, so a rerun draws the same data.
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        day = campaign.start_date + timedelta(days=rng.randrange(runtime))
        value = Decimal(rng.randint(180, 650) * 1000)
        meta_lead_id = f"{9100000000000 + index * 100 + n}"
        local = f"{first}.{last}".lower().replace("ü", "ue").replace("ö", "oe")
        result = lead_ingest(
            payload={
                "first_name": first,
                "last_name": last,
                "email": f"{local}.{index}{n}@example.org",
                "phone": f"+49 160 {rng.randint(1000000, 9999999)}",
                "facebook_lead_id": meta_lead_id,
                "utm_source": "facebook",
                "source_campaign": campaign.name,
                "captured_at": timezone.make_aware(datetime.combine(day, time(10 + n % 8))),
            },
            channel=Lead.Channel.FACEBOOK,
            partner=None if route else partner,
            tenant=None,
            route=route,
            idempotency_key=meta_lead_id,
        )
        link, _new = AdCampaignLead.objects.get_or_create(lead=result.lead, defaults={"campaign": campaign})
        AdCampaignLead.objects.filter(pk=link.pk).update(
            created_at=timezone.make_aware(datetime.combine(day, time(10 + n % 8)))
        )
        if result.duplicate:
            continue
        created += 1
        lead = result.lead
        if n % 4 == 1:
            lead_status_transition(lead=lead, to=Lead.Status.CONTACTED, actor=partner, reason="Demo")
        elif n % 4 in (2, 3):
            for step in (Lead.Status.CONTACTED, Lead.Status.QUALIFIED):
                lead = lead_status_transition(lead=lead, to=step, actor=partner, reason="Demo")
            if n % 4 == 3:
                deal = lead_convert(lead=lead, actor=partner, deal_value=value)
                if n % 8 == 3:
                    deal_win(deal=deal, actor=partner)
    return created


@transaction.atomic
def seed_campaigns_demo(*, platform: Organization, partners: list[User], stdout: Any = None) -> dict[str, int]:
    """Create (or complete) the demo campaigns of ``partners``; safe to rerun."""
    if not partners:
        return {"campaigns": 0, "days": 0, "leads": 0}
    template = _template()
    today = timezone.localdate()
    counts = {"campaigns": 0, "days": 0, "leads": 0}
    for index, spec in enumerate(CAMPAIGNS):
        rng = random.Random(f"demo-campaign-{index}")  # noqa: S311 - deterministic demo data, not security
        partner = partners[spec.partner % len(partners)]
        campaign = _campaign(spec, index, partner, template, today)
        counts["campaigns"] += 1
        if campaign.meta_campaign_id and campaign.status != S.REJECTED:
            counts["days"] += _stats(campaign, spec, rng, today)
            leads_rng = random.Random(f"demo-campaign-leads-{index}")  # noqa: S311 - demo data
            counts["leads"] += _leads(campaign, spec, index, leads_rng, today)
    if stdout is not None:
        stdout.write(
            f"Campaigns: {counts['campaigns']} demo campaigns, {counts['days']} days of figures, "
            f"{counts['leads']} new campaign leads."
        )
    return counts
