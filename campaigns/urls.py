"""URL routes of the campaigns app (mounted by config.urls under /api/)."""

urlpatterns: list = []
