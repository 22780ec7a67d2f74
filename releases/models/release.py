from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from releases.models.base import ExternalFact, choices_constraint
from releases.models.portfolio import Application, ReleaseTrain
from releases.planning.forecast import STATE_LABELS, ForecastState, delivery_state, odds_words
from releases.querysets import CLOSED_STATUSES, ReleaseQuerySet


class ReleaseStatus(models.TextChoices):
    PLANNED = "planned"
    IN_PROGRESS = "in_progress", "In progress"
    CODE_FREEZE = "code_freeze", "Code freeze"
    READY = "ready"
    RELEASED = "released"
    CANCELLED = "cancelled"


# releases.planning.forecast.ForecastState as model choices: one definition of the states.
DeliveryState = models.TextChoices(
    "DeliveryState", [(state.name, (state.value, STATE_LABELS[state])) for state in ForecastState]
)


class Release(ExternalFact):
    Status = ReleaseStatus
    DeliveryState = DeliveryState
    CLOSED_STATUSES = CLOSED_STATUSES  # shipped or cancelled: forecasts nothing, holds nothing open

    application = models.ForeignKey(Application, on_delete=models.PROTECT, related_name="releases")
    train = models.ForeignKey(
        ReleaseTrain, null=True, blank=True, on_delete=models.SET_NULL, related_name="releases"
    )
    version = models.CharField(max_length=64)
    summary = models.CharField(max_length=300, blank=True)
    status = models.CharField(max_length=16, choices=Status, default=Status.PLANNED)
    target_date = models.DateField()
    code_freeze_date = models.DateField(null=True, blank=True)
    hotfix = models.BooleanField(
        default=False, help_text="Made to repair what the release before it broke in production."
    )
    actual_date = models.DateField(null=True, blank=True, help_text="The day it shipped.")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="owned_releases",
    )
    # No index: nothing looks releases up by who overrode, and an index on a column that is nearly
    # always NULL leads SQLite's planner to read most of the table through it ("IS NULL" looks selective).
    freeze_override_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    freeze_override_reason = models.TextField(blank=True)
    # Segregation of duties: whoever last changed the scope (work items in or out) may not sign its gates.
    scope_changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    scope_changed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    # Computed by releases.planning.services.forecasting.forecast_refresh (one pass over the dependency
    # graph); stored so pages read them with their rows instead of recomputing per request. Never typed in.
    forecast_date = models.DateField(null=True, blank=True, editable=False)
    forecast_slip_days = models.IntegerField(default=0, editable=False)
    at_risk = models.BooleanField(default=False, editable=False)  # the state is at risk or blocked
    forecast_state = models.CharField(
        max_length=16, choices=DeliveryState, default=DeliveryState.ON_TRACK, editable=False
    )
    forecast_blocked_reason = models.CharField(max_length=300, blank=True, editable=False)
    forecast_waiting_for = models.JSONField(default=list, blank=True, editable=False)
    forecast_critical_path = models.JSONField(default=list, blank=True, editable=False)
    forecast_updated_at = models.DateTimeField(null=True, blank=True, editable=False)
    # The odds (releases.planning.odds, a Monte Carlo over the application's throughput): the days by
    # which 50%, 85% and 95% of the runs shipped, the share shipped by the target, or why there are none.
    forecast_p50 = models.DateField(null=True, blank=True, editable=False)
    forecast_p85 = models.DateField(null=True, blank=True, editable=False)
    forecast_p95 = models.DateField(null=True, blank=True, editable=False)
    forecast_on_time = models.FloatField(null=True, blank=True, editable=False)
    forecast_odds_note = models.CharField(max_length=200, blank=True, editable=False)
    # The risk score (releases.planning.risk), 0 to 100, and its reasons: [{"points", "text"}].
    forecast_risk = models.PositiveSmallIntegerField(default=0, editable=False)
    forecast_risk_reasons = models.JSONField(default=list, blank=True, editable=False)
    # The forecast date as it stood before the first refresh of `forecast_baseline_on` (yesterday's
    # last forecast): Home's "slipped since yesterday" compares forecast_date with it.
    forecast_baseline_date = models.DateField(null=True, blank=True, editable=False)
    forecast_baseline_on = models.DateField(null=True, blank=True, editable=False)
    # The late forecast date its owners were last alerted of (None: on time, or never alerted), so a
    # refresh that finds the same slip again sends nothing (releases.notifications slip alerts).
    slip_alerted_date = models.DateField(null=True, blank=True, editable=False)

    objects = ReleaseQuerySet.as_manager()

    class Meta:
        ordering = ["target_date", "application_id", "version"]
        permissions = [("change_release_dates", "Can change release dates, status and dependencies")]
        constraints = [
            models.UniqueConstraint(fields=["application", "version"], name="release_unique_version"),
            models.UniqueConstraint(
                fields=["source", "external_id"],
                condition=~Q(external_id=""),
                name="release_unique_external_id",
            ),
            choices_constraint("status", ReleaseStatus, "release_status_valid"),
            choices_constraint("forecast_state", DeliveryState, "release_forecast_state_valid"),
            models.CheckConstraint(
                condition=Q(code_freeze_date__isnull=True) | Q(code_freeze_date__lte=F("target_date")),
                name="release_code_freeze_not_after_target",
            ),
            # Shipped means it has a ship date, and only shipped releases have one.
            models.CheckConstraint(
                condition=Q(status="released", actual_date__isnull=False)
                | (~Q(status="released") & Q(actual_date__isnull=True)),
                name="release_actual_date_iff_released",
            ),
            models.CheckConstraint(
                condition=Q(freeze_override_by__isnull=True) | ~Q(freeze_override_reason=""),
                name="release_freeze_override_has_reason",
            ),
            models.CheckConstraint(
                condition=Q(forecast_on_time__isnull=True)
                | Q(forecast_on_time__gte=0, forecast_on_time__lte=1),
                name="release_odds_are_a_share",
            ),
            models.CheckConstraint(condition=Q(forecast_risk__lte=100), name="release_risk_at_most_100"),
            models.CheckConstraint(
                condition=Q(forecast_p50__isnull=True)
                | Q(forecast_p85__gte=F("forecast_p50"), forecast_p95__gte=F("forecast_p85")),
                name="release_odds_percentiles_in_order",
            ),
        ]
        indexes = [
            models.Index(fields=["target_date", "status"], name="release_target_status_idx"),
            models.Index(fields=["application", "target_date"], name="release_app_target_idx"),
            models.Index(fields=["at_risk", "target_date"], name="release_risk_target_idx"),
            models.Index(fields=["actual_date"], name="release_shipped_idx"),  # metrics: shipped in a period
            # Home: open releases blocked or at risk, soonest target first (a third of releases are open)
            models.Index(
                fields=["forecast_state", "target_date"],
                condition=~Q(status__in=CLOSED_STATUSES),
                name="release_open_state_idx",
            ),
            # Home: open releases whose forecast moved past the day's baseline (a few of thousands)
            models.Index(
                fields=["target_date"],
                condition=Q(forecast_date__gt=F("forecast_baseline_date")) & ~Q(status__in=CLOSED_STATUSES),
                name="release_slipped_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.application.key} {self.version}"

    @property
    def is_open(self) -> bool:
        return self.status not in CLOSED_STATUSES

    @property
    def delivery_state(self) -> ForecastState:
        """The state every page shows (releases.planning.forecast.delivery_state)."""
        return delivery_state(self.status, self.forecast_state)

    @property
    def delivery_state_label(self) -> str:
        return STATE_LABELS[self.delivery_state]

    @property
    def odds_words(self) -> str:
        """The odds of shipping by the target, in words ("62%")."""
        return odds_words(self.forecast_on_time)

    @property
    def barred_signer_ids(self) -> set[int]:
        """Segregation of duties: its owner and whoever last changed its scope never sign its gates
        (sign_blockers says why in words; Gate.objects.signable_by is the same rule as a query) and
        never supply their evidence (testrun_record; the QA evidence ignores such runs)."""
        return {self.owner_id, self.scope_changed_by_id} - {None}


class DependencyKind(models.TextChoices):
    SHIPS_BEFORE = "ships_before", "Ships before"
    SHIPS_WITH = "ships_with", "Ships with"


class ReleaseDependency(models.Model):
    """`downstream` cannot ship before (or without) `upstream`. Cycles are refused by the service."""

    Kind = DependencyKind

    downstream = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="upstream_links")
    upstream = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="downstream_links")
    kind = models.CharField(max_length=16, choices=Kind, default=Kind.SHIPS_BEFORE)
    note = models.CharField(max_length=300, blank=True)

    class Meta:
        verbose_name_plural = "release dependencies"
        constraints = [
            models.UniqueConstraint(fields=["downstream", "upstream"], name="dependency_unique_pair"),
            models.CheckConstraint(condition=~Q(downstream=F("upstream")), name="dependency_not_on_itself"),
            choices_constraint("kind", DependencyKind, "dependency_kind_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.downstream} needs {self.upstream}"
