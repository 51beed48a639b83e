"""Tasks of the deals app (SPEC §2 module shape); filled by the deals feature issue."""
