"""The partner portal (Zone 2, SPEC §9): server-rendered pages under /portal/leads/."""
