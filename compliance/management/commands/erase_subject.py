"""``manage.py erase_subject --email E | --phone P | --lead ID --reason R``: an erasure request (Art. 17)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from compliance.management.subjects import actor_from, add_subject_arguments, subject_query_from
from compliance.registry import SubjectNotFound
from compliance.services.subjects import InvalidSubjectQuery, subject_erase


class Command(BaseCommand):
    help = (
        "Erase a person's data in every app (every lead in every tenant), keep the leads as anonymous statistics "
        "and leave a tombstone. Safe to re-run: an interrupted erasure continues, an erased person stays as is."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        add_subject_arguments(parser)
        parser.add_argument("--reason", required=True, help="Why (kept encrypted on the erasure record).")
        parser.add_argument("--reason-code", default="request", help="Short code for the audit trail.")

    def handle(self, *args: Any, **options: Any) -> None:
        query = subject_query_from(options)
        actor = actor_from(options)
        try:
            outcome = subject_erase(query, actor=actor, reason=options["reason"], reason_code=options["reason_code"])
        except SubjectNotFound as exc:
            raise CommandError(_("No such lead.")) from exc
        except InvalidSubjectQuery as exc:
            raise CommandError(exc.message) from exc
        erasure = outcome.erasure
        if outcome.already_erased:
            since = f" ({erasure.pk}, {erasure.completed_at or erasure.created_at:%Y-%m-%d})" if erasure else ""
            self.stdout.write(_("Already erased%(since)s: nothing changed.") % {"since": since})
            return
        if erasure is None:
            self.stdout.write(_("Nobody is held under this value: nothing to erase."))
            return
        self.stdout.write(
            self.style.SUCCESS(
                _("Erasure %(id)s completed: %(leads)s lead(s).") % {"id": erasure.pk, "leads": outcome.lead_count}
            )
        )
        for app, counts in outcome.counts.items():
            detail = ", ".join(f"{what}: {count}" for what, count in counts.items()) or "-"
            self.stdout.write(f"  {app}: {detail}")
