"""Celery tasks for pool offers (expiry sweeper); imported by ``leads.tasks`` for autodiscovery."""
