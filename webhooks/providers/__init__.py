"""Webhook providers and their clients; ``WebhooksConfig.ready`` imports (and so registers) each one."""
