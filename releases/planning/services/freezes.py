"""Freeze windows and releases: a release targeted inside a freeze needs an admin's override with a
reason (bookings have their own check, in releases.environments.services.bookings).

A day is frozen when any part of it is, as the forecast counts it (releases.freezes.frozen_days):
global freezes and those of the release's portfolio and all its ancestors hold it.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from django.core.exceptions import ValidationError
from django.db import transaction

from releases.audit import audit_record, snapshot
from releases.freezes import day_covered, frozen_days, horizon_from
from releases.models import FreezeWindow, Portfolio, Release
from releases.querysets import portfolio_lineage
from releases.tasks import forecast_refresh_after_commit

OVERRIDE_PERMISSION = "releases.change_freezewindow"  # those who define freezes may lift one


@dataclass(frozen=True)
class FrozenTarget:
    freeze: FreezeWindow
    first: date
    day_after: date

    def __str__(self) -> str:
        last = self.day_after.toordinal() - 1
        return (
            f"{self.first:%Y-%m-%d} to {date.fromordinal(last):%Y-%m-%d} is frozen "
            f"(“{self.freeze.reason}”): an admin must override the freeze for this release first."
        )


def release_target_freeze(*, release: Release, target_date: date) -> FrozenTarget | None:
    """The freeze that holds `target_date` for this release's portfolio, if any."""
    return frozen_targets([(release, target_date)])[0]


def frozen_targets(targets: Sequence[tuple[Release, date]]) -> list[FrozenTarget | None]:
    """release_target_freeze for many (release, target) pairs at once, in their order: two queries
    whatever their number. Each window's days are expanded once, past the latest target."""
    if not targets:
        return []
    parents = Portfolio.objects.parents()
    lineages = [set(portfolio_lineage(release.application.portfolio_id, parents)) for release, _ in targets]
    windows = FreezeWindow.objects.in_scope(portfolio_ids=set().union(*lineages)).order_by("starts_at")
    horizon = horizon_from(max(target for _, target in targets))
    days = [(window, frozen_days(window, start=None, end=horizon)) for window in windows]
    return [
        next(
            (
                FrozenTarget(window, *covered)
                for window, window_days in days
                if window.portfolio_id is None or window.portfolio_id in lineage
                if (covered := day_covered(window_days, target))
            ),
            None,
        )
        for (_, target), lineage in zip(targets, lineages, strict=True)
    ]


def check_release_target(*, release: Release, target_date: date) -> None:
    """Refuse a target inside a freeze unless the release holds an override."""
    if release.freeze_override_by_id or target_date == release.target_date:
        return
    frozen = release_target_freeze(release=release, target_date=target_date)
    if frozen is not None:
        raise ValidationError({"target_date": str(frozen)})


@transaction.atomic
def release_freeze_override(*, release: Release, by, reason: str) -> Release:
    """Let the release ship inside freezes; who and why are kept on it and in the audit trail."""
    if not by.has_perm(OVERRIDE_PERMISSION):
        raise PermissionError("Only an admin who manages freeze windows may override one.")
    if not reason.strip():
        raise ValidationError({"reason": "Say why this release may ship inside the freeze."})
    release = Release.objects.select_for_update().get(pk=release.pk)
    before = snapshot(release)
    release.freeze_override_by, release.freeze_override_reason = by, reason.strip()
    release.save(update_fields=["freeze_override_by", "freeze_override_reason", "updated_at"])
    audit_record(actor=by, action="release.freeze_override", obj=release, before=before)
    forecast_refresh_after_commit()  # the forecast skips overridden freezes
    return release
