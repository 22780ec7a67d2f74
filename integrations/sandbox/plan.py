"""The demo's plan: Jira versions, Jenkins builds and GitHub deployments of the demo's own releases.

The sandbox cannot know which versions a seeded demo holds (it never imports Django), so the demo
says: demo.sandbox.sandbox_plan() reads the seeded releases, `dev.py run` writes its answer to a JSON
file and starts the sandbox with `--plan FILE`. The plan names every version, build and deployment
in full:

    {"jira": {"created_from": "2026-08-25T08:00:00+00:00", "created_until": "2026-11-22T18:00:00+00:00",
              "projects": {"MOBILE": [{"id": "40012", "name": "3.4.1", "description": "...",
                                       "released": false, "archived": false, "startDate": "2026-11-16",
                                       "releaseDate": "2026-11-30",
                                       "issues": {"todo": 0, "in_progress": 1, "done": 5}}, ...]}},
    {"jenkins": {"mob-ci": [{"version": "3.4.1", "started_at": "2026-11-30T08:00:00+00:00",
                             "result": "SUCCESS", "failed": 0}, ...]},   (failed null: no report)
     "github": {"acme/mobile-banking": [{"ref": "3.4.1", "environment": "uat",
                                         "created_at": "2026-11-30T17:00:00+00:00", "state": "success"}]}}

Builds are numbered 1..n and deployments 1..n in the order given (oldest first); GitHub also
generates PULLS_PER_VERSION pull requests a deployed version, in milestones named after it; anything a
test adds later (JenkinsDataset.start, GithubDataset.deploy) follows the sandboxes' own rules. Jira's
issues are exactly those the versions count (--issues and --projects no longer apply), created evenly
between the two times, older versions' first; a done issue was resolved an hour after it was created.
"""

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from integrations.sandbox.dataset import JiraDataset
from integrations.sandbox.github import GithubDataset
from integrations.sandbox.jenkins import JenkinsDataset, PlannedBuild

STATUS_STEP = timedelta(minutes=2)  # between a deployment's statuses, as in github.py
PULLS_PER_VERSION = 4  # pull requests generated for each planned version's milestone
PULLS_BEFORE = timedelta(days=3)  # the first one opened this long before the first deployment


class PlanError(ValueError):
    pass


@dataclass(frozen=True)
class PlannedDeployment:
    ref: str
    environment: str
    created_at: datetime
    state: str = "success"


@dataclass
class PlannedGithubDataset(GithubDataset):
    """GitHub with each repository's first deployments given in full (ref, environment, time, outcome)."""

    planned: dict[str, list[PlannedDeployment]] = field(default_factory=dict)

    def planned_deployment(self, repo: str, number: int) -> PlannedDeployment | None:
        planned = self.planned.get(repo, ())
        return planned[number - 1] if 1 <= number <= len(planned) else None

    def history(self, repo: str, number: int) -> list[str]:
        planned = self.planned_deployment(repo, number)
        if planned is None or (repo, number) in self.states:
            return super().history(repo, number)
        return ["queued", "in_progress", planned.state]

    def deployment(self, repo: str, number: int, base_url: str) -> dict:
        raw = super().deployment(repo, number, base_url)
        planned = self.planned_deployment(repo, number)
        if planned is None:
            return raw
        updated = planned.created_at + len(self.history(repo, number)) * STATUS_STEP
        return raw | {
            "ref": planned.ref,
            "environment": planned.environment,
            "original_environment": planned.environment,
            "production_environment": planned.environment == "production",
            "created_at": _iso(planned.created_at),
            "updated_at": _iso(updated),
        }

    def pull_fields(self, repo: str, number: int) -> dict:
        """The generated pull requests, each in a milestone named after one of the repository's
        planned versions, so they land on the demo's releases."""
        fields = super().pull_fields(repo, number)
        versions = list(dict.fromkeys(d.ref for d in self.planned.get(repo, ())))
        if versions and (repo, number) not in self.pull_edits:
            fields["milestone"] = versions[number % len(versions)]
        return fields


# The plan's issue counts, named in the order of dataset.STATUSES (Offen, In Arbeit, Erledigt).
ISSUE_STATUSES = ("todo", "in_progress", "done")


@dataclass(frozen=True)
class PlannedVersion:
    id: str
    name: str
    description: str = ""
    released: bool = False
    archived: bool = False
    start_date: date | None = None
    release_date: date | None = None
    issues: tuple[int, int, int] = (0, 0, 0)  # how many are todo, in progress, done

    def raw(self, project_id: int) -> dict:
        """As Jira answers: dates only when the version has them."""
        dates = {"startDate": self.start_date, "releaseDate": self.release_date}
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "archived": self.archived,
            "released": self.released,
            **{key: day.isoformat() for key, day in dates.items() if day},
            "projectId": project_id,
        }


@dataclass
class PlannedJiraDataset(JiraDataset):
    """Jira with the versions the plan names and exactly the issues they count. Issue i is laid out
    once (project, number, version, status); edits, deletions and added issues work as on the
    generated dataset. No default links: the demo's own work items carry those."""

    planned: dict[str, list[PlannedVersion]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.projects = tuple(self.planned)
        self.versions_per_project = max((len(v) for v in self.planned.values()), default=0)
        self._version_at = {
            version.id: (project, v)
            for project, versions in self.planned.items()
            for v, version in enumerate(versions)
        }
        self._layout = _issue_layout(self.planned)
        self.issues = len(self._layout)

    def project_of(self, i: int) -> str:
        return self._layout[i][0] if i < len(self._layout) else super().project_of(i)

    def key(self, i: int) -> str:
        if i < len(self._layout):
            return f"{self._layout[i][0]}-{self._layout[i][1]}"
        return f"{self.project_of(i)}-{i + 1}"  # added later: past every planned number

    def default_status(self, i: int) -> int:
        return self._layout[i][3] if i < len(self._layout) else 0

    def default_fix_versions(self, i: int) -> list[str]:
        return [self._layout[i][2]] if i < len(self._layout) else []

    def blocks(self, i: int) -> list[int]:
        return self.edits.get(i, {}).get("blocks", [])

    def version_id(self, project: str, v: int) -> str:
        return self.planned[project][v].id

    def version(self, project: str, v: int) -> dict:
        version = self.planned[project][v]
        raw = version.raw(100 + self.projects.index(project))
        return raw | self.version_edits.get(version.id, {})

    def versions(self, project: str) -> list[dict]:
        return [self.version(project, v) for v in range(len(self.planned[project]))]

    def version_ref(self, version_id: str) -> dict:
        raw = self.version(*self._version_at[version_id])
        return {key: raw[key] for key in ("id", "name", "archived", "released", "releaseDate") if key in raw}


def _issue_layout(planned: dict[str, list[PlannedVersion]]) -> list[tuple[str, int, str, int]]:
    """(project, number, version id, status) per issue: older versions' issues first (created
    earlier), each version's done issues before its open ones; numbers count up per project."""
    order = sorted(
        (
            (version.release_date or date.max, p, v)
            for p, versions in enumerate(planned.values())
            for v, version in enumerate(versions)
        )
    )
    projects, numbers, layout = list(planned), dict.fromkeys(planned, 0), []
    for _day, p, v in order:
        project = projects[p]
        version = planned[project][v]
        for status in reversed(range(len(ISSUE_STATUSES))):
            for _ in range(version.issues[status]):
                numbers[project] += 1
                layout.append((project, numbers[project], version.id, status))
    return layout


def plan_load(path: Path) -> dict:
    """The plan file, or a PlanError that says what is wrong with it."""
    try:
        plan = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise PlanError(f"cannot read the plan {path}: {exc}") from exc
    if not isinstance(plan, dict):
        raise PlanError(f"the plan {path} is not a JSON object")
    return plan


def jira_from_plan(plan: dict, **generated) -> JiraDataset:
    """The plan's Jira, or without a "jira" section the generated one (`generated`: JiraDataset's
    fields, from the command line)."""
    section = plan.get("jira") or {}
    try:
        planned = {
            str(project): [_planned_version(raw) for raw in versions]
            for project, versions in (section.get("projects") or {}).items()
        }
        if not planned:
            return JiraDataset(**generated)
        start, end = _moment(section["created_from"]), _moment(section["created_until"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise PlanError(f"a Jira version in the plan is malformed: {exc!r}") from exc
    ids = [version.id for versions in planned.values() for version in versions]
    if len(set(ids)) < len(ids):
        raise PlanError("the plan gives two Jira versions the same id")
    if end <= start:
        raise PlanError("the plan's Jira issues are created_until before created_from")
    total = sum(sum(version.issues) for versions in planned.values() for version in versions)
    step = timedelta(seconds=max(1, int((end - start).total_seconds() // max(1, total))))
    time_zone = generated.get("time_zone", "UTC")
    return PlannedJiraDataset(planned=planned, base_time=start, issue_step=step, time_zone=time_zone)


def _planned_version(raw: dict) -> PlannedVersion:
    counts = raw.get("issues") or {}
    issues = tuple(int(counts.get(name, 0)) for name in ISSUE_STATUSES)
    if min(issues) < 0:
        raise ValueError(f"negative issue count in {counts!r}")
    return PlannedVersion(
        id=str(raw["id"]),
        name=str(raw["name"]),
        description=str(raw.get("description") or ""),
        released=bool(raw.get("released", False)),
        archived=bool(raw.get("archived", False)),
        start_date=_day(raw.get("startDate")),
        release_date=_day(raw.get("releaseDate")),
        issues=issues,
    )


def _day(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


def jenkins_from_plan(plan: dict) -> JenkinsDataset:
    try:
        planned = {
            job: [
                PlannedBuild(
                    version=str(b["version"]),
                    started_at=_moment(b["started_at"]),
                    result=str(b.get("result", "SUCCESS")),
                    failed=None if b.get("failed", 0) is None else int(b.get("failed", 0)),
                )
                for b in builds
            ]
            for job, builds in (plan.get("jenkins") or {}).items()
        }
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise PlanError(f"a Jenkins build in the plan is malformed: {exc!r}") from exc
    if not planned:
        return JenkinsDataset()
    return JenkinsDataset(jobs={job: len(builds) for job, builds in planned.items()}, planned=planned)


def github_from_plan(plan: dict) -> GithubDataset:
    try:
        planned = {
            repo: [
                PlannedDeployment(
                    ref=str(d["ref"]),
                    environment=str(d["environment"]),
                    created_at=_moment(d["created_at"]),
                    state=str(d.get("state", "success")),
                )
                for d in deployments
            ]
            for repo, deployments in (plan.get("github") or {}).items()
        }
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise PlanError(f"a GitHub deployment in the plan is malformed: {exc!r}") from exc
    if not planned:
        return GithubDataset()
    repos = {repo: len(deployments) for repo, deployments in planned.items()}
    pulls = {repo: PULLS_PER_VERSION * len({d.ref for d in planned[repo]}) for repo in planned}
    first = min(d.created_at for deployments in planned.values() for d in deployments)
    return PlannedGithubDataset(repos=repos, planned=planned, pulls=pulls, base_time=first - PULLS_BEFORE)


def _moment(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset")
    return moment.astimezone(UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
