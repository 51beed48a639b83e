"""Portal pages for deals live with the rest of the partner portal in ``leads/portal/`` (one shell, one URL space)."""
