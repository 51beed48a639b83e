"""Celery tasks of the leads app: thin wrappers that take ids and call services."""

from leads.offer_tasks import *  # noqa: F403  (offer tasks live in their own module)
