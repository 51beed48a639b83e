"""Re-encrypt PII under the first key of FIELD_ENCRYPTION_KEYS after a key rotation."""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand
from tqdm import tqdm

from compliance import crypto
from compliance.rotation import count_stale, rotate_target, rotation_targets


class Command(BaseCommand):
    help = (
        "Re-encrypt every encrypted field under the current primary key (the first in "
        "FIELD_ENCRYPTION_KEYS). Works in committed batches: interrupt it at any time and run it "
        "again to resume. Remove an old key only after this reports 0 remaining."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=500)
        parser.add_argument("--dry-run", action="store_true", help="Only count what would be re-encrypted.")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar (plain lines instead).")

    def handle(self, *args, batch_size: int, dry_run: bool, no_progress: bool, **options):
        ring = crypto.key_ring()
        self.stdout.write(f"Primary key: {ring.primary_id}; keys in ring: {', '.join(ring.ciphers)}")
        total_rotated = 0
        for target in rotation_targets():
            stale = count_stale(target)
            if not stale:
                self.stdout.write(f"{target.label}: up to date")
                continue
            if dry_run:
                self.stdout.write(f"{target.label}: would re-encrypt {stale} rows")
                continue
            show_bar = not no_progress and sys.stderr.isatty()
            if show_bar:
                bar = tqdm(total=stale, desc=target.label, unit="rows")
                result = rotate_target(target, batch_size=batch_size, progress=bar.update)
                bar.close()
            else:
                seen = 0

                def plain(n: int, label: str = target.label, total: int = stale) -> None:
                    nonlocal seen
                    seen += n
                    self.stdout.write(f"{label}: {seen}/{total} rows")

                result = rotate_target(target, batch_size=batch_size, progress=plain)
            self.stdout.write(
                f"{target.label}: re-encrypted {result.values_rotated} values in {result.rows_seen} rows"
                + (f", {result.values_skipped} changed concurrently (rerun to check)" if result.values_skipped else "")
            )
            total_rotated += result.values_rotated
        remaining = sum(count_stale(t) for t in rotation_targets())
        self.stdout.write(
            self.style.SUCCESS(f"Done: {total_rotated} values; {remaining} rows remaining under old keys.")
        )
