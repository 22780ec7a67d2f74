"""The reads of /integrations/: the connections with their latest runs, and each run's progress in
words (duration, rate, ETA, silence)."""

from dataclasses import dataclass

from django.db.models import F, Prefetch, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from integrations.error_words import Problem, problem_of
from integrations.models import ApplicationMapping, Connection, SyncCursor, SyncRun
from releases.facts.services.ownership import facts_held

RUNS_SHOWN = 10
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
    def problem(self) -> Problem | None:
        """The run's error in words with the next step (the raw text stays in run.error)."""
        return problem_of(self.run.error)

    @property
    def rows_written(self) -> int:
        """Rows the run wrote in Flightdeck: new and changed ones (a fetched record can write several)."""
        return self.run.items_created + self.run.items_updated

    @property
    def active(self) -> bool:
        return self.run.status in (SyncRun.Status.QUEUED, SyncRun.Status.RUNNING)

    @property
    def rate(self) -> float:
        return self.run.items_fetched / self.elapsed_seconds

    @property
    def percent(self) -> int | None:
        expected = self.run.items_expected
        return min(100, 100 * self.run.items_fetched // expected) if expected else None  # 100 only when done

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


@dataclass(frozen=True)
class Held:
    """Facts another connection owns that this one reads too: it may take them over."""

    owner: Connection | None  # None: a source that is no connection now (deleted, or an import)
    owner_key: str
    count: int


def connections_with_runs(*, only: int | None = None) -> list[tuple[Connection, list[Progress]]]:
    """The connections with their mappings, stream cursors, the facts others own that each reads too
    (`connection.held`), and latest runs: five queries whatever the history's size, six when
    another connection owns facts one reads."""
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
        Prefetch("cursors", queryset=SyncCursor.objects.order_by("stream")),
    )
    connections = list(connections)
    _attach_held(connections)
    runs: dict[int, list[Progress]] = {}
    for run in latest.order_by("-id"):
        runs.setdefault(run.connection_id, []).append(Progress(run))
    return [(connection, runs.get(connection.pk, [])) for connection in connections]


def _attach_held(connections: list[Connection]) -> None:
    held = facts_held(sources=[connection.source_key for connection in connections])
    owner_pks = {_pk_of(key) for owners in held.values() for key in owners}
    owners = Connection.objects.in_bulk([pk for pk in owner_pks if pk]) if owner_pks else {}
    by_key = {owner.source_key: owner for owner in owners.values()}
    for connection in connections:
        found = held[connection.source_key].items()
        connection.held = [Held(by_key.get(key), key, count) for key, count in sorted(found)]


def _pk_of(source_key: str) -> int | None:
    """The connection id in a source key ("jira_cloud#3"); None for a source that is no connection."""
    _, _, pk = source_key.rpartition("#")
    return int(pk) if pk.isdigit() and len(pk) < 19 else None
