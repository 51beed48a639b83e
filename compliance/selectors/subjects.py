"""Reads about data subjects: tombstones of erased persons, erasure requests."""

from __future__ import annotations
