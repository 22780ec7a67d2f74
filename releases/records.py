"""Writes on reference data whose only rules are the model's own validation: portfolios,
applications, trains, environments and their components, freeze windows, tool connections and
their mappings. Each is validated, saved and audited in one transaction.

Rows with rules of their own have their own services, and are written only through them: releases
and portfolios, dependencies, bookings, gate policies, gates and sign-offs. Those services check their
rules, then change a row's fields with record_update.
"""

from django.db import models, transaction

from releases.audit import audit_record, snapshot
from releases.models import FreezeWindow
from releases.tasks import forecast_refresh_after_commit

# Rows the stored forecasts are computed from: a change refreshes them after the commit.
FORECAST_INPUTS = (FreezeWindow,)


@transaction.atomic
def record_save(*, obj: models.Model, by) -> models.Model:
    """Create or change `obj` as given. Raises ValidationError (nothing written) for values the
    model refuses."""
    model = type(obj)
    adding = obj._state.adding or obj.pk is None
    before = None if adding else snapshot(model._default_manager.select_for_update().get(pk=obj.pk))
    obj.full_clean()
    obj.save()
    verb = "create" if adding else "update"
    audit_record(actor=by, action=f"{model._meta.model_name}.{verb}", obj=obj, before=before)
    _after_commit(model)
    return obj


def record_update(*, obj: models.Model, by, changes: dict) -> dict | None:
    """Set `changes` on `obj` (locked by the caller), then validate, save and audit it as
    "<model>.update". Returns the state from before, or None when nothing changed (nothing written)."""
    before = snapshot(obj)
    for field, value in changes.items():
        setattr(obj, field, value)
    if snapshot(obj) == before:
        return None
    obj.full_clean()
    obj.save()
    audit_record(actor=by, action=f"{obj._meta.model_name}.update", obj=obj, before=before)
    return before


@transaction.atomic
def record_delete(*, obj: models.Model, by) -> None:
    """Delete `obj`; the event keeps its last state and what it was called."""
    model = type(obj)
    before, pk, text = snapshot(obj), obj.pk, str(obj)
    obj.delete()
    audit_record(
        actor=by,
        action=f"{model._meta.model_name}.delete",
        object_type=model._meta.label_lower,
        object_id=str(pk),
        before=before | {"repr": text},
    )
    _after_commit(model)


def _after_commit(model) -> None:
    if issubclass(model, FORECAST_INPUTS):
        forecast_refresh_after_commit()
