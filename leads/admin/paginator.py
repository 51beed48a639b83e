"""A paginator that never runs COUNT(*) over a big table."""

from __future__ import annotations

from django.core.paginator import EmptyPage, Paginator
from django.utils.functional import cached_property

from leads.selectors.pool import estimate_count


class EstimatedCountPaginator(Paginator):
    """Counts exactly below ``exact_below`` estimated rows, otherwise trusts the planner's estimate."""

    exact_below = 10_000

    @cached_property
    def count(self) -> int:
        estimate = estimate_count(self.object_list)
        if estimate is None or estimate < self.exact_below:
            return super().count
        return estimate

    def validate_number(self, number):
        # An estimate may be too high: a page past the real end is simply empty, not an error.
        try:
            return super().validate_number(number)
        except EmptyPage:
            number = int(number)
            if number < 1:
                raise
            return number
