"""Write operations on leads (SPEC §4): one module per concern, re-exported here.

``core``: status transitions, score storage, activities. ``ingest``: the single entry point
for every channel with normalization and identity-graph dedup. ``merge``: undoable merges.
``scoring``, ``enrichment``, ``alerts``, ``assignment``: the steps after capture. ``offers``: pool offers.
"""

from leads.services.activity import lead_decay_sweep, lead_intent_add, lead_opt_out, lead_track_activity
from leads.services.assignment import lead_auto_assign
from leads.services.core import (
    DEFAULT_SCORE_WEIGHTS,
    STATUS_TRANSITIONS,
    lead_activity_add,
    lead_score_set,
    lead_status_transition,
    weighted_score,
)
from leads.services.enrichment import lead_enrich
from leads.services.erasure import lead_anonymize as lead_anonymize
from leads.services.ingest import IngestResult, NoIdentityError, lead_ingest
from leads.services.merge import lead_merge, lead_unmerge
from leads.services.offers import (
    lead_pool_reject,
    offer_accept,
    offer_create,
    offer_expire,
    offer_expire_due,
    offer_reject,
    offer_revoke,
)
from leads.services.scoring import lead_rescore
from leads.services.work import lead_contact_log, lead_follow_up_set, lead_mark_lost, lead_note_add, lead_qualify

#: SPEC §4 names the entry point ``ingest_lead``; the service naming rule says ``lead_ingest``.
ingest_lead = lead_ingest

__all__ = [
    "DEFAULT_SCORE_WEIGHTS",
    "STATUS_TRANSITIONS",
    "IngestResult",
    "NoIdentityError",
    "ingest_lead",
    "lead_activity_add",
    "lead_auto_assign",
    "lead_contact_log",
    "lead_decay_sweep",
    "lead_enrich",
    "lead_follow_up_set",
    "lead_ingest",
    "lead_intent_add",
    "lead_mark_lost",
    "lead_merge",
    "lead_note_add",
    "lead_opt_out",
    "lead_pool_reject",
    "lead_qualify",
    "lead_rescore",
    "lead_score_set",
    "lead_status_transition",
    "lead_track_activity",
    "lead_unmerge",
    "offer_accept",
    "offer_create",
    "offer_expire",
    "offer_expire_due",
    "offer_reject",
    "offer_revoke",
    "weighted_score",
]
