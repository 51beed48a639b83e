"""``manage.py export_subject --email E | --phone P | --lead ID [--out FILE]``: an access request (Art. 15/20)."""

from __future__ import annotations

import json
import os
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from compliance.management.subjects import actor_from, add_subject_arguments, subject_query_from
from compliance.registry import SubjectNotFound
from compliance.services.subjects import DEFAULT_EXPORT_REASON, InvalidSubjectQuery, subject_export


class Command(BaseCommand):
    help = (
        "Export everything held about a person (every lead in every tenant, decrypted) as one JSON document, "
        "to stdout or --out FILE (created readable by its owner only). Audited as subject.exported."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        add_subject_arguments(parser)
        parser.add_argument("--out", default=None, help="Write the document here (mode 0600) instead of stdout.")
        parser.add_argument("--reason", default=DEFAULT_EXPORT_REASON, help="Why (audit trail).")

    def handle(self, *args: Any, **options: Any) -> None:
        query = subject_query_from(options)
        actor = actor_from(options)
        handle = self._open(options["out"]) if options["out"] else None
        try:
            document = subject_export(query, actor=actor, reason=options["reason"])
        except (SubjectNotFound, InvalidSubjectQuery) as exc:
            if handle is not None:
                handle.close()
                os.unlink(options["out"])
            raise CommandError(_("No such lead.") if isinstance(exc, SubjectNotFound) else exc.message) from exc
        text = json.dumps(document, ensure_ascii=False, indent=2)
        if handle is not None:
            with handle:
                handle.write(text + "\n")
        else:
            self.stdout.write(text)
        rows = sum(entry["count"] for entry in document["contents"])
        self.stderr.write(
            _("Exported %(leads)s lead(s), %(rows)s entries in %(sections)s sections to %(target)s.")
            % {
                "leads": len(document.get("leads") or []),
                "rows": rows,
                "sections": len(document["contents"]),
                "target": options["out"] or "stdout",
            }
        )

    def _open(self, path: str):
        """Create (or truncate) the file readable by its owner only, before anything is exported."""
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.fchmod(fd, 0o600)  # an existing file keeps its mode otherwise
        except OSError as exc:
            raise CommandError(_("Cannot write %(path)s: %(error)s") % {"path": path, "error": exc.strerror}) from exc
        return os.fdopen(fd, "w", encoding="utf-8")
