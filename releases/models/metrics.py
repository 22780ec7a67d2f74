"""Stored metrics: each finished production deployment with its judged outcome, rolled up day by day
by releases.metrics.rollups, so the metrics page aggregates indexed rows instead of judging every
deployment (rollback probes, incidents, hotfixes, first work) on each request."""

from django.db import models
from django.db.models import F, Q

from releases.models.environment import Deployment, Environment
from releases.models.portfolio import Application
from releases.models.release import Release


class ProductionOutcome(models.Model):
    """One finished production deployment as the DORA rules judge it (written only by the roll-up)."""

    deployment = models.OneToOneField(
        Deployment, primary_key=True, on_delete=models.CASCADE, related_name="outcome"
    )
    day = models.DateField(help_text="The deployment's day in the portal's time zone.")
    deployed_at = models.DateTimeField()
    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="+")
    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="+")
    release = models.ForeignKey(Release, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    version = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=Deployment.Status)
    rollback = models.BooleanField(help_text="An earlier version deployed again, replacing a different one.")
    incident = models.BooleanField(help_text="Its release is named by an incident work item.")
    hotfixed = models.BooleanField(help_text="The next successful deployment here was a hotfix release.")
    failure = models.BooleanField(help_text="Failed by any of the rules: counted once.")
    lead_hours = models.FloatField(
        null=True, blank=True, help_text="Successes: hours from the release's first work."
    )
    restore_hours = models.FloatField(
        null=True, blank=True, help_text="Failures: hours to the next success here."
    )

    class Meta:
        indexes = [models.Index(fields=["day", "application"], name="outcome_day_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(failure=True) | Q(rollback=False, incident=False, hotfixed=False),
                name="outcome_failure_when_any_sign",
            ),
            models.CheckConstraint(
                condition=Q(lead_hours__isnull=True) | Q(lead_hours__gte=0), name="outcome_lead_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.application_id} {self.version} on {self.day}"


class DailyFigure(models.Model):
    """One release measure's counts for a day, an application, a label and an outcome (written only by
    the roll-up; releases.metrics.daily says what each figure counts)."""

    figure = models.CharField(max_length=32)
    day = models.DateField()
    application = models.ForeignKey(
        Application, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    label = models.CharField(max_length=64, blank=True)
    outcome = models.CharField(max_length=32, blank=True)
    count = models.PositiveIntegerField()
    known = models.PositiveIntegerField()
    total = models.FloatField()

    class Meta:
        indexes = [models.Index(fields=["figure", "day"], name="dailyfigure_day_idx")]
        constraints = [
            models.CheckConstraint(condition=Q(known__lte=F("count")), name="dailyfigure_known_within_count")
        ]

    def __str__(self) -> str:
        return f"{self.figure} {self.label} {self.outcome} on {self.day}: {self.count}"


class MetricsRollup(models.Model):
    """The roll-up's progress (one row): complete days up to `rolled_through` are stored; a late fact
    about an earlier day sets `dirty_from`, and the next roll-up redoes the days from there."""

    rolled_through = models.DateField(null=True)
    dirty_from = models.DateField(null=True)
    rolled_at = models.DateTimeField(null=True)
    marks = models.PositiveBigIntegerField(default=0, help_text="Late facts marked so far.")
    # A new id per run, written with the rows: sums over them are kept per run (releases.metrics.memo).
    run = models.UUIDField(null=True, editable=False)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(pk=1), name="metricsrollup_single_row")]

    def __str__(self) -> str:
        return f"Metrics rolled up through {self.rolled_through}"
