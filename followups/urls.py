"""URL routes of the followups app."""

urlpatterns: list = []
