"""A generated Jenkins: jobs with numbered builds, running builds, test reports (or their 404).

Build n of a job is computed from n alone until a test starts or finishes one, so any number of
builds costs no memory; or a job's first builds are given in full (`planned`: the demo's plan lines
them up with its releases, see plan.py). Routes answer in the shapes of Jenkins' documented JSON API,
`tree=` applied as Jenkins applies it; that a sync names its fields and asks for builds in `{M,N}`
ranges is checked by the tests through the request log, not refused here (Jenkins answers both).
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


class TreeError(ValueError):
    pass


class JenkinsRoutes:
    """Jenkins' JSON API over the dataset: the root (`/` and `/api/json`: jobs, folders, views), a
    folder, a job (depth 0 as Jenkins sends it, `builds` the newest hundred, `allBuilds` when a tree
    names it), a build, a test report, `/me`, the crumb issuer. `tree=` is applied as Jenkins
    applies it (named fields, nested brackets, `{M,N}` ranges); every answer carries `X-Jenkins`."""

    tool = "jenkins"  # what it proves to be (proof.py)
    version = "2.440.3"

    def __init__(self, dataset: JenkinsDataset):
        self.dataset = dataset
        self.headers = {"X-Jenkins": self.version, "X-Hudson": "1.395", "X-Jenkins-Session": "5ad9c1e0"}

    def answer(self, path: str, query: dict, base_url: str):
        """(status, JSON-able body) for one GET."""
        if "_body" in query:
            return 405, {"message": "Method Not Allowed"}
        try:
            spec = parse_tree(query["tree"]) if query.get("tree") else None
        except TreeError as exc:
            return 400, {"message": f"Malformed tree expression: {exc}"}
        depth = int(query["depth"]) if str(query.get("depth", "")).isdigit() else 0
        with self.dataset.lock:
            status, body = self.route(path, spec, depth, base_url)
        if status == 200 and spec is not None:
            body = apply_tree(body, spec)
        return status, body

    def route(self, path: str, spec, depth: int, base_url: str):
        nested = spec is not None  # a tree may open folders inside folders; depth 0 does not
        if path in ("", "/", "/api/json"):
            return 200, self.root(base_url, nested=nested)
        if path == "/me/api/json":
            return 200, self.me(base_url)
        if path == "/queue/api/json":
            return 200, {"_class": "hudson.model.Queue", "discoverableItems": [], "items": []}
        if path == "/computer/api/json":
            return 200, self.computers(base_url)
        if unquote(path) in ("/computer/(master)/api/json", "/computer/(built-in)/api/json"):
            return 200, self.computers(base_url)["computer"][0]
        if path == "/crumbIssuer/api/json":
            crumb = hashlib.sha256(f"{self.dataset.username}:{self.dataset.token}".encode()).hexdigest()
            return 200, {
                "_class": "hudson.security.csrf.DefaultCrumbIssuer",
                "crumb": crumb,
                "crumbRequestField": "Jenkins-Crumb",
            }
        match = ROUTE.fullmatch(path)
        name = "/".join(unquote(part) for part in match.group(1).split("/job/")[1:]) if match else ""
        if match and name not in self.dataset.jobs and not match.group(2) and self.folder_items(name):
            return 200, self.folder(name, base_url, nested=nested)
        if not match or name not in self.dataset.jobs:
            return 404, {"message": f"No route {path}"}
        if match.group(2) is None:
            return 200, self.job(name, spec, depth, base_url)
        number = int(match.group(2))
        if not 1 <= number <= self.dataset.jobs[name]:
            return 404, {"message": f"No build {number}"}
        if match.group(3):
            if not self.dataset.has_report(name, number):
                return 404, {"message": "No test report"}
            return 200, self.dataset.test_report(name, number)
        return 200, self.dataset.build(name, number, base_url)

    # --- the instance ---------------------------------------------------------------------------

    def root(self, base_url: str, *, nested: bool = False) -> dict:
        view = {"_class": "hudson.model.AllView", "name": "all", "url": f"{base_url}/"}
        return {
            "_class": "hudson.model.Hudson",
            "assignedLabels": [{"name": "built-in"}],
            "mode": "NORMAL",
            "nodeDescription": "the Jenkins controller's built-in node",
            "nodeName": "",
            "numExecutors": 2,
            "description": None,
            "jobs": self.folder_items("", base_url, nested=nested),
            "overallLoad": {},
            "primaryView": view,
            "quietDownReason": None,
            "quietingDown": False,
            "slaveAgentPort": -1,
            "unlabeledLoad": {"_class": "jenkins.model.UnlabeledLoadStatistics"},
            "url": f"{base_url}/",
            "useCrumbs": True,
            "useSecurity": True,
            "views": [view],
        }

    def me(self, base_url: str) -> dict:
        user = self.dataset.username
        return {
            "_class": "hudson.model.User",
            "absoluteUrl": f"{base_url}/user/{user}",
            "description": None,
            "fullName": user,
            "id": user,
            "property": [{"_class": "jenkins.security.ApiTokenProperty"}],
        }

    def computers(self, base_url: str) -> dict:
        """The built-in node alone, its executors busy with the running builds."""
        running = sorted(self.dataset.running)
        busy, total = len(running), max(2, len(running))
        executors = [
            {
                "number": n,
                "idle": n >= busy,
                "currentExecutable": (
                    self.build_ref(running[n][0], running[n][1], base_url) if n < busy else None
                ),
            }
            for n in range(total)
        ]
        return {
            "_class": "hudson.model.ComputerSet",
            "busyExecutors": busy,
            "computer": [
                {
                    "_class": "hudson.model.Hudson$MasterComputer",
                    "displayName": "Built-In Node",
                    "idle": busy == 0,
                    "executors": executors,
                    "numExecutors": total,
                    "offline": False,
                    "offlineCause": None,
                    "temporarilyOffline": False,
                }
            ],
            "displayName": "Nodes",
            "totalExecutors": total,
        }

    def folder_items(self, folder: str, base_url: str = "", *, nested: bool = False) -> list[dict]:
        """The jobs and folders directly inside a folder ("" the root), by name; `nested`: each
        folder with its own items, for a tree to pick from."""
        prefix = f"{folder}/" if folder else ""
        names = sorted(
            {job[len(prefix) :].split("/")[0] for job in self.dataset.jobs if job.startswith(prefix)}
        )
        items = []
        for name in names:
            full = f"{prefix}{name}"
            url = f"{base_url}{job_url(full)}"
            if full in self.dataset.jobs:
                items.append({"_class": FREESTYLE, "name": name, "url": url, "color": self.color(full)})
            else:
                items.append({"_class": FOLDER, "name": name, "url": url})
                if nested:
                    items[-1]["jobs"] = self.folder_items(full, base_url, nested=True)
        return items

    def folder(self, folder: str, base_url: str, *, nested: bool = False) -> dict:
        name = folder.split("/")[-1]
        return {
            "_class": FOLDER,
            "description": None,
            "displayName": name,
            "fullDisplayName": folder.replace("/", " » "),
            "fullName": folder,
            "name": name,
            "url": f"{base_url}{job_url(folder)}",
            "jobs": self.folder_items(folder, base_url, nested=nested),
            "primaryView": {"_class": "hudson.model.AllView", "name": "All"},
            "views": [{"_class": "hudson.model.AllView", "name": "All"}],
        }

    # --- jobs -----------------------------------------------------------------------------------

    def job(self, job: str, spec, depth: int, base_url: str) -> dict:
        """Depth 0 as Jenkins answers it; builds named by a tree come whole, cut to its range here
        (so a range of a long history costs only its builds)."""
        dataset, newest = self.dataset, self.dataset.jobs[job]
        wanted = {name: (sub, cut) for name, sub, cut in spec or ()}

        def builds(key: str, limit: int | None):
            numbers = range(newest, 0, -1)[:limit]
            sub, cut = wanted.get(key, (None, None))
            if cut:
                numbers = numbers[cut[0] : cut[1]]
                wanted[key] = (sub, None)
            full = sub is not None or depth > 0
            return [self.build_ref(job, n, base_url, full=full) for n in numbers]

        completed = [n for n in range(newest, 0, -1) if dataset.result(job, n) is not None]

        def last(test) -> dict | None:
            found = next((n for n in completed if test(dataset.result(job, n))), None)
            return self.build_ref(job, found, base_url) if found else None

        name = job.split("/")[-1]
        body = {
            "_class": FREESTYLE,
            "actions": [{}, {"_class": "com.cloudbees.plugins.credentials.ViewCredentialsAction"}],
            "description": "",
            "displayName": name,
            "displayNameOrNull": None,
            "fullDisplayName": job.replace("/", " » "),
            "fullName": job,
            "name": name,
            "url": f"{base_url}{job_url(job)}",
            "buildable": True,
            "builds": builds("builds", 100),
            "color": self.color(job),
            "firstBuild": self.build_ref(job, 1, base_url) if newest else None,
            "healthReport": [],
            "inQueue": False,
            "keepDependencies": False,
            "lastBuild": self.build_ref(job, newest, base_url) if newest else None,
            "lastCompletedBuild": self.build_ref(job, completed[0], base_url) if completed else None,
            "lastFailedBuild": last(lambda result: result == "FAILURE"),
            "lastStableBuild": last(lambda result: result == "SUCCESS"),
            "lastSuccessfulBuild": last(lambda result: result in ("SUCCESS", "UNSTABLE")),
            "lastUnstableBuild": last(lambda result: result == "UNSTABLE"),
            "lastUnsuccessfulBuild": last(lambda result: result != "SUCCESS"),
            "nextBuildNumber": newest + 1,
            "property": [],
            "queueItem": None,
            "concurrentBuild": False,
            "disabled": False,
            "downstreamProjects": [],
            "upstreamProjects": [],
            "scm": {"_class": "hudson.plugins.git.GitSCM"},
        }
        if "allBuilds" in wanted:  # Jenkins exports it only when asked for by name
            body["allBuilds"] = builds("allBuilds", None)
        if spec is not None:
            spec[:] = [(name, sub, cut) for name, (sub, cut) in wanted.items()]
        return body

    def build_ref(self, job: str, number: int, base_url: str, *, full: bool = False) -> dict:
        if full:
            return self.dataset.build(job, number, base_url)
        return {
            "_class": "hudson.model.FreeStyleBuild",
            "number": number,
            "url": f"{base_url}{job_url(job)}{number}/",
        }

    def color(self, job: str) -> str:
        dataset, newest = self.dataset, self.dataset.jobs[job]
        results = (dataset.result(job, n) for n in range(newest, 0, -1))
        result = next((r for r in results if r is not None), None)
        color = {"SUCCESS": "blue", "UNSTABLE": "yellow", "FAILURE": "red", "ABORTED": "aborted"}.get(
            result, "notbuilt"
        )
        return f"{color}_anime" if newest and dataset.result(job, newest) is None else color


FREESTYLE = "hudson.model.FreeStyleProject"
FOLDER = "com.cloudbees.hudson.plugins.folder.Folder"


def job_url(job: str) -> str:
    return "".join(f"/job/{part}" for part in job.split("/")) + "/"


def parse_tree(text: str) -> list:
    """`name,name[sub,...]{M,N},...` as [(name, sub spec or None, (start, end) or None)]."""
    spec, rest = _tree_items(text, 0)
    if rest != len(text):
        raise TreeError(f"unexpected '{text[rest]}' at {rest}")
    return spec


def _tree_items(text: str, at: int) -> tuple[list, int]:
    items = []
    while True:
        name = re.match(r"[\w$.]*", text[at:]).group()
        if not name:
            raise TreeError(f"a field name expected at {at}")
        at += len(name)
        sub = cut = None
        if at < len(text) and text[at] == "[":
            sub, at = _tree_items(text, at + 1)
            if at >= len(text) or text[at] != "]":
                raise TreeError(f"']' expected at {at}")
            at += 1
        if at < len(text) and text[at] == "{":
            end = text.find("}", at)
            if end < 0:
                raise TreeError(f"'}}' expected after {at}")
            cut = _range(text[at + 1 : end])
            at = end + 1
        items.append((name, sub, cut))
        if at < len(text) and text[at] == ",":
            at += 1
            continue
        return items, at


def _range(text: str) -> tuple[int | None, int | None]:
    """Jenkins' ranges: {M,N} from M up to N, {M,} from M, {,N} the first N, {N} just the Nth."""
    try:
        if "," not in text:
            return int(text), int(text) + 1
        start, end = text.split(",", 1)
        return (int(start) if start else None), (int(end) if end else None)
    except ValueError as exc:
        raise TreeError(f"bad range {{{text}}}") from exc


def apply_tree(value, spec):
    """Only the named fields (and `_class`), as Jenkins answers a tree; objects not opened further
    keep only their `_class`."""
    if isinstance(value, list):
        return [apply_tree(item, spec) for item in value]
    if not isinstance(value, dict):
        return value
    picked = {"_class": value["_class"]} if "_class" in value else {}
    for name, sub, cut in spec:
        if name not in value:
            continue
        item = value[name]
        if cut and isinstance(item, list):
            item = item[cut[0] : cut[1]]
        if sub is not None:
            item = apply_tree(item, sub)
        elif isinstance(item, dict):
            item = {"_class": item["_class"]} if "_class" in item else {}
        elif isinstance(item, list):
            item = [apply_tree(entry, []) if isinstance(entry, dict) else entry for entry in item]
        picked[name] = item
    return picked
