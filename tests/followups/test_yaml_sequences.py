"""YAML sequences shipped as data: schema validation with file/line/field, idempotent sync, default templates."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from followups.checks import yaml_sequences_check
from followups.models import MessageTemplate, Sequence, SequenceStep
from followups.yaml_sequences import SequenceFileError, load_sequences, parse_sequence, sync_sequences, template_codes

pytestmark = pytest.mark.django_db

VALID = """\
code: demo
name: Demo
steps:
  - day: 0
    action: send_message
    template: confirm_interest
    channel: whatsapp
  - day: 3
    action: send_message
    template: gentle_followup
    channel: email
    conditions:
      score_gte: 40
    on_response:
      positive: schedule_call
  - day: 10
    action: end_sequence
"""


def test_shipped_files_are_valid_and_every_template_has_a_german_default():
    sequences = load_sequences()
    assert {s.code for s in sequences} == {"first_contact_to_partner", "ghost_reactivation", "customer_to_partner"}
    assert yaml_sequences_check() == []
    defaults = set(MessageTemplate.objects.filter(owner=None).values_list("code", flat=True))
    assert template_codes(sequences) <= defaults
    reasons = {"no_response", "showed_interest", "watched_video", "objection_handled", "call_scheduled"}
    assert reasons | {"periodic_checkin", "reactivation", "offer_expiring", "hot_lead"} <= defaults
    assert "Sie" in MessageTemplate.objects.get(code="offer_call", owner=None).body


@pytest.mark.parametrize(
    ("text", "line", "field"),
    [
        (VALID.replace("channel: whatsapp", "channel: telegram"), 7, "steps[0].channel"),
        (VALID.replace("      score_gte: 40", "      mood: happy"), 13, "steps[1].conditions.mood"),
        (VALID.replace("positive: schedule_call", "positive: dance"), 15, "steps[1].on_response.positive"),
        (VALID.replace("  - day: 3", "  - day: three"), 8, "steps[1].day"),
        (VALID.replace("    template: confirm_interest\n", ""), 4, "steps[0].template"),
        (VALID.replace("  - day: 10", "  - day: 1"), 16, "steps[2].day"),
    ],
)
def test_malformed_yaml_names_file_line_and_field(text, line, field):
    with pytest.raises(SequenceFileError) as excinfo:
        parse_sequence(text, path="demo.yaml")
    assert (excinfo.value.line, excinfo.value.field) == (line, field)
    assert str(excinfo.value).startswith(f"demo.yaml, line {line}, field '{field}'")


def test_sync_is_idempotent_and_maps_steps_onto_the_engine():
    Sequence.objects.filter(code="demo").delete()
    spec = parse_sequence(VALID, path="demo.yaml")
    sync_sequences(sequences=[spec])
    sync_sequences(sequences=[spec])
    sequence = Sequence.objects.get(code="demo")
    assert (sequence.kind, sequence.trigger, sequence.owner_id) == ("followup", "manual", None)
    steps = list(sequence.steps.order_by("number"))
    assert [(s.number, s.kind, s.channel, s.delay_hours) for s in steps] == [
        (1, "task", "whatsapp", 0),
        (2, "email", "email", 72),
    ]
    assert steps[1].conditions == {"score_gte": 40} and steps[1].on_response == {"positive": "schedule_call"}
    assert "{{ partner_name }}" in steps[0].body_text and steps[1].body_html.startswith("<p>")
    # A step that left the file is switched off; a switched-off sequence stays off.
    Sequence.objects.filter(pk=sequence.pk).update(is_active=False)
    shorter = parse_sequence(VALID.split("  - day: 3")[0], path="demo.yaml")
    sync_sequences(sequences=[shorter])
    assert SequenceStep.objects.get(sequence=sequence, number=2).is_active is False
    assert Sequence.objects.get(pk=sequence.pk).is_active is False


def test_the_system_check_reports_a_malformed_file(tmp_path, monkeypatch):
    (tmp_path / "demo.yaml").write_text(VALID.replace("action: end_sequence", "action: explode"), encoding="utf-8")
    monkeypatch.setattr("followups.yaml_sequences.DATA_DIR", tmp_path)
    (error,) = yaml_sequences_check()
    assert error.id == "followups.E001" and "demo.yaml, line 17, field 'steps[2].action'" in error.msg


def test_migration_and_command_synced_the_shipped_sequences(capsys):
    call_command("sync_sequences")
    assert "synced 3 sequences" in capsys.readouterr().out
    first = Sequence.objects.get(code="first_contact_to_partner")
    assert first.next_sequence.code == "ghost_reactivation"
    assert first.steps.filter(is_active=True).count() == 6
    assert SequenceStep.objects.filter(sequence__code="ghost_reactivation", is_active=True).count() == 3
