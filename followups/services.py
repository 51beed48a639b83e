"""Services of the followups app (SPEC §2 module shape); filled by the followups feature issue."""
