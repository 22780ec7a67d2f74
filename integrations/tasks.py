"""Celery tasks: thin wrappers over the runner and the sync run services, taking ids and returning
JSON-safe dicts; and sync_run_queue, the one way to queue a sync (a run, then its task once the run
is committed), used by "Sync now", the webhooks and beat.

acks_late with reject_on_worker_lost: a worker killed mid-sync leaves the message unacknowledged, the
broker hands it out again and the run resumes from its cursor. Waits (Retry-After, a tool that is
down) are task retries with a countdown, never sleeps in the worker, and every countdown is shorter
than the broker's visibility timeout (an hour) so a waiting task is not handed out twice. A run whose
message is lost for good is failed by the beat sweep (sync_runs_sweep_task) once its heartbeat is stale.
"""

from datetime import timedelta

from celery import shared_task
from django.db import InterfaceError, OperationalError, connections, transaction
from django.db.models import Max
from django.utils import timezone

from integrations.deliveries import webhook_deliveries_prune
from integrations.http import MAX_RETRY_AFTER, RateLimited, ToolUnavailable
from integrations.models import Connection, SyncRun
from integrations.runner import connection_sync
from integrations.sync.base import SyncRefused, sync_run_create, sync_run_fail, sync_runs_fail_stale
from integrations.tools import TOOLS

MAX_RETRIES = 8
UNAVAILABLE_BACKOFF = 30  # seconds, doubled per retry: 30 s ... about an hour at the eighth
DATABASE_BACKOFF = 5  # a database restart takes seconds


def sync_run_queue(*, connection: Connection, by, mode: str = "incremental") -> SyncRun:
    """A queued run (audited; SyncRefused while one is queued or running, or the connection is paused
    or re-pointed), and its task sent once the run is committed."""
    run = sync_run_create(connection=connection, by=by, mode=mode)
    transaction.on_commit(
        lambda: connection_sync_task.delay(connection_id=connection.pk, run_id=run.pk, mode=mode)
    )
    return run


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=MAX_RETRIES)
def connection_sync_task(self, *, connection_id: int, run_id: int, mode: str = "incremental") -> dict:
    try:
        return connection_sync(run_id=run_id, mode=mode)
    except RateLimited as exc:
        raise self.retry(exc=exc, countdown=min(exc.retry_after, MAX_RETRY_AFTER), max_retries=None) from exc
    except ToolUnavailable as exc:
        if self.request.retries >= MAX_RETRIES:
            sync_run_fail(run_id=run_id, error=f"Gave up after {MAX_RETRIES} retries: {exc}")
            return {"run": run_id, "status": "failed", "error": str(exc)}
        raise self.retry(exc=exc, countdown=retry_countdown(self.request.retries)) from exc
    except (OperationalError, InterfaceError) as exc:  # the database restarted under the sync
        connections.close_all()  # the next attempt reconnects
        if self.request.retries >= MAX_RETRIES:
            return _fail_after_database_outage(run_id, exc)
        raise self.retry(
            exc=exc, countdown=retry_countdown(self.request.retries, base=DATABASE_BACKOFF)
        ) from exc


def _fail_after_database_outage(run_id: int, exc: Exception) -> dict:
    error = f"Gave up after {MAX_RETRIES} retries: the database was unavailable ({exc})."[:2000]
    try:
        sync_run_fail(run_id=run_id, error=error)
    except (OperationalError, InterfaceError):
        connections.close_all()  # still down: the run's heartbeat goes stale and the sweep fails it
    return {"run": run_id, "status": "failed", "error": error}


def retry_countdown(retries: int, *, base: int = UNAVAILABLE_BACKOFF) -> int:
    return min(base * 2**retries, MAX_RETRY_AFTER)


@shared_task
def sync_runs_sweep_task() -> dict:
    """Beat, every five minutes: fail the active runs whose worker or message was lost."""
    return {"failed": sync_runs_fail_stale()}


@shared_task
def connections_sync_due_task() -> dict:
    """Beat, every minute: queue an incremental sync of each enabled connection whose schedule is due."""
    return {"queued": _queue(mode="incremental", due_only=True)}


@shared_task
def webhook_deliveries_prune_task() -> dict:
    """Beat, nightly: forget webhook deliveries too old to be redelivered."""
    return {"deleted": webhook_deliveries_prune()}


@shared_task
def connections_reconcile_task() -> dict:
    """Beat, nightly: a sync with the id sweep (deletions, and anything a pass missed)."""
    return {"queued": _queue(mode="reconcile", due_only=False)}


def _queue(*, mode: str, due_only: bool) -> list[int]:
    now = timezone.now()
    connections = Connection.objects.filter(enabled=True, kind__in=list(TOOLS)).annotate(
        last_start=Max("runs__started_at")
    )
    queued = []
    for connection in connections:
        due = connection.last_start is None or connection.last_start <= now - timedelta(
            minutes=connection.schedule_minutes
        )
        if due_only and not due:
            continue
        try:
            queued.append(sync_run_queue(connection=connection, by=None, mode=mode).pk)
        except SyncRefused:
            continue
    return queued
