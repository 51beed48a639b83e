"""Tasks of the deals app: none yet (stage changes have no side effect beyond the audit trail)."""
