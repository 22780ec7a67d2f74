"""GitHub REST API: deployments and their statuses, releases, pull requests, and response headers
(`Link` pagination, ETag, primary and secondary rate limits)."""

import re
from dataclasses import dataclass
from datetime import datetime

from integrations.http import retry_after_seconds
from integrations.parse import ParseError

# Deployment status state -> the domain's Deployment.Status value. GitHub marks an earlier
# successful deployment "inactive" when a newer one succeeds: it did run, the newest one wins.
DEPLOYMENT_STATES = {
    "success": "success",
    "inactive": "success",
    "failure": "failure",
    "error": "failure",
    "queued": "in_progress",
    "pending": "in_progress",
    "in_progress": "in_progress",
}
# GitHub asks to wait at least a minute after a secondary limit that names no time.
SECONDARY_LIMIT_WAIT = 60

_LINK = re.compile(r'<([^>]*)>\s*;\s*rel="([^"]*)"')


@dataclass(frozen=True)
class GithubDeployment:
    id: int
    sha: str
    ref: str
    environment: str
    created_at: datetime
    statuses_url: str
    production: bool


@dataclass(frozen=True)
class GithubDeploymentStatus:
    id: int
    deployment_id: int
    status: str
    environment: str
    created_at: datetime


@dataclass(frozen=True)
class GithubRelease:
    id: int
    tag: str
    name: str
    draft: bool
    prerelease: bool
    created_at: datetime
    published_at: datetime | None
    url: str = ""

    @property
    def shipped(self) -> bool:
        """A published release, not a draft nor a prerelease: evidence that its tag shipped."""
        return not self.draft and not self.prerelease and self.published_at is not None


@dataclass(frozen=True)
class GithubPullRequest:
    id: int
    number: int
    title: str
    state: str  # open, closed (unmerged) or merged: GitHub's "closed" with a merge time is merged
    created_at: datetime
    updated_at: datetime
    merged_at: datetime | None
    head_sha: str
    base_ref: str
    head_ref: str = ""
    closed_at: datetime | None = None
    author: str = ""
    milestone: str = ""  # the milestone's title
    url: str = ""  # the page on GitHub (html_url)


@dataclass(frozen=True)
class PageMeta:
    """What a response's headers say: where the next page is, its ETag, and whether to back off."""

    status: int
    etag: str
    next_url: str
    retry_after: int | None  # seconds to wait before the next request; None means go on

    @property
    def not_modified(self) -> bool:
        return self.status == 304


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _field(data, key: str, what: str):
    if not isinstance(data, dict) or key not in data:
        raise ParseError(f"GitHub {what} has no {key!r}.")
    return data[key]


def parse_deployment(data: dict) -> GithubDeployment:
    return GithubDeployment(
        id=_field(data, "id", "deployment"),
        sha=_field(data, "sha", "deployment"),
        ref=data.get("ref") or "",
        environment=_field(data, "environment", "deployment"),
        created_at=_time(_field(data, "created_at", "deployment")),
        statuses_url=data.get("statuses_url") or "",
        production=bool(data.get("production_environment")),
    )


def parse_deployment_status(data: dict) -> GithubDeploymentStatus:
    state = _field(data, "state", "deployment status")
    if state not in DEPLOYMENT_STATES:
        raise ParseError(f"GitHub deployment status has an unknown state {state!r}.")
    deployment_url = _field(data, "deployment_url", "deployment status")
    return GithubDeploymentStatus(
        id=_field(data, "id", "deployment status"),
        deployment_id=int(deployment_url.rstrip("/").rsplit("/", 1)[-1]),
        status=DEPLOYMENT_STATES[state],
        environment=data.get("environment") or "",
        created_at=_time(_field(data, "created_at", "deployment status")),
    )


def deployment_outcome(statuses: list[GithubDeploymentStatus]) -> str:
    """A deployment's status is its newest status's; one without any is still in progress."""
    if not statuses:
        return "in_progress"
    return max(statuses, key=lambda s: (s.created_at, s.id)).status


def parse_release(data: dict) -> GithubRelease:
    return GithubRelease(
        id=_field(data, "id", "release"),
        tag=_field(data, "tag_name", "release"),
        name=data.get("name") or "",
        draft=bool(data.get("draft")),
        prerelease=bool(data.get("prerelease")),
        created_at=_time(_field(data, "created_at", "release")),
        published_at=_time(data.get("published_at")),
        url=data.get("html_url") or "",
    )


PULL_REQUEST_STATES = ("open", "closed")


def parse_pull_request(data: dict) -> GithubPullRequest:
    """A list-pulls item. Lists carry no `merged` flag: a merge time is what says it was merged."""
    raw_state = _field(data, "state", "pull request")
    if raw_state not in PULL_REQUEST_STATES:
        raise ParseError(f"GitHub pull request has an unknown state {raw_state!r}.")
    updated_at = _time(_field(data, "updated_at", "pull request"))
    merged_at = _time(data.get("merged_at")) if raw_state == "closed" else None
    closed_at = None
    if raw_state == "closed":  # GitHub sets it on closing; the last update is when, should it not
        closed_at = _time(data.get("closed_at")) or merged_at or updated_at
    return GithubPullRequest(
        id=_field(data, "id", "pull request"),
        number=_field(data, "number", "pull request"),
        title=data.get("title") or "",
        state="merged" if merged_at else raw_state,
        created_at=_time(_field(data, "created_at", "pull request")),
        updated_at=updated_at,
        merged_at=merged_at,
        head_sha=(data.get("head") or {}).get("sha", ""),
        base_ref=(data.get("base") or {}).get("ref", ""),
        head_ref=(data.get("head") or {}).get("ref", ""),
        closed_at=closed_at,
        author=(data.get("user") or {}).get("login", ""),
        milestone=(data.get("milestone") or {}).get("title") or "",
        url=data.get("html_url") or "",
    )


def parse_link_header(value: str) -> dict[str, str]:
    """`<url>; rel="next", <url>; rel="last"` -> {"next": url, "last": url}."""
    return {rel: url for url, rel in _LINK.findall(value or "")}


def retry_after(status: int, headers: dict, *, now: float) -> int | None:
    """Seconds to wait, from GitHub's headers: `Retry-After` (secondary limits, any status), or an
    exhausted primary limit (`x-ratelimit-remaining: 0` on a 403/429) until `x-ratelimit-reset`."""
    asked = retry_after_seconds(headers.get("retry-after"), default=None)
    if asked is not None:
        return asked
    if status not in (403, 429):
        return None
    reset = headers.get("x-ratelimit-reset", "")
    if headers.get("x-ratelimit-remaining") == "0" and reset.isascii() and reset.isdigit():
        return max(1, int(reset) - int(now))
    if status == 429 or headers.get("x-ratelimit-remaining") == "0":
        return SECONDARY_LIMIT_WAIT
    return None  # a 403 that is not a rate limit: a permission problem, not a reason to wait


def page_meta(status: int, headers: dict, *, now: float) -> PageMeta:
    """`headers` with lower-case names (httpx.Headers is case-insensitive already)."""
    return PageMeta(
        status=status,
        etag=headers.get("etag", ""),
        next_url=parse_link_header(headers.get("link", "")).get("next", ""),
        retry_after=retry_after(status, headers, now=now),
    )
