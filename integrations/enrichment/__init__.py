"""Company enrichment client: a Clearbit-style company lookup at ``ENRICHMENT_API_URL``."""
