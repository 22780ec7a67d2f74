"""/integrations/: the connections, their sync runs, live progress, "Sync now" and "Test connection".

Everyone signed in may read the runs (a failing sync is everybody's exception); starting a sync or
testing a connection needs integrations.run_sync (the Admin role), checked here on the server.
"""

from dataclasses import dataclass

from django.contrib.auth.decorators import permission_required
from django.db.models import F, Prefetch, Window
from django.db.models.functions import RowNumber
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from integrations.models import ApplicationMapping, Connection, SyncRun
from integrations.runner import connection_test
from integrations.sync.base import SyncAlreadyRunning
from integrations.tasks import sync_run_queue
from integrations.tools import TOOLS

TEMPLATE = "integrations/integrations.html"
RUNS_SHOWN = 10
RUN_PERMISSION = "integrations.run_sync"
SILENCE_WORTH_SAYING = 30  # seconds: a healthy run stores a page far more often, unless it waits


@dataclass(frozen=True)
class Progress:
    """What a run has done, its rate and, while it runs and the tool said how many to expect, an ETA."""

    run: SyncRun

    @property
    def elapsed_seconds(self) -> float:
        start = self.run.started_at or timezone.now()
        return max(((self.run.finished_at or timezone.now()) - start).total_seconds(), 0.001)

    @property
    def duration(self) -> str:
        return duration_text(self.elapsed_seconds)

    @property
    def active(self) -> bool:
        return self.run.status in (SyncRun.Status.QUEUED, SyncRun.Status.RUNNING)

    @property
    def rate(self) -> float:
        return self.run.items_fetched / self.elapsed_seconds

    @property
    def percent(self) -> int | None:
        expected = self.run.items_expected
        return min(100, round(100 * self.run.items_fetched / expected)) if expected else None

    @property
    def eta_seconds(self) -> int | None:
        expected, fetched = self.run.items_expected, self.run.items_fetched
        if not expected or not self.rate or fetched >= expected:
            return None
        return round((expected - fetched) / self.rate)

    @property
    def silence(self) -> str | None:
        """How long since the run last showed progress (a page, a wait), once that is worth saying."""
        beat = self.run.heartbeat_at
        seconds = (timezone.now() - beat).total_seconds() if beat else 0
        return duration_text(seconds, tenths=False) if seconds >= SILENCE_WORTH_SAYING else None

    @property
    def eta(self) -> str | None:
        seconds = self.eta_seconds
        return None if seconds is None else duration_text(max(seconds, 1), tenths=False)


def duration_text(seconds: float, *, tenths: bool = True) -> str:
    """1.7 s, 42 s, 3 min 12 s, 2 h 05 min: tenths only where a second is a large part of it."""
    if seconds < 10 and tenths:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    minutes, whole = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {whole} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def connections_with_runs(*, only: int | None = None) -> list[tuple[Connection, list[Progress]]]:
    """The connections with their mappings and latest runs: three queries whatever the history's size."""
    latest = SyncRun.objects.annotate(
        position=Window(RowNumber(), partition_by=[F("connection_id")], order_by=F("id").desc())
    ).filter(position__lte=RUNS_SHOWN)
    connections = Connection.objects.order_by("name")
    if only is not None:
        latest, connections = latest.filter(connection_id=only), connections.filter(pk=only)
    connections = connections.prefetch_related(
        Prefetch(
            "mappings",
            queryset=ApplicationMapping.objects.select_related("application").order_by("external_key"),
        ),
    )
    runs: dict[int, list[Progress]] = {}
    for run in latest.order_by("-id"):
        runs.setdefault(run.connection_id, []).append(Progress(run))
    return [(connection, runs.get(connection.pk, [])) for connection in connections]


@require_GET
def integrations_page(request):
    return render(request, TEMPLATE, page_context(request))


def page_context(request, **extra) -> dict:
    return {
        "connections": connections_with_runs(),
        "can_run": request.user.has_perm(RUN_PERMISSION),
        "syncable": set(TOOLS),
        **extra,
    }


@require_GET
def run_progress(request, pk: int):
    """The polled progress of one run; once it ends, the answer no longer asks to be polled."""
    run = get_object_or_404(SyncRun, pk=pk)
    return render(request, TEMPLATE + "#run-row", {"row": Progress(run)})


@require_POST
@permission_required(RUN_PERMISSION, raise_exception=True)
def sync_now(request, pk: int):
    connection = get_object_or_404(Connection, pk=pk)
    problem = ""
    if not connection.enabled:
        problem = f"{connection} is disabled: enable it in the admin first."
    elif connection.kind not in TOOLS:
        problem = f"{connection.get_kind_display()} connections cannot sync yet."
    else:
        try:
            sync_run_queue(connection=connection, by=request.user)
        except SyncAlreadyRunning as exc:
            problem = str(exc)
    if not request.htmx:
        return redirect(reverse("integrations:index") + f"#connection-{connection.pk}")
    return _card(request, connection, status=409 if problem else 200, notice=problem)


@require_POST
@permission_required(RUN_PERMISSION, raise_exception=True)
def test_connection(request, pk: int):
    connection = get_object_or_404(Connection, pk=pk)
    ok, message = connection_test(connection=connection)
    result = {"connection_id": connection.pk, "ok": ok, "message": message}
    if not request.htmx:
        return render(request, TEMPLATE, page_context(request, test_result=result))
    return render(request, TEMPLATE + "#test-result", {"test_result": result})


def _card(request, connection: Connection, *, status: int, notice: str = ""):
    (entry,) = connections_with_runs(only=connection.pk)
    context = {"entry": entry, "notice": notice, "can_run": True, "syncable": set(TOOLS)}
    return render(request, TEMPLATE + "#connection-card", context, status=status)
