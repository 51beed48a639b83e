"""Domain errors shared by every app; the API exception handler maps them to SPEC's error shape."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A business rule refused the operation; shown to the caller, never a stack trace."""

    status_code = 422
    code = "domain_error"

    def __init__(self, message: str, *, code: str | None = None, fields: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.fields = fields


class NotFoundError(DomainError):
    status_code = 404
    code = "not_found"


class ConflictError(DomainError):
    status_code = 409
    code = "conflict"


class TransitionNotAllowed(ConflictError):
    code = "transition_not_allowed"

    def __init__(self, current: str, target: str, message: str | None = None):
        super().__init__(message or f"Transition from '{current}' to '{target}' is not allowed.")
        self.current = current
        self.target = target


class TransientError(Exception):
    """A temporary failure (remote timeout, rate limit); Celery tasks retry it with backoff."""
