"""Test doubles for the subject data registry: a resolver over a few fake persons, exporters and erasers that record.

The data-subject tests must not depend on the apps' real registrations, so they swap the registry
for these doubles (``registry_swapped``) and put the real one back afterwards.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from compliance import registry
from compliance.blind_index import blind_index_of_normalized, email_index, phone_index
from compliance.registry import ErasureContext, Subject, SubjectNotFound, SubjectQuery


@contextlib.contextmanager
def registry_swapped() -> Iterator[None]:
    """An empty registry for the test; the real registrations come back afterwards."""
    saved_resolver = registry._resolver
    saved_data = dict(registry._subject_data)
    registry._subject_data.clear()
    try:
        yield
    finally:
        registry._resolver = saved_resolver
        registry._subject_data.clear()
        registry._subject_data.update(saved_data)


def register_compliance() -> None:
    """compliance's own registration (ComplianceConfig.ready), for tests that swapped the registry."""
    from compliance.selectors.subjects import subject_compliance_export
    from compliance.services.subjects import subject_consents_erase

    registry.register_subject_data(
        "compliance",
        sections=("consents", "audit"),
        exporter=subject_compliance_export,
        eraser=subject_consents_erase,
        order=80,
    )


@dataclass
class Person:
    lead_ids: list[str]
    hashes: dict[str, list[str]]
    findable: bool = True  # False once an eraser destroyed the identities (like the leads eraser does)
    erased_by: set[str] = field(default_factory=set)


@dataclass
class Call:
    app: str
    subject: Subject
    context: ErasureContext


class SubjectWorld:
    """A resolver over fake persons plus exporter/eraser doubles that record their calls."""

    def __init__(self) -> None:
        self.people: list[Person] = []
        self.calls: list[Call] = []
        self.exports: list[str] = []
        self.hooks: dict[str, Callable[[], None]] = {}
        self.resolves = 0

    def add_person(self, lead_ids: list[Any], *, email: str = "", phone: str = "") -> Person:
        hashes: dict[str, list[str]] = {}
        if email:
            hashes["email"] = [email_index(email)]
        if phone:
            hashes["phone"] = [phone_index(phone)]
        person = Person(lead_ids=[str(lead_id) for lead_id in lead_ids], hashes=hashes)
        self.people.append(person)
        return person

    def resolve(self, query: SubjectQuery) -> Subject:
        self.resolves += 1
        for person in self.people:
            if query.kind == "lead":
                if query.value in person.lead_ids:
                    return self._subject(query, person)
            elif person.findable and blind_index_of_normalized(query.kind, query.value) in person.hashes.get(
                query.kind, []
            ):
                return self._subject(query, person)
        if query.kind == "lead":
            raise SubjectNotFound(query.value)
        return Subject(query=query)

    @staticmethod
    def _subject(query: SubjectQuery, person: Person) -> Subject:
        return Subject(
            query=query,
            lead_ids=list(person.lead_ids),
            hashes={kind: list(values) for kind, values in person.hashes.items()},
        )

    def person_of(self, subject: Subject) -> Person:
        return next(person for person in self.people if set(person.lead_ids) & set(subject.lead_ids))

    def exporter(self, app: str, section: str) -> Callable[[Subject], dict[str, list[Any]]]:
        def export(subject: Subject) -> dict[str, list[Any]]:
            self.exports.append(app)
            return {section: [{"lead": lead_id, "from": app} for lead_id in subject.lead_ids]}

        return export

    def eraser(self, app: str, *, forgets_identities: bool = False) -> Callable[[Subject, ErasureContext], dict]:
        """Idempotent like the real ones: the first run per person counts its leads, later runs count 0."""

        def erase(subject: Subject, context: ErasureContext) -> dict[str, int]:
            self.calls.append(Call(app, subject, context))
            hook = self.hooks.get(app)
            if hook is not None:
                hook()
            person = self.person_of(subject)
            if app in person.erased_by:
                return {"rows": 0}
            person.erased_by.add(app)
            if forgets_identities:
                person.findable = False
            return {"rows": len(subject.lead_ids)}

        return erase

    def register(self, app: str, *, section: str, order: int, forgets_identities: bool = False) -> None:
        registry.register_subject_data(
            app,
            sections=(section,),
            exporter=self.exporter(app, section),
            eraser=self.eraser(app, forgets_identities=forgets_identities),
            order=order,
        )

    def real_calls(self) -> list[str]:
        """Eraser calls of real runs (the already-erased probe passes reason code ``probe``)."""
        return [call.app for call in self.calls if call.context.reason_code != "probe"]
