"""Writes on releases. Each runs in one transaction with its audit event."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from releases import tasks
from releases.audit import audit_record, snapshot
from releases.gates.services.policies import gates_sync_for_release
from releases.models import Application, Release, ScopeChange, WorkItem
from releases.planning.services.dependencies import dependency_add
from releases.planning.services.freezes import check_release_target, release_target_freeze
from releases.records import record_update

EDITABLE_FIELDS = frozenset(
    {"version", "summary", "status", "target_date", "code_freeze_date", "actual_date", "owner", "train"}
)


@transaction.atomic
def release_create(*, application: Application, version: str, target_date, by, **fields) -> Release:
    """A new release, audited, with the gates its portfolio's policy requires; its forecast is
    computed after the commit."""
    unknown = set(fields) - EDITABLE_FIELDS
    if unknown:
        raise TypeError(f"release_create() got fields it does not set: {sorted(unknown)}")
    release = Release(application=application, version=version, target_date=target_date, **fields)
    release.full_clean()
    frozen = release_target_freeze(release=release, target_date=target_date)
    if frozen is not None:  # a new release has no override yet
        raise ValidationError({"target_date": str(frozen)})
    release.save()
    audit_record(actor=by, action="release.create", obj=release)
    gates_sync_for_release(release=release, by=by)
    tasks.forecast_refresh_after_commit()
    return release


@transaction.atomic
def release_clone(*, source: Release, version: str, target_date, by) -> Release:
    """A new release of the same application with `version` and `target_date`: the source's summary,
    owner and train, its code freeze as many days before the target, and the releases it waits on
    (each dependency added as dependency_add would: a cycle is refused). Its own gates come from its
    portfolio's policy, as for any new release."""
    freeze = source.code_freeze_date and target_date - (source.target_date - source.code_freeze_date)
    clone = release_create(
        application=source.application,
        version=version,
        target_date=target_date,
        by=by,
        summary=source.summary,
        owner=source.owner,
        train=source.train,
        code_freeze_date=freeze or None,
    )
    for link in source.upstream_links.select_related("upstream"):
        dependency_add(downstream=clone, upstream=link.upstream, kind=link.kind, note=link.note, by=by)
    audit_record(actor=by, action="release.clone", obj=clone, before=None, after={"cloned_from": str(source)})
    return clone


@transaction.atomic
def release_update(*, release: Release, by, **changes) -> Release:
    """Change the given fields; record the before and after state. A no-op change writes nothing.

    A new target inside a freeze window is refused (ValidationError on "target_date") unless the
    release holds an admin's freeze override. Dates and status drive the forecast, so the stored
    forecasts are refreshed after the commit, and the gates' due dates (or, once closed, nothing
    more) follow at once.
    """
    unknown = set(changes) - EDITABLE_FIELDS
    if unknown:
        raise TypeError(f"release_update() got fields it does not change: {sorted(unknown)}")
    release = Release.objects.select_for_update().get(pk=release.pk)
    if "target_date" in changes:
        check_release_target(release=release, target_date=changes["target_date"])
    before = record_update(obj=release, by=by, changes=changes)
    if before is None:
        return release
    after = snapshot(release)
    if any(before[name] != after[name] for name in ("target_date", "status")):
        gates_sync_for_release(release=release, by=by)
    tasks.forecast_refresh_after_commit()
    return release


@transaction.atomic
def release_scope_change(*, release: Release, by, add=(), remove=(), descope=()) -> Release:
    """Take work items into the release's scope, out of it, or descope them (out of every release's
    scope); records who changed the scope, whom segregation of duties then keeps from signing its
    gates. The scope gates' evidence is recomputed after the commit."""
    release = Release.objects.select_for_update().get(pk=release.pk)
    add, remove, descope = list(add), list(remove), list(descope)
    members = dict(release.work_items.values_list("pk", "descoped"))  # in scope: descoped or not
    _check_scope_items(release, add, remove, descope, members)
    if not (add or remove or descope):
        return release
    _record_scope_changes(release, add, remove, descope, members)
    release.work_items.add(*add)
    release.work_items.remove(*remove)
    WorkItem.objects.filter(pk__in=[item.pk for item in descope]).update(descoped=True)
    release.scope_changed_by, release.scope_changed_at = by, timezone.now()
    release.save(update_fields=["scope_changed_by", "scope_changed_at", "updated_at"])
    change = {
        name: sorted(item.key for item in items)
        for name, items in (("added", add), ("removed", remove), ("descoped", descope))
    }
    audit_record(actor=by, action="release.scope_change", obj=release, before=None, after=change)
    transaction.on_commit(lambda: tasks.gate_evidence_refresh_task.delay(release_ids=[release.pk]))
    return release


def _record_scope_changes(release: Release, add: list, remove: list, descope: list, members: dict) -> None:
    """The scope's history (ScopeChange), now: items joining this release; items leaving it; descoped
    items leaving every release they are in. An item already descoped has left its releases already."""
    now, added, removed = timezone.now(), ScopeChange.Kind.ADDED, ScopeChange.Kind.REMOVED
    changes = {(release.pk, item.pk, added) for item in add if item.pk not in members}
    changes |= {(release.pk, item.pk, removed) for item in remove if not members.get(item.pk)}
    if descope:  # an item added and descoped at once leaves this release too (added sorts first)
        changes |= {(release.pk, item.pk, removed) for item in descope if item.pk not in members}
        fixes = WorkItem.fix_releases.through.objects.filter(
            workitem_id__in=[item.pk for item in descope], workitem__descoped=False
        ).values_list("release_id", "workitem_id")
        changes |= {(r, w, removed) for r, w in fixes}
    ScopeChange.objects.bulk_create(
        ScopeChange(release_id=r, work_item_id=w, kind=kind, at=now, recorded_at=now)
        for r, w, kind in sorted(changes)
    )


def _check_scope_items(release: Release, add: list, remove: list, descope: list, members: dict) -> None:
    """Work items of the release's own application; removed or descoped ones must be in its scope."""
    foreign = sorted(
        item.key for item in [*add, *remove, *descope] if item.application_id != release.application_id
    )
    if foreign:
        raise ValidationError(f"Not work items of {release.application.key}: {', '.join(foreign)}.")
    in_scope = set(members) | {item.pk for item in add}
    outside = sorted(item.key for item in [*remove, *descope] if item.pk not in in_scope)
    if outside:
        raise ValidationError(f"Not in the scope of {release}: {', '.join(outside)}.")
