"""Re-encrypt every encrypted column under the current primary key, in resumable batches."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from django.apps import apps
from django.db import connection, models, transaction

from compliance import crypto
from compliance.fields import EncryptedJSONField, EncryptedTextField


@dataclass
class RotationTarget:
    model: type[models.Model]
    columns: list[str]

    @property
    def label(self) -> str:
        return self.model._meta.label


@dataclass
class RotationResult:
    label: str
    rows_seen: int = 0
    values_rotated: int = 0
    values_skipped: int = 0


def rotation_targets() -> list[RotationTarget]:
    """Every concrete model with at least one encrypted column."""
    targets = []
    for model in apps.get_models():
        meta = model._meta
        if meta.proxy or not meta.managed:
            continue
        columns = [f.column for f in meta.concrete_fields if isinstance(f, EncryptedTextField | EncryptedJSONField)]
        if columns:
            targets.append(RotationTarget(model=model, columns=columns))
    return targets


def _stale_condition(columns: list[str], primary: str) -> tuple[str, list[str]]:
    """SQL selecting rows where any column is ciphertext under a key other than the primary."""
    qn = connection.ops.quote_name
    parts, params = [], []
    for column in columns:
        parts.append(f"({qn(column)} LIKE %s AND {qn(column)} NOT LIKE %s)")
        params += [f"{crypto.PREFIX}:%", f"{crypto.PREFIX}:{primary}:%"]
    return " OR ".join(parts), params


def count_stale(target: RotationTarget) -> int:
    ring = crypto.key_ring()
    condition, params = _stale_condition(target.columns, ring.primary_id)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT COUNT(*) FROM {connection.ops.quote_name(target.model._meta.db_table)} "  # noqa: S608
            f"WHERE {condition}",
            params,
        )
        return cursor.fetchone()[0]


def _batches(target: RotationTarget, batch_size: int) -> Iterator[list[tuple]]:
    qn = connection.ops.quote_name
    ring = crypto.key_ring()
    table, pk = qn(target.model._meta.db_table), qn(target.model._meta.pk.column)
    cols = ", ".join(qn(c) for c in target.columns)
    condition, params = _stale_condition(target.columns, ring.primary_id)
    last = None
    while True:
        where = f"({condition})" + (f" AND {pk} > %s" if last is not None else "")
        sql = f"SELECT {pk}, {cols} FROM {table} WHERE {where} ORDER BY {pk} LIMIT %s"  # noqa: S608
        with connection.cursor() as cursor:
            cursor.execute(sql, [*params, *([last] if last is not None else []), batch_size])
            rows = cursor.fetchall()
        if not rows:
            return
        yield rows
        last = rows[-1][0]


def rotate_target(
    target: RotationTarget, *, batch_size: int = 500, progress: Callable[[int], None] | None = None
) -> RotationResult:
    """Re-encrypt one model's stale values; each batch commits on its own, so a rerun resumes.

    The UPDATE compares the old ciphertext: a value the application changed meanwhile is left
    alone (it was written under the new key anyway) and counted as skipped.
    """
    ring = crypto.key_ring()
    qn = connection.ops.quote_name
    table, pk = qn(target.model._meta.db_table), qn(target.model._meta.pk.column)
    result = RotationResult(label=target.label)
    for rows in _batches(target, batch_size):
        updates: dict[str, list[tuple]] = {c: [] for c in target.columns}
        for row in rows:
            row_pk, values = row[0], row[1:]
            for column, token in zip(target.columns, values, strict=True):
                key_id = crypto.KeyRing.key_id_of(token) if token else None
                if key_id is None or key_id == ring.primary_id:
                    continue
                updates[column].append((ring.encrypt(ring.decrypt(token)), row_pk, token))
        expected = sum(len(v) for v in updates.values())
        done = 0
        with transaction.atomic(), connection.cursor() as cursor:
            for column, params in updates.items():
                for new_token, row_pk, old_token in params:
                    cursor.execute(
                        f"UPDATE {table} SET {qn(column)} = %s WHERE {pk} = %s AND {qn(column)} = %s",  # noqa: S608
                        [new_token, row_pk, old_token],
                    )
                    done += cursor.rowcount
        result.rows_seen += len(rows)
        result.values_rotated += done
        result.values_skipped += expected - done
        if progress:
            progress(len(rows))
    return result
