"""Key figures of sequences and their steps (sent, delivered, human opens and clicks, replies, exits by mail).

One query per call whatever the number of sequences or steps: the counts are conditional aggregates
over the sequence's emails, grouped by sequence or step. Opens and clicks count an email once, and only
when a human opened or clicked it (an event with ``is_bot=False``): scanners and privacy proxies open
and click everything. Only emails of sequence steps count (test sends and DOI mails don't). Rates are
shares of the emails sent (plain SMTP reports no deliveries, so "delivered" cannot be the base).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields

from django.db.models import Count, Exists, OuterRef, Q, QuerySet

from followups.models import EmailEvent, EmailMessage

FIGURES = ("sent", "delivered", "opened", "clicked", "replied", "unsubscribed", "bounced", "complained")
RATES = ("delivered", "opened", "clicked", "replied", "unsubscribed", "bounced", "complained")


@dataclass(frozen=True)
class Figures:
    sent: int = 0
    delivered: int = 0
    opened: int = 0
    clicked: int = 0
    replied: int = 0
    unsubscribed: int = 0
    bounced: int = 0
    complained: int = 0

    def rate(self, name: str) -> float | None:
        """``name`` as a share of the emails sent (0..1), or None before anything was sent."""
        return getattr(self, name) / self.sent if self.sent else None

    @property
    def rates(self) -> dict[str, float | None]:
        return {name: self.rate(name) for name in RATES}

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


EMPTY = Figures()


def _human(event_type: str) -> Exists:
    return Exists(
        EmailEvent.objects.filter(message=OuterRef("pk"), event_type=event_type, is_bot=False).values("pk")[:1]
    )


def _aggregates() -> dict[str, Count]:
    return {
        "sent": Count("pk", filter=Q(sent_at__isnull=False)),
        "delivered": Count("pk", filter=Q(delivered_at__isnull=False) | Q(status=EmailMessage.Status.DELIVERED)),
        "opened": Count("pk", filter=Q(_human_open=True)),
        "clicked": Count("pk", filter=Q(_human_click=True)),
        "replied": Count("pk", filter=Q(replied_at__isnull=False)),
        "unsubscribed": Count("pk", filter=Q(unsubscribed_at__isnull=False)),
        "bounced": Count("pk", filter=Q(bounced_at__isnull=False) | Q(status=EmailMessage.Status.BOUNCED)),
        "complained": Count("pk", filter=Q(complained_at__isnull=False) | Q(status=EmailMessage.Status.COMPLAINED)),
    }


def _grouped(queryset: QuerySet[EmailMessage], key: str) -> dict[int, Figures]:
    rows = (
        queryset.filter(purpose=EmailMessage.Purpose.SEQUENCE)
        .annotate(_human_open=_human(EmailEvent.Type.OPENED), _human_click=_human(EmailEvent.Type.CLICKED))
        .order_by()
        .values(key)
        .annotate(**_aggregates())
    )
    return {row.pop(key): Figures(**row) for row in rows}


def sequence_figures(sequence_ids: Iterable[int]) -> dict[int, Figures]:
    """Figures per sequence id (a sequence without emails is missing: use ``.get(pk, EMPTY)``); one query."""
    ids = list(sequence_ids)
    if not ids:
        return {}
    return _grouped(EmailMessage.objects.filter(sequence_id__in=ids), "sequence_id")


def step_figures(*, sequence_id: int) -> dict[int, Figures]:
    """Figures per step id of one sequence; one query."""
    return _grouped(EmailMessage.objects.filter(sequence_id=sequence_id, step__isnull=False), "step_id")
