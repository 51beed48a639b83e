"""URL routes of the compliance app."""

urlpatterns: list = []
