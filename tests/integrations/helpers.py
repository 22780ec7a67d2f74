"""What the sync tests share: one sync of a connection, as the worker runs it, with its outcome checked."""

from integrations.models import Connection, SyncRun
from integrations.runner import connection_sync
from integrations.tasks import sync_run_queue


def sync(connection: Connection, *, mode: str = "incremental", expect=SyncRun.Status.SUCCEEDED) -> SyncRun:
    """Queue and run one sync (retries without backoff waits); the run, once it ended as `expect`."""
    run = sync_run_queue(connection=connection, by=None, mode=mode)
    connection_sync(run_id=run.pk, mode=mode, client_options={"backoff_seconds": 0})
    run.refresh_from_db()
    assert run.status == expect, run.error
    return run
