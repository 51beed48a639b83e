"""Database cursors Django does not offer: server-side parameter binding, prepared statements, binary."""

from __future__ import annotations

import psycopg
from django.db import connection
from django.db.backends.utils import CursorWrapper


class _BoundCursor(psycopg.Cursor):
    """``execute`` with this cursor's defaults for preparing and the binary format."""

    def __init__(self, raw: psycopg.Connection, *, prepare: bool, binary: bool):
        super().__init__(raw)
        self._prepare_default = prepare or None
        self._binary_default = binary or None

    def execute(self, query, params=None, *, prepare=None, binary=None):
        prepare = self._prepare_default if prepare is None else prepare
        binary = self._binary_default if binary is None else binary
        return super().execute(query, params, prepare=prepare, binary=binary)


def bound_cursor(*, prepare: bool = False, binary: bool = False) -> CursorWrapper:
    """A Django cursor (error wrapping, hooks) over a psycopg cursor that binds on the server.

    Django binds parameters on the client, and psycopg then quotes every element of an array in
    Python. Bound on the server, the values travel as they are; ``binary`` also skips the text
    format's escaping of each element, which showed in profiles of imports (thousands of identity
    hashes and score breakdowns per batch). ``prepare``: the statement is prepared once per
    connection; Django never prepares, so PostgreSQL parses and plans a hot statement every time.
    PostgreSQL only.
    """
    connection.ensure_connection()
    raw = connection.connection
    if prepare and raw.prepare_threshold is None:
        # Django turns preparing off (None); a huge threshold keeps automatic preparing off but lets
        # ``prepare=True`` work. Django's own cursors bind on the client and never prepare anyway.
        raw.prepare_threshold = 1 << 30
    return connection.make_cursor(_BoundCursor(raw, prepare=prepare, binary=binary))
