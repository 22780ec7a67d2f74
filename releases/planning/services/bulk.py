"""One change to many releases from the release list: move their dates by N days, set their status, or
put them on a train. `bulk_preview` says what would happen to each release, nothing saved; the change
itself is one transaction in which each release goes through release_update (so each is audited,
checked against freezes and followed by its gates) and nothing is saved unless all of them are.
"""

from dataclasses import dataclass, replace
from datetime import date, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction

from releases import tasks
from releases.models import Release, ReleaseTrain
from releases.planning.forecast import EARLIEST_PLAN_DAY, LATEST_PLAN_DAY
from releases.planning.services.freezes import (
    OVERRIDE_PERMISSION,
    FrozenTarget,
    frozen_targets,
    release_freeze_override,
)
from releases.planning.services.releases import release_update

MAX_RELEASES = 200
MAX_MOVE_DAYS = 365
# A bulk status change never ships a release: shipping needs its own day, set on its page.
BULK_STATUSES = [choice for choice in Release.Status.choices if choice[0] != Release.Status.RELEASED]


@dataclass(frozen=True)
class BulkChange:
    """What to do to every release chosen: move ("move", `days`), set a status ("status", `status`)
    or assign a train ("train", `train`; None takes them off their train)."""

    kind: str
    days: int = 0
    status: str = ""
    train: ReleaseTrain | None = None

    def fields_for(self, release: Release) -> dict:
        """The release_update changes for one release (a move out of the days a release may be
        planned for gives None, which the preview refuses)."""
        if self.kind == "move":
            moved = {"target_date": _shifted(release.target_date, self.days)}
            if release.code_freeze_date:
                moved["code_freeze_date"] = _shifted(release.code_freeze_date, self.days)
            return moved
        if self.kind == "status":
            return {"status": self.status}
        return {"train": self.train}

    def __str__(self) -> str:
        if self.kind == "move":
            return f"move by {self.days:+d} day{'s' if abs(self.days) != 1 else ''}"
        if self.kind == "status":
            return f"set the status to {Release.Status(self.status).label.lower()}"
        return f"put on the train {self.train}" if self.train else "take off their train"


@dataclass(frozen=True)
class BulkRow:
    """One release in the preview: its fields now and after, and what refuses the change, if anything.
    `frozen`: the freeze its new target falls in, which an override lifts."""

    release: Release
    after: dict
    refusal: str = ""
    frozen: FrozenTarget | None = None

    @property
    def unchanged(self) -> bool:
        return all(getattr(self.release, name) == value for name, value in self.after.items())


def bulk_preview(releases: list[Release], change: BulkChange) -> list[BulkRow]:
    """Each release with what the change would make of it; a closed release refuses any change, and a
    target moved into a freeze needs an override (asked for, not refused)."""
    rows = [BulkRow(release, change.fields_for(release)) for release in releases]
    rows = [_refused_if_closed(row) for row in rows]
    rows = [_refused_if_out_of_range(row) for row in rows]
    if change.kind != "move":
        return rows
    moving = [row for row in rows if not row.refusal and not row.release.freeze_override_by_id]
    held = frozen_targets([(row.release, row.after["target_date"]) for row in moving])
    frozen = {row.release.pk: freeze for row, freeze in zip(moving, held, strict=True) if freeze}
    return [replace(row, frozen=frozen.get(row.release.pk)) for row in rows]


@transaction.atomic
def releases_bulk_change(
    *, releases: list[Release], change: BulkChange, by, override_reason: str = ""
) -> int:
    """Apply `change` to every release, all or nothing; returns how many changed. Releases whose new
    target is frozen are refused unless `override_reason` is given by someone who may override
    freezes: each then gets its override (audited) before it moves. The releases are locked in id
    order and the preview is judged again on them, so a release closed since the preview refuses."""
    if not 0 < len(releases) <= MAX_RELEASES:
        raise ValidationError(f"Choose between 1 and {MAX_RELEASES} releases.")
    locked = list(
        # Only the release rows are locked: PostgreSQL refuses FOR UPDATE on the nullable side
        # of the outer join that reads each release's train.
        Release.objects.select_for_update(of=("self",))
        .select_related("application", "train")
        .filter(pk__in=[release.pk for release in releases])
        .order_by("pk")
    )
    rows = bulk_preview(locked, change)
    _check_refusals(rows, by, override_reason)
    changed = 0
    with tasks.one_forecast_refresh():  # one refresh after the commit, not one per release
        for row in rows:
            if row.frozen is not None:
                release_freeze_override(release=row.release, by=by, reason=override_reason)
            if not row.unchanged:
                release_update(release=row.release, by=by, **row.after)
                changed += 1
    return changed


def _check_refusals(rows: list[BulkRow], by, override_reason: str) -> None:
    refusals = [f"{row.release}: {row.refusal}" for row in rows if row.refusal]
    frozen = [row for row in rows if row.frozen is not None]
    if frozen and not by.has_perm(OVERRIDE_PERMISSION):
        refusals += [f"{row.release}: {row.frozen}" for row in frozen]
    elif frozen and not override_reason.strip():
        refusals.append(
            f"{len(frozen)} of these releases would move into a freeze: say why they may ship inside it."
        )
    if refusals:
        raise ValidationError(refusals)


def _refused_if_closed(row: BulkRow) -> BulkRow:
    if row.release.is_open:
        return row
    status = row.release.get_status_display().lower()
    return replace(row, refusal=f"it is {status}: a closed release is not planned any more")


def _refused_if_out_of_range(row: BulkRow) -> BulkRow:
    dates = [row.after[name] for name in ("target_date", "code_freeze_date") if name in row.after]
    if row.refusal or None not in dates:
        return row
    last = f"{EARLIEST_PLAN_DAY:%Y} to {LATEST_PLAN_DAY:%Y}"
    return replace(row, refusal=f"its dates would leave the years a release is planned in ({last})")


def _shifted(day: date, days: int) -> date | None:
    """The day moved, or None outside the days a release may be planned for."""
    try:
        moved = day + timedelta(days=days)
    except OverflowError:
        return None
    return moved if EARLIEST_PLAN_DAY <= moved <= LATEST_PLAN_DAY else None
