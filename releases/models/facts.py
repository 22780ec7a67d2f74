"""Facts the teams' tools know: work items, builds, test runs, pull requests. Synced in by integrations."""

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from releases.models.base import ExternalFact, choices_constraint
from releases.models.environment import Environment
from releases.models.portfolio import Application
from releases.models.release import Release


class WorkItemType(models.TextChoices):
    STORY = "story"
    BUG = "bug"
    TASK = "task"
    EPIC = "epic"
    SUBTASK = "subtask", "Sub-task"
    INCIDENT = (
        "incident"  # a production incident: linked to a release, it counts that release's change as failed
    )
    OTHER = "other"


class StatusCategory(models.TextChoices):
    """From the tool's status *category*, never from (localised) status names."""

    TODO = "todo", "To do"
    IN_PROGRESS = "in_progress", "In progress"
    DONE = "done"


class WorkItem(ExternalFact):
    Type = WorkItemType
    StatusCategory = StatusCategory

    application = models.ForeignKey(Application, on_delete=models.PROTECT, related_name="work_items")
    key = models.CharField(max_length=64)
    title = models.CharField(max_length=500)
    type = models.CharField(max_length=16, choices=Type, default=Type.STORY)
    status_category = models.CharField(max_length=16, choices=StatusCategory, default=StatusCategory.TODO)
    status_name = models.CharField(
        max_length=100, blank=True, help_text="As the tool shows it (may be localised)."
    )
    priority = models.CharField(max_length=32, blank=True)
    created_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(null=True, blank=True, help_text="Last change in the tool.")
    descoped = models.BooleanField(default=False, help_text="Explicitly taken out of its releases' scope.")
    # The value stream: the key of the epic (or other parent) this item rolls up to, and the tool's
    # labels (space-separated), which name an epic's theme or initiative.
    parent_key = models.CharField(max_length=64, blank=True, help_text="The tool's parent or epic link.")
    labels = models.CharField(max_length=500, blank=True, help_text="The tool's labels, space-separated.")
    fix_releases = models.ManyToManyField(Release, blank=True, related_name="work_items")

    class Meta:
        ordering = ["key"]
        constraints = [
            models.UniqueConstraint(fields=["application", "key"], name="workitem_unique_key"),
            models.UniqueConstraint(
                fields=["source", "external_id"],
                condition=~Q(external_id=""),
                name="workitem_unique_external_id",
            ),
            choices_constraint("type", WorkItemType, "workitem_type_valid"),
            choices_constraint("status_category", StatusCategory, "workitem_status_category_valid"),
        ]
        indexes = [
            models.Index(fields=["parent_key"], name="workitem_parent_idx"),  # the value stream's roll-up
            models.Index(fields=["key"], name="workitem_key_idx"),  # ...and the epics it names
            # Metrics: the bugs resolved on a day.
            models.Index(fields=["resolved_at"], condition=Q(type="bug"), name="workitem_bug_resolved_idx"),
            # The few items typed in by hand, which a sync adopts by key: found without reading the
            # application's synced items.
            models.Index(
                fields=["application", "key"], condition=Q(external_id=""), name="workitem_typed_in"
            ),
        ]

    def __str__(self) -> str:
        return self.key


class ScopeChangeKind(models.TextChoices):
    ADDED = "added"
    REMOVED = "removed"


class ScopeChange(models.Model):
    """A work item joining or leaving a release's scope: the history that WorkItem.fix_releases (the
    current membership only) forgets, so the metrics can tell what was in a release at its code freeze.

    Written, in bulk, wherever the membership changes (releases.facts.services.upserts for a sync,
    releases.planning.services.releases.release_scope_change by hand) and only on a change, never on a
    re-sync that finds the same fix releases. `at` is when the change happened as well as Flightdeck
    can know it: the tool's last-updated time of the item when a sync observes the change (never
    earlier than the change; later if the item was edited again before the sync saw it), the item's
    creation when it is in the release at first sight, and the moment of the change when a person makes
    it in Flightdeck. Descoping an item is its removal from each release it is in. The membership at a
    moment is the kind of the pair's latest change at or before it (ties broken by id), so a repeated
    change changes nothing. An item deleted in its tool takes its history with it.
    """

    Kind = ScopeChangeKind

    # Found by release through the index on (release, work item, at), so no index of its own.
    release = models.ForeignKey(
        Release, on_delete=models.CASCADE, related_name="scope_changes", db_index=False
    )
    work_item = models.ForeignKey(WorkItem, on_delete=models.CASCADE, related_name="scope_changes")
    kind = models.CharField(max_length=8, choices=Kind)
    at = models.DateTimeField(help_text="When the item joined or left, as well as it is known.")
    recorded_at = models.DateTimeField(help_text="When Flightdeck recorded the change.")

    class Meta:
        ordering = ["at", "pk"]
        constraints = [choices_constraint("kind", ScopeChangeKind, "scopechange_kind_valid")]
        indexes = [
            # The metric reads a release's changes, and probes a pair's later change per change.
            models.Index(fields=["release", "work_item", "at"], name="scopechange_pair_at"),
        ]

    def __str__(self) -> str:
        return f"{self.work_item_id} {self.kind} {self.release_id} at {self.at:%Y-%m-%d %H:%M}"


class WorkItemLink(models.Model):
    """`blocker` blocks `blocked` (Jira's "blocks" / "is blocked by")."""

    blocker = models.ForeignKey(WorkItem, on_delete=models.CASCADE, related_name="blocks_links")
    blocked = models.ForeignKey(WorkItem, on_delete=models.CASCADE, related_name="blocked_by_links")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["blocker", "blocked"], name="workitemlink_unique_pair"),
            models.CheckConstraint(condition=~Q(blocker=F("blocked")), name="workitemlink_not_itself"),
        ]

    def __str__(self) -> str:
        return f"{self.blocker_id} blocks {self.blocked_id}"


class BuildResult(models.TextChoices):
    SUCCESS = "success"
    UNSTABLE = "unstable"
    FAILURE = "failure"
    ABORTED = "aborted"
    RUNNING = "running"


class Build(ExternalFact):
    Result = BuildResult

    application = models.ForeignKey(Application, on_delete=models.PROTECT, related_name="builds")
    job = models.CharField(max_length=200)
    number = models.PositiveIntegerField()
    result = models.CharField(max_length=16, choices=Result, default=Result.RUNNING)
    started_at = models.DateTimeField()
    duration_ms = models.PositiveBigIntegerField(default=0)
    commit = models.CharField(max_length=64, blank=True)
    url = models.URLField(max_length=500, blank=True)
    release = models.ForeignKey(
        Release, null=True, blank=True, on_delete=models.SET_NULL, related_name="builds"
    )

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            models.UniqueConstraint(fields=["application", "job", "number"], name="build_unique_number"),
            choices_constraint("result", BuildResult, "build_result_valid"),
        ]
        indexes = [
            models.Index(fields=["release", "-started_at"], name="build_release_idx"),
            # Home: the latest failures first, read off the failures alone (history only grows)
            models.Index(fields=["-started_at"], condition=Q(result="failure"), name="build_failed_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.job} #{self.number}"


class TestRun(ExternalFact):
    __test__ = False  # a model, not a test class for pytest to collect
    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="test_runs")
    build = models.ForeignKey(
        Build, null=True, blank=True, on_delete=models.SET_NULL, related_name="test_runs"
    )
    environment = models.ForeignKey(
        Environment, null=True, blank=True, on_delete=models.SET_NULL, related_name="test_runs"
    )
    name = models.CharField(max_length=200, blank=True)
    passed = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)
    duration_ms = models.PositiveBigIntegerField(default=0)
    executed_at = models.DateTimeField()
    # Who sent the report: a pipeline's service account (through /api/junit). Empty for a run a
    # connection synced: its `source` names the connection. Evidence never counts a run its release's
    # owner or last scope changer supplied (releases.gates.services.evidence).
    supplied_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-executed_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "external_id"],
                condition=~Q(external_id=""),
                name="testrun_unique_external_id",
            ),
        ]
        indexes = [
            models.Index(fields=["release", "-executed_at"], name="testrun_release_idx"),
            models.Index(
                fields=["-executed_at"],
                condition=Q(failed__gt=0) | Q(errors__gt=0),
                name="testrun_failed_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name or 'Test run'} ({self.passed}/{self.total})"

    @property
    def supplier(self) -> str:
        """Who supplied this evidence, in words (reads supplied_by: select it for a list)."""
        if self.supplied_by_id is None:
            return f"synced from {self.source}" if self.source else "synced"
        return f"sent by {self.supplied_by.get_username()}"

    @property
    def total(self) -> int:
        return self.passed + self.failed + self.skipped + self.errors

    @property
    def pass_rate(self) -> float | None:
        executed = self.passed + self.failed + self.errors
        return self.passed / executed if executed else None


class PullRequestState(models.TextChoices):
    OPEN = "open"
    CLOSED = "closed", "Closed unmerged"
    MERGED = "merged"


class PullRequest(ExternalFact):
    """A change proposed to one of the application's repositories; it belongs to the release its
    milestone names, when there is one."""

    State = PullRequestState

    application = models.ForeignKey(Application, on_delete=models.PROTECT, related_name="pull_requests")
    repository = models.CharField(max_length=200, help_text="owner/name")
    number = models.PositiveIntegerField()
    title = models.CharField(max_length=500)
    state = models.CharField(max_length=16, choices=State, default=State.OPEN)
    author = models.CharField(max_length=100, blank=True)
    base_ref = models.CharField(max_length=255, blank=True)
    head_ref = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    merged_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    release = models.ForeignKey(
        Release, null=True, blank=True, on_delete=models.SET_NULL, related_name="pull_requests"
    )
    url = models.URLField(max_length=500, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "external_id"],
                condition=~Q(external_id=""),
                name="pullrequest_unique_external_id",
            ),
            choices_constraint("state", PullRequestState, "pullrequest_state_valid"),
            # Merged means it has a merge time, and only merged ones have one.
            models.CheckConstraint(
                condition=Q(state="merged", merged_at__isnull=False)
                | (~Q(state="merged") & Q(merged_at__isnull=True)),
                name="pullrequest_merged_at_iff_merged",
            ),
            # Open means not closed; a closed or merged one was closed at some time.
            models.CheckConstraint(
                condition=Q(state="open", closed_at__isnull=True)
                | (~Q(state="open") & Q(closed_at__isnull=False)),
                name="pullrequest_closed_at_iff_not_open",
            ),
            models.CheckConstraint(
                condition=Q(updated_at__gte=F("created_at")), name="pullrequest_updated_not_before_created"
            ),
        ]
        indexes = [models.Index(fields=["release", "-created_at"], name="pullrequest_release_idx")]

    def __str__(self) -> str:
        return self.reference

    @property
    def reference(self) -> str:
        """As its code host writes it: `owner/repo#12` on GitHub, `group/project!12` for a GitLab merge
        request (stored with that external id)."""
        return f"{self.repository}{'!' if '!' in self.external_id else '#'}{self.number}"


class SourceAlias(models.Model):
    """Another source's id for a release or work item that one source owns.

    Two connections can read the same records: a Jira project while a team moves from Data Center to
    Cloud. The first to store a release or work item owns it (its `source`). The other finds it by
    what identifies it in any tool (application and version; application and issue key), keeps its own
    id for it here instead of creating a duplicate, and leaves its fields to the owner. Handing the
    facts over (releases.facts.services.ownership) swaps the owner's key and the alias.
    """

    source = models.CharField(max_length=64)
    external_id = models.CharField(max_length=128)
    release = models.ForeignKey(
        Release, null=True, blank=True, on_delete=models.CASCADE, related_name="aliases"
    )
    work_item = models.ForeignKey(
        WorkItem, null=True, blank=True, on_delete=models.CASCADE, related_name="aliases"
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(release__isnull=True, work_item__isnull=False)
                | Q(release__isnull=False, work_item__isnull=True),
                name="sourcealias_one_fact",
            ),
            models.CheckConstraint(condition=~Q(source="") & ~Q(external_id=""), name="sourcealias_keyed"),
            models.UniqueConstraint(
                fields=["source", "external_id"],
                condition=Q(release__isnull=False),
                name="sourcealias_unique_release_id",
            ),
            models.UniqueConstraint(
                fields=["source", "external_id"],
                condition=Q(work_item__isnull=False),
                name="sourcealias_unique_work_item_id",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.source}:{self.external_id} → {self.release or self.work_item}"
