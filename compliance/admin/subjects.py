"""Admin pages for data-subject requests: erasures and tombstones."""

from __future__ import annotations
