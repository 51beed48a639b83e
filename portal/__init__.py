"""The partner portal (Zone 2, SPEC §9, floor 7): the shell, cross-domain pages and the routes of every portal page."""
