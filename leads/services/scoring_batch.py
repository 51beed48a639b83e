"""Scoring imported leads in batches (SPEC §5 Imports): what ``lead_ingest`` does at creation, set-based.

An import stores its new leads unscored (``score_pending``) and queues one ``leads.score_batch``
task per import batch; ``lead_score_batch`` then writes the offline enrichment, the analysis and
the score with its creation history for the whole batch at once. ``lead_score_pending_sweep``
re-queues leads whose task got lost.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.utils import timezone

from core.bulk import copy_insert
from core.db import bound_cursor
from core.transactions import on_commit
from leads.models import Lead, LeadEnrichment, LeadIntent, LeadScoreHistory
from leads.normalize import Verification
from leads.services.alerts import burning_alert_create
from leads.services.config import TenantConfig, tenant_config
from leads.services.core import burning_crossed, score_history_build
from leads.services.enrichment import (
    OfflineProvider,
    enrichment_row_build,
    offline_analysis,
    remote_enrichment_configured,
)
from leads.services.scoring import (
    ScoreInput,
    compute_score,
    creation_reason,
    icp_match,
    score_reason,
    score_result_set,
)

#: A pending lead older than this has lost its scoring task (Redis was down at enqueue, say).
SCORE_PENDING_GRACE = dt.timedelta(minutes=10)
#: Leads per re-queued scoring task: an import batch's default size.
SWEEP_BATCH_SIZE = 1000

SCORE_INPUTS_SQL = """
SELECT l.id,
  (SELECT json_build_array(email_valid, email_disposable, phone_valid, email_free, email_domain)
    FROM leads_leadverification v WHERE v.lead_id = l.id ORDER BY checked_at DESC, id DESC LIMIT 1),
  (SELECT json_object_agg(activity_type, n) FROM
    (SELECT activity_type, count(*) AS n FROM leads_leadactivity a WHERE a.lead_id = l.id
     GROUP BY activity_type) c),
  (SELECT json_build_array(intent_level, sentiment) FROM leads_leadintent t
    WHERE t.lead_id = l.id AND source_type <> 'ai_analysis' ORDER BY created_at DESC, id DESC LIMIT 1)
FROM unnest(%b::uuid[]) AS l(id)
"""


def score_inputs_for(leads: list[Lead]) -> dict[Any, tuple[ScoreInput, Verification]]:
    """``score_input_for`` for many leads in one query (latest check, activity counts, latest intent),
    with the latest check's email domain verdict, which the offline enrichment reads. PostgreSQL."""
    if not leads:
        return {}
    by_id = {lead.pk: lead for lead in leads}
    out: dict[Any, tuple[ScoreInput, Verification]] = {}
    with bound_cursor(prepare=True, binary=True) as cursor:
        cursor.execute(SCORE_INPUTS_SQL, [list(by_id)])
        for lead_id, verification, activity_counts, intent in cursor:
            email_valid, email_disposable, phone_valid, email_free, email_domain = verification or (
                None,
                False,
                None,
                False,
                "",
            )
            intent_level, sentiment = intent or ("", "")
            data = ScoreInput(
                lead=by_id[lead_id],
                email_valid=bool(email_valid),
                email_disposable=bool(email_disposable),
                phone_valid=bool(phone_valid),
                activity_counts=activity_counts or {},
                intent_level=intent_level,
                intent_sentiment=sentiment,
            )
            checked = Verification(
                email_valid=email_valid,
                email_domain=email_domain or "",
                email_disposable=bool(email_disposable),
                email_free=bool(email_free),
                phone_valid=phone_valid,
            )
            out[lead_id] = (data, checked)
    return out


def lead_score_batch(*, lead_ids: Iterable[Any]) -> int:
    """Score, enrich offline and analyse imported leads still waiting for it, set-based; idempotent.

    What ``lead_ingest`` does at creation, for a whole import batch: the offline enrichment row with
    the ICP match, the score with its creation history, the offline analysis. Rows go in with COPY,
    the scores with one UPDATE; the leads stay locked meanwhile, so a task delivered twice (or a
    sweep racing the queue) finds nothing pending the second time. Then remote enrichment and
    auto-assignment are queued for the batch. Returns how many leads were scored.
    """
    ids = sorted({str(lead_id) for lead_id in lead_ids})
    if not ids:
        return 0
    with transaction.atomic():
        leads = list(Lead.objects.select_for_update().filter(pk__in=ids, score_pending=True).order_by("pk"))
        if not leads:
            return 0
        merged = [lead.pk for lead in leads if lead.merged_into_id is not None]  # the survivor was rescored
        live = [lead for lead in leads if lead.merged_into_id is None]
        written = _score_write(live, timezone.now())
        if merged:
            Lead.objects.filter(pk__in=merged).update(score_pending=False)
    by_tenant: dict[Any, list[Lead]] = defaultdict(list)
    for lead in live:
        by_tenant[lead.tenant_id].append(lead)
    from leads.tasks import lead_auto_assign_batch_task, lead_enrich_batch_task

    if live and remote_enrichment_configured():
        on_commit(lead_enrich_batch_task.delay, [str(lead.pk) for lead in live])
    for tenant_id, tenant_leads in by_tenant.items():
        real = [str(lead.pk) for lead in tenant_leads if not lead.is_test]
        if real and tenant_config(tenant_id).auto_assign_enabled:
            on_commit(lead_auto_assign_batch_task.delay, real)
    return written


def _score_write(leads: list[Lead], now: dt.datetime) -> int:
    """The scoring batch's computation and writes, inside its transaction."""
    if not leads:
        return 0
    inputs = score_inputs_for(leads)
    enrichments: list[LeadEnrichment] = []
    intents: list[LeadIntent] = []
    histories: list[LeadScoreHistory] = []
    columns: list[list[Any]] = [[] for _ in range(7)]
    burning: list[Lead] = []
    configs: dict[Any, TenantConfig] = {}
    for lead in leads:
        if lead.tenant_id not in configs:
            configs[lead.tenant_id] = tenant_config(lead.tenant_id)
        config = configs[lead.tenant_id]
        data, checked = inputs[lead.pk]
        enrichment = OfflineProvider().enrich(lead, verification=checked)
        icp_score, icp_reasons, _matched = icp_match(lead, config.icp)
        result = compute_score(data, config)
        old_score, old_stage, old_breakdown = lead.score, lead.stage, lead.score_breakdown
        score_result_set(lead, result)
        intents.append(offline_analysis(lead, list(data.activity_counts)))  # the row lead_ingest writes
        if not old_breakdown:  # nothing scored the lead since the import: its creation history
            reason = creation_reason(result.breakdown)
        else:
            reason = score_reason(old_breakdown, result.breakdown, "Neu berechnet")
        history = score_history_build(lead=lead, old_score=old_score, old_stage=old_stage, reason=reason)
        enrichments.append(enrichment_row_build(lead, enrichment, icp_score=icp_score, icp_reasons=icp_reasons))
        if history is not None:
            histories.append(history)
            if burning_crossed(history, lead):
                burning.append(lead)
        values = (
            lead.pk,
            lead.p_score,
            lead.i_score,
            lead.e_score,
            lead.score,
            lead.stage,
            json.dumps(lead.score_breakdown),
        )
        for column, value in zip(columns, values, strict=True):
            column.append(value)
    for rows in (enrichments, intents, histories):
        copy_insert(rows)
    sql = (
        f"UPDATE {Lead._meta.db_table} AS l SET p_score = t.p, i_score = t.i, e_score = t.e, score = t.s, "  # noqa: S608
        "stage = t.st, score_breakdown = t.b::jsonb, score_pending = false, updated_at = %s "
        "FROM unnest(%b::uuid[], %b::int[], %b::int[], %b::int[], %b::int[], %b::text[], %b::text[]) "
        "AS t(id, p, i, e, s, st, b) WHERE l.id = t.id"
    )
    with bound_cursor(prepare=True, binary=True) as cursor:
        cursor.execute(sql, [now, *columns])
    for lead in burning:
        history = LeadScoreHistory.objects.filter(lead=lead).order_by("-id").first()
        if history is not None:
            burning_alert_create(lead=lead, history=history)
    return len(leads)


def lead_score_pending_sweep(*, grace: dt.timedelta = SCORE_PENDING_GRACE, limit: int = 50_000) -> int:
    """Queue scoring batches for imported leads whose task got lost; returns how many were queued.

    Leads younger than ``grace`` are most likely still in the queue behind a big import.
    """
    from leads.tasks import lead_score_batch_task

    cutoff = timezone.now() - grace
    ids = [
        str(pk)
        for pk in Lead.objects.filter(score_pending=True, created_at__lt=cutoff)
        .order_by("created_at")
        .values_list("pk", flat=True)[:limit]
    ]
    for start in range(0, len(ids), SWEEP_BATCH_SIZE):
        on_commit(lead_score_batch_task.delay, ids[start : start + SWEEP_BATCH_SIZE])
    return len(ids)
