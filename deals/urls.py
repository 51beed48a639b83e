"""URL routes of the deals app."""

urlpatterns: list = []
