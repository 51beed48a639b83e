"""``export_subject`` and ``erase_subject``, and an erasure killed half-way (a real process exit) that is re-run."""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from compliance import registry
from compliance.blind_index import email_index
from compliance.models import AuditEvent, ErasureTombstone, SubjectErasure
from compliance.registry import SubjectQuery
from compliance.selectors.subjects import erasure_steps_in_order
from compliance.services.subjects import subject_erase
from tests.accounts.factories import UserFactory
from tests.compliance.subjects_support import SubjectWorld, registry_swapped
from tests.leads.factories import LeadFactory

ROOT = Path(__file__).resolve().parents[2]
EMAIL = "lena.kunde@beispiel.de"


@pytest.fixture
def world(db, platform_org):
    with registry_swapped():
        world = SubjectWorld()
        registry.register_subject_resolver(world.resolve)
        world.register("leads", section="leads", order=10, forgets_identities=True)
        world.register("deals", section="deals", order=20)
        yield world


@pytest.fixture
def lead(world):
    lead = LeadFactory(email=EMAIL)
    world.add_person([lead.pk], email=EMAIL)
    return lead


def _run(name: str, *args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(name, *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


# --- export_subject ----------------------------------------------------------------------------


def test_export_subject_writes_the_document_to_stdout(lead):
    out, err = _run("export_subject", "--lead", str(lead.pk))
    document = json.loads(out)
    assert document["query"] == {"kind": "lead", "value": str(lead.pk)} and len(document["leads"]) == 1
    assert "1 lead(s)" in err or "1 Lead" in err
    assert EMAIL not in err  # the summary names no person
    event = AuditEvent.objects.get(event_type="subject.exported")
    assert event.actor_id is None and event.actor_label == "system"


def test_export_subject_writes_a_file_only_its_owner_can_read(lead, tmp_path):
    target = tmp_path / "auskunft.json"
    target.write_text("alt")
    target.chmod(0o644)
    admin = UserFactory(role="platform_admin")
    out, err = _run("export_subject", "--email", EMAIL.upper(), "--out", str(target), "--actor", admin.email)
    assert out == ""
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    document = json.loads(target.read_text(encoding="utf-8"))
    assert document["query"] == {"kind": "email", "value": EMAIL} and len(document["deals"]) == 1
    assert str(target) in err
    assert AuditEvent.objects.get(event_type="subject.exported").actor_id == admin.pk


def test_export_subject_of_nobody_is_an_empty_document(world, tmp_path):
    out, _err = _run("export_subject", "--phone", "030 1234567")
    document = json.loads(out)
    assert document["query"] == {"kind": "phone", "value": "+49301234567"}
    assert document["leads"] == [] and all(entry["count"] == 0 for entry in document["contents"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--lead", "00000000-0000-4000-8000-000000000000"], "lead"),
        (["--lead", "SOT-LEAD-ABCDEFGH"], "UUID"),
        (["--email", "kein-at-zeichen"], "mail"),
        (["--email", EMAIL, "--actor", "niemand@example.org"], "niemand@example.org"),
        ([], "--email"),
        (["--email", EMAIL, "--phone", "0301234567"], "not allowed"),
    ],
)
def test_export_subject_refuses_bad_input_clearly(world, tmp_path, args, message):
    target = tmp_path / "out.json"
    with pytest.raises(CommandError) as caught:
        _run("export_subject", *args, "--out", str(target))
    assert message.lower() in str(caught.value).lower() or message in str(caught.value)
    assert not target.exists()
    assert not AuditEvent.objects.filter(event_type="subject.exported").exists()


# --- erase_subject -----------------------------------------------------------------------------


def test_erase_subject_prints_what_was_erased_and_a_rerun_changes_nothing(lead, world):
    out, _err = _run("erase_subject", "--email", EMAIL, "--reason", "Schreiben vom 2. Mai")
    erasure = SubjectErasure.objects.get()
    assert str(erasure.pk) in out and "leads: rows: 1" in out and "deals: rows: 1" in out
    assert erasure.reason == "Schreiben vom 2. Mai" and erasure.actor_label == "system"
    rows = (SubjectErasure.objects.count(), ErasureTombstone.objects.count(), AuditEvent.objects.count())

    again, _err = _run("erase_subject", "--lead", str(lead.pk), "--reason", "nochmal")

    assert str(erasure.pk) in again and world.real_calls() == ["leads", "deals"]
    assert (SubjectErasure.objects.count(), ErasureTombstone.objects.count(), AuditEvent.objects.count()) == rows


def test_erase_subject_refuses_bad_input(world):
    with pytest.raises(CommandError, match="UUID"):
        _run("erase_subject", "--lead", "42", "--reason", "x")
    with pytest.raises(CommandError):
        _run("erase_subject", "--lead", "00000000-0000-4000-8000-000000000000", "--reason", "x")
    with pytest.raises(CommandError):
        _run("erase_subject", "--email", EMAIL, "--reason", " ")
    with pytest.raises(CommandError):
        _run("erase_subject", "--email", EMAIL)  # --reason is required
    assert not SubjectErasure.objects.exists()


def test_erase_subject_of_nobody_says_so(world):
    out, _err = _run("erase_subject", "--email", "niemand@beispiel.de", "--reason", "x")
    assert out.strip() and not SubjectErasure.objects.exists()


# --- killed half-way ---------------------------------------------------------------------------

#: Run in a separate process: the first eraser commits its step, the second kills the process.
KILLED_ERASURE = textwrap.dedent(
    """
    import os, sys
    import django

    django.setup()
    from compliance import registry
    from compliance.blind_index import email_index
    from compliance.registry import Subject, SubjectQuery
    from compliance.services.audit import audit_record
    from compliance.services.subjects import subject_erase

    lead_ids, email = sys.argv[1].split(","), sys.argv[2]


    def resolve(query):
        return Subject(query=query, lead_ids=lead_ids, hashes={"email": [email_index(email)]})


    def first(subject, context):
        audit_record(event_type="test.first_step", actor=None, payload={"erasure": context.erasure_id})
        return {"rows": len(subject.lead_ids)}


    def second(subject, context):
        audit_record(event_type="test.second_step", actor=None, payload={})
        os._exit(1)  # killed in the middle of the step's transaction


    registry._subject_data.clear()
    registry.register_subject_resolver(resolve)
    registry.register_subject_data("first", sections=(), exporter=lambda s: {}, eraser=first, order=10)
    registry.register_subject_data("second", sections=(), exporter=lambda s: {}, eraser=second, order=20)
    registry.register_subject_data("third", sections=(), exporter=lambda s: {}, eraser=first, order=30)
    subject_erase(SubjectQuery("email", email), actor=None, reason="Kill-Test")
    print("not killed")
    """
)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_an_erasure_killed_half_way_is_completed_by_a_rerun_without_repeating_work():
    lead_ids = [str(uuid.uuid4()), str(uuid.uuid4())]
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
    }
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_ERASURE, ",".join(lead_ids), EMAIL],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert killed.returncode == 1 and "not killed" not in killed.stdout, killed.stderr

    erasure = SubjectErasure.objects.get()
    assert erasure.status == "running" and list(erasure.steps) == ["first"] and erasure.attempts == 1
    assert sorted(erasure.lead_ids) == sorted(lead_ids)
    assert set(ErasureTombstone.objects.values_list("kind", "value_hash")) == {("email", email_index(EMAIL))}
    assert AuditEvent.objects.filter(event_type="test.first_step").count() == 1
    assert not AuditEvent.objects.filter(event_type="test.second_step").exists()  # rolled back with its step

    calls: list[str] = []

    def eraser(name: str):
        def erase(subject, context):
            calls.append(name)
            assert sorted(subject.lead_ids) == sorted(lead_ids) and context.erasure_id == str(erasure.pk)
            return {"rows": len(subject.lead_ids)}

        return erase

    def resolver(query):
        raise AssertionError("a running erasure is continued from its record, not resolved again")

    with registry_swapped():
        registry.register_subject_resolver(resolver)
        for order, name in enumerate(("first", "second", "third")):
            registry.register_subject_data(name, sections=(), exporter=lambda s: {}, eraser=eraser(name), order=order)
        outcome = subject_erase(SubjectQuery("email", EMAIL), actor=None, reason="Kill-Test, zweiter Lauf")

    assert calls == ["second", "third"]
    erasure.refresh_from_db()
    assert outcome.erasure == erasure and erasure.status == "completed" and erasure.attempts == 2
    assert [name for name, _step in erasure_steps_in_order(erasure)] == ["first", "second", "third"]
    assert SubjectErasure.objects.count() == 1 and ErasureTombstone.objects.count() == 1
    assert AuditEvent.objects.filter(event_type="test.first_step").count() == 1
    assert AuditEvent.objects.filter(event_type="subject.erased").count() == 1
