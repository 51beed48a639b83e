"""Insert rows of several tables in one database round trip (PostgreSQL data-modifying CTEs).

A new lead is eight rows in eight tables (lead, identities, verification, enrichment, activity,
analysis, audit event, score history). Sent one by one that is eight round trips; chained as
``WITH a AS (INSERT …), b AS (INSERT …) INSERT …`` it is one. Values are prepared by each field's
own ``pre_save``/``get_db_prep_save`` (defaults, ``auto_now_add``, encryption, JSON), exactly as
``Model.save()`` would. Foreign keys are checked at the end of the statement (Django creates them
deferrable), so a child may reference the lead inserted in the same statement.
"""

from __future__ import annotations

import datetime
import uuid
from functools import cache
from typing import Any

from django.db import connection
from django.db.models import Field, Model

#: ``ON CONFLICT (tenant_id, domain) DO UPDATE SET`` clause for company upserts that must return the
#: existing row's id. It rewrites a column outside every unique index, so the row lock is
#: ``FOR NO KEY UPDATE``: setting ``domain`` (a key column) took ``FOR UPDATE``, which waits for
#: the ``FOR KEY SHARE`` locks the lead-company link foreign keys hold until commit, and two
#: import workers linking leads to the same companies deadlocked on that.
COMPANY_UPSERT_TOUCH = '"name" = "leads_company"."name"'


@cache
def _template(model: type[Model], with_pk: bool) -> tuple[str, tuple[Field, ...]]:
    meta = model._meta
    fields = tuple(f for f in meta.local_concrete_fields if with_pk or f is not meta.auto_field)
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in fields)
    return f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES ", fields  # noqa: S608 - names from the model


def insert_sql(objs: list[Model]) -> tuple[str, list[Any]]:
    """``INSERT`` SQL and parameters for rows of one model (database-generated ids stay unset)."""
    model = type(objs[0])
    with_pk = model._meta.auto_field is None or getattr(objs[0], model._meta.pk.attname) is not None
    prefix, fields = _template(model, with_pk)
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    params = [f.get_db_prep_save(f.pre_save(obj, True), connection) for obj in objs for f in fields]
    return prefix + ", ".join([row] * len(objs)), params


def chaining_supported() -> bool:
    """Data-modifying CTEs are PostgreSQL's; the embedded SQLite default runs the parts one by one."""
    return connection.vendor == "postgresql"


def db_value(value: Any) -> Any:
    """A parameter as the database driver takes it (SQLite has no UUID type)."""
    if connection.vendor == "postgresql":
        return value
    if isinstance(value, uuid.UUID):
        return value.hex
    if isinstance(value, datetime.datetime):
        return connection.ops.adapt_datetimefield_value(value)
    return value


def run_chain(parts: list[tuple[str, list[Any]]], final: tuple[str, list[Any]]) -> list[tuple[Any, ...]]:
    """Run each part as a CTE before the final statement, in one round trip; return the final rows."""
    if not chaining_supported():
        with connection.cursor() as cursor:
            for sql, params in [*parts, final]:
                cursor.execute(sql, [db_value(p) for p in params])
            return cursor.fetchall() if cursor.description else []
    ctes = [f"ins{n} AS ({sql})" for n, (sql, _params) in enumerate(parts)]
    params = [p for _sql, part_params in parts for p in part_params]
    statement = (f"WITH {', '.join(ctes)} " if ctes else "") + final[0]
    with connection.cursor() as cursor:
        cursor.execute(statement, [*params, *final[1]])
        return cursor.fetchall() if cursor.description else []


def mark_saved(*objs: Model) -> None:
    """Tell Django these instances now exist in the database (as ``save()`` would)."""
    for obj in objs:
        obj._state.adding = False
        obj._state.db = connection.alias


def bulk_update_sql(objs: list[Model], names: list[str]) -> tuple[str, list[Any]]:
    """``UPDATE … FROM unnest(…)``: one array per column for rows of one model, keyed by primary key.

    Django's ``bulk_update`` builds a ``CASE WHEN pk = … THEN …`` expression per field and row, and
    resolving those expressions cost more than the rest of an import batch's merges. Values go
    through each field's ``get_db_prep_save`` (encryption, JSON) as ``save()`` would; binary
    placeholders (``%b``) send the arrays without per-element escaping. PostgreSQL only; run it on
    ``core.db.bound_cursor``.
    """
    meta = type(objs[0])._meta
    quote = connection.ops.quote_name
    fields = [meta.get_field(name) for name in names]
    pk = meta.pk
    columns = [pk, *fields]
    arrays = [f"%b::{f.db_type(connection)}[]" for f in columns]
    aliases = [f"c{index}" for index in range(len(columns))]
    assignments = ", ".join(f"{quote(f.column)} = v.{alias}" for f, alias in zip(fields, aliases[1:], strict=True))
    sql = (
        f"UPDATE {quote(meta.db_table)} AS t SET {assignments} "  # noqa: S608 - names from the model
        f"FROM unnest({', '.join(arrays)}) AS v({', '.join(aliases)}) WHERE t.{quote(pk.column)} = v.c0"
    )
    params = [[obj.pk for obj in objs]]
    params += [[f.get_db_prep_save(getattr(obj, f.attname), connection) for obj in objs] for f in fields]
    return sql, params
