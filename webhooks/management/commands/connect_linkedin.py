"""Connect a LinkedIn ad account or organization with a member token, for system users and tests (SPEC §14)."""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand, CommandError

from accounts.models import User
from core.exceptions import DomainError
from integrations.linkedin.client import LEAD_TYPES, LinkedInClient, LinkedInError, LinkedInTokenError, TokenSet
from integrations.linkedin.client import owner_kind as kind_of
from webhooks.services import linkedin_connection_connect
from webhooks.services.linkedin_connections import linkedin_owner_urn_clean

STDIN_MARKER = "-"


class Command(BaseCommand):
    help = (
        "Connect LinkedIn: connect_linkedin --owner URN --access-token T [--refresh-token R] [--expires-in SECONDS] "
        "[--refresh-expires-in SECONDS] [--name N] [--partner EMAIL]. Use --access-token - to read it from stdin."
    )

    def add_arguments(self, parser):
        parser.add_argument("--owner", required=True, help="urn:li:sponsoredAccount:<id> or urn:li:organization:<id>")
        parser.add_argument("--access-token", required=True, help="Member access token, or - to read it from stdin.")
        parser.add_argument("--refresh-token", default="", help="Programmatic refresh token (approved partners).")
        parser.add_argument("--expires-in", type=int, default=None, help="Access token lifetime in seconds.")
        parser.add_argument("--refresh-expires-in", type=int, default=None, help="Refresh token lifetime in seconds.")
        parser.add_argument("--name", default="")
        parser.add_argument("--partner", default=None, help="Email of the sales partner who owns the account.")
        parser.add_argument("--no-verify", action="store_true", help="Do not read one lead page with the token first.")

    def handle(self, *args, **opts):
        given = opts["access_token"].strip()
        token = sys.stdin.readline().strip() if given == STDIN_MARKER else given
        try:
            owner = linkedin_owner_urn_clean(opts["owner"])
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        partner = None
        if opts["partner"]:
            partner = User.objects.filter(email=opts["partner"].strip().lower()).first()
            if partner is None:
                raise CommandError(f"No user with the email {opts['partner']}.")
        if not opts["no_verify"] and token:
            try:
                LinkedInClient(token).lead_form_responses(
                    owner_urn=owner, lead_type=LEAD_TYPES[kind_of(owner)][0], count=1
                )
            except LinkedInTokenError as exc:
                raise CommandError(f"LinkedIn rejected the token: {exc.summary()}") from None
            except LinkedInError as exc:
                self.stderr.write(self.style.WARNING(f"Could not verify the token ({exc.summary()}); stored anyway."))
        tokens = TokenSet(
            access_token=token,
            expires_in=opts["expires_in"],
            refresh_token=opts["refresh_token"].strip(),
            refresh_token_expires_in=opts["refresh_expires_in"],
        )
        try:
            connection, created = linkedin_connection_connect(
                owner_urn=owner, tokens=tokens, name=opts["name"], partner=partner, actor=None
            )
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        routed = f", partner {partner.email}" if partner else ""
        self.stdout.write(
            self.style.SUCCESS(
                f"{connection.owner_urn} ({connection.name or 'no name'}) {'connected' if created else 'updated'}"
                f"{routed}. Failed events of this account are replayed."
            )
        )
