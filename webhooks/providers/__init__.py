"""Webhook providers: signature, handshake and splitter of each sender; ``WebhooksConfig.ready`` imports
(and so registers) each one. Their outbound API clients live in ``integrations``."""
