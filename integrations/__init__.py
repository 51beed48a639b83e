"""Outbound clients of the providers we call (floor 2, beside compliance; SPEC §2).

One package or module per provider: ``meta`` (Graph API), ``linkedin`` (REST and OAuth), ``llm``
(the AI analyser), ``enrichment`` (company lookup), ``slack`` (incoming webhook). Each owns the
wire: URLs from settings, headers, timeouts, and the classification of errors into what a caller
must do about them. Clients take plain values (tokens, ids, dicts) and return plain values; what to
store lives in the apps that call them. This package imports only ``core`` and third-party
libraries, and has no models.
"""
