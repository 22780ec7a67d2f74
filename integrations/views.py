"""/integrations/: the connections, their sync runs, live progress, "Sync now" and "Test connection".

Everyone signed in may read the runs (a failing sync is everybody's exception); starting a sync or
testing a connection needs integrations.run_sync (the Admin role), checked here on the server.
"""

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from integrations import connections as admin_tools
from integrations import runner, tasks
from integrations.error_words import problem_of
from integrations.models import Connection, SyncRun
from integrations.selectors import Progress, connections_with_runs
from integrations.sync.base import SyncRefused
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
    if connection.kind not in TOOLS:
        problem = f"{connection.get_kind_display()} connections cannot sync yet."
    else:
        try:
            tasks.sync_run_queue(connection=connection, by=request.user)
        except SyncRefused as exc:
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


@require_POST
@permission_required(RUN_PERMISSION, raise_exception=True)
def connection_admin(request, pk: int, action: str):
    """An admin's tool for the connection (integrations.connections); a refusal is a 409 that changes
    nothing, and says why."""
    connection = get_object_or_404(Connection, pk=pk)
    tool = ADMIN_TOOLS.get(action)
    if tool is None:
        raise Http404("No such action.")
    try:
        done = tool(request, connection)
    except SyncRefused as exc:
        if not request.htmx:
            messages.error(request, str(exc))
            return redirect(reverse("integrations:index") + f"#connection-{connection.pk}")
        return _card(request, connection, status=409, notice=str(exc))
    if not request.htmx:
        messages.success(request, done)
        return redirect(reverse("integrations:index") + f"#connection-{connection.pk}")
    return _card(request, connection, status=200, done=done)


def _pause(request, connection):
    admin_tools.connection_pause(connection=connection, by=request.user)
    return f"{connection} is paused: no scheduled or webhook sync until it is resumed."


def _resume(request, connection):
    admin_tools.connection_resume(connection=connection, by=request.user)
    return f"{connection} is resumed: it syncs on its schedule again."


def _cursor_reset(request, connection):
    stream = request.POST.get("stream", "")
    admin_tools.cursor_reset(connection=connection, stream=stream, by=request.user)
    return f"The cursor of {stream} is reset: the next sync reads that stream from the start."


def _resync(request, connection):
    admin_tools.connection_resync(connection=connection, by=request.user)
    return "A full resync is queued: every record is read again, and only what differs is written."


def _take_over(request, connection):
    giver = Connection.objects.filter(pk=_int_or_none(request.POST.get("giver"))).first()
    if giver is None:
        raise SyncRefused("Choose the connection whose facts this one takes over.")
    handover = admin_tools.connection_take_over(connection=connection, giver=giver, by=request.user)
    return (
        f"{connection} now owns {handover.releases} release(s) and {handover.work_items} work item(s) "
        f"from {giver}; a full resync is queued."
    )


def _repoint(request, connection):
    answer = request.POST.get("answer")
    if answer == "same":
        admin_tools.connection_repoint_confirm(connection=connection, by=request.user)
        return f"{connection} reads the same instance at its new address; its facts carry on."
    if answer == "other":
        admin_tools.connection_repoint_undo(connection=connection, by=request.user)
        return (
            f"{connection} points at {connection.facts_base_url} again. Add a new connection for the "
            "other instance: it adopts the facts both know, and can take them over."
        )
    raise SyncRefused("Say whether the new address is the same instance.")


def _int_or_none(value) -> int | None:
    return int(value) if isinstance(value, str) and value.isdigit() and len(value) < 19 else None


ADMIN_TOOLS = {
    "pause": _pause,
    "resume": _resume,
    "cursor-reset": _cursor_reset,
    "resync": _resync,
    "take-over": _take_over,
    "repoint": _repoint,
}


def _card(request, connection: Connection, *, status: int, notice: str = "", done: str = ""):
    (entry,) = connections_with_runs(only=connection.pk)
    context = {"entry": entry, "notice": notice, "done": done, "can_run": True, "syncable": set(TOOLS)}
    return render(request, TEMPLATE + "#connection-card", context, status=status)
