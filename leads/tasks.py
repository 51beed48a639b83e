"""Tasks of the leads app (SPEC §2 module shape); filled by the leads feature issue."""
