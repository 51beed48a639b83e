"""Reads of managed campaigns; import from the topic modules (``campaigns.selectors.stats`` …)."""
