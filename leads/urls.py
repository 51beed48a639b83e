"""URL routes of the leads app."""

urlpatterns: list = []
