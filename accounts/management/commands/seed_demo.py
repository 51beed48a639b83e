"""Load demo data: a platform admin, ops, 3 partners in 2 teams and 48 leads (idempotent)."""

from __future__ import annotations

import random
from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from accounts.models import Organization, PartnerProfile, User
from accounts.services import partner_create, team_for_leader, user_create
from leads.models import BASE32_ALPHABET, PUBLIC_ID_PREFIX, IcpProfile, Lead, ScoringRule
from leads.services import lead_activity_add, lead_create, lead_score_set, lead_status_transition

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
STAGE_BANDS = [(5, 30), (31, 60), (61, 80), (81, 98)]
STATUS_PATHS = {
    Lead.Status.NEW: [],
    Lead.Status.CONTACTED: [Lead.Status.CONTACTED],
    Lead.Status.QUALIFIED: [Lead.Status.CONTACTED, Lead.Status.QUALIFIED],
    Lead.Status.CONVERTED: [Lead.Status.CONTACTED, Lead.Status.QUALIFIED, Lead.Status.CONVERTED],
    Lead.Status.LOST: [Lead.Status.LOST],
}


def demo_public_id(index: int) -> str:
    """Stable ids (SOT-LEAD-DEMOxxxx) make the command idempotent."""
    digits = []
    for _ in range(4):
        index, rem = divmod(index, 32)
        digits.append(BASE32_ALPHABET[rem])
    return PUBLIC_ID_PREFIX + "DEMO" + "".join(reversed(digits))


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
        rng = random.Random(2026)  # noqa: S311 - deterministic demo data, not security
        channels, statuses = list(Lead.Channel.values), list(Lead.Status.values)
        rules = list(ScoringRule.objects.filter(tenant=None, points__gt=0).values_list("code", "points"))
        now = timezone.now()
        created = 0
        for i in range(LEAD_COUNT):
            public_id = demo_public_id(i)
            # Draw every value even when the lead exists, so reruns produce the same data.
            channel, status = channels[i % len(channels)], statuses[(i // 2) % len(statuses)]
            low, high = STAGE_BANDS[i % len(STAGE_BANDS)]
            sub_score = rng.randint(low, high)
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            company, domain, industry, size_band, employees = rng.choice(COMPANIES)
            postcode, city, region, country = rng.choice(PLACES)
            title = rng.choice(JOB_TITLES)
            picked = rng.sample(rules, k=2)
            if Lead.objects.filter(public_id=public_id).exists():
                continue
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
            lead = lead_create(
                tenant=partner.organization if partner else platform,
                channel=channel,
                source=source,
                public_id=public_id,
                actor=None,
                data={
                    "first_name": first,
                    "last_name": last,
                    "email": f"{local}{i}@{domain}",
                    "phone": f"+49 151 {rng.randint(1000000, 9999999)}",
                    "company_name": company,
                    "company_domain": "" if not company else domain,
                    "industry": industry,
                    "company_size_band": size_band,
                    "employees": employees,
                    "job_title": title,
                    "interest_type": rng.choice(Lead.InterestType.values),
                    "postcode": postcode,
                    "city": city,
                    "region": region,
                    "country": country,
                    "utm_source": channel,
                    "utm_campaign": f"demo-{channel}",
                    "assigned_partner": partner,
                    "is_test": i == LEAD_COUNT - 1,
                    "consent_marketing": i % 3 != 0,
                    "consent_at": now - timedelta(days=i) if i % 3 != 0 else None,
                    "last_activity_at": now - timedelta(days=i % 20, hours=i),
                    "attributes": {"demo": True, "budget": f"{rng.randint(1, 9) * 50}k"},
                },
            )
            for n, (code, points) in enumerate(picked):
                lead_activity_add(
                    lead=lead,
                    activity_type=code,
                    channel=channel,
                    score_delta=points,
                    occurred_at=now - timedelta(days=i % 20, hours=n),
                    actor=None,
                )
            lead_score_set(
                lead=lead,
                p=sub_score,
                i=sub_score,
                e=sub_score,
                reason="Demo-Daten",
                breakdown={"demo": True, "rules": [{"code": c, "points": p} for c, p in picked]},
            )
            for step in STATUS_PATHS[status]:
                lead_status_transition(lead=lead, to=step, actor=partner, reason="Demo")
            created += 1
        return created
