"""``manage.py run_due_steps``: one tick of the sequence engine (what the beat task runs every minute)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandParser

from followups.services.engine import run_due_steps


class Command(BaseCommand):
    help = "Execute the due sequence steps once (emails, partner tasks): run_due_steps [--batch N]."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch", type=int, default=None, help="Due rows to claim (default FOLLOWUPS_TICK_BATCH).")

    def handle(self, *args, **options) -> None:
        claimed = run_due_steps(batch=options["batch"])
        self.stdout.write(f"{claimed} due steps executed.")
