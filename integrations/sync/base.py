"""The life of a sync run, and the one way a sync writes: a page and its cursor in one transaction.

A run is queued (by "Sync now", a webhook or beat, through integrations.tasks.sync_run_queue),
started by the worker, and finished or failed. The database allows one queued-or-running run per
connection (`syncrun_one_active`), so two workers never sync one connection at once. A run that
waits for a rate limit or a tool that is down stays running and is resumed by the task's retry with
the same run id; a crash resumes the same way (acks_late), from the cursor the last committed page left.

Every sign of life stamps the run's heartbeat (start or resume, each page stored, a wait begun). A run
whose message is lost for good (broker flushed, task revoked, retries exhausted while the database was
down) would stay active for ever and block its connection; the beat sweep fails active runs silent for
longer than any legitimate wait (STALE_AFTER), so the connection can sync again.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from integrations.http import RequestBudget, SyncError
from integrations.models import Connection, SyncCursor, SyncRun
from releases.audit import audit_record
from releases.facts.services.upserts import UpsertResult
from releases.tasks import gate_evidence_refresh_task

ACTIVE = (SyncRun.Status.QUEUED, SyncRun.Status.RUNNING)
# The longest silence of a healthy run is under an hour and fifty minutes: a retry countdown (at most
# MAX_RETRY_AFTER) held by a worker that dies, so the broker hands the task out again after its
# visibility timeout (an hour, settings.CELERY_BROKER_TRANSPORT_OPTIONS). A sweep waits well beyond
# that, so it never fails a run that would still have resumed.
STALE_AFTER = timedelta(hours=3)


class SyncRefused(SyncError):
    """A sync that may not be queued now; the message says why and what to do."""

    status = 409


class SyncAlreadyRunning(SyncRefused):
    def __init__(self, run: SyncRun):
        super().__init__(f"{run.connection} is already syncing (run {run.pk}, {run.status}).")
        self.run = run


class ConnectionRepointed(SyncRefused):
    """The connection's base URL changed since its facts were read: an admin says whether it is the
    same instance before any sync mixes another instance's records into them."""

    def __init__(self, connection: Connection):
        super().__init__(
            f"{connection} now points at {connection.base_url}, but its facts came from "
            f"{connection.facts_base_url}. Say on the Integrations page whether this is the same instance."
        )


class SyncRunEnded(SyncError):
    """The run was ended (failed by the sweep) while this attempt still worked on it: stop writing."""

    def __init__(self, run_id: int):
        super().__init__(f"Run {run_id} is no longer running; this attempt stops without storing.")


@dataclass
class RunContext:
    """What one attempt of a run carries: the run, the request budget left, what it changed."""

    run: SyncRun
    budget: RequestBudget
    changed_release_ids: set[int] = field(default_factory=set)
    started: float = field(default_factory=time.monotonic)
    requests_before: int = 0
    fetched: int = 0  # items fetched by this attempt so far

    @property
    def connection(self) -> Connection:
        return self.run.connection


@transaction.atomic
def sync_run_create(*, connection: Connection, by, mode: str = "incremental") -> SyncRun:
    """A queued run, audited; refused while one is queued or running. Its task is sent by
    integrations.tasks.sync_run_queue, which every caller uses."""
    if not connection.enabled:
        raise SyncRefused(f"{connection} is paused: resume it first.")
    if connection.repointed:
        raise ConnectionRepointed(connection)
    active = SyncRun.objects.filter(connection=connection, status__in=ACTIVE).first()
    if active is not None:
        raise SyncAlreadyRunning(active)
    try:
        with transaction.atomic():
            run = SyncRun.objects.create(connection=connection, status=SyncRun.Status.QUEUED)
    except IntegrityError:  # a concurrent queue won the race
        raise SyncAlreadyRunning(SyncRun.objects.get(connection=connection, status__in=ACTIVE)) from None
    audit_record(actor=by, action="syncrun.queue", obj=run, after={"connection": connection.pk, "mode": mode})
    return run


@transaction.atomic
def sync_run_start(*, run_id: int) -> SyncRun | None:
    """Mark the run running (again, when resumed); None when it already ended (a redelivered task)."""
    run = SyncRun.objects.select_for_update().select_related("connection").filter(pk=run_id).first()
    if run is None or run.status not in ACTIVE:
        return None
    run.status = SyncRun.Status.RUNNING
    run.heartbeat_at = timezone.now()
    run.started_at = run.started_at or run.heartbeat_at
    run.error = ""
    run.attempts += 1
    run.save(update_fields=["status", "started_at", "error", "heartbeat_at", "attempts"])
    # The first sync records where the facts come from; a later change of address is a re-pointing.
    Connection.objects.filter(pk=run.connection_id, facts_base_url="").update(
        facts_base_url=run.connection.base_url
    )
    return run


def run_context(run: SyncRun) -> RunContext:
    limit = max(run.connection.request_budget - run.requests, 0)
    return RunContext(run=run, budget=RequestBudget(limit=limit), requests_before=run.requests)


@transaction.atomic
def sync_run_finish(*, context: RunContext) -> SyncRun:
    run = _locked(context.run)
    if run.status != SyncRun.Status.RUNNING:  # failed by the sweep meanwhile: that verdict stands
        return run
    run.status, run.finished_at, run.error = SyncRun.Status.SUCCEEDED, timezone.now(), ""
    run.requests = context.requests_before + context.budget.used
    run.save(update_fields=["status", "finished_at", "error", "requests"])
    audit_record(actor=None, action="syncrun.finish", obj=run)
    release_ids = sorted(context.changed_release_ids)
    if release_ids:
        transaction.on_commit(lambda: gate_evidence_refresh_task.delay(release_ids=release_ids))
    return run


@transaction.atomic
def sync_run_fail(*, run_id: int, error: str, requests: int | None = None) -> SyncRun | None:
    run = SyncRun.objects.select_for_update().filter(pk=run_id, status__in=ACTIVE).first()
    if run is None:
        return None
    run.status, run.finished_at, run.error = SyncRun.Status.FAILED, timezone.now(), error[:2000]
    run.started_at = run.started_at or run.finished_at
    run.requests = run.requests if requests is None else requests
    run.save(update_fields=["status", "finished_at", "started_at", "error", "requests"])
    audit_record(actor=None, action="syncrun.fail", obj=run)
    return run


def sync_run_wait(*, context: RunContext, message: str) -> None:
    """The run stays running while its task waits to be retried; the page says why."""
    SyncRun.objects.filter(pk=context.run.pk, status=SyncRun.Status.RUNNING).update(
        error=message[:2000],
        requests=context.requests_before + context.budget.used,
        heartbeat_at=timezone.now(),
    )


def _locked(run: SyncRun) -> SyncRun:
    return SyncRun.objects.select_for_update().select_related("connection").get(pk=run.pk)


def cursor_get(connection: Connection, stream: str) -> SyncCursor:
    """The stream's cursor as stored, or a fresh unsaved one."""
    return SyncCursor.objects.filter(connection=connection, stream=stream).first() or SyncCursor(
        connection=connection, stream=stream
    )


def upsert_page(
    *,
    context: RunContext,
    stream: str,
    cursor: dict,
    fetched: int,
    store: Callable[[], UpsertResult],
    expected: int | None = None,
    pages: int = 1,
) -> UpsertResult:
    """Store one page and move the stream's cursor past it, together or not at all: a crash between
    pages resumes exactly after the last page committed, and a re-read page changes nothing.

    The run's row is locked first, for the whole page: a sweep skips a locked run, so it can never fail
    a run whose worker is storing a page, and an attempt whose run was ended stores nothing."""
    with transaction.atomic():
        _heartbeat(context.run.pk)
        result = store()
        _cursor_save(context.connection, stream, cursor)
        progress = {
            "pages": F("pages") + pages,
            "items_fetched": F("items_fetched") + fetched,
            "items_created": F("items_created") + result.created,
            "items_updated": F("items_updated") + result.updated,
            "items_unchanged": F("items_unchanged") + result.unchanged,
            "items_deleted": F("items_deleted") + result.deleted,
            "requests": context.requests_before + context.budget.used,
            "heartbeat_at": timezone.now(),
        }
        if expected is not None:
            progress["items_expected"] = expected
        SyncRun.objects.filter(pk=context.run.pk).update(**progress)
    context.changed_release_ids |= result.release_ids
    context.fetched += fetched
    return result


def _heartbeat(run_id: int) -> None:
    """Stamp the running run, locking its row until the caller's transaction ends."""
    running = SyncRun.objects.filter(pk=run_id, status=SyncRun.Status.RUNNING)
    if not running.update(heartbeat_at=timezone.now()):
        raise SyncRunEnded(run_id)


def sync_runs_fail_stale(*, now: datetime | None = None, stale_after: timedelta = STALE_AFTER) -> list[int]:
    """Fail the active runs silent for longer than `stale_after` (their worker or message was lost),
    each with a readable error and its audit event; the ids failed.

    One statement picks and locks them, reading each row as last committed and skipping rows locked by
    a worker storing a page (SKIP LOCKED on PostgreSQL; SQLite's writers are serialised anyway)."""
    now = now or timezone.now()
    with transaction.atomic():
        stale = list(
            SyncRun.objects.select_for_update(skip_locked=True)
            .filter(status__in=ACTIVE, heartbeat_at__lt=now - stale_after)
            .order_by("pk")
        )
        for run in stale:
            _fail_stale(run, now=now)
    return [run.pk for run in stale]


def _fail_stale(run: SyncRun, *, now: datetime) -> None:
    minutes = int((now - run.heartbeat_at).total_seconds() // 60)
    if run.status == SyncRun.Status.QUEUED:
        run.error = f"Never started in {minutes} minutes; the queued task was lost. Sync again."
    else:
        run.error = f"No progress for {minutes} minutes; the worker was lost. Sync again."
    before = {"status": run.status, "heartbeat_at": run.heartbeat_at.isoformat()}
    run.status, run.finished_at = SyncRun.Status.FAILED, max(now, run.started_at or now)
    run.started_at = run.started_at or run.finished_at
    run.save(update_fields=["status", "started_at", "finished_at", "error"])
    audit_record(actor=None, action="syncrun.fail_stale", obj=run, before=before)


def _cursor_save(connection: Connection, stream: str, values: dict) -> None:
    values = {**values, "updated_at": timezone.now()}
    if not SyncCursor.objects.filter(connection=connection, stream=stream).update(**values):
        SyncCursor.objects.create(connection=connection, stream=stream, **values)
