"""Run one sync of a connection: its tool's client and sync function (integrations.tools), and the
run's books. Errors decide the run's fate: rate limits and an unavailable tool leave it running for
the task to retry; anything else a tool can do wrong fails it at once with the message an admin reads
on /integrations/.
"""

from django.db import InterfaceError, OperationalError

from integrations.crypto import Undecryptable
from integrations.http import RateLimited, SyncError, ToolUnavailable
from integrations.models import Connection
from integrations.sync.base import run_context, sync_run_fail, sync_run_finish, sync_run_start, sync_run_wait
from integrations.tools import TOOLS


def connection_sync(*, run_id: int, mode: str = "incremental", client_options: dict | None = None) -> dict:
    """Start (or resume) the run and sync; RateLimited and ToolUnavailable propagate to the task."""
    run = sync_run_start(run_id=run_id)
    if run is None:
        return {"run": run_id, "status": "already finished"}
    context = run_context(run)
    tool = TOOLS.get(run.connection.kind)
    if tool is None:
        sync_run_fail(
            run_id=run_id, error=f"No sync for {run.connection.get_kind_display()} connections yet."
        )
        return {"run": run_id, "status": "failed"}
    client = None
    try:
        client = tool.client(run.connection, budget=context.budget, **(client_options or {}))
        tool.sync(context=context, client=client, mode=mode)
    except (RateLimited, ToolUnavailable) as exc:
        sync_run_wait(context=context, message=f"Waiting to retry: {exc}")
        raise
    except (SyncError, Undecryptable) as exc:
        sync_run_fail(run_id=run_id, error=str(exc), requests=context.requests_before + context.budget.used)
        return {"run": run_id, "status": "failed", "error": str(exc)}
    except (OperationalError, InterfaceError):
        raise  # the database went away (a restart, a failover): the task retries and the run resumes
    except Exception as exc:  # a bug or a database refusal: the run must not stay "running" for ever
        sync_run_fail(run_id=run_id, error=f"Unexpected {type(exc).__name__}: {exc}"[:2000])
        raise
    finally:
        if client is not None:
            client.close()
    run = sync_run_finish(context=context)
    return {"run": run_id, "status": run.status, "requests": run.requests}


def connection_test(*, connection: Connection, client_options: dict | None = None) -> tuple[bool, str]:
    """(ok, a readable line) after a few read-only requests to the tool."""
    tool = TOOLS.get(connection.kind)
    if tool is None:
        return False, f"No test for {connection.get_kind_display()} connections yet."
    try:
        client = tool.client(connection, **(client_options or {}))
    except Undecryptable as exc:
        return False, str(exc)
    try:
        return True, tool.test(connection=connection, client=client)
    except SyncError as exc:
        return False, str(exc)
    finally:
        client.close()
