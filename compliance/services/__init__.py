"""Write operations of the compliance app: audit trail, consent ledger, data-subject rights, retention."""

from compliance.services.audit import audit_event_build as audit_event_build
from compliance.services.audit import audit_record as audit_record
from compliance.services.consent import consent_doi_confirm as consent_doi_confirm
from compliance.services.consent import consent_doi_request as consent_doi_request
from compliance.services.consent import consent_grant as consent_grant
from compliance.services.consent import consent_revoke as consent_revoke
