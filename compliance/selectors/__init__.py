"""Read queries of the compliance app: audit trail, consent ledger, data-subject records."""

from compliance.selectors.consent import audit_events_for as audit_events_for
from compliance.selectors.consent import consent_is_active as consent_is_active
