"""Pagination for every list: page numbers for small lists, keyset for deep ones, estimated counts for huge tables."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.core.paginator import EmptyPage, Paginator
from django.db import connections, models
from django.db.models import BooleanField, QuerySet
from django.db.models.expressions import RawSQL
from django.utils.dateparse import parse_datetime
from django.utils.functional import cached_property
from django.utils.translation import gettext as _
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response


class DefaultPagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 200


def estimate_count(queryset: QuerySet) -> int | None:
    """The planner's row estimate for a queryset (PostgreSQL), so big lists never run COUNT(*)."""
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return None
    try:
        sql, params = queryset.order_by().values("pk").query.sql_with_params()
    except EmptyResultSet:  # e.g. queryset.none(): nothing to estimate
        return 0
    with connection.cursor() as cursor:
        # The statement is Django's own compiled SQL with bound parameters.
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


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


class KeysetPagination:
    """Forward keyset pagination: constant cost at any depth, unlike OFFSET.

    The cursor is the sort key of the last row (url-safe base64 JSON); ties are broken by id.
    Subclasses name the ``model`` and its ``orderings`` (each ending in a unique column).
    """

    model: type[models.Model]
    orderings: dict[str, tuple[str, ...]]
    default_ordering: str
    page_size = 50
    max_page_size = 200

    def __init__(self, request):
        self.request = request
        params = request.query_params
        self.ordering = params.get("ordering") or self.default_ordering
        if self.ordering not in self.orderings:
            raise ValidationError({"ordering": [_("Use one of: %s.") % ", ".join(self.orderings)]})
        try:
            size = int(params.get("page_size") or self.page_size)
        except ValueError:
            raise ValidationError({"page_size": [_("A whole number is required.")]}) from None
        self.size = max(1, min(size, self.max_page_size))
        self.fields = self.orderings[self.ordering]
        self.position = self._decode(params.get("cursor"))

    def _model_fields(self) -> list[models.Field]:
        return [self.model._meta.get_field(field.lstrip("-")) for field in self.fields]

    def _decode(self, cursor: str | None) -> list[Any] | None:
        if not cursor:
            return None
        try:
            values = json.loads(base64.urlsafe_b64decode(cursor.encode("ascii") + b"=" * (-len(cursor) % 4)))
            if not isinstance(values, list) or len(values) != len(self.fields):
                raise ValueError
            decoded = []
            for field, value in zip(self._model_fields(), values, strict=True):
                if isinstance(field, models.DateTimeField):
                    value = parse_datetime(value)
                    if value is None:
                        raise ValueError
                elif isinstance(field, models.IntegerField):
                    value = int(value)
                else:
                    value = str(value)
                decoded.append(value)
        except (ValueError, TypeError, UnicodeError, binascii.Error):
            raise ValidationError({"cursor": [_("Invalid cursor.")]}) from None
        return decoded

    def _encode(self, obj: models.Model) -> str:
        values = []
        for field in self.fields:
            value = getattr(obj, field.lstrip("-"))
            if not isinstance(value, int):
                value = value.isoformat() if hasattr(value, "isoformat") else str(value)
            values.append(value)
        return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")

    def _after_q(self, connection) -> RawSQL:
        # (a, b, c) after (x, y, z) as one row-value comparison: PostgreSQL turns it into an index range
        # on (tenant, a, b, c) and starts the scan at the cursor. The equivalent OR chain
        # (a ≻ x ∨ a = x ∧ b ≻ y ∨ …) is only a filter: at depth it re-read and sorted every row sharing
        # the cursor's score. Each ordering runs in one direction, so one operator covers the whole row.
        fields = self._model_fields()
        quote, table = connection.ops.quote_name, connection.ops.quote_name(self.model._meta.db_table)
        columns = ", ".join(f"{table}.{quote(field.column)}" for field in fields)
        operator = "<" if self.fields[0].startswith("-") else ">"
        params = [
            field.get_db_prep_value(value, connection, prepared=False)
            for field, value in zip(fields, self.position or [], strict=True)
        ]
        placeholders = ", ".join(["%s"] * len(fields))
        # Column names come from the model, values are bound parameters.
        return RawSQL(f"({columns}) {operator} ({placeholders})", params, output_field=BooleanField())  # noqa: S611

    def paginate(self, queryset: QuerySet) -> list[models.Model]:
        if self.position is not None:
            queryset = queryset.filter(self._after_q(connections[queryset.db]))
        rows = list(queryset.order_by(*self.fields)[: self.size + 1])
        self.has_next = len(rows) > self.size
        self.rows = rows[: self.size]
        return self.rows

    def response(self, data: list[dict[str, Any]]) -> Response:
        next_url = None
        if self.has_next and self.rows:
            params = self.request.query_params.copy()
            params["cursor"] = self._encode(self.rows[-1])
            next_url = self.request.build_absolute_uri(self.request.path) + "?" + params.urlencode()
        return Response({"next": next_url, "results": data})
