"""The demo's plan: Jenkins builds and GitHub deployments of the demo's own releases.

The sandbox cannot know which versions a seeded demo holds (it never imports Django), so the demo
says: portal.demo.sandbox_plan() reads the seeded releases, `dev.py run` writes its answer to a JSON
file and starts the sandbox with `--plan FILE`. The plan names every build and deployment in full:

    {"jenkins": {"mob-ci": [{"version": "3.4.1", "started_at": "2026-11-30T08:00:00+00:00",
                             "result": "SUCCESS", "failed": 0}, ...]},   (failed null: no report)
     "github": {"acme/mobile-banking": [{"ref": "3.4.1", "environment": "uat",
                                         "created_at": "2026-11-30T17:00:00+00:00", "state": "success"}]}}

Builds are numbered 1..n and deployments 1..n in the order given (oldest first); anything a test
adds later (JenkinsDataset.start, GithubDataset.deploy) follows the sandboxes' own rules.
"""

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from integrations.sandbox.github import GithubDataset
from integrations.sandbox.jenkins import JenkinsDataset, PlannedBuild

STATUS_STEP = timedelta(minutes=2)  # between a deployment's statuses, as in github.py


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


def plan_load(path: Path) -> dict:
    """The plan file, or a PlanError that says what is wrong with it."""
    try:
        plan = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise PlanError(f"cannot read the plan {path}: {exc}") from exc
    if not isinstance(plan, dict):
        raise PlanError(f"the plan {path} is not a JSON object")
    return plan


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
    return PlannedGithubDataset(repos=repos, planned=planned)


def _moment(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset")
    return moment.astimezone(UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
