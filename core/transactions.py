"""The one helper for side effects after commit (tasks, emails, notifications, outbound calls, domain events)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.dispatch import Signal


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


def send_after_commit(signal: Signal, *, sender: type, **kwargs: Any) -> None:
    """Send a domain event once the current transaction commits (never on a rollback).

    ``send_robust``: each receiver on its own; Django logs a failing receiver, and the change stays.
    """
    on_commit(signal.send_robust, sender=sender, **kwargs)
