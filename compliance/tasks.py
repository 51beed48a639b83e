"""Celery tasks of the compliance app: thin wrappers that call services (names ``compliance.<function>_task``)."""

from __future__ import annotations

from celery import shared_task

from compliance.services.retention import retention_run

#: Purging a large backlog in 1,000-row batches may outlast the default limits; every batch commits,
#: so a run stopped by the limit has kept its work and the next run continues.
RETENTION_SOFT_TIME_LIMIT = 3300
RETENTION_TIME_LIMIT = 3600


@shared_task(
    name="compliance.retention_run_task",
    ignore_result=True,
    soft_time_limit=RETENTION_SOFT_TIME_LIMIT,
    time_limit=RETENTION_TIME_LIMIT,
)
def retention_run_task(only: list[str] | None = None) -> dict[str, int]:
    """Apply the retention policies (beat ``compliance-retention``, daily); returns rows per policy."""
    return retention_run(only=only).counts()
