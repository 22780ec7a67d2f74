from django.db import models
from django.db.models import Q
from django.utils import timezone

from integrations.crypto import decrypt_json, encrypt_json
from releases.models import Application


class ConnectionKind(models.TextChoices):
    JIRA_CLOUD = "jira_cloud", "Jira Cloud"
    JIRA_DC = "jira_dc", "Jira Data Center"
    JENKINS = "jenkins", "Jenkins"
    GITHUB = "github", "GitHub"
    GITLAB = "gitlab", "GitLab"


def same_address(first: str, second: str) -> bool:
    return first.strip().rstrip("/").lower() == second.strip().rstrip("/").lower()


class Connection(models.Model):
    Kind = ConnectionKind

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=16, choices=Kind)
    base_url = models.URLField(max_length=300)
    credentials_encrypted = models.TextField(blank=True, editable=False)
    scope = models.JSONField(
        default=dict,
        blank=True,
        help_text='Jira {"projects": ["PAY"]} or {"jql": "..."}; Jenkins {"jobs": [...]}; '
        'GitHub {"repos": [...]}; GitLab {"projects": ["group/project"]}.',
    )
    schedule_minutes = models.PositiveIntegerField(default=15, help_text="Incremental sync every N minutes.")
    request_budget = models.PositiveIntegerField(default=5000, help_text="Most requests one sync may make.")
    enabled = models.BooleanField(default=True)
    webhook_secret_encrypted = models.TextField(blank=True, editable=False)
    facts_base_url = models.URLField(
        max_length=300,
        blank=True,
        editable=False,
        help_text="The address the stored facts were read from, set by the first sync. A base URL that "
        "differs means the connection was re-pointed: it syncs again once an admin says whether the new "
        "address is the same instance.",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name"]
        permissions = [("run_sync", "Can start a sync")]
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=ConnectionKind.values), name="connection_kind_valid"),
            models.CheckConstraint(condition=Q(schedule_minutes__gte=1), name="connection_schedule_positive"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def source_key(self) -> str:
        """How facts from this connection are labelled in the domain (ExternalFact.source)."""
        return f"{self.kind}#{self.pk}"

    @property
    def repointed(self) -> bool:
        """The base URL no longer names where the stored facts came from (case and a trailing slash aside)."""
        return bool(self.facts_base_url) and not same_address(self.facts_base_url, self.base_url)

    @property
    def credentials(self) -> dict:
        return decrypt_json(self.credentials_encrypted)

    @credentials.setter
    def credentials(self, value: dict) -> None:
        self.credentials_encrypted = encrypt_json(value) if value else ""

    @property
    def webhook_secret(self) -> str:
        return decrypt_json(self.webhook_secret_encrypted).get("secret", "")

    @webhook_secret.setter
    def webhook_secret(self, value: str) -> None:
        self.webhook_secret_encrypted = encrypt_json({"secret": value}) if value else ""


class ApplicationMapping(models.Model):
    """Which application a Jira project, Jenkins job or GitHub repository belongs to."""

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="mappings")
    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="tool_mappings")
    external_key = models.CharField(max_length=200, help_text="Jira project key, Jenkins job or owner/repo.")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["connection", "external_key"], name="mapping_unique_key"),
        ]

    def __str__(self) -> str:
        return f"{self.connection}: {self.external_key} → {self.application_id}"


class SyncCursor(models.Model):
    """Where the last sync of one stream stopped: a watermark, an ETag or a page token."""

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="cursors")
    stream = models.CharField(max_length=100, help_text='e.g. "issues:PAY" or "builds:payments-ci".')
    watermark = models.CharField(max_length=100, blank=True)
    etag = models.CharField(max_length=200, blank=True)
    page_token = models.CharField(max_length=500, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["connection", "stream"], name="cursor_unique_stream")]

    def __str__(self) -> str:
        return f"{self.connection} {self.stream} @ {self.watermark}"


class SyncRunStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class SyncRun(models.Model):
    Status = SyncRunStatus

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="runs")
    status = models.CharField(max_length=16, choices=Status, default=Status.QUEUED)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    pages = models.PositiveIntegerField(default=0)
    requests = models.PositiveIntegerField(default=0)
    items_fetched = models.PositiveIntegerField(default=0)
    items_created = models.PositiveIntegerField(default=0)
    items_updated = models.PositiveIntegerField(default=0)
    items_unchanged = models.PositiveIntegerField(default=0)
    items_deleted = models.PositiveIntegerField(default=0)
    items_expected = models.PositiveIntegerField(null=True, blank=True, help_text="For progress and ETA.")
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(
        default=0, help_text="Times a worker started the run: the first, then each retry or redelivery."
    )
    heartbeat_at = models.DateTimeField(
        default=timezone.now,
        help_text="Last sign of life: queued, started or resumed, a page stored, a wait begun. "
        "An active run silent for too long lost its worker and is failed by the sweep.",
    )

    class Meta:
        ordering = ["-id"]
        indexes = [
            # The sweep's read: active runs by heartbeat (a handful of rows among the whole history).
            models.Index(
                fields=["heartbeat_at"],
                condition=Q(status__in=["queued", "running"]),
                name="syncrun_active_heartbeat",
            ),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=SyncRunStatus.values), name="syncrun_status_valid"),
            models.CheckConstraint(
                condition=Q(finished_at__isnull=True)
                | Q(started_at__isnull=False, finished_at__gte=models.F("started_at")),
                name="syncrun_finishes_after_start",
            ),
            # One sync per connection at a time.
            models.UniqueConstraint(
                fields=["connection"],
                condition=Q(status__in=["queued", "running"]),
                name="syncrun_one_active",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.connection} run {self.pk} ({self.status})"


class WebhookDelivery(models.Model):
    """A webhook delivery already accepted: the tool's delivery id, kept to drop redeliveries."""

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="webhook_deliveries")
    delivery_id = models.CharField(max_length=200)
    event = models.CharField(max_length=100, blank=True)
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["connection", "delivery_id"], name="webhookdelivery_unique_id"),
        ]

    def __str__(self) -> str:
        return f"{self.connection} {self.event} {self.delivery_id}"
