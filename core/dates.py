"""Date ranges for statistics and reports: whole local days, end exclusive, bounded in length."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from django.utils import timezone


@dataclass(frozen=True)
class DateRange:
    """Inclusive ``date_from``…``date_to`` in local days; ``start``/``end`` are the aware bounds (end exclusive)."""

    date_from: dt.date
    date_to: dt.date

    @property
    def start(self) -> dt.datetime:
        return timezone.make_aware(dt.datetime.combine(self.date_from, dt.time.min))

    @property
    def end(self) -> dt.datetime:
        return timezone.make_aware(dt.datetime.combine(self.date_to + dt.timedelta(days=1), dt.time.min))

    @property
    def days(self) -> list[dt.date]:
        return [self.date_from + dt.timedelta(days=n) for n in range((self.date_to - self.date_from).days + 1)]

    def months(self) -> list[dt.date]:
        first = self.date_from.replace(day=1)
        months = []
        while first <= self.date_to:
            months.append(first)
            first = (first + dt.timedelta(days=32)).replace(day=1)
        return months

    @classmethod
    def bounded(
        cls,
        date_from: dt.date | None,
        date_to: dt.date | None,
        *,
        default_from: Callable[[dt.date], dt.date],
        max_days: int,
    ) -> DateRange:
        """Build a range that ends today at the latest, is ordered, and spans at most ``max_days`` days.

        A missing start is ``default_from(end)``; the bound keeps one request from scanning everything.
        """
        today = timezone.localdate()
        date_to = min(date_to or today, today)
        date_from = date_from or default_from(date_to)
        if date_from > date_to:
            date_from, date_to = date_to, date_from
        if (date_to - date_from).days >= max_days:
            date_from = date_to - dt.timedelta(days=max_days - 1)
        return cls(date_from, date_to)
