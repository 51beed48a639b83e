"""Writes of the sequence engine; import from the topic modules (``followups.services.engine`` …)."""
