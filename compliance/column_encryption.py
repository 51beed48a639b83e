"""Encrypt a column that held plaintext (and decrypt it back), for the migration that makes it encrypted.

A migration first changes the column to ``text`` (``AlterField`` to ``EncryptedTextField`` or
``EncryptedJSONField``: PostgreSQL casts ``jsonb``/``varchar`` to ``text`` in the same statement), then
runs ``encrypt_columns(...)`` in ``RunPython``: the rows are read through a server-side cursor (never
the whole table in memory), sealed in Python with ``compliance.crypto`` and written back with one
``UPDATE … FROM unnest(…)`` per batch, not one statement per row. Raw SQL only: the historical
model's field already decrypts on read, and the values are not ciphertext yet.

Re-running is harmless: a value that already is ciphertext under a key of the ring is left alone.
The reverse (``decrypt_columns``) writes the plaintext back; a JSON column's empty value (``""``)
becomes its empty JSON (``{}`` or ``[]``) so that the cast back to ``jsonb`` succeeds.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder

from compliance import crypto

#: Rows per read and per UPDATE: big enough to amortise the round trip, small enough for memory.
BATCH_SIZE = 2000


@dataclass(frozen=True)
class Column:
    """One column to seal: ``json`` for a former JSON column (``empty`` is its empty JSON text)."""

    name: str
    json: bool = False
    empty: str = "{}"


@dataclass(frozen=True)
class Derived:
    """A clear column filled from the plaintext while it is still readable (e.g. a date kept for filters).

    ``compute`` gets ``{column: plaintext value}`` (JSON already parsed) and returns the value of
    ``name`` (``None`` for SQL NULL); ``sql_type`` is the PostgreSQL type of the column.
    """

    name: str
    sql_type: str
    compute: Callable[[dict[str, Any]], Any]


@dataclass
class _Spec:
    table: str
    columns: Sequence[Column]
    pk: str = "id"
    derived: Sequence[Derived] = field(default_factory=tuple)
    batch_size: int = BATCH_SIZE


def _decrypted(value: Any, ring: crypto.KeyRing) -> str | None:
    """The plaintext of a value that already is ciphertext of this ring, else None."""
    if not isinstance(value, str) or crypto.KeyRing.key_id_of(value) not in ring.ciphers:
        return None
    try:
        return ring.decrypt(value)
    except crypto.DecryptionError:
        return None  # plaintext that happens to look like "v1:x:…"


def _seal(column: Column, value: Any, ring: crypto.KeyRing) -> tuple[Any, Any]:
    """(stored value, plaintext for derived columns) of one plaintext cell."""
    if value is None:
        return None, None
    if not column.json:
        return (ring.encrypt(value) if value != "" else ""), value
    parsed = json.loads(value) if value != "" else None
    if parsed is None or parsed == {} or parsed == []:
        return "", parsed
    text = json.dumps(parsed, ensure_ascii=False, separators=(",", ":"), cls=DjangoJSONEncoder)
    return ring.encrypt(text), parsed


def _open(column: Column, value: Any, ring: crypto.KeyRing) -> Any:
    """The plaintext of one cell (ciphertext decrypted, a JSON column's ``""`` as its empty JSON)."""
    if value is None:
        return None
    if value == "":
        return column.empty if column.json else ""
    if crypto.KeyRing.key_id_of(value) is None:
        return value  # never encrypted
    return ring.decrypt(value)


def _rows(connection, sql: str, params: list[Any], batch_size: int) -> Iterator[list[tuple]]:
    """Batches of a query's rows: a server-side cursor on PostgreSQL, a fetched list elsewhere.

    SQLite (the embedded default) is read completely first: it must not see the rows being
    rewritten under an open statement, and its tables are small.
    """
    if connection.vendor == "postgresql":
        with connection.chunked_cursor() as cursor:
            cursor.execute(sql, params)
            while rows := cursor.fetchmany(batch_size):
                yield rows
        return
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    for start in range(0, len(rows), batch_size):
        yield rows[start : start + batch_size]


def _pk_type(connection, table: str, pk: str) -> str:
    """The SQL type of the primary key, for the array that carries the batch's keys."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = %s::regclass AND attname = %s",
            [connection.ops.quote_name(table), pk],
        )
        return cursor.fetchone()[0]


def _write(connection, spec: _Spec, names: list[str], types: list[str], updates: list[tuple]) -> None:
    """One UPDATE for the batch on PostgreSQL (arrays per column); ``executemany`` elsewhere.

    ``types`` starts with the primary key's SQL type, then one per name.
    """
    if not updates:
        return
    qn = connection.ops.quote_name
    if connection.vendor == "postgresql":
        aliases = [f"c{i}" for i in range(len(names))]
        arrays = ", ".join(f"%s::{sql_type}[]" for sql_type in types)
        sets = ", ".join(f"{qn(name)} = v.{alias}" for name, alias in zip(names, aliases, strict=True))
        sql = (
            f"UPDATE {qn(spec.table)} AS t SET {sets} FROM unnest({arrays}) "  # noqa: S608 - names from the migration
            f"AS v(pk, {', '.join(aliases)}) WHERE t.{qn(spec.pk)} = v.pk"
        )
        params = [list(values) for values in zip(*updates, strict=True)]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
        return
    sets = ", ".join(f"{qn(name)} = %s" for name in names)
    with connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE {qn(spec.table)} SET {sets} WHERE {qn(spec.pk)} = %s",  # noqa: S608 - names from the migration
            [(*row[1:], row[0]) for row in updates],
        )


def _pk_type_of(connection, spec: _Spec) -> str:
    return _pk_type(connection, spec.table, spec.pk) if connection.vendor == "postgresql" else ""


def _select(connection, spec: _Spec, condition: str) -> str:
    qn = connection.ops.quote_name
    columns = ", ".join(qn(c.name) for c in spec.columns)
    return f"SELECT {qn(spec.pk)}, {columns} FROM {qn(spec.table)} WHERE {condition}"  # noqa: S608


def encrypt_columns(
    table: str,
    columns: Sequence[Column],
    *,
    pk: str = "id",
    derived: Sequence[Derived] = (),
    batch_size: int = BATCH_SIZE,
) -> Callable:
    """A ``RunPython`` function that seals every plaintext value of ``columns`` in ``table``."""
    spec = _Spec(table=table, columns=columns, pk=pk, derived=derived, batch_size=batch_size)

    def forwards(apps, schema_editor) -> None:
        connection = schema_editor.connection
        ring = crypto.key_ring()
        qn = connection.ops.quote_name
        # Empty JSON is stored as "" (``EncryptedJSONField``): one set-based UPDATE, not a Python pass
        # over what is often most of the table.
        with connection.cursor() as cursor:
            for column in columns:
                if column.json:
                    cursor.execute(
                        f"UPDATE {qn(table)} SET {qn(column.name)} = '' "  # noqa: S608 - names from the migration
                        f"WHERE {qn(column.name)} IN ('{{}}', '[]', 'null')"
                    )
        # Rows with something to seal: not NULL, not already ciphertext, and for JSON columns not
        # the empty string (a former "{}" is not empty yet: it becomes "").
        parts, params = [], []
        for column in columns:
            parts.append(
                f"({qn(column.name)} IS NOT NULL AND {qn(column.name)} <> '' AND {qn(column.name)} NOT LIKE %s)"
            )
            params.append(f"{crypto.PREFIX}:%")
        names = [c.name for c in columns] + [d.name for d in derived]
        types = [_pk_type_of(connection, spec)] + ["text"] * len(columns) + [d.sql_type for d in derived]
        for rows in _rows(connection, _select(connection, spec, " OR ".join(parts)), params, batch_size):
            updates = []
            for row in rows:
                sealed, plain = [], {}
                for column, value in zip(columns, row[1:], strict=True):
                    opened = _decrypted(value, ring)
                    if opened is not None:  # sealed by an earlier run (or a write since): kept as it is
                        sealed.append(value)
                        plain[column.name] = json.loads(opened) if column.json else opened
                        continue
                    stored, plain[column.name] = _seal(column, value, ring)
                    sealed.append(stored)
                updates.append((row[0], *sealed, *(d.compute(plain) for d in derived)))
            _write(connection, spec, names, types, updates)

    return forwards


def decrypt_columns(table: str, columns: Sequence[Column], *, pk: str = "id", batch_size: int = BATCH_SIZE) -> Callable:
    """The reverse of ``encrypt_columns``: plaintext back in every cell (JSON as text, ready for ``::jsonb``)."""
    spec = _Spec(table=table, columns=columns, pk=pk, batch_size=batch_size)

    def backwards(apps, schema_editor) -> None:
        connection = schema_editor.connection
        ring = crypto.key_ring()
        qn = connection.ops.quote_name
        parts, params = [], []
        for column in columns:
            condition = f"{qn(column.name)} LIKE %s"
            params.append(f"{crypto.PREFIX}:%")
            if column.json:
                condition = f"({condition} OR {qn(column.name)} = '')"
            parts.append(condition)
        names = [c.name for c in columns]
        types = [_pk_type_of(connection, spec)] + ["text"] * len(names)
        for rows in _rows(connection, _select(connection, spec, " OR ".join(parts)), params, batch_size):
            updates = [
                (row[0], *(_open(column, value, ring) for column, value in zip(columns, row[1:], strict=True)))
                for row in rows
            ]
            _write(connection, spec, names, types, updates)

    return backwards
