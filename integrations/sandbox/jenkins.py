"""A generated Jenkins: jobs with numbered builds, running builds, test reports (or their 404).

Build n of a job is computed from n alone until a test starts or finishes one, so any number of
builds costs no memory; or a job's first builds are given in full (`planned`: the demo's plan lines
them up with its releases, see plan.py). Routes answer in the shapes of Jenkins' documented JSON API,
and refuse what a sync must never send: a job's api/json without `tree=`, or a builds tree without a
`{M,N}` range.
"""

import hashlib
import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote

BUILD_STEP = timedelta(minutes=10)
BUILD_DURATION_MS = 90_000
ROUTE = re.compile(r"((?:/job/[^/]+)+)(?:/(\d+))?(/testReport)?/api/json")
RANGE = re.compile(r"^(all)?[bB]uilds\[.*\]\{(\d*),(\d*)\}$")


@dataclass(frozen=True)
class PlannedBuild:
    """A build given in full: the release version it was made for, when, its result, and its failed
    tests (None: no test report, the build broke before the tests ran)."""

    version: str
    started_at: datetime
    result: str = "SUCCESS"
    failed: int | None = 0


@dataclass
class JenkinsDataset:
    jobs: dict[str, int] = field(default_factory=lambda: {"payments-ci": 250})
    versions: tuple[str, ...] = ()  # the VERSION parameter cycles through these
    base_time: datetime = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
    username: str = "ci-bot"
    token: str = "sandbox-jenkins-token"  # noqa: S105 - the sandbox's own fixed test credential
    planned: dict[str, list[PlannedBuild]] = field(default_factory=dict)  # a job's builds 1..n, given
    running: set[tuple[str, int]] = field(default_factory=set)
    results: dict[tuple[str, int], str] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    def result(self, job: str, number: int) -> str | None:
        if (job, number) in self.running:
            return None
        if (job, number) in self.results:
            return self.results[(job, number)]
        if planned := self.planned_build(job, number):
            return planned.result
        return "FAILURE" if number % 7 == 0 else "UNSTABLE" if number % 11 == 0 else "SUCCESS"

    def has_report(self, job: str, number: int) -> bool:
        if (job, number) in self.running:
            return False
        planned = self.planned_build(job, number)
        return planned.failed is not None if planned else number % 5 != 0

    def planned_build(self, job: str, number: int) -> PlannedBuild | None:
        planned = self.planned.get(job, ())
        return planned[number - 1] if 1 <= number <= len(planned) else None

    def start(self, job: str) -> int:
        """A new build, running until finished."""
        with self.lock:
            self.jobs[job] += 1
            self.running.add((job, self.jobs[job]))
            return self.jobs[job]

    def finish(self, job: str, number: int, result: str = "SUCCESS") -> None:
        with self.lock:
            self.running.discard((job, number))
            self.results[(job, number)] = result

    def build(self, job: str, number: int, base_url: str) -> dict:
        sha = hashlib.sha1(f"{job}:{number}".encode()).hexdigest()  # noqa: S324 - a fake commit id
        planned = self.planned_build(job, number)
        if planned:
            version, started = planned.version, planned.started_at
        else:
            version = self.versions[number % len(self.versions)] if self.versions else None
            started = self.base_time + number * BUILD_STEP
        parameters = [{"name": "VERSION", "value": version}] if version else []
        return {
            "_class": "hudson.model.FreeStyleBuild",
            "number": number,
            "url": f"{base_url}/job/{job}/{number}/",
            "building": (job, number) in self.running,
            "result": self.result(job, number),
            "timestamp": int(started.timestamp() * 1000),
            "duration": 0 if (job, number) in self.running else BUILD_DURATION_MS,
            "actions": [
                {"_class": "hudson.model.ParametersAction", "parameters": parameters},
                {"_class": "hudson.plugins.git.util.BuildData", "lastBuiltRevision": {"SHA1": sha}},
            ],
            "changeSet": {"_class": "hudson.scm.EmptyChangeLogSet", "kind": None},
        }

    def test_report(self, job: str, number: int) -> dict:
        planned = self.planned_build(job, number)
        failed, skipped = (planned.failed if planned else number % 3), 2
        return {
            "_class": "hudson.tasks.junit.TestResult",
            "duration": 12.5,
            "failCount": failed,
            "passCount": 100 - failed - skipped,
            "skipCount": skipped,
        }


class JenkinsRoutes:
    tool = "jenkins"  # what it proves to be (proof.py)

    def __init__(self, dataset: JenkinsDataset):
        self.dataset = dataset

    def answer(self, path: str, query: dict, base_url: str):
        """(status, JSON-able body) for one GET."""
        match = ROUTE.fullmatch(path)
        job = "/".join(unquote(part) for part in match.group(1).split("/job/")[1:]) if match else ""
        if not match or job not in self.dataset.jobs:
            return 404, {"message": f"No route {path}"}
        number = int(match.group(2)) if match.group(2) else None
        with self.dataset.lock:
            if number is None:
                return self.job(job, query.get("tree", ""), base_url)
            if not 1 <= number <= self.dataset.jobs[job]:
                return 404, {"message": f"No build {number}"}
            if match.group(3):
                if not self.dataset.has_report(job, number):
                    return 404, {"message": "No test report"}
                return 200, self.dataset.test_report(job, number)
            return 200, self.dataset.build(job, number, base_url)

    def job(self, job: str, tree: str, base_url: str):
        if not tree:
            return 400, {"message": "sandbox: ask with tree= (a bare api/json sends every build)"}
        newest = self.dataset.jobs[job]
        if "uilds[" not in tree:
            return 200, {"name": job, "url": f"{base_url}/job/{job}/", "lastBuild": {"number": newest}}
        ranged = RANGE.match(tree)
        if not ranged:
            return 400, {"message": "sandbox: builds are asked for with a {M,N} range"}
        start, end = int(ranged.group(2) or 0), int(ranged.group(3) or newest)
        numbers = range(newest - start, max(newest - end, 0), -1)  # newest first
        key = "allBuilds" if ranged.group(1) else "builds"
        return 200, {key: [self.dataset.build(job, n, base_url) for n in numbers]}
