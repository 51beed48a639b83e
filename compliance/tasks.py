"""Tasks of the compliance app (SPEC §2 module shape); filled by the compliance feature issue."""
