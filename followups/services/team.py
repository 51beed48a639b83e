"""Team duplication (SPEC §11): leaders publish templates, members clone them, leaders push versions.

A template's ``config`` holds ``sequences`` (follow-up sequences with their steps), ``message_templates``,
``daily_flow`` and ``objection_handlers``. Cloning copies the sequences (owned by the member, ``origin``
set, codes ``<code>--u<user id>``) and message templates (owner = member) in one transaction; cloning
again is idempotent (the existing clone comes back). A clone is *in sync* while nothing of it changed
since it was cloned or last pushed: ``synced_hash`` hashes the clone's config together with the content
of its copied sequences, steps and message templates as written then. A push updates the copies of every
clone in sync in place (steps by number, so running sequences keep their runs and due steps) and tells
the others that a new version is available.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from accounts.models import Notification, Team
from compliance.services.audit import audit_record
from followups.models import MessageTemplate, Sequence, SequenceStep, TeamTemplate, TeamTemplateClone
from followups.selectors.team import member_team_id

CONFIG_KEYS = ("sequences", "message_templates", "daily_flow", "objection_handlers")
STEP_KINDS = set(SequenceStep.Kind.values)
CHANNELS = set(SequenceStep.Channel.values)
MAX_ITEMS = 50
MAX_STEPS = 30
CODE_MAX = 60
MAX_CONFIG_CHARS = 200_000


# --- Config validation ------------------------------------------------------------------------


def _code_ok(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= CODE_MAX and value.replace("-", "").replace("_", "").isalnum()


def _text(item: dict, key: str, errors: dict, where: str, *, required: bool = False, limit: int = 10_000) -> str:
    value = item.get(key, "")
    if value is None:
        value = ""
    if not isinstance(value, str) or len(value) > limit:
        errors[f"{where}.{key}"] = [_("Must be text of at most %(limit)s characters.") % {"limit": limit}]
        return ""
    if required and not value.strip():
        errors[f"{where}.{key}"] = [_("This field is required.")]
    return value


def validate_config(config: Any) -> dict[str, Any]:
    """Check the shape of a template config and return it normalised (defaults filled in).

    Raises ``ValidationError`` whose fields name the offending path, e.g. ``config.sequences[0].steps[1].kind``.
    """
    errors: dict[str, list[str]] = {}
    text = json.dumps(config, default=str)
    if "\\u0000" in text:
        raise ValidationError({"config": [_("Null characters are not allowed.")]})
    if len(text) > MAX_CONFIG_CHARS:
        raise ValidationError({"config": [_("At most %(n)s characters.") % {"n": MAX_CONFIG_CHARS}]})
    if not isinstance(config, dict):
        raise ValidationError(
            {"config": [_("Must be an object with sequences, message_templates, daily_flow and objection_handlers.")]}
        )
    unknown = sorted(set(config) - set(CONFIG_KEYS))
    if unknown:
        errors["config"] = [_("Unknown keys: %(keys)s.") % {"keys": ", ".join(unknown)}]
    sequences = config.get("sequences", [])
    templates = config.get("message_templates", [])
    daily_flow = config.get("daily_flow", {})
    handlers = config.get("objection_handlers", [])
    for key, value, kind in (
        ("sequences", sequences, list),
        ("message_templates", templates, list),
        ("daily_flow", daily_flow, dict),
        ("objection_handlers", handlers, list),
    ):
        if not isinstance(value, kind):
            errors[f"config.{key}"] = [_("Must be a list.") if kind is list else _("Must be an object.")]
        elif kind is list and len(value) > MAX_ITEMS:
            errors[f"config.{key}"] = [_("At most %(n)s entries.") % {"n": MAX_ITEMS}]
    if errors:
        raise ValidationError(errors)

    normal_templates = []
    codes: set[str] = set()
    for i, item in enumerate(templates):
        where = f"config.message_templates[{i}]"
        if not isinstance(item, dict):
            errors[where] = [_("Must be an object.")]
            continue
        code = item.get("code")
        if not _code_ok(code):
            errors[f"{where}.code"] = [_("A code of letters, digits, - and _ (at most %(n)s).") % {"n": CODE_MAX}]
        elif code in codes:
            errors[f"{where}.code"] = [_("Used twice.")]
        else:
            codes.add(code)
        channel = item.get("channel") or SequenceStep.Channel.AUTO
        if not isinstance(channel, str) or channel not in CHANNELS:
            errors[f"{where}.channel"] = [_("One of: %(values)s.") % {"values": ", ".join(sorted(CHANNELS))}]
        normal_templates.append(
            {
                "code": code,
                "name": _text(item, "name", errors, where, limit=200) or str(code),
                "channel": channel,
                "subject": _text(item, "subject", errors, where, limit=255),
                "body": _text(item, "body", errors, where, required=True),
            }
        )

    normal_sequences = []
    seq_codes: set[str] = set()
    for i, item in enumerate(sequences):
        where = f"config.sequences[{i}]"
        if not isinstance(item, dict):
            errors[where] = [_("Must be an object.")]
            continue
        code = item.get("code")
        if not _code_ok(code):
            errors[f"{where}.code"] = [_("A code of letters, digits, - and _ (at most %(n)s).") % {"n": CODE_MAX}]
        elif code in seq_codes:
            errors[f"{where}.code"] = [_("Used twice.")]
        else:
            seq_codes.add(code)
        steps = item.get("steps")
        if not isinstance(steps, list) or not steps or len(steps) > MAX_STEPS:
            errors[f"{where}.steps"] = [_("A list of 1 to %(n)s steps.") % {"n": MAX_STEPS}]
            steps = []
        normal_steps = []
        for j, step in enumerate(steps):
            at = f"{where}.steps[{j}]"
            if not isinstance(step, dict):
                errors[at] = [_("Must be an object.")]
                continue
            kind = step.get("kind") or SequenceStep.Kind.TASK
            if not isinstance(kind, str) or kind not in STEP_KINDS:
                errors[f"{at}.kind"] = [_("One of: %(values)s.") % {"values": ", ".join(sorted(STEP_KINDS))}]
            channel = step.get("channel") or SequenceStep.Channel.AUTO
            if not isinstance(channel, str) or channel not in CHANNELS:
                errors[f"{at}.channel"] = [_("One of: %(values)s.") % {"values": ", ".join(sorted(CHANNELS))}]
            delay = step.get("delay_hours", 0)
            if not isinstance(delay, int) or isinstance(delay, bool) or not 0 <= delay <= 24 * 365:
                errors[f"{at}.delay_hours"] = [_("Hours between 0 and 8760.")]
            on_response = step.get("on_response") or {}
            if not isinstance(on_response, dict):
                errors[f"{at}.on_response"] = [_("Must be an object.")]
            template_code = step.get("template_code") or ""
            if template_code and (not isinstance(template_code, str) or template_code not in codes):
                errors[f"{at}.template_code"] = [_("Not one of this template's message templates.")]
            normal_steps.append(
                {
                    "kind": kind,
                    "channel": channel,
                    "delay_hours": delay,
                    "template_code": template_code,
                    "subject": _text(step, "subject", errors, at, limit=255),
                    "body_text": _text(step, "body_text", errors, at),
                    "on_response": on_response,
                }
            )
        normal_sequences.append(
            {
                "code": code,
                "name": _text(item, "name", errors, where, limit=200) or str(code),
                "description": _text(item, "description", errors, where),
                "steps": normal_steps,
            }
        )

    normal_handlers = []
    for i, item in enumerate(handlers):
        where = f"config.objection_handlers[{i}]"
        if not isinstance(item, dict):
            errors[where] = [_("Must be an object.")]
            continue
        normal_handlers.append(
            {
                "objection": _text(item, "objection", errors, where, required=True, limit=500),
                "answer": _text(item, "answer", errors, where, required=True),
            }
        )
    if errors:
        raise ValidationError(errors)
    return {
        "sequences": normal_sequences,
        "message_templates": normal_templates,
        "daily_flow": daily_flow,
        "objection_handlers": normal_handlers,
    }


# --- Hashes -----------------------------------------------------------------------------------


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def clone_states(clones: list[TeamTemplateClone]) -> dict[int, str]:
    """The current state hash of each clone: its config plus its copies' content (four queries in all)."""
    ids = [clone.pk for clone in clones]
    sequences: dict[int, list] = {pk: [] for pk in ids}
    for seq in Sequence.objects.filter(origin_id__in=ids).prefetch_related("steps").order_by("code"):
        steps = sorted(seq.steps.all(), key=lambda s: s.number)
        sequences[seq.origin_id].append(
            [
                seq.code,
                seq.name,
                seq.description,
                seq.is_active,
                seq.trigger,
                [
                    [
                        s.number,
                        s.kind,
                        s.channel,
                        s.delay_hours,
                        s.template_code,
                        s.subject,
                        s.body_text,
                        s.body_html,
                        s.conditions,
                        s.on_response,
                        s.is_active,
                    ]
                    for s in steps
                ],
            ]
        )
    templates: dict[int, list] = {pk: [] for pk in ids}
    for tpl in MessageTemplate.objects.filter(origin_id__in=ids).order_by("code"):
        templates[tpl.origin_id].append([tpl.code, tpl.name, tpl.channel, tpl.subject, tpl.body, tpl.is_active])
    return {
        clone.pk: _digest({"config": clone.config, "sequences": sequences[clone.pk], "templates": templates[clone.pk]})
        for clone in clones
    }


def clone_in_sync(clone: TeamTemplateClone, states: dict[int, str] | None = None) -> bool:
    states = states if states is not None else clone_states([clone])
    return states.get(clone.pk) == clone.synced_hash


# --- Services ---------------------------------------------------------------------------------


def _leader_team(leader: Any) -> Team:
    team = Team.objects.filter(leader_id=leader.pk).order_by("id").first()
    if team is None:
        raise PermissionDenied(_("Only team leaders publish team templates."))
    return team


@transaction.atomic
def template_publish(*, leader: Any, name: str, description: str = "", config: Any, actor: Any) -> TeamTemplate:
    """API-573: a leader publishes a template to their team."""
    team = _leader_team(leader)
    if not (name or "").strip():
        raise ValidationError({"name": [_("This field is required.")]})
    normal = validate_config(config)
    template = TeamTemplate.objects.create(
        team=team, leader_id=leader.pk, name=name.strip()[:200], description=description or "", config=normal
    )
    audit_record(
        event_type="followups.team_template_published",
        actor=actor,
        obj=template,
        tenant=team.organization,
        payload={"version": template.version},
    )
    return template


def _copy_code(code: str, user_id: int, template_id: int, taken: set[str]) -> str:
    primary = f"{code}--u{user_id}"
    return primary if primary not in taken else f"{code}--t{template_id}-u{user_id}"


def _write_copies(*, clone: TeamTemplateClone, config: dict[str, Any], user: Any) -> None:
    """Create or update the clone's sequences, steps and message templates from ``config`` (in place)."""
    template_id = clone.template_id
    own_seqs = {seq.code: seq for seq in Sequence.objects.filter(origin=clone)}
    wanted = [f"{s['code']}--u{user.pk}" for s in config["sequences"]]
    wanted += [f"{s['code']}--t{template_id}-u{user.pk}" for s in config["sequences"]]
    taken = set(Sequence.objects.filter(code__in=wanted).exclude(origin=clone).values_list("code", flat=True))
    own_tpls = {tpl.code: tpl for tpl in MessageTemplate.objects.filter(origin=clone)}
    tpl_taken = set(
        MessageTemplate.objects.filter(owner_id=user.pk).exclude(origin=clone).values_list("code", flat=True)
    )

    tpl_codes: dict[str, str] = {}
    kept_tpls = set()
    for item in config["message_templates"]:
        code = item["code"] if item["code"] not in tpl_taken else f"{item['code']}--t{template_id}"[:80]
        tpl_codes[item["code"]] = code
        kept_tpls.add(code)
        fields = {k: item[k] for k in ("name", "channel", "subject", "body")}
        tpl = own_tpls.get(code)
        if tpl is None:
            MessageTemplate.objects.create(owner_id=user.pk, origin=clone, code=code, **fields)
        else:
            for key, value in {**fields, "is_active": True}.items():
                setattr(tpl, key, value)
            tpl.save()
    MessageTemplate.objects.filter(origin=clone).exclude(code__in=kept_tpls).update(is_active=False)

    kept_seqs = set()
    for item in config["sequences"]:
        code = _copy_code(item["code"], user.pk, template_id, taken)
        kept_seqs.add(code)
        seq = own_seqs.get(code)
        if seq is None:
            seq = Sequence.objects.create(
                code=code,
                name=item["name"],
                description=item["description"],
                kind=Sequence.Kind.FOLLOWUP,
                trigger=Sequence.Trigger.MANUAL,
                organization_id=user.organization_id,
                owner_id=user.pk,
                origin=clone,
            )
        else:
            seq.name, seq.description, seq.is_active = item["name"], item["description"], True
            seq.save(update_fields=["name", "description", "is_active", "updated_at"])
        existing = {step.number: step for step in seq.steps.all()}
        for number, step in enumerate(item["steps"], start=1):
            fields = {
                "kind": step["kind"],
                "channel": step["channel"],
                "delay_hours": step["delay_hours"],
                "template_code": tpl_codes.get(step["template_code"], step["template_code"]),
                "subject": step["subject"],
                "body_text": step["body_text"],
                "on_response": step["on_response"],
                "is_active": True,
            }
            row = existing.get(number)
            if row is None:
                SequenceStep.objects.create(sequence=seq, number=number, **fields)
            else:
                for key, value in fields.items():
                    setattr(row, key, value)
                row.save()
        seq.steps.filter(number__gt=len(item["steps"])).update(is_active=False)
    Sequence.objects.filter(origin=clone).exclude(code__in=kept_seqs).update(is_active=False)


@transaction.atomic
def template_clone(*, template: TeamTemplate, user: Any, actor: Any) -> tuple[TeamTemplateClone, bool]:
    """API-574: a team member copies the template (one transaction). Cloning again returns the clone."""
    if member_team_id(user) != template.team_id or not template.is_published:
        raise PermissionDenied(_("Only members of the team clone its templates."))
    if user.organization_id is None:
        raise PermissionDenied(_("Only members of the team clone its templates."))
    existing = TeamTemplateClone.objects.select_for_update().filter(template=template, user_id=user.pk).first()
    if existing is not None:
        return existing, False
    template = TeamTemplate.objects.select_for_update().get(pk=template.pk)
    clone = TeamTemplateClone.objects.create(
        template=template, user_id=user.pk, version=template.version, config=template.config, synced_hash=""
    )
    _write_copies(clone=clone, config=template.config, user=user)
    clone.synced_hash = clone_states([clone])[clone.pk]
    clone.save(update_fields=["synced_hash", "updated_at"])
    audit_record(
        event_type="followups.team_template_cloned",
        actor=actor,
        obj=clone,
        tenant=user.organization,
        payload={"template": template.pk, "version": template.version},
    )
    return clone, True


@transaction.atomic
def template_push(*, template: TeamTemplate, leader: Any, config: Any, actor: Any) -> dict[str, Any]:
    """API-575: a new version (version + 1) to every clone still in sync; the others are told."""
    from accounts.services import notify

    template = TeamTemplate.objects.select_for_update().select_related("team").get(pk=template.pk)
    if template.leader_id != leader.pk and template.team.leader_id != leader.pk:
        raise PermissionDenied(_("Only the team's leader pushes its templates."))
    normal = validate_config(config)
    template.config = normal
    template.version += 1
    template.save(update_fields=["config", "version", "updated_at"])
    clones = list(TeamTemplateClone.objects.select_for_update().filter(template=template).select_related("user"))
    states = clone_states(clones)
    updated, skipped = [], []
    for clone in clones:
        if not clone_in_sync(clone, states):
            skipped.append(clone)
            continue
        clone.config = normal
        clone.version = template.version
        _write_copies(clone=clone, config=normal, user=clone.user)
        updated.append(clone)
    new_states = clone_states(updated)
    for clone in updated:
        clone.synced_hash = new_states[clone.pk]
        clone.save(update_fields=["config", "version", "synced_hash", "updated_at"])
    if skipped:
        notify(
            users=[clone.user for clone in skipped],
            kind=Notification.Kind.SYSTEM,
            title=gettext_noop("New version of “%(name)s” available"),
            body=gettext_noop(
                "Your team leader published version %(version)s. You changed your copy, so it was not updated."
            ),
            context={"name": template.name, "version": template.version},
            dedup_key=f"team_template:{template.pk}:v{template.version}",
        )
    audit_record(
        event_type="followups.team_template_pushed",
        actor=actor,
        obj=template,
        tenant=template.team.organization,
        payload={"version": template.version, "updated": len(updated), "skipped": len(skipped)},
    )
    return {
        "version": template.version,
        "updated_users": sorted(clone.user_id for clone in updated),
        "skipped_users": sorted(clone.user_id for clone in skipped),
    }
