"""May this version go to this environment now? The answer a pipeline asks before deploying.

Allowed when every gate of the release is passed or waived, the release is neither cancelled nor
released, and no freeze window covers the environment at that moment (global ones, the application's
portfolio and the portfolios above it, the environment's own). A release with a freeze override goes
through a freeze, with a note saying so. Five queries, whatever the data size.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.utils import timezone

from releases.errors import NotFound
from releases.freezes import covers
from releases.models import Environment, FreezeWindow, Gate, Portfolio, Release
from releases.planning.forecast import ForecastState


class UnknownTarget(NotFound, LookupError):
    """The application, version or environment asked about does not exist (the API answers 404)."""


@dataclass(frozen=True)
class DeployCheck:
    allowed: bool
    reasons: list[str]
    release: Release
    notes: list[str] = field(default_factory=list)


def can_deploy(*, application_key: str, version: str, environment_name: str, at=None) -> DeployCheck:
    at = at or timezone.now()
    release = _release(application_key, version)
    environment = Environment.objects.filter(name=environment_name).first()
    if environment is None:
        raise UnknownTarget(f"No environment named “{environment_name}”.")
    reasons = _status_reasons(release) + _gate_reasons(release)
    notes = []
    freezes = [_freeze_words(freeze) for freeze in active_freezes(release, environment, at=at)]
    if freezes and release.freeze_override_by_id:
        notes = [
            f"{words}: overridden for this release ({release.freeze_override_reason})" for words in freezes
        ]
    else:
        reasons += freezes
    if release.is_open and release.delivery_state is ForecastState.BLOCKED:
        notes.append(
            f"The forecast says it is blocked: {release.forecast_blocked_reason or 'see the release'}."
        )
    return DeployCheck(allowed=not reasons, reasons=reasons, release=release, notes=notes)


def _release(application_key: str, version: str) -> Release:
    release = (
        Release.objects.select_related("application")
        .filter(application__key=application_key, version=version)
        .first()
    )
    if release is not None:
        return release
    if Release.objects.filter(application__key=application_key).exists():
        raise UnknownTarget(f"Application {application_key} has no release {version}.")
    raise UnknownTarget(f"No application with the key “{application_key}”.")


def _status_reasons(release: Release) -> list[str]:
    if release.status == Release.Status.CANCELLED:
        return [f"Release {release.version} is cancelled."]
    if release.status == Release.Status.RELEASED:
        return [f"Release {release.version} was already released on {release.actual_date:%Y-%m-%d}."]
    return []


def _gate_reasons(release: Release) -> list[str]:
    open_gates = (
        Gate.objects.filter(release=release).exclude(status__in=Gate.SETTLED_STATUSES).order_by("due_date")
    )
    return [
        f"Gate “{gate.name}” ({gate.get_kind_display()}) is {gate.get_status_display().lower()}."
        for gate in open_gates
    ]


def active_freezes(release: Release, environment: Environment, *, at: datetime) -> list[FreezeWindow]:
    """The freeze windows covering the environment for this release's application at `at`."""
    lineage = Portfolio.objects.lineage_ids(release.application.portfolio_id)
    candidates = FreezeWindow.objects.in_scope(portfolio_ids=lineage, environment_ids=[environment.pk])
    # A recurring window may cover `at` long after its first occurrence ended: checked below.
    candidates = candidates.may_overlap(at, at + timedelta(microseconds=1))
    return [freeze for freeze in candidates if covers(freeze, at)]


def _freeze_words(freeze: FreezeWindow) -> str:
    where = {
        FreezeWindow.Scope.GLOBAL: "everywhere",
        FreezeWindow.Scope.PORTFOLIO: "for this portfolio",
        FreezeWindow.Scope.ENVIRONMENT: "on this environment",
    }[freeze.scope]
    return f"Freeze window “{freeze.reason}” is in force {where}"
