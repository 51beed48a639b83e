"""Per-tenant pipeline configuration (rules, weights, ICP, auto-assignment), cached per process.

Ingest runs hundreds of times a second; reading ScoringRule/IcpProfile/PipelineSettings every time
would triple its queries. The cache is keyed by a version in the shared cache that every save of
those models bumps, so an admin's edit is seen by every worker on its next lead.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from threading import Lock

from django.core.cache import cache

from leads.models import IcpProfile, PipelineSettings, ScoringRule
from leads.scoring_defaults import DEFAULT_RULES

VERSION_KEY = "leads:pipeline-config-version"
#: Without the shared cache (Redis blip) a process trusts its copy this long.
FALLBACK_TTL_SECONDS = 30
DEFAULT_WEIGHTS = {"p": Decimal("0.40"), "i": Decimal("0.35"), "e": Decimal("0.25")}


@dataclass(frozen=True)
class Rule:
    code: str
    component: str
    points: int
    description: str


@dataclass(frozen=True)
class Icp:
    industries: tuple[str, ...] = ()
    size_bands: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    weights: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class TenantConfig:
    tenant_id: object
    rules: dict[str, Rule]
    weights: dict[str, Decimal]
    icp: Icp | None
    auto_assign_enabled: bool = False
    auto_assign_mode: str = PipelineSettings.AssignmentMode.ROUND_ROBIN
    auto_assign_min_score: int = 0


_memo: dict[object, tuple[str, float, TenantConfig]] = {}
_lock = Lock()


def _current_version() -> str | None:
    try:
        version = cache.get(VERSION_KEY)
        if version is None:
            cache.add(VERSION_KEY, uuid.uuid4().hex, None)
            version = cache.get(VERSION_KEY)
        return version
    except Exception:
        return None


def config_changed(**_kwargs) -> None:
    """Signal receiver: a rule, ICP or setting changed, every process reloads on next use."""
    with contextlib.suppress(Exception):
        cache.set(VERSION_KEY, uuid.uuid4().hex, None)
    with _lock:
        _memo.clear()


def _load(tenant_id) -> TenantConfig:
    rules = {code: Rule(code, component, points, text) for code, component, points, text in DEFAULT_RULES}
    # Default rules first, then the tenant's own overrides of the same codes.
    db_rules = ScoringRule.objects.filter(tenant_id__isnull=True) | ScoringRule.objects.filter(tenant_id=tenant_id)
    for rule in sorted(db_rules, key=lambda r: r.tenant_id is not None):
        if rule.active:
            rules[rule.code] = Rule(rule.code, rule.component, rule.points, rule.description)
        else:
            rules.pop(rule.code, None)
    settings_row = PipelineSettings.objects.filter(tenant_id=tenant_id).first()
    icp_row = IcpProfile.objects.filter(tenant_id=tenant_id).first()
    icp = None
    if icp_row is not None:
        icp = Icp(
            industries=tuple(str(x).lower() for x in icp_row.industries or ()),
            size_bands=tuple(str(x).lower() for x in icp_row.size_bands or ()),
            roles=tuple(str(x).lower() for x in icp_row.roles or ()),
            regions=tuple(str(x).lower() for x in icp_row.regions or ()),
            weights=dict(icp_row.weights or {}),
        )
    if settings_row is None:
        return TenantConfig(tenant_id=tenant_id, rules=rules, weights=dict(DEFAULT_WEIGHTS), icp=icp)
    return TenantConfig(
        tenant_id=tenant_id,
        rules=rules,
        weights=settings_row.weights,
        icp=icp,
        auto_assign_enabled=settings_row.auto_assign_enabled,
        auto_assign_mode=settings_row.auto_assign_mode,
        auto_assign_min_score=settings_row.auto_assign_min_score,
    )


def tenant_config(tenant_id) -> TenantConfig:
    """Return the tenant's pipeline configuration, reloaded after any change to it."""
    version = _current_version()
    now = time.monotonic()
    hit = _memo.get(tenant_id)
    if hit is not None:
        hit_version, loaded_at, config = hit
        if version is not None and hit_version == version:
            return config
        if version is None and now - loaded_at < FALLBACK_TTL_SECONDS:
            return config
    config = _load(tenant_id)
    with _lock:
        _memo[tenant_id] = (version or "", now, config)
    return config
