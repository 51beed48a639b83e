"""Admin navigation grouped by domain: the pool first, configuration and accounts last."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext_lazy as _

POOL_MODELS = ("Lead", "LeadAssignment", "LeadMerge", "AssignmentDecision", "LeadAlert")
CONFIG_MODELS = ("ScoringRule", "IcpProfile", "PipelineSettings", "Company")
#: Section order; sections not named here follow alphabetically.
ORDER = ["leads", "deals", "campaigns", "followups", "webhooks", "leads-config", "accounts", "compliance", "auth"]


def _split_leads(app: dict[str, Any], request) -> list[dict[str, Any]]:
    by_name = {m["object_name"]: m for m in app["models"]}
    pool = [by_name[n] for n in POOL_MODELS if n in by_name]
    if "Lead" in by_name and by_name["Lead"]["perms"].get("view"):
        try:
            url = reverse("admin:leads_lead_statistics", current_app="admin")
        except NoReverseMatch:
            url = None
        if url:
            pool.insert(
                2,
                {
                    "name": _("Pool statistics"),
                    "object_name": "PoolStatistics",
                    "perms": {"view": True},
                    "admin_url": url,
                    "add_url": None,
                    "view_only": True,
                },
            )
    config = [by_name[n] for n in CONFIG_MODELS if n in by_name]
    rest = [m for n, m in by_name.items() if n not in POOL_MODELS + CONFIG_MODELS]
    sections = []
    if pool or rest:
        sections.append({**app, "name": _("Lead pool (Zone 1)"), "models": pool + rest, "_key": "leads"})
    if config:
        sections.append({**app, "name": _("Scoring and routing"), "models": config, "_key": "leads-config"})
    return sections


def grouped(original: Callable) -> Callable:
    """Wrap ``AdminSite.get_app_list`` so the leads app shows as two domain sections, in domain order."""

    def get_app_list(request, app_label=None):
        apps = []
        for app in original(request, app_label):
            if app["app_label"] == "leads":
                apps.extend(_split_leads(app, request))
            else:
                apps.append({**app, "_key": app["app_label"]})
        apps.sort(key=lambda a: (ORDER.index(a["_key"]) if a["_key"] in ORDER else len(ORDER), str(a["name"])))
        return apps

    get_app_list.grouped_by_domain = True
    return get_app_list
