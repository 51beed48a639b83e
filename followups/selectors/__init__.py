"""Reads of the sequence engine; import from the topic modules (``followups.selectors.runs`` …)."""
