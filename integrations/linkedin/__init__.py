"""LinkedIn client: URNs, the Rest.li 2.0 REST API and OAuth 2.0 (three-legged)."""
