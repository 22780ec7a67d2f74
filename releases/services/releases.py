"""Writes on releases. Each runs in one transaction with its audit event."""

from django.db import transaction

from releases.models import Application, Release
from releases.services.audit import audit_record, snapshot
from releases.tasks import forecast_refresh_task

EDITABLE_FIELDS = frozenset(
    {"version", "summary", "status", "target_date", "code_freeze_date", "actual_date", "owner", "train"}
)


@transaction.atomic
def release_create(*, application: Application, version: str, target_date, by, **fields) -> Release:
    """A new release, audited; its forecast is computed after the commit."""
    unknown = set(fields) - EDITABLE_FIELDS
    if unknown:
        raise TypeError(f"release_create() got fields it does not set: {sorted(unknown)}")
    release = Release(application=application, version=version, target_date=target_date, **fields)
    release.full_clean()
    release.save()
    audit_record(actor=by, action="release.create", obj=release)
    transaction.on_commit(lambda: forecast_refresh_task.delay())
    return release


@transaction.atomic
def release_update(*, release: Release, by, **changes) -> Release:
    """Change the given fields; record the before and after state. A no-op change writes nothing.

    Dates and status drive the forecast, so the stored forecasts are refreshed after the commit.
    """
    unknown = set(changes) - EDITABLE_FIELDS
    if unknown:
        raise TypeError(f"release_update() got fields it does not change: {sorted(unknown)}")
    release = Release.objects.select_for_update().get(pk=release.pk)
    before = snapshot(release)
    for field, value in changes.items():
        setattr(release, field, value)
    if snapshot(release) == before:
        return release
    release.full_clean()
    release.save()
    audit_record(actor=by, action="release.update", obj=release, before=before)
    transaction.on_commit(lambda: forecast_refresh_task.delay())
    return release
