"""Django Admin of the leads app: the Zone 1 pool console (SPEC §8) and scoring configuration."""

from django.contrib import admin

from leads.admin import config, lead, offers  # noqa: F401  (registers the model admins)
from leads.admin.navigation import grouped

if not getattr(admin.site.get_app_list, "grouped_by_domain", False):
    admin.site.get_app_list = grouped(admin.site.get_app_list)
