"""Pages of the followups app without login: unsubscribe (API-592)."""

urlpatterns: list = []
