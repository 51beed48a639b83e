"""Create a sales partner (user, organization, partner profile), optionally in a leader's team."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from accounts.services import partner_create
from core.exceptions import DomainError


class Command(BaseCommand):
    help = "Create a sales partner: create_partner --email E --password P [--name N] [--capacity N] [--team-leader E]"

    def add_arguments(self, parser):
        parser.add_argument("--email", required=True)
        parser.add_argument("--password", required=True)
        parser.add_argument("--name", default="")
        parser.add_argument("--capacity", type=int, default=25, help="Maximum number of open leads (default 25).")
        parser.add_argument("--team-leader", dest="team_leader", default=None, help="Email of the team leader.")
        parser.add_argument("--region", action="append", default=[], help="Region served (repeatable).")
        parser.add_argument("--postcode", action="append", default=[], help="Postcode prefix served (repeatable).")
        parser.add_argument(
            "--interest", action="append", default=[], choices=["buy", "finance", "consult"], help="Repeatable."
        )

    def handle(self, *args, **opts):
        try:
            user = partner_create(
                email=opts["email"],
                password=opts["password"],
                name=opts["name"],
                capacity=opts["capacity"],
                regions=opts["region"],
                postcodes=opts["postcode"],
                interest_types=opts["interest"],
                team_leader_email=opts["team_leader"],
                actor=None,
            )
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        team = user.partner_profile.team
        self.stdout.write(
            self.style.SUCCESS(
                f"Partner {user.email} created (id {user.pk}, organization {user.organization.slug}, "
                f"capacity {user.partner_profile.capacity}" + (f", team {team.name}" if team else "") + ")."
            )
        )
