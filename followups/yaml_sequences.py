"""Follow-up sequences shipped as YAML data (``followups/data/sequences/*.yaml``, SPEC §11).

Each file describes one sequence: ``code`` (the file's name), ``name``, ``description``, optional
``next_sequence`` and ``steps``. A step has ``day`` (days after enrolment, ascending), ``action``
(``send_message`` or ``end_sequence``), ``template`` (a message template code), ``channel`` (``auto``,
``whatsapp``, ``email``, ``call``), ``conditions`` (the engine's: ``stage_in``, ``status_in``,
``channel_in``, ``score_gte``, ``score_lte``, ``has_email``) and ``on_response`` (``positive``,
``negative``, ``no_response`` → ``next_step``, ``move_to_nurture``, ``wait``, ``schedule_call``, ``end``).

The files are validated at start-up (a system check, ``followups.checks``) and in a test; a malformed
file is an error naming the file, the line and the field (from yaml's node marks). ``sync_sequences``
writes them as ``Sequence``/``SequenceStep`` rows of the platform organization (kind follow-up, manual
trigger), idempotently: by the sequence code and the step number. How a YAML step maps onto the engine:

- ``channel: email`` → an email step the engine sends (marketing rules: consent, send window, cap);
- ``whatsapp``/``call``/``auto`` → a task for the partner carrying the rendered message (the task list
  offers the one-click actions; ``auto`` lets the task list choose the lead's best channel);
- ``delay_hours`` = (day − previous step's day) × 24 (the engine waits after the previous step);
- ``end_sequence`` creates no step: its ``next_sequence`` (or the file's) becomes the sequence's
  ``next_sequence`` (``move_to_nurture`` enrols the lead there when it exists).
"""

from __future__ import annotations

import html
import itertools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

DATA_DIR = Path(__file__).resolve().parent / "data" / "sequences"

ACTIONS = ("send_message", "end_sequence")
CHANNELS = ("auto", "whatsapp", "email", "call")
OUTCOMES = ("positive", "negative", "no_response")
BRANCHES = ("next_step", "move_to_nurture", "wait", "schedule_call", "end")
CONDITIONS = {
    "stage_in": "list",
    "status_in": "list",
    "channel_in": "list",
    "score_gte": "int",
    "score_lte": "int",
    "has_email": "bool",
}
SEQUENCE_KEYS = {"code", "name", "description", "next_sequence", "steps", "target_outcome", "max_duration_days"}
STEP_KEYS = {"day", "name", "action", "template", "channel", "conditions", "on_response", "next_sequence"}
_CODE = re.compile(r"^[a-z0-9_-]{1,80}$")


class SequenceFileError(ValueError):
    """A YAML sequence that does not follow the schema: names the file, the line and the field."""

    def __init__(self, path: Path | str, line: int, field: str, message: str) -> None:
        self.path, self.line, self.field, self.message = str(path), line, field, message
        super().__init__(f"{Path(path).name}, line {line}, field '{field}': {message}")


@dataclass(frozen=True)
class YamlStep:
    day: int
    action: str
    name: str = ""
    template: str = ""
    channel: str = "auto"
    conditions: dict | None = None
    on_response: dict | None = None
    next_sequence: str = ""


@dataclass(frozen=True)
class YamlSequence:
    code: str
    name: str
    description: str
    steps: tuple[YamlStep, ...]
    next_sequence: str = ""
    path: str = ""

    @property
    def message_steps(self) -> list[YamlStep]:
        return [step for step in self.steps if step.action == "send_message"]

    @property
    def follow_on(self) -> str:
        """The sequence a lead moves on to: an ``end_sequence`` step's, else the file's ``next_sequence``."""
        ends = [step.next_sequence for step in self.steps if step.action == "end_sequence" and step.next_sequence]
        return ends[-1] if ends else self.next_sequence


# --- Validation over yaml nodes (they carry the line numbers) -----------------------------------------------


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _mapping(node: yaml.Node, path: Path, field: str) -> dict[str, tuple[yaml.Node, yaml.Node]]:
    if not isinstance(node, yaml.MappingNode):
        raise SequenceFileError(path, _line(node), field, "must be a mapping")
    items: dict[str, tuple[yaml.Node, yaml.Node]] = {}
    for key, value in node.value:
        if not isinstance(key, yaml.ScalarNode):
            raise SequenceFileError(path, _line(key), field, "keys must be plain names")
        if key.value in items:
            raise SequenceFileError(path, _line(key), f"{field}.{key.value}".lstrip("."), "is given twice")
        items[key.value] = (key, value)
    return items


def _scalar(node: yaml.Node, path: Path, field: str, kind: str = "str") -> Any:
    if not isinstance(node, yaml.ScalarNode):
        raise SequenceFileError(path, _line(node), field, f"must be a {kind}")
    loader = yaml.SafeLoader("")
    try:
        value = loader.construct_object(node, deep=True)
    finally:
        loader.dispose()
    expected = {"str": str, "int": int, "bool": bool}[kind]
    if (kind == "int" and isinstance(value, bool)) or not isinstance(value, expected):
        raise SequenceFileError(path, _line(node), field, f"must be a {kind}")
    return value


def _choice(node: yaml.Node, path: Path, field: str, choices: tuple[str, ...]) -> str:
    value = _scalar(node, path, field)
    if value not in choices:
        raise SequenceFileError(path, _line(node), field, f"'{value}' is not one of: {', '.join(choices)}")
    return value


def _code(node: yaml.Node, path: Path, field: str) -> str:
    value = _scalar(node, path, field)
    if not _CODE.match(value):
        raise SequenceFileError(path, _line(node), field, "must be a code (a-z, 0-9, _ and -)")
    return value


def _conditions(node: yaml.Node, path: Path, field: str) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, (key, value) in _mapping(node, path, field).items():
        kind = CONDITIONS.get(name)
        if kind is None:
            raise SequenceFileError(
                path, _line(key), f"{field}.{name}", f"unknown condition (one of: {', '.join(CONDITIONS)})"
            )
        if kind == "list":
            if not isinstance(value, yaml.SequenceNode) or not value.value:
                raise SequenceFileError(path, _line(value), f"{field}.{name}", "must be a non-empty list")
            result[name] = [_scalar(item, path, f"{field}.{name}") for item in value.value]
        else:
            result[name] = _scalar(value, path, f"{field}.{name}", kind)
    return result


def _on_response(node: yaml.Node, path: Path, field: str) -> dict[str, str]:
    result: dict[str, str] = {}
    for name, (key, value) in _mapping(node, path, field).items():
        if name not in OUTCOMES:
            raise SequenceFileError(
                path, _line(key), f"{field}.{name}", f"unknown outcome (one of: {', '.join(OUTCOMES)})"
            )
        result[name] = _choice(value, path, f"{field}.{name}", BRANCHES)
    return result


def _step(node: yaml.Node, path: Path, field: str) -> YamlStep:
    items = _mapping(node, path, field)
    for name, (key, _value) in items.items():
        if name not in STEP_KEYS:
            raise SequenceFileError(path, _line(key), f"{field}.{name}", "unknown field")
    for required in ("day", "action"):
        if required not in items:
            raise SequenceFileError(path, _line(node), f"{field}.{required}", "is required")
    day = _scalar(items["day"][1], path, f"{field}.day", "int")
    if day < 0 or day > 365:
        raise SequenceFileError(path, _line(items["day"][1]), f"{field}.day", "must be between 0 and 365")
    action = _choice(items["action"][1], path, f"{field}.action", ACTIONS)
    values: dict[str, Any] = {"day": day, "action": action}
    if "name" in items:
        values["name"] = _scalar(items["name"][1], path, f"{field}.name")
    if "template" in items:
        values["template"] = _code(items["template"][1], path, f"{field}.template")
    elif action == "send_message":
        raise SequenceFileError(path, _line(node), f"{field}.template", "is required for send_message")
    if "channel" in items:
        values["channel"] = _choice(items["channel"][1], path, f"{field}.channel", CHANNELS)
    if "conditions" in items:
        values["conditions"] = _conditions(items["conditions"][1], path, f"{field}.conditions")
    if "on_response" in items:
        values["on_response"] = _on_response(items["on_response"][1], path, f"{field}.on_response")
    if "next_sequence" in items:
        values["next_sequence"] = _code(items["next_sequence"][1], path, f"{field}.next_sequence")
    return YamlStep(**values)


def parse_sequence(text: str, *, path: Path | str = "<string>") -> YamlSequence:
    """Validate one sequence document and return it; ``SequenceFileError`` names file, line and field."""
    path = Path(path)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise SequenceFileError(path, (mark.line + 1) if mark else 0, "", f"not valid YAML: {exc.problem}") from exc
    if root is None:
        raise SequenceFileError(path, 1, "", "the file is empty")
    items = _mapping(root, path, "")
    for name, (key, _value) in items.items():
        if name not in SEQUENCE_KEYS:
            raise SequenceFileError(path, _line(key), name, "unknown field")
    for required in ("code", "name", "steps"):
        if required not in items:
            raise SequenceFileError(path, _line(root), required, "is required")
    code = _code(items["code"][1], path, "code")
    if path.suffix in (".yaml", ".yml") and path.stem != code:
        raise SequenceFileError(path, _line(items["code"][1]), "code", f"must equal the file's name '{path.stem}'")
    name = _scalar(items["name"][1], path, "name")
    description = _scalar(items["description"][1], path, "description") if "description" in items else ""
    next_sequence = _code(items["next_sequence"][1], path, "next_sequence") if "next_sequence" in items else ""
    steps_node = items["steps"][1]
    if not isinstance(steps_node, yaml.SequenceNode) or not steps_node.value:
        raise SequenceFileError(path, _line(steps_node), "steps", "must be a non-empty list")
    steps = tuple(_step(node, path, f"steps[{index}]") for index, node in enumerate(steps_node.value))
    for index, (before, after) in enumerate(itertools.pairwise(steps), start=1):
        if after.day < before.day:
            raise SequenceFileError(
                path, _line(steps_node.value[index]), f"steps[{index}].day", "days must not go backwards"
            )
    if not any(step.action == "send_message" for step in steps):
        raise SequenceFileError(path, _line(steps_node), "steps", "needs at least one send_message step")
    return YamlSequence(
        code=code, name=name, description=description, steps=steps, next_sequence=next_sequence, path=str(path)
    )


def load_sequences(directory: Path | None = None) -> list[YamlSequence]:
    """Every YAML sequence of ``directory`` (the shipped data by default), validated, ordered by file name."""
    directory = directory or DATA_DIR
    sequences = [parse_sequence(p.read_text(encoding="utf-8"), path=p) for p in sorted(directory.glob("*.yaml"))]
    codes = [s.code for s in sequences]
    if len(set(codes)) != len(codes):
        raise SequenceFileError(directory, 0, "code", "two files share a code")
    return sequences


def template_codes(sequences: list[YamlSequence] | None = None) -> set[str]:
    """The message template codes the YAML sequences use (each needs a platform default)."""
    return {step.template for seq in (sequences or load_sequences()) for step in seq.message_steps}


# --- Sync into Sequence/SequenceStep rows ------------------------------------------------------------------


def text_to_html(body: str) -> str:
    """A plain-text template as simple HTML paragraphs (the template tags stay untouched)."""
    paragraphs = [p for p in re.split(r"\n{2,}", body.strip()) if p.strip()]
    return "\n".join(
        "<p>" + "<br>\n".join(html.escape(line, quote=False) for line in p.splitlines()) + "</p>" for p in paragraphs
    )


def _step_rows(sequence: YamlSequence, templates: dict[str, Any]) -> list[dict[str, Any]]:
    rows, previous_day = [], 0
    for number, step in enumerate(sequence.message_steps, start=1):
        template = templates.get(step.template)
        subject = (template.subject if template else "") or step.name
        body = template.body if template else ""
        is_email = step.channel == "email"
        rows.append(
            {
                "number": number,
                "kind": "email" if is_email else "task",
                "delay_hours": (step.day - previous_day) * 24,
                "channel": step.channel,
                "template_code": step.template,
                "subject": subject[:255],
                "body_text": body,
                "body_html": text_to_html(body) if is_email else "",
                "conditions": step.conditions or {},
                "on_response": step.on_response or {},
                "is_active": True,
            }
        )
        previous_day = step.day
    return rows


def sync_sequences(*, models: Any = None, sequences: list[YamlSequence] | None = None) -> list[str]:
    """Write the YAML sequences as platform follow-up sequences; returns the codes synced.

    ``models``: an app registry (the data migration passes its historical one). Idempotent: a second run
    changes nothing; a step no longer in the file is switched off (runs may still point at it). A
    sequence an admin switched off stays off.
    """
    if models is None:
        from django.apps import apps as models
    Organization = models.get_model("accounts", "Organization")
    Sequence = models.get_model("followups", "Sequence")
    SequenceStep = models.get_model("followups", "SequenceStep")
    MessageTemplate = models.get_model("followups", "MessageTemplate")
    platform = Organization.objects.filter(is_platform=True).first()
    if platform is None:
        return []
    sequences = load_sequences() if sequences is None else sequences
    templates = {
        t.code: t for t in MessageTemplate.objects.filter(owner__isnull=True, code__in=template_codes(sequences))
    }
    synced: dict[str, Any] = {}
    for spec in sequences:
        sequence, _created = Sequence.objects.update_or_create(
            code=spec.code,
            defaults={
                "name": spec.name[:200],
                "description": spec.description,
                "kind": "followup",
                "trigger": "manual",
            },
            create_defaults={
                "name": spec.name[:200],
                "description": spec.description,
                "kind": "followup",
                "trigger": "manual",
                "organization": platform,
                "owner": None,
                "is_active": True,
            },
        )
        synced[spec.code] = sequence
        rows = _step_rows(spec, templates)
        for row in rows:
            number = row.pop("number")
            SequenceStep.objects.update_or_create(sequence=sequence, number=number, defaults=row)
        SequenceStep.objects.filter(sequence=sequence, number__gt=len(rows)).update(is_active=False)
    for spec in sequences:
        target = None
        if spec.follow_on:
            target = synced.get(spec.follow_on) or Sequence.objects.filter(code=spec.follow_on).first()
        Sequence.objects.filter(pk=synced[spec.code].pk).update(next_sequence=target)
    return list(synced)
