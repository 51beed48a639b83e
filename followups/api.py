"""DRF API of the followups app."""

urlpatterns: list = []
