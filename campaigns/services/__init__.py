"""Writes of managed campaigns; import from the topic modules (``campaigns.services.core`` …)."""
