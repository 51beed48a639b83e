"""URL routes of the followups app, mounted at the root (API paths carry their ``api/`` prefix)."""

from followups import api, tracking, views

app_name = "followups"

urlpatterns = [*views.urlpatterns, *tracking.urlpatterns, *api.urlpatterns]
