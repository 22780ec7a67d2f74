"""What the API shows of each row, and the input its writes accept.

Read serializers name related rows by id (and by key or name where a person reads them); every
relation they follow is selected or prefetched by the view, so a page of rows costs a fixed number of
queries. Write serializers only parse: the services check the rules.
"""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from integrations.models import SyncRun
from releases.gates.forms import STATE_HASH
from releases.models import (
    Application,
    AuditEvent,
    Booking,
    Build,
    Deployment,
    Environment,
    FreezeWindow,
    Gate,
    Portfolio,
    Release,
    ReleaseDependency,
    ReleaseTrain,
    SignOff,
    TestRun,
    WorkItem,
)
from releases.planning.forecast import stored_hold_text


class PortfolioSerializer(serializers.ModelSerializer):
    class Meta:
        model = Portfolio
        fields = ["id", "name", "slug", "parent"]


class ApplicationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Application
        fields = ["id", "key", "name", "portfolio", "criticality", "release_cadence", "description"]


class TrainSerializer(serializers.ModelSerializer):
    class Meta:
        model = ReleaseTrain
        fields = ["id", "name", "portfolio", "starts_on", "ends_on"]


class HoldSerializer(serializers.Serializer):
    """One thing the forecast waits for: a gate, a build, an upstream release or a freeze window."""

    kind = serializers.CharField(allow_null=True)
    until = serializers.CharField(allow_null=True)
    name = serializers.CharField()
    release = serializers.IntegerField(allow_null=True)
    text = serializers.CharField()


class RiskReasonSerializer(serializers.Serializer):
    """One part of a release's risk score: its points and why."""

    points = serializers.IntegerField()
    text = serializers.CharField()


class ReleaseSerializer(serializers.ModelSerializer):
    application_key = serializers.CharField(source="application.key", read_only=True)
    forecast_risk_reasons = RiskReasonSerializer(many=True, read_only=True)
    delivery_state = serializers.ChoiceField(choices=Release.DeliveryState.choices, read_only=True)
    blocked_by = serializers.SerializerMethodField()
    waiting_for = serializers.SerializerMethodField()

    class Meta:
        model = Release
        fields = [
            "id",
            "application",
            "application_key",
            "version",
            "summary",
            "status",
            "train",
            "owner",
            "target_date",
            "code_freeze_date",
            "actual_date",
            "forecast_date",
            "forecast_slip_days",
            "forecast_baseline_date",
            "forecast_p50",
            "forecast_p85",
            "forecast_p95",
            "forecast_on_time",
            "forecast_odds_note",
            "forecast_risk",
            "forecast_risk_reasons",
            "at_risk",
            "delivery_state",
            "blocked_by",
            "waiting_for",
            "forecast_updated_at",
            "source",
            "external_id",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_blocked_by(self, release: Release) -> str | None:
        return release.forecast_blocked_reason or None

    @extend_schema_field(HoldSerializer(many=True))
    def get_waiting_for(self, release: Release) -> list[dict]:
        return [
            {
                "kind": hold.get("kind"),
                "until": hold.get("until"),
                "name": hold.get("name", ""),
                "release": hold.get("release_id"),
                "text": stored_hold_text(hold),
            }
            for hold in release.forecast_waiting_for or ()
        ]


class ReleaseCreateSerializer(serializers.Serializer):
    application = serializers.PrimaryKeyRelatedField(queryset=Application.objects.all())
    version = serializers.CharField(max_length=64)
    target_date = serializers.DateField()
    summary = serializers.CharField(required=False, allow_blank=True, max_length=10_000)
    status = serializers.ChoiceField(choices=Release.Status.choices, required=False)
    code_freeze_date = serializers.DateField(required=False, allow_null=True)
    train = serializers.PrimaryKeyRelatedField(
        queryset=ReleaseTrain.objects.all(), required=False, allow_null=True
    )


class ReleaseUpdateSerializer(serializers.Serializer):
    """The release page's plan: status and dates (only the fields sent are changed)."""

    status = serializers.ChoiceField(choices=Release.Status.choices, required=False)
    target_date = serializers.DateField(required=False)
    code_freeze_date = serializers.DateField(required=False, allow_null=True)
    actual_date = serializers.DateField(required=False, allow_null=True)


class DependencySerializer(serializers.ModelSerializer):
    class Meta:
        model = ReleaseDependency
        fields = ["id", "downstream", "upstream", "kind", "note"]


class DependencyCreateSerializer(serializers.Serializer):
    downstream = serializers.PrimaryKeyRelatedField(queryset=Release.objects.all())
    upstream = serializers.PrimaryKeyRelatedField(queryset=Release.objects.all())
    kind = serializers.ChoiceField(choices=ReleaseDependency._meta.get_field("kind").choices)
    note = serializers.CharField(required=False, allow_blank=True, max_length=500)


class SignOffSerializer(serializers.ModelSerializer):
    class Meta:
        model = SignOff
        fields = [
            "id",
            "signer",
            "signer_name",
            "decision",
            "meaning",
            "comment",
            "signed_at",
            "reauthenticated",
            "state_hash",
        ]


class EvidenceSerializer(serializers.Serializer):
    ok = serializers.BooleanField(allow_null=True, source="evidence_ok")
    summary = serializers.CharField(source="evidence_summary")
    pass_rate = serializers.FloatField(allow_null=True, source="evidence_pass_rate")
    failed_tests = serializers.IntegerField(allow_null=True, source="evidence_failed_tests")
    open_blockers = serializers.IntegerField(allow_null=True, source="evidence_open_blockers")
    build_result = serializers.CharField(source="evidence_build_result")
    source = serializers.CharField(source="evidence_source")
    at = serializers.DateTimeField(allow_null=True, source="evidence_at")


class GateSerializer(serializers.ModelSerializer):
    evidence = EvidenceSerializer(source="*", read_only=True)
    signoffs = SignOffSerializer(many=True, read_only=True)
    signer_group = serializers.SlugRelatedField(slug_field="name", read_only=True, allow_null=True)
    waived_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = Gate
        fields = [
            "id",
            "release",
            "kind",
            "name",
            "status",
            "due_date",
            "signer_group",
            "approvals_required",
            "decided_at",
            "evidence",
            "signoffs",
            "waived_by",
            "waiver_reason",
        ]


class GateSignSerializer(serializers.Serializer):
    """A signature: the decision, agreement to its meaning, the gate's state as read (state_hash, from
    GET /api/v1/gates/{id}/sign-off) and the signer's password, re-entered for this signature."""

    decision = serializers.ChoiceField(choices=SignOff.Decision.choices)
    agree = serializers.BooleanField()
    comment = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")
    password = serializers.CharField(trim_whitespace=False, style={"input_type": "password"}, write_only=True)
    state_hash = serializers.RegexField(STATE_HASH)


class GateSignStateSerializer(serializers.Serializer):
    gate = serializers.IntegerField()
    state_hash = serializers.CharField()
    meanings = serializers.DictField(child=serializers.CharField())
    may_sign = serializers.BooleanField()
    blockers = serializers.ListField(child=serializers.CharField())


class EnvironmentSerializer(serializers.ModelSerializer):
    owner_group = serializers.SlugRelatedField(slug_field="name", read_only=True, allow_null=True)

    class Meta:
        model = Environment
        fields = ["id", "name", "kind", "capacity", "bookable", "owner_group", "description", "components"]


class FreezeWindowSerializer(serializers.ModelSerializer):
    """A freeze window: global, a portfolio's (and its programmes') or an environment's; an RRULE
    repeats it. The model's own rules (scope matches its target, ends after it starts) are checked
    when it is saved (releases.records.record_save: 422)."""

    class Meta:
        model = FreezeWindow
        fields = ["id", "scope", "portfolio", "environment", "starts_at", "ends_at", "reason", "rrule"]


class BookingSerializer(serializers.ModelSerializer):
    requester = serializers.SlugRelatedField(slug_field="username", read_only=True)
    decided_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = Booking
        fields = [
            "id",
            "environment",
            "application",
            "release",
            "part_of",
            "starts_at",
            "ends_at",
            "status",
            "purpose",
            "requester",
            "decided_by",
            "decided_at",
            "reason",
            "created_at",
        ]


class BookingRequestSerializer(serializers.Serializer):
    """For a release, or for an application when no release is named."""

    environment = serializers.PrimaryKeyRelatedField(queryset=Environment.objects.all())
    application = serializers.PrimaryKeyRelatedField(
        queryset=Application.objects.all(), required=False, allow_null=True
    )
    release = serializers.PrimaryKeyRelatedField(
        queryset=Release.objects.all(), required=False, allow_null=True
    )
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    purpose = serializers.CharField(max_length=10_000)
    freeze_override_reason = serializers.CharField(
        required=False, allow_blank=True, max_length=1000, default=""
    )


class BookingDecisionSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=1000, default="")


class DeploymentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Deployment
        fields = [
            "id",
            "environment",
            "application",
            "version",
            "release",
            "deployed_at",
            "status",
            "source",
            "external_id",
        ]


class WorkItemSerializer(serializers.ModelSerializer):
    class Meta:
        model = WorkItem
        fields = [
            "id",
            "application",
            "key",
            "title",
            "type",
            "status_category",
            "status_name",
            "priority",
            "created_at",
            "resolved_at",
            "updated_at",
            "descoped",
            "parent_key",
            "labels",
            "fix_releases",
            "source",
            "external_id",
        ]


class BuildSerializer(serializers.ModelSerializer):
    class Meta:
        model = Build
        fields = [
            "id",
            "application",
            "release",
            "job",
            "number",
            "result",
            "started_at",
            "duration_ms",
            "commit",
            "url",
            "source",
            "external_id",
        ]


class TestRunSerializer(serializers.ModelSerializer):
    supplied_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = TestRun
        fields = [
            "id",
            "release",
            "build",
            "environment",
            "name",
            "passed",
            "failed",
            "skipped",
            "errors",
            "duration_ms",
            "executed_at",
            "supplied_by",
            "source",
            "external_id",
        ]


class SyncRunSerializer(serializers.ModelSerializer):
    class Meta:
        model = SyncRun
        fields = [
            "id",
            "connection",
            "status",
            "started_at",
            "finished_at",
            "pages",
            "requests",
            "items_fetched",
            "items_created",
            "items_updated",
            "items_unchanged",
            "items_deleted",
            "items_expected",
            "error",
            "attempts",
        ]


class AuditEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "seq",
            "created_at",
            "actor",
            "actor_label",
            "action",
            "object_type",
            "object_id",
            "object_repr",
            "before",
            "after",
            "release",
            "portfolio",
            "prev_hash",
            "hash",
        ]
