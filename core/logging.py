"""Structured logging: one JSON object per line, tagged with the request id, never raw PII."""

from __future__ import annotations

import contextvars
import json
import logging
import re
import traceback
import uuid
from datetime import UTC, datetime

from core.pii import scrub_pii

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

#: A caller's ``X-Request-ID`` is kept when it looks like an opaque token: letters AND digits from a
#: small alphabet. It is logged and stored with audit events, so a bare name ("max.mustermann") or
#: number ("01711234567") is replaced by a minted id rather than carried into every log line.
_REQUEST_ID_RE = re.compile(r"^(?=[^0-9]*[0-9])(?=[^A-Za-z]*[A-Za-z])[A-Za-z0-9._-]{1,64}$")
_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "request_id"}


class RequestIdMiddleware:
    """Take a safe ``X-Request-ID`` from the caller or mint one; echo it back for tracing."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        rid = incoming if _REQUEST_ID_RE.match(incoming) else uuid.uuid4().hex
        request.request_id = rid
        token = request_id_var.set(rid)
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(token)
        response["X-Request-ID"] = rid
        return response


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


def is_database_error(exc: BaseException | None) -> bool:
    """Django's database errors and the driver's own (psycopg), which Django wraps."""
    if exc is None:
        return False
    from django.db import Error as DatabaseError

    return isinstance(exc, DatabaseError) or type(exc).__module__.split(".")[0] in ("psycopg", "psycopg2")


def _sqlstate(exc: BaseException) -> str:
    for candidate in (exc, exc.__cause__):
        code = getattr(candidate, "sqlstate", None) or getattr(candidate, "pgcode", None)
        if code:
            return str(code)
    return "unknown"


def redacted_database_error(exc: BaseException) -> str:
    """What may be logged of a database error: its class and SQLSTATE.

    Never its message: PostgreSQL's DETAIL and CONTEXT lines quote the data ("Key (email)=(…)",
    "JSON data, line 1: {…"), i.e. form answers and contact data in plain text.
    """
    return f"{type(exc).__module__}.{type(exc).__qualname__} (SQLSTATE {_sqlstate(exc)}; message withheld)"


def safe_exception_text(exc: BaseException) -> str:
    """The traceback of ``exc`` and the exceptions chained to it, with database errors' messages withheld."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not seen for seen in chain):
        chain.append(current)
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    parts = []
    for i, item in enumerate(reversed(chain)):
        if i:
            parts.append("\nThe above exception led to the following exception:\n\n")
        parts.append("Traceback (most recent call last):\n")
        parts.extend(traceback.format_tb(item.__traceback__))
        if is_database_error(item):
            parts.append(redacted_database_error(item))
        else:
            parts.extend(traceback.format_exception_only(type(item), item))
    return "".join(parts).rstrip("\n")


def _message(record: logging.LogRecord) -> str:
    """``record.getMessage()``, but a database error passed as an argument shows only its class and SQLSTATE."""
    args = record.args
    if isinstance(args, tuple) and any(is_database_error(a) for a in args if isinstance(a, BaseException)):
        safe = tuple(
            redacted_database_error(a) if isinstance(a, BaseException) and is_database_error(a) else a for a in args
        )
        return str(record.msg) % safe
    return record.getMessage()


class JsonFormatter(logging.Formatter):
    """Render a record as JSON; extra fields passed with ``extra=`` are kept as keys.

    Exceptions are rendered by ``safe_exception_text``: a database error's message (which quotes
    the parameters) is never written, only its class, SQLSTATE and traceback. The message, the
    exception text and string extras pass ``core.pii.scrub_pii``: an exception's message may quote
    the email or phone number it refused (the last line of defence; names cannot be recognised).
    """

    def format(self, record: logging.LogRecord) -> str:
        data = {
            "ts": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": scrub_pii(_message(record)),
            "request_id": getattr(record, "request_id", "-"),
        }
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                data[key] = scrub_pii(value) if isinstance(value, str) else value
        if record.exc_info and record.exc_info[1] is not None:
            data["exc"] = scrub_pii(safe_exception_text(record.exc_info[1]))
        elif record.exc_info:
            data["exc"] = scrub_pii(self.formatException(record.exc_info))
        return json.dumps(data, default=str, ensure_ascii=False)
