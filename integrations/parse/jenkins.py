"""Jenkins JSON API: job and build objects, `tree=` range answers, test reports.

Builds are only ever asked for with `tree=` and a `{M,N}` range (see `builds_tree`): a bare
`api/json` on a job with thousands of builds returns all of them with every field.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

from integrations.parse import ParseError

# Jenkins result -> the domain's Build.Result value. NOT_BUILT (a skipped stage) did not complete.
RESULTS = {
    "SUCCESS": "success",
    "UNSTABLE": "unstable",
    "FAILURE": "failure",
    "ABORTED": "aborted",
    "NOT_BUILT": "aborted",
    "NOT_BUILD": "aborted",  # the spelling in some recorded plugin data
}
RUNNING = "running"

BUILD_FIELDS = (
    "number,url,building,result,timestamp,duration,actions[lastBuiltRevision[SHA1],parameters[name,value]],"
    "changeSets[items[commitId]],changeSet[items[commitId]]"
)
JOB_TREE = "name,url,lastBuild[number]"
TEST_REPORT_TREE = "passCount,failCount,skipCount,totalCount,duration"


def builds_tree(start: int, end: int) -> str:
    """The `tree` parameter for builds [start, end) of a job, newest first as Jenkins lists them
    (`allBuilds`: `builds` stops at the newest hundred)."""
    return f"allBuilds[{BUILD_FIELDS}]{{{start},{end}}}"


@dataclass(frozen=True)
class JenkinsBuild:
    number: int
    result: str
    started_at: datetime
    duration_ms: int
    commit: str
    url: str
    parameters: tuple[tuple[str, str], ...] = ()

    @property
    def running(self) -> bool:
        return self.result == RUNNING


@dataclass(frozen=True)
class JenkinsJob:
    name: str
    url: str
    last_build: int | None


@dataclass(frozen=True)
class TestCounts:
    passed: int
    failed: int
    skipped: int
    errors: int
    duration_ms: int


def _require(data, key: str, what: str):
    if not isinstance(data, dict) or key not in data:
        raise ParseError(f"Jenkins {what} has no {key!r}.")
    return data[key]


def _commit(data: dict) -> str:
    """The built commit: the last change set item, else the git plugin's lastBuiltRevision."""
    change_sets = data.get("changeSets") or [data.get("changeSet") or {}]
    commits = [item.get("commitId", "") for cs in change_sets for item in (cs or {}).get("items", [])]
    if commits and commits[-1]:
        return commits[-1]
    for action in data.get("actions") or []:
        sha = ((action or {}).get("lastBuiltRevision") or {}).get("SHA1")
        if sha:
            return sha
    return ""


def _parameters(data: dict) -> tuple[tuple[str, str], ...]:
    return tuple(
        (str(p.get("name", "")), str(p.get("value", "")))
        for action in data.get("actions") or []
        for p in (action or {}).get("parameters") or []
    )


def parse_build(data: dict) -> JenkinsBuild:
    number = _require(data, "number", "build")
    timestamp = _require(data, "timestamp", f"build #{number}")
    result = data.get("result")
    if data.get("building") or result is None:
        mapped = RUNNING
    elif result in RESULTS:
        mapped = RESULTS[result]
    else:
        raise ParseError(f"Jenkins build #{number} has an unknown result {result!r}.")
    return JenkinsBuild(
        number=int(number),
        result=mapped,
        started_at=datetime.fromtimestamp(timestamp / 1000, tz=UTC),
        duration_ms=int(data.get("duration") or 0),
        commit=_commit(data),
        url=data.get("url") or "",
        parameters=_parameters(data),
    )


def parse_builds(data: dict) -> list[JenkinsBuild]:
    """A job answer asked with `tree=builds[...]` or `tree=allBuilds[...]`."""
    key = "allBuilds" if "allBuilds" in data else "builds"
    return [parse_build(build) for build in _require(data, key, "job")]


def parse_job(data: dict) -> JenkinsJob:
    """A job answer (`tree=name,url,lastBuild[number]`): the newest build number is the sync's target."""
    return JenkinsJob(
        name=_require(data, "name", "job"),
        url=data.get("url") or "",
        last_build=(data.get("lastBuild") or {}).get("number"),
    )


def parse_test_report(data: dict) -> TestCounts:
    """`testReport/api/json`. Jenkins counts errors as failures; aggregated reports omit passCount."""
    failed = int(_require(data, "failCount", "test report"))
    skipped = int(data.get("skipCount") or 0)
    passed = data.get("passCount")
    if passed is None:
        passed = int(_require(data, "totalCount", "test report")) - failed - skipped
    return TestCounts(
        passed=int(passed),
        failed=failed,
        skipped=skipped,
        errors=0,
        duration_ms=round(float(data.get("duration") or 0) * 1000),
    )
