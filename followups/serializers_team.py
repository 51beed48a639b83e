"""Serializers of API-567–570, 572–576 and 579: reminders, team templates, performance, escalations."""

from __future__ import annotations

from rest_framework import serializers

from followups.models import Escalation, Reminder, TeamTemplate, TeamTemplateClone

# --- Reminders --------------------------------------------------------------------------------


class ReminderOutputSerializer(serializers.ModelSerializer):
    lead = serializers.UUIDField(source="lead_id", read_only=True)
    lead_public_id = serializers.CharField(source="lead.public_id", read_only=True)
    lead_name = serializers.CharField(source="lead.full_name", read_only=True)

    class Meta:
        model = Reminder
        ref_name = "ReminderOutput"
        fields = [
            "id",
            "lead",
            "lead_public_id",
            "lead_name",
            "action_type",
            "priority",
            "scheduled_for",
            "first_scheduled_for",
            "note",
            "status",
            "snooze_count",
            "notified_at",
            "completed_at",
            "created_at",
        ]
        read_only_fields = fields


class ReminderPageSerializer(serializers.Serializer):
    class Meta:
        ref_name = "ReminderPage"

    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = ReminderOutputSerializer(many=True)


class ReminderCreateInputSerializer(serializers.Serializer):
    class Meta:
        ref_name = "ReminderCreateInput"

    lead = serializers.CharField(max_length=40, help_text="The lead's id or public id (SOT-LEAD-…).")
    action_type = serializers.ChoiceField(choices=Reminder.ActionType.choices)
    priority = serializers.ChoiceField(choices=Reminder.Priority.choices, required=False, allow_null=True)
    scheduled_for = serializers.DateTimeField(
        required=False, allow_null=True, help_text="Omitted: the lead's best time, outside the quiet hours."
    )
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class ReminderSnoozeInputSerializer(serializers.Serializer):
    class Meta:
        ref_name = "ReminderSnoozeInput"

    reason = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class ReminderSnoozeOutputSerializer(serializers.Serializer):
    class Meta:
        ref_name = "ReminderSnoozeOutput"

    id = serializers.IntegerField(source="reminder.pk")
    scheduled_for = serializers.DateTimeField()
    snooze_count = serializers.IntegerField()
    warning = serializers.CharField(allow_null=True, help_text="Null until the third snooze of the same reminder.")


class ReminderCompleteInputSerializer(serializers.Serializer):
    class Meta:
        ref_name = "ReminderCompleteInput"

    dismiss = serializers.BooleanField(required=False, default=False)


# --- Team templates ---------------------------------------------------------------------------


class TeamTemplateConfigSerializer(serializers.Serializer):
    class Meta:
        ref_name = "TeamTemplateConfig"

    sequences = serializers.ListField(child=serializers.DictField(), required=False)
    message_templates = serializers.ListField(child=serializers.DictField(), required=False)
    daily_flow = serializers.DictField(required=False)
    objection_handlers = serializers.ListField(child=serializers.DictField(), required=False)


class TeamTemplateOutputSerializer(serializers.ModelSerializer):
    team = serializers.IntegerField(source="team_id", read_only=True)
    leader = serializers.IntegerField(source="leader_id", read_only=True)
    clones = serializers.SerializerMethodField()
    config = TeamTemplateConfigSerializer(read_only=True)

    class Meta:
        model = TeamTemplate
        ref_name = "TeamTemplateOutput"
        fields = [
            "id",
            "team",
            "leader",
            "name",
            "description",
            "config",
            "version",
            "is_published",
            "clones",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_clones(self, template: TeamTemplate) -> int:
        return getattr(template, "clone_count", 0)


class TeamTemplatePageSerializer(serializers.Serializer):
    class Meta:
        ref_name = "TeamTemplatePage"

    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = TeamTemplateOutputSerializer(many=True)


class TeamTemplateInputSerializer(serializers.Serializer):
    class Meta:
        ref_name = "TeamTemplateInput"

    name = serializers.CharField(max_length=200)
    description = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")
    config = serializers.JSONField(
        help_text="`sequences` [{code, name, description?, steps: [{kind, channel, delay_hours, template_code?, "
        "subject?, body_text?, on_response?}]}], `message_templates` [{code, name, channel, subject?, body}], "
        "`daily_flow` {…}, `objection_handlers` [{objection, answer}]."
    )


class TeamTemplatePushInputSerializer(serializers.Serializer):
    class Meta:
        ref_name = "TeamTemplatePushInput"

    config = serializers.JSONField(help_text="The new configuration (same shape as API-573).")


class TeamTemplateCloneOutputSerializer(serializers.ModelSerializer):
    template = serializers.IntegerField(source="template_id", read_only=True)
    user = serializers.IntegerField(source="user_id", read_only=True)
    sequences = serializers.SerializerMethodField()
    message_templates = serializers.SerializerMethodField()

    class Meta:
        model = TeamTemplateClone
        ref_name = "TeamTemplateCloneOutput"
        fields = ["id", "template", "user", "version", "sequences", "message_templates", "created_at"]
        read_only_fields = fields

    def get_sequences(self, clone: TeamTemplateClone) -> list[str]:
        return sorted(clone.sequences.filter(is_active=True).values_list("code", flat=True))

    def get_message_templates(self, clone: TeamTemplateClone) -> list[str]:
        return sorted(clone.message_templates.filter(is_active=True).values_list("code", flat=True))


class TeamTemplatePushOutputSerializer(serializers.Serializer):
    class Meta:
        ref_name = "TeamTemplatePushOutput"

    version = serializers.IntegerField()
    updated_users = serializers.ListField(child=serializers.IntegerField())
    skipped_users = serializers.ListField(
        child=serializers.IntegerField(), help_text="Members who edited their copy: told a new version is available."
    )


class MemberFiguresSerializer(serializers.Serializer):
    class Meta:
        ref_name = "TeamTemplateMemberFigures"

    user = serializers.IntegerField()
    name = serializers.CharField()
    version = serializers.IntegerField()
    runs = serializers.IntegerField()
    responses = serializers.IntegerField()
    conversions = serializers.IntegerField()
    response_rate = serializers.FloatField()
    conversion_rate = serializers.FloatField()


class TeamTemplatePerformanceSerializer(serializers.Serializer):
    class Meta:
        ref_name = "TeamTemplatePerformance"

    template = serializers.IntegerField()
    version = serializers.IntegerField()
    clones = serializers.IntegerField()
    runs = serializers.IntegerField()
    response_rate = serializers.FloatField(help_text="Share of runs of the cloned sequences the lead answered (0–1).")
    conversion_rate = serializers.FloatField(help_text="Share of runs whose lead is qualified or converted (0–1).")
    members = MemberFiguresSerializer(many=True)
    best_member = MemberFiguresSerializer(allow_null=True)
    worst_member = MemberFiguresSerializer(allow_null=True)


# --- Escalations ------------------------------------------------------------------------------


class EscalationOutputSerializer(serializers.ModelSerializer):
    lead = serializers.UUIDField(source="lead_id", read_only=True)
    lead_public_id = serializers.CharField(source="lead.public_id", read_only=True)
    member = serializers.IntegerField(source="member_id", read_only=True)
    member_name = serializers.CharField(source="member.get_full_name", read_only=True)
    team = serializers.IntegerField(source="team_id", read_only=True)

    class Meta:
        model = Escalation
        ref_name = "EscalationOutput"
        fields = [
            "id",
            "lead",
            "lead_public_id",
            "member",
            "member_name",
            "team",
            "week",
            "days_without_contact",
            "notified_at",
            "resolved_at",
            "created_at",
        ]
        read_only_fields = fields


class EscalationPageSerializer(serializers.Serializer):
    class Meta:
        ref_name = "EscalationPage"

    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = EscalationOutputSerializer(many=True)
