from datetime import time
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from releases.environments.working_hours import MONDAY_TO_FRIDAY, WorkingHours, describe, time_zone_choices
from releases.models.base import ExternalFact, choices_constraint, ends_after_start, validate_rrule
from releases.models.portfolio import Application, Portfolio
from releases.models.release import Release
from releases.querysets import LIVE_BOOKING_STATUSES, BookingQuerySet, FreezeWindowQuerySet


class EnvironmentKind(models.TextChoices):
    DEV = "dev", "Development"
    TEST = "test", "Test"
    UAT = "uat", "UAT"
    STAGING = "staging", "Staging"
    PERF = "perf", "Performance"
    PROD = "prod", "Production"


class Environment(models.Model):
    Kind = EnvironmentKind

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=16, choices=Kind)
    capacity = models.PositiveSmallIntegerField(
        default=1, help_text="How many bookings at once; 1 = exclusive."
    )
    bookable = models.BooleanField(default=True)
    owner_group = models.ForeignKey(Group, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    description = models.TextField(blank=True)
    components = models.ManyToManyField(
        "self",
        symmetrical=False,
        blank=True,
        through="EnvironmentComponent",
        related_name="composites",
        help_text="A composite environment books all of its components.",
    )
    # Working hours, in the environment's time zone: "next free slot" offers only slots inside them.
    work_starts = models.TimeField(default=time(8), help_text="Working hours start (local time).")
    work_ends = models.TimeField(
        default=time(18), help_text="Working hours end; 00:00 means midnight (open to the end of the day)."
    )
    work_days = models.PositiveSmallIntegerField(
        default=MONDAY_TO_FRIDAY, help_text="Working days, a bit per weekday: Monday = 1 ... Sunday = 64."
    )
    work_time_zone = models.CharField(
        max_length=64,
        blank=True,
        choices=time_zone_choices,
        help_text="The time zone of the working hours (where the team is); blank: the portal's.",
    )

    class Meta:
        ordering = ["name"]
        permissions = [("decide_booking", "Can approve or reject booking requests")]
        constraints = [
            models.CheckConstraint(condition=Q(capacity__gte=1), name="environment_capacity_at_least_one"),
            choices_constraint("kind", EnvironmentKind, "environment_kind_valid"),
            models.CheckConstraint(
                condition=Q(work_ends__gt=F("work_starts")) | Q(work_ends=time(0)),
                name="environment_work_ends_after_start",
            ),
            models.CheckConstraint(
                condition=Q(work_days__gte=1, work_days__lte=127), name="environment_work_days_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def working_hours(self) -> WorkingHours:
        return WorkingHours(
            self.work_starts, self.work_ends, self.work_days, ZoneInfo(self.working_zone_name)
        )

    @property
    def working_zone_name(self) -> str:
        return self.work_time_zone or settings.TIME_ZONE

    @property
    def working_hours_label(self) -> str:
        ends = "24:00" if self.work_ends == time(0) else f"{self.work_ends:%H:%M}"
        return f"{describe(self.work_days)}, {self.work_starts:%H:%M}-{ends} {self.working_zone_name}"


class EnvironmentComponent(models.Model):
    composite = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="component_links")
    component = models.ForeignKey(Environment, on_delete=models.PROTECT, related_name="composite_links")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["composite", "component"], name="component_unique_pair"),
            models.CheckConstraint(condition=~Q(composite=F("component")), name="component_not_itself"),
        ]

    def __str__(self) -> str:
        return f"{self.composite_id} includes {self.component_id}"


class BookingStatus(models.TextChoices):
    REQUESTED = "requested"
    APPROVED = "approved"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


class Booking(models.Model):
    """A request for an environment over [starts_at, ends_at). Approved bookings never exceed capacity:
    the service serialises per environment; on PostgreSQL an exclusion constraint also guards
    exclusive environments (see migration releases 0002)."""

    Status = BookingStatus
    LIVE_STATUSES = LIVE_BOOKING_STATUSES  # requested or approved: holds, or may soon hold, an environment

    environment = models.ForeignKey(Environment, on_delete=models.PROTECT, related_name="bookings")
    release = models.ForeignKey(
        Release, null=True, blank=True, on_delete=models.PROTECT, related_name="bookings"
    )
    application = models.ForeignKey(
        Application, null=True, blank=True, on_delete=models.PROTECT, related_name="bookings"
    )
    part_of = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="parts",
        help_text="The booking of the composite environment this booking is a part of.",
    )
    requester = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="bookings")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    # Copied from the environment when the booking is made, for the PostgreSQL exclusion constraint.
    exclusive = models.BooleanField(default=True)
    status = models.CharField(max_length=16, choices=Status, default=Status.REQUESTED)
    purpose = models.CharField(max_length=300)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    reason = models.TextField(blank=True)
    freeze_override_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    freeze_override_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = BookingQuerySet.as_manager()

    class Meta:
        ordering = ["starts_at"]
        constraints = [
            ends_after_start("booking_ends_after_start"),
            choices_constraint("status", BookingStatus, "booking_status_valid"),
            models.CheckConstraint(
                condition=Q(release__isnull=False) | Q(application__isnull=False),
                name="booking_for_release_or_application",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["requested", "cancelled"]) | Q(decided_by__isnull=False),
                name="booking_decision_has_decider",
            ),
            models.CheckConstraint(
                condition=Q(freeze_override_by__isnull=True) | ~Q(freeze_override_reason=""),
                name="booking_freeze_override_has_reason",
            ),
        ]
        indexes = [
            models.Index(fields=["environment", "status", "starts_at"], name="booking_env_status_idx"),
            # What overlaps a coming span: bookings ending after its start (the past is most of the table)
            models.Index(fields=["environment", "status", "ends_at"], name="booking_env_status_end_idx"),
            models.Index(fields=["decided_at"], name="booking_decided_idx"),  # metrics: decided today
            # The API's booking list (start, then id): a page is read off the index, not a sort of all
            models.Index(fields=["starts_at", "id"], name="booking_start_id_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.environment} {self.starts_at:%Y-%m-%d %H:%M} to {self.ends_at:%Y-%m-%d %H:%M}"


class FreezeScope(models.TextChoices):
    GLOBAL = "global"
    PORTFOLIO = "portfolio"
    ENVIRONMENT = "environment"


class FreezeWindow(models.Model):
    """No releases or bookings inside [starts_at, ends_at) without an admin override. An RRULE repeats
    the window (each occurrence lasts as long as the first)."""

    Scope = FreezeScope

    scope = models.CharField(max_length=16, choices=Scope, default=Scope.GLOBAL)
    portfolio = models.ForeignKey(
        Portfolio, null=True, blank=True, on_delete=models.CASCADE, related_name="freeze_windows"
    )
    environment = models.ForeignKey(
        Environment, null=True, blank=True, on_delete=models.CASCADE, related_name="freeze_windows"
    )
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    reason = models.CharField(max_length=300)
    rrule = models.CharField(
        max_length=300,
        blank=True,
        validators=[validate_rrule],
        help_text="RFC 5545 RRULE, e.g. FREQ=WEEKLY;BYDAY=FR",
    )

    objects = FreezeWindowQuerySet.as_manager()

    class Meta:
        ordering = ["starts_at"]
        constraints = [
            ends_after_start("freeze_ends_after_start"),
            choices_constraint("scope", FreezeScope, "freeze_scope_valid"),
            models.CheckConstraint(
                condition=Q(scope="global", portfolio__isnull=True, environment__isnull=True)
                | Q(scope="portfolio", portfolio__isnull=False, environment__isnull=True)
                | Q(scope="environment", portfolio__isnull=True, environment__isnull=False),
                name="freeze_scope_matches_target",
            ),
        ]

    def __str__(self) -> str:
        return f"Freeze {self.starts_at:%Y-%m-%d}: {self.reason}"


class DeploymentStatus(models.TextChoices):
    SUCCESS = "success"
    FAILURE = "failure"
    IN_PROGRESS = "in_progress", "In progress"
    ROLLED_BACK = "rolled_back", "Rolled back"


class Deployment(ExternalFact):
    Status = DeploymentStatus

    environment = models.ForeignKey(Environment, on_delete=models.PROTECT, related_name="deployments")
    application = models.ForeignKey(Application, on_delete=models.PROTECT, related_name="deployments")
    version = models.CharField(max_length=64)
    release = models.ForeignKey(
        Release, null=True, blank=True, on_delete=models.SET_NULL, related_name="deployments"
    )
    deployed_at = models.DateTimeField()
    status = models.CharField(max_length=16, choices=Status, default=Status.SUCCESS)

    class Meta:
        ordering = ["-deployed_at"]
        constraints = [
            choices_constraint("status", DeploymentStatus, "deployment_status_valid"),
            models.UniqueConstraint(
                fields=["source", "external_id"],
                condition=~Q(external_id=""),
                name="deployment_unique_external_id",
            ),
        ]
        indexes = [
            models.Index(fields=["environment", "application", "-deployed_at"], name="deployment_where_idx"),
            # Metrics: did this version run here before (a rollback)? One probe per deployment.
            models.Index(fields=["environment", "application", "version"], name="deployment_version_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.application_id} {self.version} on {self.environment_id}"
