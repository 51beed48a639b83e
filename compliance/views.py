"""Public consent pages: the double-opt-in confirmation (GET shows, POST confirms)."""

urlpatterns: list = []
