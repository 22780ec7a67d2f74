"""/integrations/: the connections, their sync runs, live progress, "Sync now" and "Test connection".

Everyone signed in may read the runs (a failing sync is everybody's exception); starting a sync or
testing a connection needs integrations.run_sync (the Admin role), checked here on the server.
"""

from django.contrib.auth.decorators import permission_required
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from integrations import runner, tasks
from integrations.error_words import problem_of
from integrations.models import Connection, SyncRun
from integrations.selectors import Progress, connections_with_runs
from integrations.sync.base import SyncAlreadyRunning
from integrations.tools import TOOLS

TEMPLATE = "integrations/integrations.html"
RUN_PERMISSION = "integrations.run_sync"


@require_GET
def connection_list(request):
    return render(request, TEMPLATE, page_context(request))


def page_context(request, **extra) -> dict:
    return {
        "connections": connections_with_runs(),
        "can_run": request.user.has_perm(RUN_PERMISSION),
        "syncable": set(TOOLS),
        **extra,
    }


@require_GET
def sync_run_detail(request, pk: int):
    """The polled progress of one run; once it ends, the answer no longer asks to be polled."""
    run = get_object_or_404(SyncRun, pk=pk)
    # Asked only when a failed run shows its raw message: the polled rows cost no permission query.
    context = {"row": Progress(run), "can_run": lambda: request.user.has_perm(RUN_PERMISSION)}
    return render(request, TEMPLATE + "#run-row", context)


@require_POST
@permission_required(RUN_PERMISSION, raise_exception=True)
def sync_run_queue(request, pk: int):
    """ "Sync now": queue a run of the connection's sync, unless one is queued or running."""
    connection = get_object_or_404(Connection, pk=pk)
    problem = ""
    if not connection.enabled:
        problem = f"{connection} is disabled: enable it in the admin first."
    elif connection.kind not in TOOLS:
        problem = f"{connection.get_kind_display()} connections cannot sync yet."
    else:
        try:
            tasks.sync_run_queue(connection=connection, by=request.user)
        except SyncAlreadyRunning as exc:
            problem = str(exc)
    if not request.htmx:
        return redirect(reverse("integrations:index") + f"#connection-{connection.pk}")
    return _card(request, connection, status=409 if problem else 200, notice=problem)


@require_POST
@permission_required(RUN_PERMISSION, raise_exception=True)
def connection_test(request, pk: int):
    connection = get_object_or_404(Connection, pk=pk)
    ok, message = runner.connection_test(connection=connection)
    result = {
        "connection_id": connection.pk,
        "ok": ok,
        "message": message,
        "problem": None if ok else problem_of(message),
    }
    if not request.htmx:
        return render(request, TEMPLATE, page_context(request, test_result=result))
    return render(request, TEMPLATE + "#test-result", {"test_result": result})


def _card(request, connection: Connection, *, status: int, notice: str = ""):
    (entry,) = connections_with_runs(only=connection.pk)
    context = {"entry": entry, "notice": notice, "can_run": True, "syncable": set(TOOLS)}
    return render(request, TEMPLATE + "#connection-card", context, status=status)
