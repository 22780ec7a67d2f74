"""A generated GitHub: repositories with deployments and their statuses, pull requests and releases,
paged like the REST API.

Shaped as GitHub's documented REST API: lists newest first (pull requests as `state`, `sort` and
`direction` ask), `Link` headers (next, last), an ETag per answer that a matching `If-None-Match`
turns into a 304 (which, as on GitHub, does not count against the rate limit), a primary rate limit
that answers 403 with `x-ratelimit-remaining: 0` and the reset time once it is spent, and secondary
limits (403 with `Retry-After`) on the paths a test names.
"""

import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

DEPLOYMENT_STEP = timedelta(hours=1)
STATUS_STEP = timedelta(minutes=2)
PULL_STEP = timedelta(hours=2)
PULL_OPEN_FOR = timedelta(minutes=30)  # a generated pull request is merged or closed this long after
MAX_PER_PAGE = 100
ROUTE = re.compile(r"/repos/([\w.-]+/[\w.-]+)/deployments(?:/(\d+)(/statuses)?)?")
LIST_ROUTE = re.compile(r"/repos/([\w.-]+/[\w.-]+)/(pulls|releases)")


@dataclass
class SandboxRelease:
    tag: str
    published_at: datetime
    draft: bool = False
    prerelease: bool = False


@dataclass
class SecondaryLimit:
    """Answer `times` requests whose path contains `path` with GitHub's secondary-limit 403."""

    path: str
    retry_after: int = 60
    times: int = 1


@dataclass
class GithubDataset:
    repos: dict[str, int] = field(default_factory=lambda: {"acme/payments": 30})
    environments: tuple[str, ...] = ("staging", "production")
    refs: tuple[str, ...] = ("v4.2", "v4.3")
    base_time: datetime = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
    username: str = "sync-bot"
    token: str = "sandbox-github-token"  # noqa: S105 - the sandbox's own fixed test credential
    rate_limit: int = 5000
    rate_used: int = 0
    rate_reset_in: int = 600  # seconds from now, in the reset header
    states: dict[tuple[str, int], list[str]] = field(default_factory=dict)  # changed status histories
    pulls: dict[str, int] = field(default_factory=dict)  # generated pull requests per repository
    pull_edits: dict[tuple[str, int], dict] = field(default_factory=dict)
    releases: dict[str, list[SandboxRelease]] = field(default_factory=dict)  # newest last
    secondary_limits: list[SecondaryLimit] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    def deployment_id(self, repo: str, number: int) -> int:
        return 1000 * (sorted(self.repos).index(repo) + 1) + number

    def history(self, repo: str, number: int) -> list[str]:
        """Status states, oldest first; every sixth deployment fails."""
        default = ["queued", "in_progress", "failure" if number % 6 == 0 else "success"]
        return self.states.get((repo, number), default)

    def deploy(self, repo: str) -> int:
        """A new deployment, queued until `set_states` moves it on."""
        with self.lock:
            self.repos[repo] += 1
            self.states[(repo, self.repos[repo])] = ["queued"]
            return self.repos[repo]

    def set_states(self, repo: str, number: int, *states: str) -> None:
        with self.lock:
            self.states[(repo, number)] = list(states)

    def deployment(self, repo: str, number: int, base_url: str) -> dict:
        created = self.base_time + number * DEPLOYMENT_STEP
        api = f"{base_url}/repos/{repo}/deployments/{self.deployment_id(repo, number)}"
        sha = hashlib.sha1(f"{repo}:{number}".encode()).hexdigest()  # noqa: S324 - a fake commit id
        history = self.history(repo, number)
        return {
            "url": api,
            "id": self.deployment_id(repo, number),
            "sha": sha,
            "ref": self.refs[number % len(self.refs)],
            "task": "deploy",
            "payload": {},
            "original_environment": self.environments[number % len(self.environments)],
            "environment": self.environments[number % len(self.environments)],
            "description": None,
            "created_at": _iso(created),
            "updated_at": _iso(created + len(history) * STATUS_STEP),
            "statuses_url": f"{api}/statuses",
            "repository_url": f"{base_url}/repos/{repo}",
            "production_environment": self.environments[number % len(self.environments)] == "production",
        }

    def statuses(self, repo: str, number: int, base_url: str) -> list[dict]:
        deployment = self.deployment(repo, number, base_url)
        created = datetime.fromisoformat(deployment["created_at"])
        history = self.history(repo, number)
        return [
            {
                "url": f"{deployment['url']}/statuses/{deployment['id'] * 10 + n}",
                "id": deployment["id"] * 10 + n,
                "state": state,
                "environment": deployment["environment"],
                "created_at": _iso(created + (n + 1) * STATUS_STEP),
                "deployment_url": deployment["url"],
            }
            for n, state in reversed(list(enumerate(history)))  # newest first, as GitHub lists them
        ]

    # --- pull requests ------------------------------------------------------------------------------

    def pull_state(self, number: int) -> str:
        """Every seventh one closed unmerged, every third still open, the rest merged."""
        if number % 7 == 0:
            return "closed"
        return "open" if number % 3 == 0 else "merged"

    def pull_fields(self, repo: str, number: int) -> dict:
        """title, state, milestone ("v4.2", "v4.3" or none), created, updated: generated, then edited."""
        created = self.base_time + number * PULL_STEP
        state = self.pull_state(number)
        generated = {
            "title": f"Change {number} of {repo}",
            "state": state,
            "milestone": ("", *self.refs)[number // 2 % (len(self.refs) + 1)],
            "created": created,
            "updated": created + PULL_OPEN_FOR,
        }
        return generated | self.pull_edits.get((repo, number), {})

    def edit_pull(self, repo: str, number: int, *, at: datetime, **fields) -> None:
        """Change a pull request at time `at` (title, state open/closed/merged, milestone)."""
        with self.lock:
            self.pull_edits[(repo, number)] = {
                **self.pull_edits.get((repo, number), {}),
                **fields,
                "updated": at,
            }

    def open_pull(self, repo: str, *, at: datetime, **fields) -> int:
        with self.lock:
            self.pulls[repo] = self.pulls.get(repo, 0) + 1
            number = self.pulls[repo]
            self.pull_edits[(repo, number)] = {"state": "open", **fields, "created": at, "updated": at}
            return number

    def pull(self, repo: str, number: int, base_url: str) -> dict:
        fields = self.pull_fields(repo, number)
        state, updated = fields["state"], fields["updated"]
        sha = hashlib.sha1(f"{repo}:pull:{number}".encode()).hexdigest()  # noqa: S324 - a fake commit id
        milestone = None
        if fields["milestone"]:
            milestone = {
                "id": 1 + self.refs.index(fields["milestone"]) if fields["milestone"] in self.refs else 99,
                "title": fields["milestone"],
            }
        return {
            "url": f"{base_url}/repos/{repo}/pulls/{number}",
            "id": 500_000 * (sorted(self.repos).index(repo) + 1) + number,
            "html_url": f"https://github.example/{repo}/pull/{number}",
            "number": number,
            "state": "open" if state == "open" else "closed",
            "locked": False,
            "title": fields["title"],
            "user": {"login": f"dev{number % 5}", "type": "User"},
            "body": "",
            "created_at": _iso(fields["created"]),
            "updated_at": _iso(updated),
            "closed_at": None if state == "open" else _iso(updated),
            "merged_at": _iso(updated) if state == "merged" else None,
            "merge_commit_sha": sha,
            "assignees": [],
            "requested_reviewers": [],
            "labels": [],
            "milestone": milestone,
            "draft": False,
            "head": {"ref": f"feature/{number}", "sha": sha},
            "base": {"ref": "main", "sha": "0" * 40},
            "author_association": "MEMBER",
        }

    def pull_list(self, repo: str, query: dict, base_url: str) -> list[dict]:
        """As GET /pulls answers: `state` (open by default), sorted by `sort` and `direction`."""
        pulls = [self.pull(repo, n, base_url) for n in range(1, self.pulls.get(repo, 0) + 1)]
        state = query.get("state", "open")
        if state != "all":
            pulls = [p for p in pulls if p["state"] == state]
        key = "updated_at" if query.get("sort") == "updated" else "created_at"
        return sorted(pulls, key=lambda p: (p[key], p["number"]), reverse=query.get("direction") != "asc")

    # --- releases -----------------------------------------------------------------------------------

    def publish(self, repo: str, tag: str, *, at: datetime, draft: bool = False, prerelease: bool = False):
        with self.lock:
            self.releases.setdefault(repo, []).append(SandboxRelease(tag, at, draft, prerelease))

    def release_list(self, repo: str, base_url: str) -> list[dict]:
        listed = []
        for n, release in reversed(list(enumerate(self.releases.get(repo, []), start=1))):
            release_id = 700_000 * (sorted(self.repos).index(repo) + 1) + n
            listed.append(
                {
                    "url": f"{base_url}/repos/{repo}/releases/{release_id}",
                    "html_url": f"https://github.example/{repo}/releases/tag/{release.tag}",
                    "id": release_id,
                    "tag_name": release.tag,
                    "target_commitish": "main",
                    "name": f"Release {release.tag}",
                    "draft": release.draft,
                    "author": {"login": self.username, "type": "Bot"},
                    "prerelease": release.prerelease,
                    "created_at": _iso(release.published_at - timedelta(hours=1)),
                    "published_at": None if release.draft else _iso(release.published_at),
                    "assets": [],
                    "body": "",
                }
            )
        return listed

    def take_secondary_limit(self, path: str) -> SecondaryLimit | None:
        for limit in self.secondary_limits:
            if limit.times > 0 and limit.path in path:
                limit.times -= 1
                return limit
        return None


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class GithubRoutes:
    tool = "github"  # what it proves to be (proof.py)

    def __init__(self, dataset: GithubDataset):
        self.dataset = dataset

    def answer_http(self, path: str, query: dict, base_url: str, request_headers):
        """(status, body, headers) for one GET."""
        dataset = self.dataset
        with dataset.lock:
            match = ROUTE.fullmatch(path) or LIST_ROUTE.fullmatch(path)
            if not match or match.group(1) not in dataset.repos:
                return 404, {"message": "Not Found"}, self.rate_headers()
            limit = dataset.take_secondary_limit(path)
            if limit is not None:
                message = {"message": "You have exceeded a secondary rate limit. Please wait a few minutes."}
                return 403, message, {"Retry-After": str(limit.retry_after), **self.rate_headers()}
            resource = self.listed if match.re is LIST_ROUTE else self.resource
            status, body, headers = resource(match, query, f"{base_url}{path}", base_url)
            etag = 'W/"' + hashlib.sha256(json.dumps(body).encode()).hexdigest()[:32] + '"'
            if status == 200 and request_headers.get("If-None-Match") == etag:
                return 304, None, {"ETag": etag, **self.rate_headers()}
            if dataset.rate_used >= dataset.rate_limit:
                message = {"message": "API rate limit exceeded for user ID 1."}
                return 403, message, self.rate_headers()
            dataset.rate_used += 1
            return status, body, {**headers, "ETag": etag, **self.rate_headers()}

    def resource(self, match, query: dict, url: str, base_url: str):
        repo, number = match.group(1), match.group(2)
        dataset = self.dataset
        if number is None:
            newest_first = range(dataset.repos[repo], 0, -1)
            return self.page([dataset.deployment(repo, n, base_url) for n in newest_first], query, url)
        number = int(number) - dataset.deployment_id(repo, 0)
        if not 1 <= number <= dataset.repos[repo]:
            return 404, {"message": "Not Found"}, {}
        if match.group(3):
            return self.page(dataset.statuses(repo, number, base_url), query, url)
        return 200, dataset.deployment(repo, number, base_url), {}

    def listed(self, match, query: dict, url: str, base_url: str):
        repo, kind = match.group(1), match.group(2)
        if kind == "pulls":
            return self.page(self.dataset.pull_list(repo, query, base_url), query, url)
        return self.page(self.dataset.release_list(repo, base_url), query, url)

    def page(self, items: list, query: dict, url: str):
        per_page = min(int(query.get("per_page", 30)), MAX_PER_PAGE)
        page = int(query.get("page", 1))
        last = max((len(items) + per_page - 1) // per_page, 1)
        headers = {}
        if page < last:
            next_url, last_url = (f"{url}?{urlencode(query | {'page': n})}" for n in (page + 1, last))
            headers["Link"] = f'<{next_url}>; rel="next", <{last_url}>; rel="last"'
        return 200, items[(page - 1) * per_page : page * per_page], headers

    def rate_headers(self) -> dict:
        dataset = self.dataset
        return {
            "x-ratelimit-limit": str(dataset.rate_limit),
            "x-ratelimit-remaining": str(max(dataset.rate_limit - dataset.rate_used, 0)),
            "x-ratelimit-reset": str(int(time.time()) + dataset.rate_reset_in),
        }
