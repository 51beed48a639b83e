"""URL routes of the webhooks app."""

urlpatterns: list = []
