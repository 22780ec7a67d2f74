"""The Celery app of test_postgres_restart.py's worker: the project's own. With FLIGHTDECK_HOLD_DIR set,
the worker holds its second batch of work items inside the page's open transaction (the run's row
already updated and locked) until the test has restarted PostgreSQL: it writes `storing` there, and
goes on once `go` appears, on a connection the restart terminated."""

import os
import time
from pathlib import Path

from celery.signals import worker_process_init

from portal.celery import app

__all__ = ["app"]

HOLD_DIR = os.environ.get("FLIGHTDECK_HOLD_DIR")


@worker_process_init.connect
def hold_the_second_batch(**kwargs) -> None:
    if not HOLD_DIR:
        return
    from integrations.sync import jira  # Django is set up once the pool process starts

    real_upsert, calls = jira.work_items_upsert, []

    def upsert(**facts):
        calls.append(1)
        if len(calls) == 2:
            Path(HOLD_DIR, "storing").touch()
            deadline = time.monotonic() + 30
            while not Path(HOLD_DIR, "go").exists() and time.monotonic() < deadline:
                time.sleep(0.05)  # another process's file: nothing to await but its appearance
        return real_upsert(**facts)

    jira.work_items_upsert = upsert
