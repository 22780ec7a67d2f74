"""The reads of the release page: a fixed number of queries whatever the data size.

The forecast itself is never recomputed here: the page reads the stored forecast columns that
releases.planning.services.forecasting keeps fresh, and resolves the release ids they name in one query.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property

from django.db.models import Count, Exists, F, OuterRef, Q, Window
from django.db.models.functions import RowNumber
from django.shortcuts import get_object_or_404
from django.utils import timezone

from releases.gates.selectors.audit_trail import audit_rows
from releases.gates.selectors.gate_panel import GatePanel, gate_panels, gates_with_signoffs
from releases.models import (
    AuditEvent,
    Build,
    Deployment,
    Gate,
    PullRequest,
    Release,
    ReleaseDependency,
    TestRun,
    WorkItem,
)
from releases.numbers import share
from releases.planning.forecast import DependencyState, ForecastState, stored_hold_text
from releases.planning.forecast import dependency_state as forecast_dependency_state

LATEST_BUILDS = 5
LATEST_TEST_RUNS = 5
LATEST_PULL_REQUESTS = 10
TIMELINE_EVENTS = 25

STATE_LABELS = {
    DependencyState.SATISFIED: "Satisfied",
    DependencyState.PENDING: "Pending",
    DependencyState.AT_RISK: "At risk",
    DependencyState.BLOCKED: "Blocked",
}


def release_for_page(pk: int) -> Release:
    return get_object_or_404(
        Release.objects.select_related("application__portfolio", "train", "owner"), pk=pk
    )


# --- dependencies ------------------------------------------------------------------------------


def dependency_state(*, upstream: Release, downstream_target: date, kind: str) -> DependencyState:
    """releases.planning.forecast's rule, read from the upstream release's stored forecast: a cancelled
    or blocked upstream has no date (nor has one whose forecast found such a release upstream of it)."""
    cancelled = upstream.delivery_state in (ForecastState.CANCELLED, ForecastState.BLOCKED) or (
        upstream.forecast_date is None and upstream.forecast_updated_at is not None
    )
    return forecast_dependency_state(
        shipped=upstream.status == Release.Status.RELEASED,
        upstream_date=None if cancelled else upstream.forecast_date or upstream.target_date,
        downstream_target=downstream_target,
        kind=kind,
    )


@dataclass(frozen=True)
class DependencyRow:
    link: ReleaseDependency
    other: Release  # the upstream release on the "needs" side, the downstream one on the "needed by" side
    state: DependencyState

    @property
    def state_label(self) -> str:
        return STATE_LABELS[self.state]


@dataclass
class Dependencies:
    upstream: list[DependencyRow] = field(default_factory=list)
    downstream: list[DependencyRow] = field(default_factory=list)


def dependencies_of(release: Release) -> Dependencies:
    """Both directions in one query, each link with its state."""
    links = (
        ReleaseDependency.objects.filter(Q(downstream=release) | Q(upstream=release))
        .select_related("upstream__application", "downstream__application")
        .order_by("pk")
    )
    result = Dependencies()
    for link in links:
        if link.downstream_id == release.pk:
            state = dependency_state(
                upstream=link.upstream, downstream_target=release.target_date, kind=link.kind
            )
            result.upstream.append(DependencyRow(link, link.upstream, state))
        else:
            state = dependency_state(
                upstream=release, downstream_target=link.downstream.target_date, kind=link.kind
            )
            result.downstream.append(DependencyRow(link, link.downstream, state))
    return result


# --- the stored forecast, in words ----------------------------------------------------------------


@dataclass(frozen=True)
class Hold:
    """One stored "waiting for" line, in words: `words`, then the release it names (a link to
    `release_id`, reading `name`), then `after`."""

    kind: str
    until: date | None
    words: str
    release_id: int | None = None
    name: str = ""
    after: str = ""


def forecast_holds(release: Release) -> tuple[list[Hold], list[Release]]:
    """What the release waits for and its critical path, with every release named in one query."""
    waiting = release.forecast_waiting_for or []
    path_ids = release.forecast_critical_path or []
    ids = {h["release_id"] for h in waiting if h.get("release_id")} | set(path_ids)
    named = Release.objects.select_related("application").in_bulk(ids) if ids else {}
    holds = [_hold(h, named) for h in waiting]
    return holds, [named[pk] for pk in path_ids if pk in named]


def _hold(stored: dict, named: dict[int, Release]) -> Hold:
    """The words forecast_refresh stored (`text`); a line stored before holds carried their names
    is worded again from its parts, naming its release from `named`."""
    until = date.fromisoformat(stored["until"]) if stored.get("until") else None
    release_id = stored.get("release_id")
    other = named.get(release_id)
    name = stored.get("name") or (str(other) if other else "")
    kind = stored.get("kind", "")
    text = stored_hold_text(stored, name=name)
    if release_id and name and name in text:
        words, after = text.split(name, 1)
        return Hold(kind, until, words.rstrip(), release_id, name, after)
    return Hold(kind, until, text)


# --- gates, scope, builds, test runs, deployments, audit -------------------------------------------


def gates_of(release: Release):
    return gates_with_signoffs().filter(release=release).order_by("due_date", "kind")


@dataclass(frozen=True)
class ScopeLine:
    label: str
    todo: int
    in_progress: int
    done: int
    descoped: int

    @property
    def total(self) -> int:
        return self.todo + self.in_progress + self.done

    @property
    def percent_done(self) -> int:
        return round(100 * self.done / self.total) if self.total else 0

    @property
    def share_done(self) -> str:
        return share(self.done, self.total) if self.total else "0%"


def scope_of(release: Release) -> tuple[list[ScopeLine], ScopeLine]:
    """Work items by type and status category (descoped ones counted apart): one aggregate query."""
    counts = (
        WorkItem.objects.filter(fix_releases=release)
        .values("type", "status_category")
        .annotate(n=Count("id", filter=Q(descoped=False)), descoped=Count("id", filter=Q(descoped=True)))
        .order_by()
    )
    by_type: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in counts:
        by_type[row["type"]][row["status_category"]] += row["n"]
        by_type[row["type"]]["descoped"] += row["descoped"]
    labels = dict(WorkItem.Type.choices)
    lines = [
        ScopeLine(labels.get(kind, kind), c["todo"], c["in_progress"], c["done"], c["descoped"])
        for kind, c in sorted(
            by_type.items(), key=lambda item: list(labels).index(item[0]) if item[0] in labels else 99
        )
    ]
    total = ScopeLine(
        "All",
        *(sum(getattr(line, name) for line in lines) for name in ("todo", "in_progress", "done", "descoped")),
    )
    return lines, total


def latest_builds(release: Release):
    return Build.objects.filter(release=release).order_by("-started_at")[:LATEST_BUILDS]


def latest_test_runs(release: Release):
    return (
        TestRun.objects.filter(release=release)
        .select_related("environment", "build")
        .order_by("-executed_at")[:LATEST_TEST_RUNS]
    )


@dataclass(frozen=True)
class PullRequests:
    merged: int
    open: int
    total: int
    latest: list[PullRequest]


def pull_requests_of(release: Release) -> PullRequests:
    """The newest few pull requests of the release and its counts, in one query: the window counts
    run over all of its pull requests before the LIMIT."""
    latest = list(
        PullRequest.objects.filter(release=release)
        .annotate(
            merged_count=Window(Count("id", filter=Q(state=PullRequest.State.MERGED))),
            open_count=Window(Count("id", filter=Q(state=PullRequest.State.OPEN))),
            total_count=Window(Count("id")),
        )
        .order_by("-created_at", "-pk")[:LATEST_PULL_REQUESTS]
    )
    if not latest:
        return PullRequests(0, 0, 0, [])
    return PullRequests(latest[0].merged_count, latest[0].open_count, latest[0].total_count, latest)


def deployments_of(release: Release):
    """The latest deployment of this version per environment, and whether a newer successful
    deployment of the application has replaced it there since: one query."""
    newer = Deployment.objects.filter(
        environment=OuterRef("environment"),
        application=OuterRef("application"),
        status=Deployment.Status.SUCCESS,
        deployed_at__gt=OuterRef("deployed_at"),
    )
    return (
        Deployment.objects.filter(  # a tool may name the version its own way ("v4.2"): the link counts
            Q(release=release) | Q(application_id=release.application_id, version=release.version)
        )
        .annotate(
            rank=Window(RowNumber(), partition_by=[F("environment_id")], order_by=F("deployed_at").desc()),
            replaced=Exists(newer),
        )
        .filter(rank=1)
        .select_related("environment")
        .order_by("environment__name")
    )


ACTION_WORDS = {
    "release.create": "Created",
    "release.update": "Changed",
    "release.sync_create": "Created from a tool",
    "release.sync_update": "Changed by a sync",
    "release.dependency_add": "Dependency added",
    "release.dependency_remove": "Dependency removed",
    "release.scope_change": "Scope changed",
    "evidence.export": "Evidence package exported",
    "evidence.export.denied": "Evidence package refused (no permission)",
    "signoff.create": "Signed",
    "gate.decide": "Gate decided",
    "gate.waive": "Gate waived",
    "gate.sign.denied": "Sign-off refused",
    "gate.waive.denied": "Waiver refused",
}
UPDATE_ACTIONS = ("release.update", "release.sync_update")
# The decisions on the release's gates join its timeline; evidence refreshes stay on the gates' own trail.
GATE_DECISION_ACTIONS = ["gate.decide", "gate.waive", "gate.sign.denied", "gate.waive.denied"]
FIELD_LABELS = {
    "status": "status",
    "target_date": "target",
    "code_freeze_date": "code freeze",
    "actual_date": "shipped on",
    "version": "version",
    "summary": "summary",
    "owner_id": "owner",
    "train_id": "train",
}


@dataclass(frozen=True)
class TimelineEntry:
    event: AuditEvent
    words: str
    changes: list[tuple[str, object, object]]
    actor: str  # the full name
    sentence: str = ""  # a gate's decision or a signature in words, with names: the whole line


SENTENCE_OBJECTS = ("releases.gate", "releases.signoff")


def timeline_of(release: Release, gates: list[Gate]) -> list[TimelineEntry]:
    """The release's audit events and its gates' decisions and signatures, newest first (through the
    events' indexed release column); a change lists the fields it moved, a decision or a signature
    reads as a sentence with the people's names ("Sofia Martins approved Security review")."""
    events = (
        AuditEvent.objects.filter(release_id=release.pk)
        .filter(
            Q(object_type="releases.release")
            | Q(object_type="releases.gate", action__in=GATE_DECISION_ACTIONS)
            | Q(object_type="releases.signoff")
        )
        .select_related("actor")
        .order_by("-seq")[:TIMELINE_EVENTS]
    )
    return [
        TimelineEntry(
            row.event,
            ACTION_WORDS.get(row.event.action, row.event.action),
            _changes(row.event),
            row.actor,
            row.sentence if row.event.object_type in SENTENCE_OBJECTS else "",
        )
        for row in audit_rows(
            events,
            gates={gate.pk: gate.name for gate in gates},
            releases={release.pk: f"{release.application.key} {release.version}"},
        )
    ]


def _changes(event: AuditEvent) -> list[tuple[str, object, object]]:
    if event.action not in UPDATE_ACTIONS or not event.before or not event.after:
        return []
    return [
        (label, event.before.get(name) or "—", event.after.get(name) or "—")
        for name, label in FIELD_LABELS.items()
        if event.before.get(name) != event.after.get(name)
    ]


class ReleasePage:
    """Everything the page shows, read on first use: a partial response runs only its own queries."""

    EDIT_PERMISSION = "releases.change_release_dates"

    def __init__(self, release: Release, user):
        self.release = release
        self.user = user
        self.today = timezone.localdate()

    @cached_property
    def can_edit(self) -> bool:
        return self.user.has_perm(self.EDIT_PERMISSION)

    @cached_property
    def forecast(self) -> tuple[list[Hold], list[Release]]:
        return forecast_holds(self.release)

    @property
    def holds(self) -> list[Hold]:
        return self.forecast[0]

    @property
    def critical_path(self) -> list[Release]:
        return self.forecast[1]

    @cached_property
    def dependencies(self) -> Dependencies:
        return dependencies_of(self.release)

    @cached_property
    def gates(self) -> list[Gate]:
        return list(gates_of(self.release))

    @cached_property
    def gate_panels(self) -> list[GatePanel]:
        return gate_panels(self.gates, release=self.release, user=self.user)

    @cached_property
    def scope(self) -> tuple[list[ScopeLine], ScopeLine]:
        return scope_of(self.release)

    @cached_property
    def builds(self) -> list[Build]:
        return list(latest_builds(self.release))

    @cached_property
    def test_runs(self) -> list[TestRun]:
        return list(latest_test_runs(self.release))

    @cached_property
    def deployments(self) -> list[Deployment]:
        return list(deployments_of(self.release))

    @cached_property
    def pull_requests(self) -> PullRequests:
        return pull_requests_of(self.release)

    @cached_property
    def timeline(self) -> list[TimelineEntry]:
        return timeline_of(self.release, self.gates)
