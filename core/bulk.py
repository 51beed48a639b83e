"""Write model instances in bulk: chained ``INSERT``s, ``COPY`` and ``UPDATE … FROM unnest``.

For example, a new lead is eight rows in eight tables (lead, identities, verification, enrichment, activity,
analysis, audit event, score history). Sent one by one that is eight round trips; chained as
``WITH a AS (INSERT …), b AS (INSERT …) INSERT …`` it is one. Values are prepared by each field's
own ``pre_save``/``get_db_prep_save`` (defaults, ``auto_now_add``, encryption, JSON), exactly as
``Model.save()`` would. Foreign keys are checked at the end of the statement (Django creates them
deferrable), so a child may reference the lead inserted in the same statement.

An import batch writes thousands of new leads and their rows: ``copy_insert`` streams instances of
one model with ``COPY`` instead, prepared by the same field methods.
"""

from __future__ import annotations

import datetime
import json
import operator
import uuid
from collections.abc import Callable, Sequence
from functools import cache, partial
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, connections, models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field, Model
from django.db.models.base import ModelState
from django.db.models.signals import post_init, pre_init


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


class InstanceFactory:
    """New instances of one model at a fraction of ``Model(**values)``'s cost, for bulk paths.

    ``Model.__init__`` matches every keyword against every field and sets each through its
    descriptor: for the 60 fields of a lead that is four times what this costs, paid for every row
    of an import. Here an instance is made the way unpickling makes one (``__new__`` and its
    state): the model's own defaults, a callable default (ids, public ids, fresh dicts,
    ``timezone.now``) called per instance unless a value is given, the values over them. Values are
    keyed by attname (``tenant_id``, not ``tenant``). A model with ``pre_init``/``post_init``
    receivers goes through ``Model.__init__`` as usual, so they still hear of every instance.
    """

    def __init__(self, model: type[Model]):
        self.model = model
        fields = model._meta.concrete_fields
        dynamic = [f for f in fields if f.has_default() and callable(f.default)]
        self.defaults = {f.attname: f.get_default() for f in fields if f not in dynamic}
        self.callables = [(f.attname, f.get_default) for f in dynamic]
        self.attnames = frozenset(f.attname for f in fields)
        self.observed = pre_init.has_listeners(model) or post_init.has_listeners(model)

    def __call__(self, **values: Any) -> Model:
        if self.observed:
            return self.model(**values)
        if not self.attnames.issuperset(values):
            unknown = ", ".join(sorted(set(values) - self.attnames))
            raise TypeError(f"{self.model.__name__} has no field(s) {unknown}")
        state = self.defaults.copy()
        for name, default in self.callables:
            if name not in values:
                state[name] = default()
        state.update(values)
        state["_state"] = ModelState()
        obj = self.model.__new__(self.model)
        obj.__dict__ = state
        return obj


@cache
def instance_factory(model: type[Model]) -> InstanceFactory:
    """The ``InstanceFactory`` of a model, built once per process."""
    return InstanceFactory(model)


#: Fields whose Python value is what PostgreSQL stores: their ``get_db_prep_save`` hands a value of
#: the right type through unchanged, so ``COPY`` takes it as it is. Exact classes: a subclass (an
#: encrypted text field, say) may prepare its value, and does so through its own method.
PASS_THROUGH_FIELDS = frozenset(
    {
        models.CharField,
        models.URLField,
        models.EmailField,
        models.SlugField,
        models.TextField,
        models.BooleanField,
        models.SmallIntegerField,
        models.IntegerField,
        models.BigIntegerField,
        models.PositiveSmallIntegerField,
        models.PositiveIntegerField,
        models.PositiveBigIntegerField,
        models.UUIDField,
        models.DateTimeField,
        models.ForeignKey,
        models.OneToOneField,
    }
)


class CopyTable:
    """``COPY`` layout of one model: every concrete column but a database-generated id.

    A row is taken from a new instance (every field set) as ``save()`` would: ``pre_save`` sets
    the ``auto_now(_add)`` timestamps, ``get_db_prep_save`` prepares every value that needs it
    (encryption, JSON). The other fields' values go to psycopg as they are: calling their
    pass-through methods for every column of every row cost more than the rest of an import row.
    """

    def __init__(self, model: type[Model]):
        meta = model._meta
        self.fields = [f for f in meta.local_concrete_fields if f is not meta.auto_field]
        quote = connection.ops.quote_name
        columns = ", ".join(quote(f.column) for f in self.fields)
        self.sql = f"COPY {quote(meta.db_table)} ({columns}) FROM STDIN"
        names = [f.attname for f in self.fields]
        getter = operator.itemgetter(*names)  # from the instance's state: no descriptor per column
        self.values = getter if len(names) > 1 else lambda state: (getter(state),)
        self.stamped = [f for f in self.fields if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)]
        self.prepared = [
            (index, _copy_preparer(f)) for index, f in enumerate(self.fields) if type(f) not in PASS_THROUGH_FIELDS
        ]

    def row(self, obj: Model, db: BaseDatabaseWrapper) -> list[Any]:
        for f in self.stamped:
            f.pre_save(obj, True)
        values = list(self.values(obj.__dict__))
        for index, prepare in self.prepared:
            values[index] = prepare(values[index], db)
        return values


def _copy_preparer(field: Field) -> Callable[[Any, BaseDatabaseWrapper], Any]:
    """The cheapest call that gives what ``field.get_db_prep_save`` gives for a plain value of a new row.

    - JSON: the text ``json.dumps`` makes with the field's encoder (what psycopg's ``Jsonb`` wrapper,
      which Django returns, would write), without building the wrapper per value.
    - A field that keeps ``Field``'s own ``get_db_prep_save``/``get_db_prep_value`` (an encrypted text
      field, say): its ``get_prep_value``, which is all those two call for a value that is no SQL
      expression.
    - Anything else: ``get_db_prep_save`` itself.
    """
    kind = type(field)
    methods = ("get_db_prep_save", "get_db_prep_value", "get_prep_value")
    if isinstance(field, models.JSONField) and all(
        getattr(kind, name) is getattr(models.JSONField, name) for name in methods
    ):
        dumps = partial(json.dumps, cls=field.encoder) if field.encoder else json.dumps

        def prepare_json(value: Any, db: BaseDatabaseWrapper) -> Any:
            if value is None:
                return None
            if not value and type(value) in (dict, list):
                return "{}" if type(value) is dict else "[]"  # most JSON columns of a new row are empty
            return dumps(value)

        return prepare_json
    if all(getattr(kind, name) is getattr(Field, name) for name in methods[:2]):
        prep = field.get_prep_value
        return lambda value, db: prep(value)
    return field.get_db_prep_save


@cache
def copy_table(model: type[Model]) -> CopyTable:
    """The ``COPY`` layout of a model, built once per process."""
    return CopyTable(model)


def copy_insert(objs: Sequence[Model]) -> None:
    """Insert new instances of one model with ``COPY`` (PostgreSQL; database-generated ids stay unset)."""
    if not objs:
        return
    table = copy_table(type(objs[0]))
    db = connections[DEFAULT_DB_ALIAS]
    # The raw psycopg cursor: Django's cursor has no COPY; errors still become Django's exceptions.
    with db.wrap_database_errors, db.cursor() as cursor, cursor.cursor.copy(table.sql) as copy:
        for obj in objs:
            copy.write_row(table.row(obj, db))
