"""``manage.py sync_sequences``: write the YAML sequences (followups/data/sequences) as platform sequences."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from followups.yaml_sequences import SequenceFileError, load_sequences, sync_sequences


class Command(BaseCommand):
    help = "Validate the YAML follow-up sequences and sync them into Sequence/SequenceStep rows (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            sequences = load_sequences()
        except SequenceFileError as exc:
            raise CommandError(str(exc)) from exc
        with transaction.atomic():
            codes = sync_sequences(sequences=sequences)
        self.stdout.write(f"synced {len(codes)} sequences: {', '.join(codes)}")
