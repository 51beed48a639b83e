"""Views of the accounts app (SPEC §2 module shape); filled by the accounts feature issue."""
