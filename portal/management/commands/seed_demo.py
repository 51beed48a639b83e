"""Load demo data: a platform admin, ops, 3 partners in 2 teams and 48 leads (idempotent)."""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from accounts.models import Organization, PartnerProfile, User
from accounts.services import partner_create, team_for_leader, user_create
from campaigns.demo import seed_campaigns_demo
from compliance.services import consent_doi_confirm, consent_doi_request
from deals.models import PartnerDeal
from deals.services import deal_lose, deal_move_stage, deal_win, lead_convert
from followups.demo import seed_followups_demo
from followups.demo_smart import seed_smart_followups_demo
from leads.models import IcpProfile, Lead
from leads.services import lead_ingest, lead_status_transition, lead_track_activity
from leads.services.consent import ConsentContext

DEMO_PASSWORD = "demo-passwort-2026"  # noqa: S105 - documented demo login, refused outside DEBUG
ADMIN_EMAIL = "admin@demo.local"
OPS_EMAIL = "ops@demo.local"
# (email, name, capacity, team leader email, regions, postcodes, interests)
PARTNERS = [
    ("anna.berger@demo.local", "Anna Berger", 30, None, ["Bayern"], ["80", "81", "85"], ["buy", "finance"]),
    ("markus.huber@demo.local", "Markus Huber", 20, "anna.berger@demo.local", ["Bayern"], ["90", "91"], ["buy"]),
    ("lena.schmidt@demo.local", "Lena Schmidt", 25, None, ["Hamburg", "Berlin"], ["20", "10"], ["consult"]),
]
LEAD_COUNT = 48
FIRST_NAMES = ["Max", "Sophie", "Lukas", "Marie", "Jonas", "Lea", "Felix", "Hannah", "Paul", "Emma", "Leon", "Mia"]
LAST_NAMES = ["Müller", "Schneider", "Fischer", "Weber", "Wagner", "Becker", "Hoffmann", "Schäfer", "Koch", "Richter"]
COMPANIES = [
    ("Bergmann Invest GmbH", "bergmann-invest.de", "Finanzdienstleistungen", "201-500", 320),
    ("Alpen Software AG", "alpen-software.de", "Software", "51-200", 140),
    ("Nordlicht Logistik KG", "nordlicht-logistik.de", "Logistik", "1001-5000", 1800),
    ("Praxis Dr. Wolf", "praxis-wolf.de", "Gesundheitswesen", "1-10", 6),
    ("Donau Bau GmbH", "donau-bau.at", "Bauwesen", "11-50", 35),
    ("", "gmail.com", "", "", None),
    ("", "web.de", "", "", None),
]
PLACES = [
    ("80331", "München", "Bayern", "DE"),
    ("90402", "Nürnberg", "Bayern", "DE"),
    ("20095", "Hamburg", "Hamburg", "DE"),
    ("10115", "Berlin", "Berlin", "DE"),
    ("1010", "Wien", "Wien", "AT"),
    ("8001", "Zürich", "Zürich", "CH"),
]
JOB_TITLES = ["Geschäftsführer", "Head of Finance", "Einkäufer", "CEO", "Projektleiterin", "Ärztin", "Student"]
STAGES = [Lead.Stage.COLD, Lead.Stage.WARM, Lead.Stage.HOT, Lead.Stage.BURNING]
STAGE_ORDER = list(Lead.Stage.values)
#: Activities the demo tracks, smallest steps first, so each lead lands in its intended stage.
CLIMB = [
    "email_opened",
    "blog_post_read",
    "email_opened",
    "multiple_pages_viewed",
    "email_clicked",
    "testimonials_viewed",
    "case_study_viewed",
    "email_clicked",
    "about_us_visited",
    "video_watched",
    "quiz_completed",
    "message_received",
    "pricing_page_visited",
    "email_replied",
    "budget_calculator_used",
    "message_received",
    "phone_clicked",
    "email_replied",
    "whatsapp_clicked",
    "calendar_booking_started",
    "form_50_percent_filled",
    "email_clicked",
    "message_received",
    "email_replied",
]
DEAL_PATHS = [
    ["qualified", "proposal"],
    ["qualified", "proposal", "negotiation", "closing", "won"],
    ["lost"],
    ["qualified", "proposal", "negotiation"],
]
STATUS_PATHS = {
    Lead.Status.NEW: [],
    Lead.Status.CONTACTED: [Lead.Status.CONTACTED],
    Lead.Status.QUALIFIED: [Lead.Status.CONTACTED, Lead.Status.QUALIFIED],
    Lead.Status.CONVERTED: [Lead.Status.CONTACTED, Lead.Status.QUALIFIED, Lead.Status.CONVERTED],
    Lead.Status.LOST: [Lead.Status.LOST],
}


class Command(BaseCommand):
    help = "Create demo users, partners, teams and leads across every channel, stage and status. Safe to rerun."

    def add_arguments(self, parser):
        parser.add_argument("--force", action="store_true", help="Allow running with DJANGO_DEBUG=false.")

    def handle(self, *args, force: bool, **options):
        if not settings.DEBUG and not force:
            raise CommandError("seed_demo creates accounts with a known password; use --force outside DEBUG.")
        with transaction.atomic():
            platform = Organization.platform()
            self._users(platform)
            partners = self._partners()
            self._icp(platform)
            created = self._leads(platform, partners)
            seed_campaigns_demo(platform=platform, partners=partners, stdout=self.stdout)
            seed_followups_demo(platform=platform, partners=partners, stdout=self.stdout)
            seed_smart_followups_demo(platform=platform, partners=partners, stdout=self.stdout)
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo data ready: {created} new leads ({Lead.objects.count()} in total). "
                f"Log in at {settings.SITE_URL}/admin/ as {ADMIN_EMAIL} / {DEMO_PASSWORD}; "
                f"partners {', '.join(p[0] for p in PARTNERS)} use the same password."
            )
        )

    def _users(self, platform: Organization) -> None:
        for email, role, first, last in (
            (ADMIN_EMAIL, User.Role.PLATFORM_ADMIN, "Petra", "Admin"),
            (OPS_EMAIL, User.Role.INTERNAL_OPS, "Olaf", "Ops"),
        ):
            if not User.objects.filter(email=email).exists():
                user_create(
                    email=email,
                    password=DEMO_PASSWORD,
                    role=role,
                    organization=platform,
                    first_name=first,
                    last_name=last,
                    actor=None,
                    check_password=False,
                )

    def _partners(self) -> list[User]:
        users = []
        for email, name, capacity, leader, regions, postcodes, interests in PARTNERS:
            user = User.objects.filter(email=email).first()
            if user is None:
                user = partner_create(
                    email=email,
                    password=DEMO_PASSWORD,
                    name=name,
                    capacity=capacity,
                    regions=regions,
                    postcodes=postcodes,
                    interest_types=interests,
                    team_leader_email=leader,
                    actor=None,
                    check_password=False,
                )
            users.append(user)
        # Lena leads her own (one-person) team: two teams in all.
        lena = users[2]
        if not PartnerProfile.objects.filter(user=lena, team__isnull=False).exists():
            team_for_leader(leader=lena, actor=None)
        return [User.objects.get(pk=u.pk) for u in users]

    def _icp(self, platform: Organization) -> None:
        IcpProfile.objects.get_or_create(
            tenant=platform,
            defaults={
                "industries": ["Finanzdienstleistungen", "Software", "Immobilien"],
                "size_bands": ["201-500", "501-1000", "1001-5000"],
                "roles": ["CEO", "Geschäftsführer", "Head of", "Vorstand", "HR"],
                "regions": ["Bayern", "Wien", "Hamburg"],
                "weights": {"industry": 30, "size": 25, "role": 30, "region": 15},
            },
        )

    def _leads(self, platform: Organization, partners: list[User]) -> int:
        """Demo leads go through ``lead_ingest`` like real ones: dedup, enrichment and explainable scores."""
        rng = random.Random(2026)  # noqa: S311 - deterministic demo data, not security
        channels, statuses = list(Lead.Channel.values), list(Lead.Status.values)
        now = timezone.now()
        created = 0
        for i in range(LEAD_COUNT):
            # Draw every value even when the lead exists, so reruns produce the same data.
            channel, status = channels[i % len(channels)], statuses[(i // 2) % len(statuses)]
            target = STAGES[i % len(STAGES)]
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            company, domain, industry, size_band, employees = rng.choice(COMPANIES)
            postcode, city, region, country = rng.choice(PLACES)
            title = rng.choice(JOB_TITLES)
            phone = f"+49 151 {rng.randint(1000000, 9999999)}"
            interest = rng.choice(Lead.InterestType.values)
            budget = f"{rng.randint(1, 9) * 50}k"
            partner = None
            if status != Lead.Status.NEW or i % 6 == 0:
                partner = partners[i % len(partners)]
            if channel == Lead.Channel.REFERRAL:
                source = Lead.Source.REFERRAL
            elif channel == Lead.Channel.MANUAL:
                source = Lead.Source.MANUAL
            elif partner is not None and channel in (Lead.Channel.FACEBOOK, Lead.Channel.INSTAGRAM):
                source = Lead.Source.META_SELF
            else:
                source = Lead.Source.ZONE1_POOL
            local = f"{first}.{last}".lower().replace("ü", "ue").replace("ä", "ae").replace("ö", "oe")
            payload = {"first_name": first, "last_name": last, "email": f"{local}{i}@{domain}"}
            if target != Lead.Stage.COLD:
                payload |= {
                    "phone": phone,
                    "company_name": company,
                    "industry": industry,
                    "company_size_band": size_band,
                    "employees": employees,
                    "job_title": title,
                    "interest_type": interest,
                    "postcode": postcode,
                    "city": city,
                    "region": region,
                    "country": country,
                    "attributes": {"demo": True, "budget": budget},
                }
            payload |= {
                "utm_source": channel,
                "utm_campaign": f"demo-{channel}",
                "consent_marketing": i % 3 != 0,
                "is_test": i == LEAD_COUNT - 1,
                "captured_at": now - timedelta(days=i % 20, hours=i),
            }
            result = lead_ingest(
                payload=payload,
                channel=channel,
                source=source,
                partner=partner,
                tenant=None if partner else platform,
                idempotency_key=f"demo-{i}",
                activity="form_submitted" if target != Lead.Stage.COLD else None,
                # The demo forms showed the platform's marketing-email wording (seeded by the migrations).
                consent=ConsentContext.for_channel(
                    channel, version="v1", evidence={"demo": True, "ip": f"203.0.113.{i % 250}"}
                ),
            )
            if result.duplicate:
                continue
            lead = result.lead
            if payload["consent_marketing"] and i % 2 == 0:
                # Half of the consents are confirmed by double opt-in; the others stay pending.
                _grant, token = consent_doi_request(actor=None, lead=lead, version="v1", evidence={"demo": True})
                consent_doi_confirm(token, ip=f"203.0.113.{i % 250}", user_agent="Demo-Browser/1.0")
            # Track website activities, small ones first, until the lead reaches its demo stage.
            for code in CLIMB:
                if STAGE_ORDER.index(Lead.Stage.for_score(lead.score)) >= STAGE_ORDER.index(target):
                    break
                _activity, lead = lead_track_activity(lead=lead, activity_type=code, actor=None, channel=channel)
            if status == Lead.Status.CONVERTED:
                # A converted lead is a deal in the partner's pipeline, at a stage along the kanban.
                for step in (Lead.Status.CONTACTED, Lead.Status.QUALIFIED):
                    lead = lead_status_transition(lead=lead, to=step, actor=partner, reason="Demo")
                deal = lead_convert(lead=lead, actor=partner, deal_value=Decimal(rng.randint(150, 900) * 1000))
                self._advance_deal(deal, partner, i)
            else:
                for step in STATUS_PATHS[status]:
                    lead_status_transition(lead=lead, to=step, actor=partner, reason="Demo")
            created += 1
        return created

    @staticmethod
    def _advance_deal(deal: PartnerDeal, partner: User, i: int) -> None:
        """Spread the demo deals over the kanban: open stages, won and lost."""
        path = DEAL_PATHS[i % len(DEAL_PATHS)]
        for stage in path:
            if stage == PartnerDeal.Stage.WON:
                deal_win(deal=deal, actor=partner)
            elif stage == PartnerDeal.Stage.LOST:
                deal_lose(deal=deal, actor=partner, reason="Finanzierung nicht möglich")
            else:
                deal = deal_move_stage(deal=deal, to=stage, actor=partner)
