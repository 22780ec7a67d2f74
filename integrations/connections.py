"""An admin's tools for a connection, on /integrations/: pause and resume, reset a stream's cursor,
a full resync, taking over the facts another connection owns, and answering a re-pointing.

Each is one transaction with its audit event; a sync it queues is sent after the commit.
"""

from django.db import transaction

from integrations import tasks
from integrations.models import Connection, SyncCursor, SyncRun
from integrations.sync.base import ACTIVE, SyncRefused
from releases.audit import audit_record
from releases.facts.services.ownership import Handover, facts_hand_over

RESYNC_MODE = "reconcile"  # reads everything and deletes what the tool no longer has


@transaction.atomic
def connection_pause(*, connection: Connection, by) -> None:
    """No scheduled or webhook sync until resumed; a run in progress finishes."""
    _set_enabled(connection, by, enabled=False)


@transaction.atomic
def connection_resume(*, connection: Connection, by) -> None:
    _set_enabled(connection, by, enabled=True)


def _set_enabled(connection: Connection, by, *, enabled: bool) -> None:
    connection = Connection.objects.select_for_update().get(pk=connection.pk)
    if connection.enabled == enabled:
        return
    connection.enabled = enabled
    connection.save(update_fields=["enabled"])
    audit_record(actor=by, action="connection.resume" if enabled else "connection.pause", obj=connection)


@transaction.atomic
def cursor_reset(*, connection: Connection, stream: str, by) -> None:
    """Forget where one stream stopped: its next sync reads it from the start, and stores only what
    differs. Refused while a run is active, which would write the cursor back."""
    _refuse_while_syncing(connection)
    cursor = SyncCursor.objects.filter(connection=connection, stream=stream).first()
    if cursor is None:
        raise SyncRefused(f"{connection} has no stream {stream!r} to reset.")
    before = {"stream": stream, "watermark": cursor.watermark, "etag": cursor.etag}
    cursor.delete()
    audit_record(actor=by, action="connection.cursor_reset", obj=connection, before=before, after={})


@transaction.atomic
def connection_resync(*, connection: Connection, by) -> SyncRun:
    """Every stream read again from the start. Nothing is wiped: each record is compared with what is
    stored, only what differs is written, and what the tool no longer has is deleted."""
    _refuse_while_syncing(connection)
    streams = list(SyncCursor.objects.filter(connection=connection).values_list("stream", flat=True))
    SyncCursor.objects.filter(connection=connection).delete()
    audit_record(actor=by, action="connection.resync", obj=connection, after={"streams_reset": streams})
    return tasks.sync_run_queue(connection=connection, by=by, mode=RESYNC_MODE)


@transaction.atomic
def connection_take_over(*, connection: Connection, giver: Connection, by) -> Handover:
    """`connection` becomes the owner of every fact `giver` owns and it knows too, then reads them all
    again (a full resync) so that they hold its own view. The giver keeps what `connection` has not seen."""
    if giver.pk == connection.pk:
        raise SyncRefused("A connection cannot take over its own facts.")
    _refuse_while_syncing(connection)
    _refuse_while_syncing(giver)
    handover = facts_hand_over(giver=giver.source_key, receiver=connection.source_key)
    audit_record(
        actor=by,
        action="connection.take_over",
        obj=connection,
        after={"from": giver.pk, "releases": handover.releases, "work_items": handover.work_items},
    )
    SyncCursor.objects.filter(connection=connection).delete()
    tasks.sync_run_queue(connection=connection, by=by, mode=RESYNC_MODE)
    return handover


@transaction.atomic
def connection_repoint_confirm(*, connection: Connection, by) -> None:
    """The new base URL is the same instance at a new address: its facts and cursors carry on."""
    connection = Connection.objects.select_for_update().get(pk=connection.pk)
    before = {"facts_base_url": connection.facts_base_url}
    connection.facts_base_url = connection.base_url
    connection.save(update_fields=["facts_base_url"])
    audit_record(actor=by, action="connection.repoint_confirm", obj=connection, before=before)


@transaction.atomic
def connection_repoint_undo(*, connection: Connection, by) -> None:
    """The new base URL is another instance: the connection goes back to the address its facts came
    from. The other instance gets a connection of its own, which adopts the facts both know."""
    connection = Connection.objects.select_for_update().get(pk=connection.pk)
    before = {"base_url": connection.base_url}
    connection.base_url = connection.facts_base_url
    connection.save(update_fields=["base_url"])
    audit_record(actor=by, action="connection.repoint_undo", obj=connection, before=before)


def _refuse_while_syncing(connection: Connection) -> None:
    if SyncRun.objects.filter(connection=connection, status__in=ACTIVE).exists():
        raise SyncRefused(f"{connection} is syncing: wait for the run to end, then try again.")
