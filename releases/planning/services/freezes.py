"""Freeze windows and releases: a release targeted inside a freeze needs an admin's override with a
reason (bookings have their own check, in releases.environments.services.bookings).

A day is frozen when any part of it is, as the forecast counts it (releases.freezes.frozen_days):
global freezes and those of the release's portfolio and all its ancestors hold it.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from django.core.exceptions import ValidationError
from django.db import transaction

from releases.audit import audit_record, snapshot
from releases.freezes import day_covered, frozen_days, horizon_from
from releases.models import FreezeWindow, Portfolio, Release
from releases.tasks import forecast_refresh_task

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
    lineage = Portfolio.objects.lineage_ids(release.application.portfolio_id)
    return frozen_target(
        FreezeWindow.objects.in_scope(portfolio_ids=lineage).order_by("starts_at"), target_date=target_date
    )


def frozen_target(windows: Iterable[FreezeWindow], *, target_date: date) -> FrozenTarget | None:
    """The first of these windows (soonest first) that holds `target_date`: release_target_freeze over
    windows already read (the import checks many rows against one read)."""
    horizon = horizon_from(target_date)  # expanded past the target
    for freeze in windows:
        if days := day_covered(frozen_days(freeze, start=None, end=horizon), target_date):
            return FrozenTarget(freeze, *days)
    return None


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
    transaction.on_commit(lambda: forecast_refresh_task.delay())  # the forecast skips overridden freezes
    return release
