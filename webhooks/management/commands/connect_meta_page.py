"""Connect a Facebook page (and its Instagram account) with a page access token (SPEC §14)."""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand, CommandError

from accounts.models import User
from core.exceptions import DomainError
from integrations.meta.graph import GraphClient, GraphError, GraphTokenError
from webhooks.services import meta_page_connect

STDIN_MARKER = "-"


class Command(BaseCommand):
    help = (
        "Connect a Meta page: connect_meta_page --page-id ID --access-token T [--name N] [--partner EMAIL] "
        "[--instagram-account-id ID]. Use --access-token - to read the token from stdin."
    )

    def add_arguments(self, parser):
        parser.add_argument("--page-id", required=True)
        parser.add_argument("--access-token", required=True, help="Long-lived page token, or - to read it from stdin.")
        parser.add_argument("--name", default="")
        parser.add_argument("--partner", default=None, help="Email of the sales partner who owns the page.")
        parser.add_argument("--instagram-account-id", default="", help="Instagram professional account of the page.")
        parser.add_argument(
            "--no-verify", action="store_true", help="Do not check the token against the Graph API first."
        )

    def handle(self, *args, **opts):
        given = opts["access_token"].strip()
        token = sys.stdin.readline().strip() if given == STDIN_MARKER else given
        partner = None
        if opts["partner"]:
            partner = User.objects.filter(email=opts["partner"].strip().lower()).first()
            if partner is None:
                raise CommandError(f"No user with the email {opts['partner']}.")
        name = opts["name"]
        if not opts["no_verify"]:
            try:
                page = GraphClient(token).page(opts["page_id"].strip())
            except GraphTokenError as exc:
                raise CommandError(f"Graph rejected the token: {exc.summary()}") from None
            except GraphError as exc:
                self.stderr.write(self.style.WARNING(f"Could not verify the token ({exc.summary()}); stored anyway."))
            else:
                name = name or str(page.get("name") or "")
        try:
            connection, created = meta_page_connect(
                page_id=opts["page_id"],
                access_token=token,
                name=name,
                partner=partner,
                instagram_account_id=opts["instagram_account_id"],
                actor=None,
            )
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        owner = f", partner {partner.email}" if partner else ""
        self.stdout.write(
            self.style.SUCCESS(
                f"Page {connection.page_id} ({connection.name or 'no name'}) {'connected' if created else 'updated'}"
                f"{owner}. Failed events of this page are replayed."
            )
        )
