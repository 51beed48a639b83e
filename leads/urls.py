"""URL routes of the leads app (mounted under /api/)."""

from leads.api import capture as capture_api
from leads.api import inbox as inbox_api
from leads.api import leads as leads_api
from leads.api import partner as partner_api
from leads.api import pool as pool_api

urlpatterns = [
    *pool_api.urlpatterns,
    *inbox_api.urlpatterns,
    *partner_api.urlpatterns,
    *leads_api.urlpatterns,
    *capture_api.urlpatterns,
]
