"""Selectors of the campaigns app (SPEC §2 module shape); filled by the campaigns feature issue."""
