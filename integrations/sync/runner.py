"""Run one sync of a connection: pick the tool's client and sync function, keep the run's books.

The tool modules register here (SYNCS, TESTS, CLIENTS by connection kind). Errors decide the run's
fate: rate limits and an unavailable tool leave it running for the task to retry; anything else a
tool can do wrong fails it at once with the message an admin reads on /integrations/.
"""

from django.db import InterfaceError, OperationalError

from integrations.clients.github import GithubClient
from integrations.clients.jenkins import JenkinsClient
from integrations.clients.jira import JiraClient
from integrations.crypto import Undecryptable
from integrations.http import RateLimited, SyncError, ToolUnavailable
from integrations.models import Connection, ConnectionKind
from integrations.sync.base import run_context, sync_run_fail, sync_run_finish, sync_run_start, sync_run_wait
from integrations.sync.github import github_connection_test, github_sync
from integrations.sync.jenkins import jenkins_connection_test, jenkins_sync
from integrations.sync.jira import jira_connection_test, jira_sync

CLIENTS = {
    ConnectionKind.JIRA_CLOUD: JiraClient.for_connection,
    ConnectionKind.JIRA_DC: JiraClient.for_connection,
    ConnectionKind.JENKINS: JenkinsClient.for_connection,
    ConnectionKind.GITHUB: GithubClient.for_connection,
}
SYNCS = {
    ConnectionKind.JIRA_CLOUD: jira_sync,
    ConnectionKind.JIRA_DC: jira_sync,
    ConnectionKind.JENKINS: jenkins_sync,
    ConnectionKind.GITHUB: github_sync,
}
TESTS = {
    ConnectionKind.JIRA_CLOUD: jira_connection_test,
    ConnectionKind.JIRA_DC: jira_connection_test,
    ConnectionKind.JENKINS: jenkins_connection_test,
    ConnectionKind.GITHUB: github_connection_test,
}


def connection_sync(*, run_id: int, mode: str = "incremental", client_options: dict | None = None) -> dict:
    """Start (or resume) the run and sync; RateLimited and ToolUnavailable propagate to the task."""
    run = sync_run_start(run_id=run_id)
    if run is None:
        return {"run": run_id, "status": "already finished"}
    context = run_context(run)
    kind = run.connection.kind
    if kind not in SYNCS:
        sync_run_fail(
            run_id=run_id, error=f"No sync for {run.connection.get_kind_display()} connections yet."
        )
        return {"run": run_id, "status": "failed"}
    client = None
    try:
        client = CLIENTS[kind](run.connection, budget=context.budget, **(client_options or {}))
        SYNCS[kind](context=context, client=client, mode=mode)
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
    if connection.kind not in TESTS:
        return False, f"No test for {connection.get_kind_display()} connections yet."
    try:
        client = CLIENTS[connection.kind](connection, **(client_options or {}))
    except Undecryptable as exc:
        return False, str(exc)
    try:
        return True, TESTS[connection.kind](connection=connection, client=client)
    except SyncError as exc:
        return False, str(exc)
    finally:
        client.close()
