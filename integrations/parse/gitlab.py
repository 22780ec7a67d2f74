"""GitLab REST API v4: merge requests, pipelines and their jobs, pipeline test reports, deployments,
releases, and the response headers that matter (`Link` paging, `Retry-After`, `RateLimit-*`)."""

from dataclasses import dataclass
from datetime import datetime

from integrations.http import retry_after_seconds
from integrations.parse import ParseError
from integrations.parse.github import parse_link_header

# A merge request's state -> the domain's PullRequest.State; "locked" is open, being merged.
MERGE_REQUEST_STATES = {"opened": "open", "locked": "open", "closed": "closed", "merged": "merged"}
# A pipeline's status -> the domain's Build.Result. Manual and scheduled pipelines wait for someone or
# something: still running. A skipped pipeline ran nothing: aborted, like a canceled one.
PIPELINE_STATUSES = {
    "created": "running",
    "waiting_for_resource": "running",
    "preparing": "running",
    "pending": "running",
    "running": "running",
    "manual": "running",
    "scheduled": "running",
    "success": "success",
    "failed": "failure",
    "canceled": "aborted",
    "canceling": "aborted",
    "skipped": "aborted",
}
# A deployment's status -> the domain's Deployment.Status; a blocked one waits for an approval.
DEPLOYMENT_STATUSES = {
    "created": "in_progress",
    "running": "in_progress",
    "blocked": "in_progress",
    "success": "success",
    "failed": "failure",
    "canceled": "failure",
    "skipped": "failure",
}
RATE_LIMIT_WAIT = 60  # a 429 naming no time


@dataclass(frozen=True)
class GitlabMergeRequest:
    id: int
    iid: int
    title: str
    state: str  # the domain's: open, closed or merged
    created_at: datetime
    updated_at: datetime
    merged_at: datetime | None
    closed_at: datetime | None
    source_branch: str
    target_branch: str
    author: str
    milestone: str  # the milestone's title
    url: str


@dataclass(frozen=True)
class GitlabPipeline:
    id: int
    iid: int
    ref: str
    sha: str
    status: str  # the domain's build result
    created_at: datetime
    updated_at: datetime
    url: str

    @property
    def running(self) -> bool:
        return self.status == "running"


@dataclass(frozen=True)
class GitlabJob:
    id: int
    name: str
    status: str
    started_at: datetime | None
    finished_at: datetime | None


@dataclass(frozen=True)
class GitlabTestReport:
    passed: int
    failed: int
    skipped: int
    errors: int
    duration_ms: int

    @property
    def total(self) -> int:
        return self.passed + self.failed + self.skipped + self.errors


@dataclass(frozen=True)
class GitlabDeployment:
    id: int
    iid: int
    ref: str
    sha: str
    environment: str
    status: str  # the domain's deployment status
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None  # the deploying job's end, when GitLab says


@dataclass(frozen=True)
class GitlabRelease:
    tag: str
    name: str
    created_at: datetime
    released_at: datetime | None
    upcoming: bool
    url: str = ""

    @property
    def shipped(self) -> bool:
        """A release dated in the past (GitLab's `upcoming_release` is false): its tag shipped."""
        return not self.upcoming and self.released_at is not None


@dataclass(frozen=True)
class PageMeta:
    """Where the next page is (`Link: rel="next"`, keyset or offset alike)."""

    status: int
    next_url: str


def _time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except (TypeError, ValueError) as exc:
        raise ParseError(f"GitLab sent an unreadable time {value!r}.") from exc


def _field(data, key: str, what: str):
    if not isinstance(data, dict) or key not in data:
        raise ParseError(f"GitLab {what} has no {key!r}.")
    return data[key]


def _choice(data, key: str, what: str, choices: dict) -> str:
    value = _field(data, key, what)
    if value not in choices:
        raise ParseError(f"GitLab {what} has an unknown {key} {value!r}.")
    return choices[value]


def parse_merge_request(data: dict) -> GitlabMergeRequest:
    state = _choice(data, "state", "merge request", MERGE_REQUEST_STATES)
    updated_at = _time(_field(data, "updated_at", "merge request"))
    merged_at = (_time(data.get("merged_at")) or updated_at) if state == "merged" else None
    closed_at = None
    if state != "open":  # GitLab sets closed_at on closing only; a merge closes it when it merged
        closed_at = _time(data.get("closed_at")) or merged_at or updated_at
    return GitlabMergeRequest(
        id=_field(data, "id", "merge request"),
        iid=_field(data, "iid", "merge request"),
        title=data.get("title") or "",
        state=state,
        created_at=_time(_field(data, "created_at", "merge request")),
        updated_at=updated_at,
        merged_at=merged_at,
        closed_at=closed_at,
        source_branch=data.get("source_branch") or "",
        target_branch=data.get("target_branch") or "",
        author=(data.get("author") or {}).get("username", ""),
        milestone=(data.get("milestone") or {}).get("title") or "",
        url=data.get("web_url") or "",
    )


def parse_pipeline(data: dict) -> GitlabPipeline:
    created_at = _time(_field(data, "created_at", "pipeline"))
    return GitlabPipeline(
        id=_field(data, "id", "pipeline"),
        iid=data.get("iid") or 0,
        ref=data.get("ref") or "",
        sha=data.get("sha") or "",
        status=_choice(data, "status", "pipeline", PIPELINE_STATUSES),
        created_at=created_at,
        updated_at=_time(data.get("updated_at")) or created_at,
        url=data.get("web_url") or "",
    )


def parse_job(data: dict) -> GitlabJob:
    return GitlabJob(
        id=_field(data, "id", "job"),
        name=data.get("name") or "",
        status=_field(data, "status", "job"),
        started_at=_time(data.get("started_at")),
        finished_at=_time(data.get("finished_at")),
    )


def parse_test_report(data: dict) -> GitlabTestReport:
    """`/pipelines/:id/test_report`: the totals over every suite; times are seconds."""
    total_time = _field(data, "total_time", "test report")
    return GitlabTestReport(
        passed=int(_field(data, "success_count", "test report")),
        failed=int(_field(data, "failed_count", "test report")),
        skipped=int(_field(data, "skipped_count", "test report")),
        errors=int(_field(data, "error_count", "test report")),
        duration_ms=max(round(float(total_time or 0) * 1000), 0),
    )


def parse_deployment(data: dict) -> GitlabDeployment:
    created_at = _time(_field(data, "created_at", "deployment"))
    environment = _field(data, "environment", "deployment")
    return GitlabDeployment(
        id=_field(data, "id", "deployment"),
        iid=data.get("iid") or 0,
        ref=data.get("ref") or "",
        sha=data.get("sha") or "",
        environment=_field(environment, "name", "deployment environment"),
        status=_choice(data, "status", "deployment", DEPLOYMENT_STATUSES),
        created_at=created_at,
        updated_at=_time(data.get("updated_at")) or created_at,
        finished_at=_time((data.get("deployable") or {}).get("finished_at")),
    )


def parse_release(data: dict) -> GitlabRelease:
    return GitlabRelease(
        tag=_field(data, "tag_name", "release"),
        name=data.get("name") or "",
        created_at=_time(_field(data, "created_at", "release")),
        released_at=_time(data.get("released_at")),
        upcoming=bool(data.get("upcoming_release")),
        url=((data.get("_links") or {}).get("self")) or "",
    )


def build_timing(pipeline: GitlabPipeline, jobs: list[GitlabJob]) -> tuple[datetime, int]:
    """When a pipeline started (its first job's start, else its creation) and how long it ran in ms
    (to its last job's end; 0 while it runs, as Jenkins says of a running build)."""
    starts = [job.started_at for job in jobs if job.started_at]
    ends = [job.finished_at for job in jobs if job.finished_at]
    started = min(starts, default=pipeline.created_at)
    if pipeline.running or not ends or max(ends) < started:
        return started, 0
    return started, int((max(ends) - started).total_seconds() * 1000)


def retry_after(status: int, headers, *, now: float) -> int | None:
    """Seconds to wait on a 429, from GitLab's headers: `Retry-After`, else `RateLimit-Reset` (a Unix
    time), else a minute. None for any other status."""
    if status != 429:
        return None
    asked = retry_after_seconds(headers.get("retry-after"), default=None)
    if asked is not None:
        return asked
    reset = headers.get("ratelimit-reset", "")
    if reset.isascii() and reset.isdigit():
        return retry_after_seconds(str(int(reset) - int(now)), default=RATE_LIMIT_WAIT)
    return RATE_LIMIT_WAIT


def page_meta(status: int, headers) -> PageMeta:
    return PageMeta(status=status, next_url=parse_link_header(headers.get("link", "")).get("next", ""))
