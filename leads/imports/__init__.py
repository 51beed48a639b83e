"""Lead files in and out (SPEC §5 Imports): ``import_leads`` and ``export_leads``.

``readers``: streaming CSV/XLSX/JSON readers. ``columns``: header → field mapping and cell values.
``files``: a whole file in batches and worker processes; ``batch``: one batch, set-based, with
``graph`` (identity lookups and claims), ``create`` (new leads, written with ``COPY``) and
``merge`` (rows matching a lead). ``plan``: the run's plan, per-process context and results.
``export``: which leads, in which columns, written to CSV/XLSX.
"""
