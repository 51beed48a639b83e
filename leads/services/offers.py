"""Pool offers: create, accept, reject, expire, revoke (SPEC §8)."""
