"""Automatic gate evidence, from the facts the teams' tools reported.

- QA gates: the latest test run of each suite (test run name) of the release, added up, so a later
  smoke run cannot hide a failed regression. Runs supplied by the release's owner or last scope
  changer do not count: evidence comes from someone without a stake in the release.
  Pass rate = passed / (passed + failed + errors); the
  evidence holds when the rate is at least `min_pass_rate` (default 95%) and failed + errors is at
  most `max_failed` (default 0).
- Scope gates: the release's work items. Open = neither done nor descoped; the evidence holds when
  at most `max_open_blockers` (default 0) are open.
- Build gates: the latest build of the release; it holds when its result is `result` (default success).

Evidence-only gates (approvals_required == 0) follow their evidence: passed when it holds, failed when
it does not, pending while there is none (or a build still runs). Gates that people sign keep their
decision whatever the evidence does: the signers saw the evidence of the moment, and the stored
sign-off hash records it. A waiver stands for ever, and closed releases keep what they shipped with.

The pure `*_evidence` functions take plain numbers, so the demo seed computes the same verdicts.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Count, F, Max, Q, Window
from django.db.models.functions import Coalesce, RowNumber
from django.utils import timezone

from releases.audit import audit_record_many
from releases.models import Build, Gate, GateKind, TestRun, WorkItem
from releases.numbers import share
from releases.querysets import CLOSED_STATUSES

DEFAULT_MIN_PASS_RATE = 0.95
DEFAULT_MAX_FAILED = 0
DEFAULT_MAX_OPEN_BLOCKERS = 0
DEFAULT_BUILD_RESULT = "success"
EVIDENCE_KINDS = (GateKind.QA, GateKind.SCOPE, GateKind.BUILD)
EVIDENCE_FIELDS = (
    "evidence_pass_rate",
    "evidence_failed_tests",
    "evidence_open_blockers",
    "evidence_build_result",
    "evidence_source",
    "evidence_at",
    "evidence_ok",
    "evidence_summary",
)
CHUNK = 500


@dataclass(frozen=True)
class Evidence:
    """What a gate's evidence fields hold; all empty while the tools have reported nothing."""

    pass_rate: float | None = None
    failed_tests: int | None = None
    open_blockers: int | None = None
    build_result: str = ""
    source: str = ""
    at: datetime | None = None
    ok: bool | None = None
    summary: str = ""

    def as_fields(self) -> dict:
        values = (
            self.pass_rate,
            self.failed_tests,
            self.open_blockers,
            self.build_result,
            self.source,
            self.at,
            self.ok,
            self.summary[:300],
        )
        return dict(zip(EVIDENCE_FIELDS, values, strict=True))


NO_EVIDENCE = Evidence()


def criteria_problems(criteria) -> list[str]:
    """What is wrong with a requirement's criteria (other keys are kept for people to read)."""
    if not isinstance(criteria, dict):
        return ['Criteria are a JSON object, e.g. {"min_pass_rate": 0.95}.']
    problems = []
    rate = criteria.get("min_pass_rate", 0)
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate <= 1:
        problems.append("min_pass_rate is a fraction from 0 to 1, e.g. 0.95.")
    for name in ("max_failed", "max_open_blockers"):
        value = criteria.get(name, 0)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            problems.append(f"{name} is a whole number, 0 or more.")
    if criteria.get("result", DEFAULT_BUILD_RESULT) not in set(Build.Result.values) - {Build.Result.RUNNING}:
        problems.append("result is a finished build's result: success, unstable, failure or aborted.")
    return problems


def percent(rate: float) -> str:
    """A threshold a person typed (min_pass_rate 0.975), as typed: "97.5%", never rounded to "98%".
    Measured shares are said by releases.numbers instead."""
    return f"{rate * 100:g}%"


@dataclass(frozen=True)
class SuiteRun:
    """The latest run of one test suite, and the build it tested."""

    name: str
    passed: int
    failed: int
    errors: int
    executed_at: datetime
    job: str = ""
    number: int | None = None


def qa_evidence(criteria: dict, runs: list[SuiteRun]) -> Evidence:
    if not runs:
        return NO_EVIDENCE
    latest = max(runs, key=lambda run: run.executed_at)
    passed, failed, errors = (
        sum(getattr(run, name) for run in runs) for name in ("passed", "failed", "errors")
    )
    source, at, executed = suite_source(runs, latest), latest.executed_at, passed + failed + errors
    if not executed:
        return Evidence(source=source, at=at, summary="The latest test runs executed no test.")
    rate, not_passed = round(passed / executed, 4), failed + errors
    if 0 < passed < executed:  # 1 failure in 30,000 is not a pass rate of 1.0
        rate = min(max(rate, 0.0001), 0.9999)
    min_rate = criteria.get("min_pass_rate", DEFAULT_MIN_PASS_RATE)
    max_failed = criteria.get("max_failed", DEFAULT_MAX_FAILED)
    misses = []
    if rate < min_rate:
        misses.append(f"needs at least {percent(min_rate)}")
    if not_passed > max_failed:
        misses.append(f"allows {max_failed} failed" if max_failed else "allows no failure")
    summary = f"{passed} of {executed} tests passed ({share(passed, executed, decimals=1)}), {failed} failed"
    summary += f", {errors} error{'s' if errors != 1 else ''}" if errors else ""
    summary += f" in {len(runs)} suites" if len(runs) > 1 else ""
    return Evidence(
        pass_rate=rate,
        failed_tests=not_passed,
        source=source,
        at=at,
        ok=not misses,
        summary=summary + (": " + "; ".join(misses) if misses else ""),
    )


def suite_source(runs: list[SuiteRun], latest: SuiteRun) -> str:
    """The suites in words, and the build the latest run tested."""
    names = ", ".join(sorted(run.name or "test run" for run in runs))
    build = f" · {latest.job} #{latest.number}" if latest.job else ""
    return f"JUnit: {names}"[: 200 - len(build)] + build


def scope_evidence(criteria: dict, *, in_scope: int, open_items: int, descoped: int, at) -> Evidence:
    if not in_scope and not descoped:
        return NO_EVIDENCE
    allowed = criteria.get("max_open_blockers", DEFAULT_MAX_OPEN_BLOCKERS)
    ok = open_items <= allowed
    summary = f"{in_scope - open_items} of {in_scope} work items done, {open_items} open"
    summary += f" ({descoped} descoped)" if descoped else ""
    if not ok:
        summary += ": all must be done or descoped" if not allowed else f": allows {allowed} open"
    return Evidence(open_blockers=open_items, source="Work items", at=at, ok=ok, summary=summary)


def build_evidence(
    criteria: dict, *, job: str, number: int, result: str, started_at, duration_ms: int
) -> Evidence:
    """As of when the build finished (started, while it runs)."""
    source = f"Build {job} #{number}"
    if result == Build.Result.RUNNING:
        return Evidence(
            build_result=result, source=source, at=started_at, summary=f"{source} is still running."
        )
    at = started_at + timedelta(milliseconds=duration_ms)
    wanted = criteria.get("result", DEFAULT_BUILD_RESULT)
    ok = result == wanted
    summary = f"{source}: {result}" + ("" if ok else f" (needs {wanted})")
    return Evidence(build_result=result, source=source, at=at, ok=ok, summary=summary)


# --- recomputing stored evidence ----------------------------------------------------------------------


@transaction.atomic
def gate_evidence_refresh(*, release_ids) -> int:
    """Recompute the evidence of these releases' QA, scope and build gates; write and audit (as the
    system) only the gates whose evidence or evidence-decided status changed. Returns that count."""
    ids = sorted(set(release_ids))
    return sum(_refresh_chunk(ids[start : start + CHUNK]) for start in range(0, len(ids), CHUNK))


def _refresh_chunk(release_ids: list[int]) -> int:
    gates = list(
        Gate.objects.filter(release_id__in=release_ids, kind__in=EVIDENCE_KINDS)
        .exclude(release__status__in=CLOSED_STATUSES)
        .select_related("requirement")
        .order_by("pk")
    )
    if not gates:
        return 0
    facts = _Facts(release_ids, kinds={gate.kind for gate in gates})
    now, changed = timezone.now(), []
    for gate in gates:
        before = _state(gate)
        criteria = gate.requirement.criteria if gate.requirement else {}
        for name, value in facts.evidence(gate.kind, gate.release_id, criteria).as_fields().items():
            setattr(gate, name, value)
        _decide_by_evidence(gate, now)
        if _state(gate) != before:
            changed.append((gate, before))
    if changed:
        Gate.objects.bulk_update([gate for gate, _ in changed], [*EVIDENCE_FIELDS, "status", "decided_at"])
    entries = [
        {"action": "gate.evidence", "obj": g, "before": before, "after": _state(g)} for g, before in changed
    ]
    audit_record_many(actor=None, entries=entries)
    return len(changed)


def _decide_by_evidence(gate: Gate, now) -> None:
    if gate.approvals_required or gate.status == Gate.Status.WAIVED:
        return
    status = {True: Gate.Status.PASSED, False: Gate.Status.FAILED, None: Gate.Status.PENDING}[
        gate.evidence_ok
    ]
    if status != gate.status:
        gate.status = status
        gate.decided_at = None if status == Gate.Status.PENDING else now


def _state(gate: Gate) -> dict:
    return {name: getattr(gate, name) for name in (*EVIDENCE_FIELDS, "status", "decided_at")}


class _Facts:
    """The latest test run, the latest build and the work-item counts of each release: at most three
    queries for any number of releases, and only those the gates' kinds need."""

    def __init__(self, release_ids: list[int], kinds: set[str]):
        self.runs = _latest_suite_runs(release_ids) if GateKind.QA in kinds else {}
        self.builds = _latest_builds(release_ids) if GateKind.BUILD in kinds else {}
        self.scope = _scope_counts(release_ids) if GateKind.SCOPE in kinds else {}

    def evidence(self, kind: str, release_id: int, criteria: dict) -> Evidence:
        if kind == GateKind.QA:
            return qa_evidence(criteria, self.runs.get(release_id, []))
        if kind == GateKind.BUILD:
            build = self.builds.get(release_id)
            return _build_from_row(criteria, build) if build else NO_EVIDENCE
        counts = self.scope.get(release_id, {"in_scope": 0, "open_items": 0, "descoped": 0, "at": None})
        return scope_evidence(criteria, **counts)


def _latest_builds(release_ids: list[int]) -> dict[int, Build]:
    rank = Window(
        RowNumber(), partition_by=[F("release_id")], order_by=[F("started_at").desc(), F("pk").desc()]
    )
    rows = Build.objects.filter(release_id__in=release_ids).annotate(rank=rank).filter(rank=1)
    return {row.release_id: row for row in rows}


def _latest_suite_runs(release_ids: list[int]) -> dict[int, list[SuiteRun]]:
    rank = Window(
        RowNumber(),
        partition_by=[F("release_id"), F("name")],
        order_by=[F("executed_at").desc(), F("pk").desc()],
    )
    # A run supplied by the release's owner or last scope changer is never its evidence, even when
    # the release changed hands after the upload.
    interested = Q(supplied_by_id=F("release__owner_id")) | Q(
        supplied_by_id=F("release__scope_changed_by_id")
    )
    runs_of = TestRun.objects.filter(release_id__in=release_ids).exclude(interested)
    rows = runs_of.annotate(rank=rank).filter(rank=1)
    runs: dict[int, list[SuiteRun]] = {}
    for run in rows.select_related("build").order_by("release_id", "name"):
        build = run.build
        runs.setdefault(run.release_id, []).append(
            SuiteRun(
                run.name,
                run.passed,
                run.failed,
                run.errors,
                run.executed_at,
                *((build.job, build.number) if build else ()),
            )
        )
    return runs


def _build_from_row(criteria: dict, build: Build) -> Evidence:
    return build_evidence(
        criteria,
        job=build.job,
        number=build.number,
        result=build.result,
        started_at=build.started_at,
        duration_ms=build.duration_ms,
    )


def _scope_counts(release_ids: list[int]) -> dict[int, dict]:
    through = WorkItem.fix_releases.through
    not_done = ~Q(workitem__status_category=WorkItem.StatusCategory.DONE)
    rows = (
        through.objects.filter(release_id__in=release_ids)
        .values("release_id")
        .annotate(
            in_scope=Count("pk", filter=Q(workitem__descoped=False)),
            open_items=Count("pk", filter=Q(workitem__descoped=False) & not_done),
            descoped=Count("pk", filter=Q(workitem__descoped=True)),
            at=Max(Coalesce("workitem__updated_at", "workitem__resolved_at", "workitem__created_at")),
        )
        .order_by()
    )
    return {row.pop("release_id"): row for row in rows}
