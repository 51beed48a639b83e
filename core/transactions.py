"""The one helper for side effects after commit (tasks, emails, notifications, outbound calls)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import transaction


def on_commit(func: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    """Run ``func(*args, **kwargs)`` after the current transaction commits (at once outside one).

    ``robust=True``: a failing side effect (Redis down while enqueueing, say) is logged and does
    not turn a committed request into an error; sweepers pick the work up later.
    """

    def callback() -> None:
        func(*args, **kwargs)

    # Django logs a failing robust callback by its __qualname__, which functools.partial lacks.
    callback.__qualname__ = getattr(func, "__qualname__", None) or repr(func)
    transaction.on_commit(callback, robust=True)
