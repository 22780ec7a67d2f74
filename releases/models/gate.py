from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models
from django.db.models import Q, Value
from django.db.models.functions import Coalesce

from releases.models.base import choices_constraint
from releases.models.portfolio import Portfolio
from releases.models.release import Release
from releases.querysets import (
    DECIDED_GATE_STATUSES,
    SETTLED_GATE_STATUSES,
    UNSETTLED_GATE_STATUSES,
    GateQuerySet,
)


class GateKind(models.TextChoices):
    SECURITY = "security"
    QA = "qa", "QA"
    CAB = "cab", "CAB"
    COMPLIANCE = "compliance"
    SCOPE = "scope"
    BUILD = "build"
    CUSTOM = "custom"


class GatePolicy(models.Model):
    """The gates every release of a portfolio needs. The policy with no portfolio is the global one;
    a portfolio's policy inherits it and adds or overrides requirements by (kind, name)."""

    portfolio = models.ForeignKey(
        Portfolio, null=True, blank=True, on_delete=models.CASCADE, related_name="gate_policies"
    )
    name = models.CharField(max_length=200)

    class Meta:
        verbose_name_plural = "gate policies"
        constraints = [
            # One policy per portfolio, and exactly one global policy (NULL portfolio counts as 0).
            models.UniqueConstraint(Coalesce("portfolio", Value(0)), name="gate_policy_one_per_portfolio"),
        ]

    def __str__(self) -> str:
        return self.name


class GateRequirement(models.Model):
    policy = models.ForeignKey(GatePolicy, on_delete=models.CASCADE, related_name="requirements")
    kind = models.CharField(max_length=16, choices=GateKind)
    name = models.CharField(max_length=100)
    signer_group = models.ForeignKey(
        Group,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The group whose members sign this gate; empty for a gate decided by evidence alone.",
    )
    approvals_required = models.PositiveSmallIntegerField(default=1)
    criteria = models.JSONField(
        default=dict,
        blank=True,
        help_text='Automatic criteria, e.g. {"min_pass_rate": 0.95, "max_failed": 0}.',
    )
    due_days_before_target = models.PositiveSmallIntegerField(default=2)

    class Meta:
        ordering = ["policy", "kind", "name"]
        constraints = [
            models.UniqueConstraint(fields=["policy", "kind", "name"], name="requirement_unique_per_policy"),
            choices_constraint("kind", GateKind, "requirement_kind_valid"),
            models.CheckConstraint(
                condition=Q(approvals_required=0) | Q(signer_group__isnull=False),
                name="requirement_signed_gate_has_group",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.policy}: {self.name}"


class GateStatus(models.TextChoices):
    PENDING = "pending"
    PASSED = "passed"
    FAILED = "failed"
    WAIVED = "waived"


class Gate(models.Model):
    Status = GateStatus
    UNSETTLED_STATUSES = UNSETTLED_GATE_STATUSES  # pending or failed: holds its release
    SETTLED_STATUSES = SETTLED_GATE_STATUSES  # passed or waived
    DECIDED_STATUSES = DECIDED_GATE_STATUSES  # anything but pending

    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="gates")
    requirement = models.ForeignKey(
        GateRequirement, null=True, blank=True, on_delete=models.SET_NULL, related_name="gates"
    )
    kind = models.CharField(max_length=16, choices=GateKind)
    name = models.CharField(max_length=100)
    status = models.CharField(max_length=16, choices=Status, default=Status.PENDING)
    due_date = models.DateField()
    signer_group = models.ForeignKey(Group, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    approvals_required = models.PositiveSmallIntegerField(default=1)
    decided_at = models.DateTimeField(null=True, blank=True)
    # The latest automatic evidence, with where and when it came from.
    evidence_pass_rate = models.FloatField(null=True, blank=True)
    evidence_failed_tests = models.PositiveIntegerField(null=True, blank=True)
    evidence_open_blockers = models.PositiveIntegerField(null=True, blank=True)
    evidence_build_result = models.CharField(max_length=16, blank=True)
    evidence_source = models.CharField(max_length=200, blank=True)
    evidence_at = models.DateTimeField(null=True, blank=True)
    # Whether the evidence meets the requirement's automatic criteria (None: no evidence, or none applies),
    # and the same in words for the page ("41 of 42 tests passed (97.6%), 1 failed").
    evidence_ok = models.BooleanField(null=True, blank=True)
    evidence_summary = models.CharField(max_length=300, blank=True)
    # Set when the "overdue" notice went out, so it goes out once.
    overdue_notified_at = models.DateTimeField(null=True, blank=True)
    # Set when the "waits for your sign-off" notice went out: when the gate entered its lead time
    # (settings.GATE_ANNOUNCE_LEAD_DAYS before its due date), not when it was created, and once.
    announced_at = models.DateTimeField(null=True, blank=True)
    waived_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    waiver_reason = models.TextField(blank=True)

    objects = GateQuerySet.as_manager()

    class Meta:
        ordering = ["due_date", "kind"]
        permissions = [("sign_gate", "Can sign off gates"), ("waive_gate", "Can waive gates")]
        constraints = [
            models.UniqueConstraint(fields=["release", "kind", "name"], name="gate_unique_per_release"),
            choices_constraint("kind", GateKind, "gate_kind_valid"),
            choices_constraint("status", GateStatus, "gate_status_valid"),
            models.CheckConstraint(
                condition=~Q(status="waived") | (Q(waived_by__isnull=False) & ~Q(waiver_reason="")),
                name="gate_waiver_has_admin_and_reason",
            ),
            # A decision has a time, and only decided gates have one.
            models.CheckConstraint(
                condition=Q(status="pending", decided_at__isnull=True)
                | (~Q(status="pending") & Q(decided_at__isnull=False)),
                name="gate_decided_at_iff_decided",
            ),
            models.CheckConstraint(
                condition=Q(evidence_pass_rate__isnull=True)
                | Q(evidence_pass_rate__gte=0, evidence_pass_rate__lte=1),
                name="gate_pass_rate_is_a_fraction",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "due_date"], name="gate_status_due_idx"),
            models.Index(fields=["decided_at"], name="gate_decided_idx"),  # metrics: decided in a period
            # The API's gate list (due date, then id): a page is read off the index, not a sort of all
            models.Index(fields=["due_date", "id"], name="gate_due_id_idx"),
            # Home: overdue or failed gates, soonest first, without walking the decided ones
            models.Index(
                fields=["due_date", "id"],
                condition=Q(status__in=["pending", "failed"]),
                name="gate_undecided_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} for {self.release_id}"


class SignOffDecision(models.TextChoices):
    APPROVE = "approve"
    REJECT = "reject"


class SignOff(models.Model):
    """A signed human decision on a gate. Never updated, never deleted."""

    Decision = SignOffDecision

    gate = models.ForeignKey(Gate, on_delete=models.PROTECT, related_name="signoffs")
    signer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="signoffs")
    signer_name = models.CharField(max_length=200, help_text="The printed name at the time of signing.")
    decision = models.CharField(max_length=8, choices=Decision)
    meaning = models.TextField(help_text="The words the signer agreed to.")
    comment = models.TextField(blank=True)
    signed_at = models.DateTimeField()
    reauthenticated = models.BooleanField(default=True)
    state_hash = models.CharField(max_length=64, help_text="SHA-256 of the release and gate state signed.")

    class Meta:
        ordering = ["signed_at"]
        verbose_name = "sign-off"
        constraints = [
            models.UniqueConstraint(fields=["gate", "signer"], name="signoff_one_per_signer"),
            choices_constraint("decision", SignOffDecision, "signoff_decision_valid"),
            models.CheckConstraint(
                condition=~Q(decision="reject") | ~Q(comment=""), name="signoff_reject_has_comment"
            ),
            models.CheckConstraint(condition=~Q(meaning=""), name="signoff_has_meaning"),
            # The signer re-entered their password at the moment of signing; nothing else is a signature.
            models.CheckConstraint(condition=Q(reauthenticated=True), name="signoff_reauthenticated"),
            models.CheckConstraint(
                condition=Q(state_hash__regex=r"^[0-9a-f]{64}$"), name="signoff_state_hash_sha256"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.signer_name} {self.decision} gate {self.gate_id}"


class PolicyChangeAction(models.TextChoices):
    ADD = "add"
    CHANGE = "change"
    REMOVE = "remove"


class PolicyChangeStatus(models.TextChoices):
    PENDING = "pending", "Waiting for approval"
    APPLIED = "applied", "In effect"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


class PolicyChange(models.Model):
    """A proposed change to one requirement of a gate policy, and what became of it.

    A change that weakens the policy (`weakens` lists how) takes effect only when a second person who
    holds `approve_policychange` approves it; any other change takes effect when proposed. Either way
    the row says who proposed, who approved and when it took effect (releases.gates.services.
    policy_changes)."""

    Action = PolicyChangeAction
    Status = PolicyChangeStatus

    policy = models.ForeignKey(GatePolicy, on_delete=models.PROTECT, related_name="changes")
    requirement = models.ForeignKey(
        GateRequirement, null=True, blank=True, on_delete=models.SET_NULL, related_name="changes"
    )
    action = models.CharField(max_length=8, choices=Action)
    subject = models.CharField(max_length=200, help_text="The requirement in words, kept after it goes.")
    before = models.JSONField(null=True, blank=True, help_text="The requirement's values before.")
    after = models.JSONField(null=True, blank=True, help_text="The values proposed.")
    weakens = models.JSONField(default=list, blank=True, help_text="How the change weakens the policy.")
    needs_approval = models.BooleanField(default=False)
    reason = models.TextField(blank=True, help_text="Why, in the proposer's words.")
    status = models.CharField(max_length=12, choices=Status, default=Status.PENDING)
    proposed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    proposed_at = models.DateTimeField()
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_comment = models.TextField(blank=True)
    effective_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-proposed_at", "-pk"]
        permissions = [("approve_policychange", "Can approve gate policy changes that weaken a policy")]
        constraints = [
            choices_constraint("action", PolicyChangeAction, "policychange_action_valid"),
            choices_constraint("status", PolicyChangeStatus, "policychange_status_valid"),
            # Nobody approves or rejects their own proposal.
            models.CheckConstraint(
                condition=~Q(decided_by=models.F("proposed_by")), name="policychange_second_person"
            ),
            models.CheckConstraint(
                condition=~Q(status="pending")
                | Q(decided_by__isnull=True, decided_at__isnull=True, effective_at__isnull=True),
                name="policychange_pending_undecided",
            ),
            models.CheckConstraint(
                condition=~Q(status="applied") | Q(effective_at__isnull=False),
                name="policychange_applied_has_time",
            ),
            # A weakening takes effect only with its approver; a rejection names who rejected it.
            models.CheckConstraint(
                condition=~(Q(status="applied", needs_approval=True) | Q(status="rejected"))
                | Q(decided_by__isnull=False, decided_at__isnull=False),
                name="policychange_approved_by_second_person",
            ),
            models.CheckConstraint(
                condition=~Q(reason="") | Q(needs_approval=False), name="policychange_weakening_has_reason"
            ),
            # One open proposal per requirement: the approver reads one change against what is there.
            models.UniqueConstraint(
                fields=["requirement"], condition=Q(status="pending"), name="policychange_one_pending"
            ),
        ]
        indexes = [models.Index(fields=["status", "policy"], name="policychange_status_idx")]

    def __str__(self) -> str:
        return f"{self.get_action_display()} {self.subject}"
