"""Audit trail, consent ledger and data-subject records (SPEC §12)."""

from compliance.models.audit import AppendOnlyError as AppendOnlyError
from compliance.models.audit import AuditEvent as AuditEvent
from compliance.models.consent import ConsentCode as ConsentCode
from compliance.models.consent import ConsentRecord as ConsentRecord
from compliance.models.consent import ConsentTokenExpired as ConsentTokenExpired
from compliance.models.consent import ConsentTokenInvalid as ConsentTokenInvalid
from compliance.models.consent import ConsentWording as ConsentWording
from compliance.models.subjects import ErasureTombstone as ErasureTombstone
from compliance.models.subjects import SubjectErasure as SubjectErasure
