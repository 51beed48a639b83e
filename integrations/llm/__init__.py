"""LLM client: the Anthropic Messages API shape at ``LLM_API_URL``."""
