"""Write operations on leads (SPEC §4): one module per concern, re-exported here.

``core``: creation, status transitions, score storage, activities. ``ingest``: the single entry point
for every channel with normalization and identity-graph dedup. ``merge``: undoable merges.
``scoring``, ``enrichment``, ``alerts``, ``assignment``: the steps after capture. ``offers``: pool offers.
"""

from leads.services.core import (
    DEFAULT_SCORE_WEIGHTS,
    STATUS_TRANSITIONS,
    lead_activity_add,
    lead_create,
    lead_score_set,
    lead_status_transition,
    weighted_score,
)

__all__ = [
    "DEFAULT_SCORE_WEIGHTS",
    "STATUS_TRANSITIONS",
    "lead_activity_add",
    "lead_create",
    "lead_score_set",
    "lead_status_transition",
    "weighted_score",
]
