"""Read queries of the compliance app: audit trail, consent ledger, data-subject records."""

from compliance.selectors.consent import ConsentState as ConsentState
from compliance.selectors.consent import audit_events_for as audit_events_for
from compliance.selectors.consent import consent_code as consent_code
from compliance.selectors.consent import consent_history as consent_history
from compliance.selectors.consent import consent_state as consent_state
from compliance.selectors.consent import consent_states as consent_states
from compliance.selectors.consent import consent_wording_current as consent_wording_current
