"""on_commit: side effects run after commit only, and a failing one does not break the request."""

from __future__ import annotations

import pytest
from django.db import transaction

from core.transactions import on_commit

pytestmark = pytest.mark.django_db


def test_on_commit_runs_after_commit_only_and_survives_a_failing_side_effect(
    django_capture_on_commit_callbacks, caplog
):
    calls: list[str] = []

    def broken_enqueue():
        raise ConnectionError("redis is down")

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        on_commit(calls.append, "sent")
        on_commit(broken_enqueue)
        on_commit(calls.append, "after the failure")
        assert calls == []  # nothing before the commit
    assert len(callbacks) == 3
    assert calls == ["sent", "after the failure"]
    assert "redis is down" in caplog.text

    with pytest.raises(RuntimeError), transaction.atomic():
        on_commit(calls.append, "rolled back")
        raise RuntimeError
    assert "rolled back" not in calls
