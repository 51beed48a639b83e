"""Hostile input stops at the edge: control characters, lone surrogates, huge strings and deep JSON (issue 23).

PostgreSQL refuses a NUL character in ``text`` and ``jsonb`` ("unsupported Unicode escape sequence"),
refuses ``Infinity`` in ``jsonb``, and psycopg cannot encode a lone surrogate: each of them used to
reach the database and end as a 500 whose logged error quoted the start of the submitted data.
Free-form JSON fields (lead ``attributes``, activity ``detail``, a website form's own questions) are
therefore checked here before anything is stored, and refused with a 400 that names the field but
never echoes the value. Tab, newline and carriage return are ordinary text; every other C0/C1
control character is refused.

Signed provider deliveries (webhooks) are not refused but cleaned with ``strip_unstorable``: the
sender cannot fix a visitor's answer, and refusing would make it retry a delivery that never fits.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from django.http import QueryDict
from django.utils.translation import gettext as _
from rest_framework import parsers, serializers
from rest_framework.exceptions import ParseError

#: Deepest nesting of objects and arrays in a free-form JSON value (the value itself is level 1).
MAX_JSON_DEPTH = 10
#: Longest string (keys included) inside a free-form JSON value, in characters.
MAX_JSON_STRING_LENGTH = 10_000
#: Most values (containers, keys and leaves) in one free-form JSON value.
MAX_JSON_NODES = 2_000

#: C0 controls but tab, newline and carriage return; DEL and the C1 controls; lone UTF-16 surrogates.
_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
#: What PostgreSQL cannot store at all (NUL) or psycopg cannot encode (lone surrogates).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def text_problem(value: str, *, max_length: int | None = None) -> str | None:
    """Why ``value`` is refused (a message without the value), or None when it is acceptable text."""
    if _FORBIDDEN.search(value):
        return _("Control characters and invalid Unicode are not allowed.")
    if max_length is not None and len(value) > max_length:
        return _("Ensure this text has no more than %(max)d characters.") % {"max": max_length}
    return None


def json_problem(
    value: Any,
    *,
    max_depth: int = MAX_JSON_DEPTH,
    max_string_length: int = MAX_JSON_STRING_LENGTH,
    max_nodes: int = MAX_JSON_NODES,
) -> str | None:
    """Why a parsed JSON value is refused, or None. Walks without recursion, so any depth is safe."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    nodes = 0
    while stack:
        item, depth = stack.pop()
        nodes += 1
        if nodes > max_nodes:
            return _("Too many values (at most %(max)d).") % {"max": max_nodes}
        if isinstance(item, str):
            problem = text_problem(item, max_length=max_string_length)
            if problem:
                return problem
        elif isinstance(item, bool | int | None):
            continue
        elif isinstance(item, float):
            if not math.isfinite(item):
                return _("Numbers must be finite.")
        elif isinstance(item, Mapping | list | tuple):
            if depth > max_depth:
                return _("Nested too deeply (at most %(max)d levels).") % {"max": max_depth}
            if isinstance(item, Mapping):
                for key, child in item.items():
                    stack.append((str(key), depth + 1))
                    stack.append((child, depth + 1))
            else:
                stack.extend((child, depth + 1) for child in item)
        else:
            return _("Unsupported value.")
    return None


def strip_unstorable(value: Any) -> Any:
    """A parsed JSON value without what the database cannot hold: NUL removed, lone surrogates replaced.

    Also for values nested deeper than the interpreter's recursion limit: the caller catches
    ``RecursionError`` (``json.loads`` raises it first anyway).
    """
    if isinstance(value, str):
        return _UNSTORABLE.sub(lambda m: "" if m.group() == "\x00" else "\ufffd", value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {strip_unstorable(str(key)): strip_unstorable(child) for key, child in value.items()}
    if isinstance(value, list | tuple):
        return [strip_unstorable(child) for child in value]
    return value


# --- DRF building blocks -------------------------------------------------------------------------


def no_control_characters(value: str) -> None:
    """Validator for text fields: refuse control characters (DRF itself only refuses NUL and surrogates)."""
    problem = text_problem(value)
    if problem:
        raise serializers.ValidationError(problem, code="control_characters")


class SafeCharField(serializers.CharField):
    """A ``CharField`` that also refuses control characters other than tab, newline and carriage return."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.validators.append(no_control_characters)


class SafeDictField(serializers.DictField):
    """A free-form JSON object that the database can store: see ``json_problem`` for the limits."""

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        value = super().to_internal_value(data)
        problem = json_problem(value)
        if problem:
            raise serializers.ValidationError(problem, code="unsafe_json")
        return value


class SafeJSONParser(parsers.JSONParser):
    """DRF's JSON parser, but JSON nested past the interpreter's recursion limit is a 400, not a 500."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(_("JSON parse error - nested too deeply.")) from None


class SafeFormParser(parsers.FormParser):
    """Form bodies must be valid UTF-8 (Django would silently replace broken bytes)."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = parsers.get_encoding(parser_context or {})
        body = stream.read() if stream is not None else b""
        try:
            body.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            raise ParseError(_("The request body is not valid UTF-8.")) from None
        return QueryDict(body, encoding=encoding)


class SafeMultiPartParser(parsers.MultiPartParser):
    """Multipart fields must be valid UTF-8; Django decodes them with replacement characters, which are refused."""

    def parse(self, stream, media_type=None, parser_context=None):
        result = super().parse(stream, media_type, parser_context)
        for key, values in result.data.lists():
            if "\ufffd" in key or any("\ufffd" in value for value in values):
                raise ParseError(_("The request body is not valid UTF-8."))
        return result


#: The parsers of an API view that takes JSON, form and multipart bodies.
SAFE_PARSERS = [SafeJSONParser, SafeFormParser, SafeMultiPartParser]
