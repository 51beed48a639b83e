"""Signals of the compliance app.

``consent_recorded(sender=ConsentRecord, record=…)``: a consent service (``consent_grant``,
``consent_revoke``, ``consent_doi_request``, ``consent_doi_confirm``) appended a record. Unlike the
domain events of the apps above (sent after commit), it is sent **synchronously, inside the
transaction**: receivers keep data derived from the ledger (the lead's ``consent_marketing`` /
``consent_at`` / ``opted_out_at`` cache, ``leads.services.consent``) and must commit or roll back
together with the record. Receivers must not call out (mail, HTTP); queue that with
``core.transactions.on_commit``.

Records written together with a new lead (``lead_ingest``'s creation, the bulk import) are not
announced one by one: the lead is created with its cache already matching them, and
``lead_created`` / ``leads_imported`` announce the lead.
"""

from django.dispatch import Signal

consent_recorded = Signal()
