"""Serializers of the smart follow-up API (API-560–566, 571, 577, 578)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from followups.models import MessageTemplate, Sequence, SequenceRun
from followups.selectors.suggestions import PRIORITIES, REASONS
from followups.selectors.tasks import message_actions

OUTCOMES = ("positive", "negative", "no_response")


class ActionSerializer(serializers.Serializer):
    class Meta:
        ref_name = "FollowupAction"

    type = serializers.ChoiceField(choices=["whatsapp", "call", "copy"])
    url = serializers.CharField(required=False, help_text="wa.me link with the text, or tel: link.")
    text = serializers.CharField(required=False, help_text="The text to copy.")


class SuggestionLeadSerializer(serializers.Serializer):
    """The lead of a suggestion: its name only when it is the partner's own (a pool offer shows none)."""

    class Meta:
        ref_name = "FollowupSuggestionLead"

    id = serializers.UUIDField()
    public_id = serializers.CharField()
    first_name = serializers.SerializerMethodField()
    last_name = serializers.SerializerMethodField()
    status = serializers.CharField()
    stage = serializers.CharField()
    score = serializers.IntegerField()

    def _own(self, lead) -> bool:
        return lead.assigned_partner_id == self.context.get("user_id")

    def get_first_name(self, lead) -> str:
        return lead.first_name if self._own(lead) else ""

    def get_last_name(self, lead) -> str:
        return lead.last_name if self._own(lead) else ""


class SuggestionSerializer(serializers.Serializer):
    class Meta:
        ref_name = "FollowupSuggestion"

    lead = SuggestionLeadSerializer()
    priority = serializers.ChoiceField(choices=PRIORITIES)
    reason = serializers.ChoiceField(choices=REASONS)
    suggested_time = serializers.DateTimeField()
    suggested_channel = serializers.CharField(help_text="instagram, whatsapp, call, email, message or inbox (offer).")
    template = serializers.CharField()
    subject = serializers.CharField()
    message = serializers.CharField()
    confidence = serializers.FloatField(min_value=0, max_value=1)
    last_touch_at = serializers.DateTimeField(allow_null=True)
    actions = serializers.SerializerMethodField()

    @extend_schema_field(ActionSerializer(many=True))
    def get_actions(self, suggestion) -> list[dict[str, str]]:
        if suggestion.suggested_channel == "inbox":
            return []
        lead = suggestion.lead
        return message_actions(
            channel=suggestion.suggested_channel,
            phone=lead.phone or "",
            message=suggestion.message,
            country=lead.country or "",
        )


class SuggestionListSerializer(serializers.Serializer):
    class Meta:
        ref_name = "FollowupSuggestionList"

    results = SuggestionSerializer(many=True)


class BatchSendInputSerializer(serializers.Serializer):
    class Meta:
        ref_name = "FollowupBatchSendInput"

    leads = serializers.ListField(child=serializers.CharField(max_length=40), min_length=1, max_length=50)
    template = serializers.SlugField(max_length=80)


class BatchResultSerializer(serializers.Serializer):
    class Meta:
        ref_name = "FollowupBatchResult"

    lead = serializers.UUIDField()
    status = serializers.ChoiceField(choices=["sent", "task", "skipped"])
    reason = serializers.CharField(allow_null=True)


class BatchSendOutputSerializer(serializers.Serializer):
    class Meta:
        ref_name = "FollowupBatchSendOutput"

    results = BatchResultSerializer(many=True)


class SequenceStartInputSerializer(serializers.Serializer):
    class Meta:
        ref_name = "FollowupSequenceStartInput"

    lead = serializers.CharField(max_length=40, help_text="The lead's id or public id.")
    sequence = serializers.SlugField(max_length=80, help_text="The sequence's code (API-563).")


class SequenceSerializer(serializers.ModelSerializer):
    class Meta:
        model = Sequence
        ref_name = "FollowupSequence"
        fields = ["code", "name", "description", "kind", "trigger", "is_own", "steps", "next_sequence"]
        read_only_fields = fields

    is_own = serializers.SerializerMethodField()
    steps = serializers.IntegerField(source="step_count", read_only=True)
    next_sequence = serializers.CharField(source="next_sequence.code", read_only=True, allow_null=True, default=None)

    def get_is_own(self, sequence) -> bool:
        return sequence.owner_id is not None


class RunSerializer(serializers.ModelSerializer):
    class Meta:
        model = SequenceRun
        ref_name = "FollowupRun"
        fields = [
            "id",
            "lead",
            "sequence",
            "sequence_name",
            "status",
            "current_step",
            "next_due_at",
            "outcome",
            "exit_reason",
            "enrolled_at",
            "finished_at",
        ]
        read_only_fields = fields

    lead = serializers.UUIDField(source="lead_id")
    sequence = serializers.CharField(source="sequence.code")
    sequence_name = serializers.CharField(source="sequence.name")


class RunResponseInputSerializer(serializers.Serializer):
    class Meta:
        ref_name = "FollowupRunResponseInput"

    outcome = serializers.ChoiceField(choices=OUTCOMES)


class ShouldFollowupSerializer(serializers.Serializer):
    class Meta:
        ref_name = "FollowupShould"

    ok = serializers.BooleanField()
    reason = serializers.CharField(
        allow_null=True, help_text="opted_out, lost, too_many_unanswered, contacted_recently"
    )
    next_allowed_at = serializers.DateTimeField(allow_null=True)


class MessageTemplateSerializer(serializers.ModelSerializer):
    class Meta:
        model = MessageTemplate
        ref_name = "FollowupMessageTemplate"
        fields = ["code", "name", "channel", "subject", "body", "is_own"]
        read_only_fields = fields

    is_own = serializers.SerializerMethodField()

    def get_is_own(self, template) -> bool:
        return template.owner_id is not None


class MessagePreviewInputSerializer(serializers.Serializer):
    class Meta:
        ref_name = "FollowupMessagePreviewInput"

    lead = serializers.CharField(max_length=40)
    template = serializers.SlugField(max_length=80)
    reason = serializers.SlugField(max_length=40, required=False, default="")
    personalise = serializers.BooleanField(
        required=False, default=False, help_text="A personalised suggestion by the LLM (when configured)."
    )


class MessagePreviewSerializer(serializers.Serializer):
    class Meta:
        ref_name = "FollowupMessagePreview"

    subject = serializers.CharField()
    body = serializers.CharField()
    template = serializers.CharField()
    channel = serializers.CharField()
    source = serializers.ChoiceField(choices=["template", "llm"])
    actions = ActionSerializer(many=True)
