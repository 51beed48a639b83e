"""URL routes of the followups app, mounted at the root (API paths carry their ``api/`` prefix)."""

from followups import api, api_followups, api_team, tracking, views

app_name = "followups"

urlpatterns = [
    *views.urlpatterns,
    *tracking.urlpatterns,
    *api.urlpatterns,
    *api_followups.urlpatterns,
    *api_team.urlpatterns,
]
