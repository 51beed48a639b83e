"""Models of the webhooks app (SPEC §2 module shape); filled by the webhooks feature issue."""
