"""Explainable P/I/E scoring (SPEC §7): every point in the score comes from a named rule.

``compute_score`` is pure: it takes what is known about a lead and the tenant's rules and returns
the sub-scores, the weighted total and the list of contributing rules. ``lead_rescore`` loads that
knowledge with a fixed number of queries and stores the result through ``lead_score_set``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db import connection
from django.db.models import Count

from leads.models import Lead, LeadActivity, LeadIntent, LeadScoreHistory, LeadVerification
from leads.scoring_defaults import DECAY_CODES
from leads.services.config import Icp, TenantConfig, tenant_config
from leads.services.core import lead_score_set, score_history_build, weighted_score

#: An activity counts at most this often, so a reloading browser cannot make a lead "burning".
MAX_COUNT_PER_ACTIVITY = 3
DEFAULT_ICP_WEIGHTS = {"industry": 30, "size": 25, "role": 30, "region": 15}

DECISION_MAKER = re.compile(
    r"\b(ceo|cfo|cto|coo|cmo|cio|chief|c-level|geschäftsführ\w*|gf|inhaber\w*|owner|founder|co-founder|"
    r"gründer\w*|vorstand\w*|vorständ\w*|managing director|director|direktor\w*|head of|vp|vice president|"
    r"president|präsident\w*|prokurist\w*|hr|human resources|personal\w*)\b|leiter|leitung",
    re.IGNORECASE,
)
BUDGET_KEY = re.compile(r"budget|eigenkapital|kaufpreis|investition|invest|price.?range|preisrahmen", re.I)
TIMEFRAME_KEY = re.compile(r"zeit|timeframe|timeline|wann|when|zeitpunkt|zeitraum", re.I)
TIMEFRAME_SHORT = re.compile(
    r"sofort|asap|immediately|umgehend|jetzt|now|this (month|quarter)|dieses quartal|diesen monat|"
    r"(^|\D)[0-6]\s*(monat|month|woche|week)|0\s*-\s*[36]|1\s*-\s*3|3\s*-\s*6|innerhalb",
    re.I,
)
NO_ANSWER = re.compile(r"^(keine angabe|k\.?\s?a\.?|weiß nicht|weiss nicht|unknown|n/?a|-|none|nein)$", re.I)


@dataclass
class ScoreInput:
    """Everything the score depends on, gathered once."""

    lead: Lead
    email_valid: bool = False
    email_disposable: bool = False
    phone_valid: bool = False
    activity_counts: Mapping[str, int] = field(default_factory=dict)
    intent_level: str = ""
    intent_sentiment: str = ""


@dataclass
class ScoreResult:
    p: int
    i: int
    e: int
    total: int
    breakdown: dict[str, Any]


def _band_lower_bound(band: str) -> int | None:
    match = re.search(r"\d[\d.]*", band or "")
    return int(match.group().replace(".", "")) if match else None


def is_large_company(lead: Lead) -> bool:
    if lead.employees is not None:
        return lead.employees > 200
    lower = _band_lower_bound(lead.company_size_band)
    return lower is not None and lower > 200


def is_decision_maker(job_title: str) -> bool:
    return bool(job_title and DECISION_MAKER.search(job_title))


def icp_match(lead: Lead, icp: Icp | None) -> tuple[int | None, list[str], set[str]]:
    """Match a lead against an ICP: (score 0–100, German reasons, matched criteria)."""
    if icp is None:
        return None, [], set()
    weights = {**DEFAULT_ICP_WEIGHTS, **{k: int(v) for k, v in (icp.weights or {}).items()}}
    checks = {
        "industry": (
            icp.industries,
            lambda: any(x in (lead.industry or "").lower() for x in icp.industries),
            "Branche",
        ),
        "size": (
            icp.size_bands,
            lambda: (
                (lead.company_size_band or "").lower() in icp.size_bands
                or ("201+" in icp.size_bands and is_large_company(lead))
            ),
            "Firmengröße",
        ),
        "role": (icp.roles, lambda: any(x in (lead.job_title or "").lower() for x in icp.roles), "Rolle"),
        "region": (
            icp.regions,
            lambda: bool(
                {(lead.region or "").lower(), (lead.country or "").lower(), (lead.city or "").lower()}
                & set(icp.regions)
            ),
            "Region",
        ),
    }
    possible = sum(weights[name] for name, (wanted, _test, _label) in checks.items() if wanted)
    if not possible:
        return None, [], set()
    matched, reasons, points = set(), [], 0
    for name, (wanted, test, label) in checks.items():
        if not wanted:
            continue
        if test():
            matched.add(name)
            points += weights[name]
            reasons.append(f"{label} passt (+{weights[name]})")
        else:
            reasons.append(f"{label} passt nicht")
    return round(100 * points / possible), reasons, matched


def _answer(attributes: Mapping[str, Any], key_pattern: re.Pattern) -> str:
    for key, value in attributes.items():
        if key.startswith("_") or not key_pattern.search(key):
            continue
        text = str(value or "").strip()
        if text and not NO_ANSWER.match(text):
            return text
    return ""


def profile_signals(data: ScoreInput, icp: Icp | None) -> list[str]:
    """Codes of the profile rules a lead meets."""
    lead = data.lead
    codes = []
    if data.email_valid and not data.email_disposable:
        codes.append("email_verified")
    if data.email_disposable:
        codes.append("email_disposable")
    if data.phone_valid:
        codes.append("phone_verified")
    if lead.first_name and lead.last_name:
        codes.append("name_complete")
    if lead.company_name or lead.company_domain:
        codes.append("company_known")
    if is_large_company(lead):
        codes.append("company_size_large")
    if is_decision_maker(lead.job_title):
        codes.append("decision_maker_role")
    if (lead.attributes or {}).get("linkedin_premium") in (True, "true", "yes", 1):
        codes.append("linkedin_profile_premium")
    _score, _reasons, matched = icp_match(lead, icp)
    codes.extend(f"icp_{name}_match" for name in ("industry", "size", "role", "region") if name in matched)
    return codes


def intent_signals(data: ScoreInput) -> list[str]:
    """Codes of the form-answer and message rules a lead meets."""
    attributes = data.lead.attributes or {}
    codes = []
    if _answer(attributes, BUDGET_KEY):
        codes.append("form_budget_given")
    if TIMEFRAME_SHORT.search(_answer(attributes, TIMEFRAME_KEY)):
        codes.append("form_timeframe_short")
    if data.lead.interest_type:
        codes.append("interest_type_given")
    if data.intent_level in ("high", "medium", "low"):
        codes.append(f"dm_intent_{data.intent_level}")
    if data.intent_sentiment == "negative":
        codes.append("dm_sentiment_negative")
    return codes


def compute_score(data: ScoreInput, config: TenantConfig) -> ScoreResult:
    """Apply the tenant's rules: sub-scores clamp to 0–100, the total is weighted (SPEC §7)."""
    rules = config.rules
    counts: dict[str, int] = dict.fromkeys(profile_signals(data, config.icp) + intent_signals(data), 1)
    for code, n in data.activity_counts.items():
        if code not in DECAY_CODES and n > 0:
            counts[code] = counts.get(code, 0) + n
    decay_level = data.lead.decay_level or 0
    for level, code in enumerate(DECAY_CODES, start=1):
        if decay_level >= level:
            counts[code] = 1
    items = []
    sums = {"p": 0, "i": 0, "e": 0}
    for code, count in counts.items():
        rule = rules.get(code)
        if rule is None or rule.points == 0:
            continue
        points = rule.points * min(count, MAX_COUNT_PER_ACTIVITY)
        sums[rule.component] += points
        items.append(
            {
                "code": code,
                "component": rule.component,
                "points": points,
                "count": count,
                "description": rule.description,
            }
        )
    items.sort(key=lambda x: ("pie".index(x["component"]), -x["points"], x["code"]))
    p, i, e = (max(0, min(100, sums[c])) for c in "pie")
    total = weighted_score(p, i, e, config.weights)
    breakdown = {
        "components": {"p": p, "i": i, "e": e},
        "weights": {k: str(v) for k, v in config.weights.items()},
        "total": total,
        "items": items,
    }
    return ScoreResult(p=p, i=i, e=e, total=total, breakdown=breakdown)


def score_reason(old: Mapping[str, Any] | None, new: Mapping[str, Any], fallback: str) -> str:
    """German reason from the rules that changed, e.g. "Budget Calculator verwendet (+25)"."""
    before = {item["code"]: item for item in (old or {}).get("items", [])}
    after = {item["code"]: item for item in new.get("items", [])}
    parts = []
    for code, item in after.items():
        delta = item["points"] - before.get(code, {}).get("points", 0)
        if delta:
            parts.append(f"{item['description']} ({delta:+d})")
    for code, item in before.items():
        if code not in after:
            parts.append(f"{item['description']} entfällt ({-item['points']:+d})")
    if not parts and (old or {}).get("weights") not in (None, new.get("weights")):
        parts.append("Gewichtung geändert")
    return "; ".join(parts)[:500] or fallback


def creation_reason(breakdown: Mapping[str, Any]) -> str:
    """The reason of a new lead's first score history row: "Neuer Lead: " and every rule that scored."""
    parts = [f"{item['description']} ({item['points']:+d})" for item in breakdown.get("items", [])]
    return ("Neuer Lead: " + "; ".join(parts))[:500] if parts else "Neuer Lead"


SCORE_INPUT_SQL = """
SELECT
  (SELECT json_build_array(email_valid, email_disposable, phone_valid) FROM leads_leadverification
    WHERE lead_id = %(lead)s ORDER BY checked_at DESC, id DESC LIMIT 1),
  (SELECT json_object_agg(activity_type, n) FROM
    (SELECT activity_type, count(*) AS n FROM leads_leadactivity WHERE lead_id = %(lead)s GROUP BY activity_type) a),
  (SELECT json_build_array(intent_level, sentiment) FROM leads_leadintent
    WHERE lead_id = %(lead)s AND source_type <> 'ai_analysis' ORDER BY created_at DESC, id DESC LIMIT 1)
"""


def score_input_for(lead: Lead) -> ScoreInput:
    """Gather a stored lead's checks, activity counts and latest message intent in one query."""
    if connection.vendor != "postgresql":
        return _score_input_orm(lead)
    with connection.cursor() as cursor:
        cursor.execute(SCORE_INPUT_SQL, {"lead": lead.pk})
        verification, counts, intent = cursor.fetchone()
    email_valid, email_disposable, phone_valid = verification or (False, False, False)
    intent_level, sentiment = intent or ("", "")
    return ScoreInput(
        lead=lead,
        email_valid=bool(email_valid),
        email_disposable=bool(email_disposable),
        phone_valid=bool(phone_valid),
        activity_counts=counts or {},
        intent_level=intent_level,
        intent_sentiment=sentiment,
    )


def _score_input_orm(lead: Lead) -> ScoreInput:
    """Portable version of ``score_input_for`` for the embedded SQLite default."""
    verification = (
        LeadVerification.objects.filter(lead=lead)
        .order_by("-checked_at", "-id")
        .values("email_valid", "email_disposable", "phone_valid")
        .first()
        or {}
    )
    counts = dict(
        LeadActivity.objects.filter(lead=lead)
        .values("activity_type")
        .annotate(n=Count("id"))
        .values_list("activity_type", "n")
    )
    intent = (
        LeadIntent.objects.filter(lead=lead)
        .exclude(source_type="ai_analysis")
        .order_by("-created_at", "-id")
        .values("intent_level", "sentiment")
        .first()
        or {}
    )
    return ScoreInput(
        lead=lead,
        email_valid=bool(verification.get("email_valid")),
        email_disposable=bool(verification.get("email_disposable")),
        phone_valid=bool(verification.get("phone_valid")),
        activity_counts=counts,
        intent_level=intent.get("intent_level", ""),
        intent_sentiment=intent.get("sentiment", ""),
    )


def score_result_set(lead: Lead, result: ScoreResult) -> None:
    """Put a computed score on the lead (sub-scores, total, stage, breakdown); the caller saves it."""
    lead.p_score, lead.i_score, lead.e_score, lead.score = result.p, result.i, result.e, result.total
    lead.stage = Lead.Stage.for_score(result.total)
    lead.score_breakdown = result.breakdown


def score_apply(lead: Lead, *, reason: str, data: ScoreInput | None = None) -> LeadScoreHistory | None:
    """Recompute on a locked lead in memory; the caller saves it and the returned (unsaved) history."""
    config = tenant_config(lead.tenant_id)
    result = compute_score(data or score_input_for(lead), config)
    old_score, old_stage, old_breakdown = lead.score, lead.stage, lead.score_breakdown
    score_result_set(lead, result)
    return score_history_build(
        lead=lead,
        old_score=old_score,
        old_stage=old_stage,
        reason=score_reason(old_breakdown, result.breakdown, reason),
    )


SCORE_FIELDS = ["p_score", "i_score", "e_score", "score", "stage", "score_breakdown"]


def lead_rescore(*, lead: Lead, reason: str = "Neu berechnet") -> Lead:
    """Recompute the score from scratch and store it with a German reason naming the changed rules."""
    lead = Lead.objects.get(pk=lead.pk)
    config = tenant_config(lead.tenant_id)
    result = compute_score(score_input_for(lead), config)
    return lead_score_set(
        lead=lead,
        p=result.p,
        i=result.i,
        e=result.e,
        reason=score_reason(lead.score_breakdown, result.breakdown, reason),
        breakdown=result.breakdown,
        weights=config.weights,
    )
