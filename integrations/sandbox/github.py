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
from urllib.parse import unquote, urlencode

DEPLOYMENT_STEP = timedelta(hours=1)
STATUS_STEP = timedelta(minutes=2)
PULL_STEP = timedelta(hours=2)
PULL_OPEN_FOR = timedelta(minutes=30)  # a generated pull request is merged or closed this long after
MAX_PER_PAGE = 100
REPO_ROUTE = re.compile(r"/repos/([\w.-]+/[\w.-]+)(/.*)?")
DOCUMENTATION_URL = "https://docs.github.com/rest"  # what GitHub's errors point at: data, never fetched
CHECKS = ("build", "unit-tests", "lint")


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
            "merge_commit_sha": self.merge_sha(repo, number, state),
            "assignees": [],
            "requested_reviewers": [],
            "labels": [],
            "milestone": milestone,
            "draft": False,
            "head": {"ref": f"feature/{number}", "sha": sha},
            "base": {"ref": "main", "sha": "0" * 40},
            "author_association": "MEMBER",
        }

    def merge_sha(self, repo: str, number: int, state: str) -> str | None:
        """Merged: the merge commit; open: GitHub's test merge; closed unmerged: none."""
        if state == "closed":
            return None
        kind = "merge" if state == "merged" else "test-merge"
        return hashlib.sha1(f"{repo}:{kind}:{number}".encode()).hexdigest()  # noqa: S324 - a fake commit id

    def pull_detail(self, repo: str, number: int, base_url: str) -> dict:
        """GET /pulls/{n}: the list item and what only a single pull request carries (`merged`)."""
        raw = self.pull(repo, number, base_url)
        merged = raw["merged_at"] is not None
        return raw | {
            "merged": merged,
            "mergeable": None if raw["state"] == "closed" else True,
            "mergeable_state": "unknown" if raw["state"] == "closed" else "clean",
            "merged_by": {"login": f"dev{(number + 1) % 5}", "type": "User"} if merged else None,
            "comments": 0,
            "review_comments": 0,
            "maintainer_can_modify": False,
            "commits": 1 + number % 4,
            "additions": 10 * number,
            "deletions": 3 * number,
            "changed_files": 1 + number % 6,
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

    # --- commits and check runs ---------------------------------------------------------------------

    def commit_sha(self, repo: str, ref: str) -> str | None:
        """The commit a ref names: a hex SHA itself, or a known branch, tag or deployed ref."""
        if re.fullmatch(r"[0-9a-f]{7,40}", ref):
            return ref
        tags = {release.tag for release in self.releases.get(repo, [])}
        if ref in ("main", "HEAD", *self.refs, *tags) or re.fullmatch(r"feature/\d+", ref):
            return hashlib.sha1(f"{repo}:ref:{ref}".encode()).hexdigest()  # noqa: S324 - a fake commit id
        return None

    def commit(self, repo: str, sha: str, base_url: str) -> dict:
        return {
            "sha": sha,
            "node_id": f"C_{sha[:12]}",
            "url": f"{base_url}/repos/{repo}/commits/{sha}",
            "html_url": f"https://github.example/{repo}/commit/{sha}",
            "commit": {
                "message": f"Change {sha[:7]}",
                "author": {"name": "Dev", "email": "dev@example.com", "date": _iso(self.base_time)},
                "committer": {"name": "Dev", "email": "dev@example.com", "date": _iso(self.base_time)},
            },
            "author": {"login": "dev0", "type": "User"},
            "committer": {"login": "dev0", "type": "User"},
            "parents": [],
            "files": [],
            "stats": {"additions": 0, "deletions": 0, "total": 0},
        }

    def check_runs(self, repo: str, sha: str, base_url: str) -> list[dict]:
        """Build, unit tests and lint for every commit; the unit tests fail on one in five."""
        seed = int(hashlib.sha256(f"{repo}:{sha}".encode()).hexdigest()[:8], 16)
        runs = []
        for n, name in enumerate(CHECKS):
            run_id = 40_000_000 + seed % 1_000_000 * 10 + n
            failed = name == "unit-tests" and seed % 5 == 0
            started = self.base_time + timedelta(minutes=n)
            runs.append(
                {
                    "id": run_id,
                    "node_id": f"CR_{run_id}",
                    "head_sha": sha,
                    "external_id": "",
                    "url": f"{base_url}/repos/{repo}/check-runs/{run_id}",
                    "html_url": f"https://github.example/{repo}/runs/{run_id}",
                    "details_url": f"https://github.example/{repo}/runs/{run_id}",
                    "status": "completed",
                    "conclusion": "failure" if failed else "success",
                    "started_at": _iso(started),
                    "completed_at": _iso(started + timedelta(minutes=3)),
                    "output": {"title": None, "summary": None, "text": None, "annotations_count": 0},
                    "name": name,
                    "check_suite": {"id": 90_000_000 + seed % 1_000_000},
                    "app": {"id": 15368, "slug": "github-actions", "name": "GitHub Actions"},
                    "pull_requests": [],
                }
            )
        return runs

    def take_secondary_limit(self, path: str) -> SecondaryLimit | None:
        for limit in self.secondary_limits:
            if limit.times > 0 and limit.path in path:
                limit.times -= 1
                return limit
        return None


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class GithubRoutes:
    """GitHub's REST API over the dataset: the authenticated user, the rate limit, a repository, its
    deployments (filtered by environment, ref, sha and task) and their statuses, pull requests (a
    single one with `merged`, and `/merge`: 204 merged, 404 not), releases (list, latest, by tag, by
    id), a commit and its check runs. Errors in GitHub's shape: {"message", "documentation_url",
    "status"}."""

    tool = "github"  # what it proves to be (proof.py)
    token_schemes = ("Bearer ", "bearer ", "token ", "Token ")  # GitHub takes both

    def __init__(self, dataset: GithubDataset):
        self.dataset = dataset

    def unauthorised(self) -> tuple[int, dict, dict]:
        return 401, _error("Bad credentials", 401), self.rate_headers()

    def answer_http(self, path: str, query: dict, base_url: str, request_headers):
        """(status, body, headers) for one GET."""
        dataset = self.dataset
        if "_body" in query:
            return 404, _error("Not Found", 404), self.rate_headers()
        with dataset.lock:
            if path == "/rate_limit":  # never counted, answered even when the limit is spent
                return 200, self.rate_limit(), self.rate_headers()
            route = self.route(path.rstrip("/"))
            if route is None:
                return 404, _error("Not Found", 404), self.rate_headers()
            limit = dataset.take_secondary_limit(path)
            if limit is not None:
                message = {
                    "message": "You have exceeded a secondary rate limit. Please wait a few minutes.",
                    "documentation_url": DOCUMENTATION_URL,
                }
                return 403, message, {"Retry-After": str(limit.retry_after), **self.rate_headers()}
            status, body, headers = route(query, f"{base_url}{path}", base_url)
            etag = 'W/"' + hashlib.sha256(json.dumps(body).encode()).hexdigest()[:32] + '"'
            if status == 200 and request_headers.get("If-None-Match") == etag:
                return 304, None, {"ETag": etag, **self.rate_headers()}
            if dataset.rate_used >= dataset.rate_limit:
                message = {
                    "message": "API rate limit exceeded for user ID 1.",
                    "documentation_url": DOCUMENTATION_URL,
                }
                return 403, message, self.rate_headers()
            dataset.rate_used += 1
            headers = {**headers, **({"ETag": etag} if status == 200 else {})}
            return status, body, {**headers, **self.rate_headers()}

    def route(self, path: str):
        """The answer for a path as a function of (query, url, base_url), or None: not found."""
        dataset = self.dataset
        if path == "/user":
            return lambda query, url, base_url: (200, self.user(base_url), {})
        account = re.fullmatch(r"/(users|orgs)/([\w.-]+)", path)
        if account:
            return self.account_route(account.group(2), org=account.group(1) == "orgs")
        match = REPO_ROUTE.fullmatch(path)
        if not match or match.group(1) not in dataset.repos:
            return None
        repo, rest = match.group(1), match.group(2) or ""
        answers = (
            (r"", lambda m: lambda q, u, b: (200, self.repository(repo, b), {})),
            (r"/deployments", lambda m: lambda q, u, b: self.page(self.deployments(repo, q, b), q, u)),
            (r"/deployments/(\d+)", lambda m: self.deployment_route(repo, int(m.group(1)), statuses=False)),
            (
                r"/deployments/(\d+)/statuses",
                lambda m: self.deployment_route(repo, int(m.group(1)), statuses=True),
            ),
            (r"/pulls", lambda m: lambda q, u, b: self.page(dataset.pull_list(repo, q, b), q, u)),
            (r"/pulls/(\d+)", lambda m: self.pull_route(repo, int(m.group(1)), merge=False)),
            (r"/pulls/(\d+)/merge", lambda m: self.pull_route(repo, int(m.group(1)), merge=True)),
            (r"/releases", lambda m: lambda q, u, b: self.page(dataset.release_list(repo, b), q, u)),
            (
                r"/releases/latest",
                lambda m: self.release_route(repo, lambda r: not r["draft"] and not r["prerelease"]),
            ),
            (
                r"/releases/tags/(.+)",
                lambda m: self.release_route(
                    repo, lambda r: r["tag_name"] == unquote(m.group(1)) and not r["draft"]
                ),
            ),
            (r"/releases/(\d+)", lambda m: self.release_route(repo, lambda r: r["id"] == int(m.group(1)))),
            (r"/environments", lambda m: lambda q, u, b: (200, self.environments(repo, b), {})),
            (r"/branches", lambda m: lambda q, u, b: self.page(self.branches(repo, b), q, u)),
            (r"/branches/(.+)", lambda m: self.branch_route(repo, unquote(m.group(1)))),
            (r"/tags", lambda m: lambda q, u, b: self.page(self.tags(repo, b), q, u)),
            (r"/milestones", lambda m: lambda q, u, b: self.page(self.milestones(repo, q, b), q, u)),
            (r"/commits/([^/]+)/status", lambda m: self.commit_status_route(repo, unquote(m.group(1)))),
            (r"/commits/([^/]+)", lambda m: self.commit_route(repo, unquote(m.group(1)), checks=False)),
            (
                r"/commits/([^/]+)/check-runs",
                lambda m: self.commit_route(repo, unquote(m.group(1)), checks=True),
            ),
        )
        for pattern, answer in answers:
            found = re.fullmatch(pattern, rest)
            if found:
                return answer(found)
        return None

    # --- the account --------------------------------------------------------------------------------

    def user(self, base_url: str) -> dict:
        login = self.dataset.username
        return {
            "login": login,
            "id": 1,
            "node_id": "MDQ6VXNlcjE=",
            "avatar_url": "",
            "url": f"{base_url}/users/{login}",
            "html_url": f"https://github.example/{login}",
            "type": "User",
            "site_admin": False,
            "name": "Sync Bot",
            "company": None,
            "email": None,
            "public_repos": len(self.dataset.repos),
            "created_at": _iso(self.dataset.base_time),
            "updated_at": _iso(self.dataset.base_time),
        }

    def account_route(self, login: str, *, org: bool):
        """A user (the API user, the repositories' owners, the generated authors) or an organisation
        (a repository owner); anyone else is not found."""
        owners = {repo.split("/")[0] for repo in self.dataset.repos}
        known = owners if org else {self.dataset.username, *owners, *(f"dev{n}" for n in range(5))}
        if login not in known:
            return None

        def answer(query, url, base_url):
            kind = "Organization" if org or login in owners else "User"
            return (
                200,
                {
                    "login": login,
                    "id": 2
                    if login in owners
                    else 1
                    if login == self.dataset.username
                    else 10 + int(login[3:]),
                    "node_id": f"U_{login}",
                    "url": f"{base_url}/{'orgs' if org else 'users'}/{login}",
                    "html_url": f"https://github.example/{login}",
                    "repos_url": f"{base_url}/{'orgs' if org else 'users'}/{login}/repos",
                    "type": kind,
                    "site_admin": False,
                    "name": login,
                    "description": None,
                    "created_at": _iso(self.dataset.base_time - timedelta(days=365)),
                },
                {},
            )

        return answer

    def rate_limit(self) -> dict:
        dataset = self.dataset
        reset = int(time.time()) + dataset.rate_reset_in
        core = {
            "limit": dataset.rate_limit,
            "used": dataset.rate_used,
            "remaining": max(dataset.rate_limit - dataset.rate_used, 0),
            "reset": reset,
            "resource": "core",
        }
        fresh = {"limit": 30, "used": 0, "remaining": 30, "reset": reset}
        return {
            "resources": {
                "core": core,
                "search": {**fresh, "resource": "search"},
                "graphql": {**fresh, "limit": 5000, "remaining": 5000, "resource": "graphql"},
            },
            "rate": core,
        }

    # --- a repository -------------------------------------------------------------------------------

    def repository(self, repo: str, base_url: str) -> dict:
        dataset = self.dataset
        owner, name = repo.split("/")
        return {
            "id": 300_000 + sorted(dataset.repos).index(repo),
            "node_id": f"R_sandbox{sorted(dataset.repos).index(repo)}",
            "name": name,
            "full_name": repo,
            "private": True,
            "owner": {"login": owner, "id": 2, "type": "Organization", "url": f"{base_url}/users/{owner}"},
            "html_url": f"https://github.example/{repo}",
            "description": f"The {name} service",
            "fork": False,
            "url": f"{base_url}/repos/{repo}",
            "deployments_url": f"{base_url}/repos/{repo}/deployments",
            "releases_url": f"{base_url}/repos/{repo}/releases{{/id}}",
            "pulls_url": f"{base_url}/repos/{repo}/pulls{{/number}}",
            "created_at": _iso(dataset.base_time - timedelta(days=365)),
            "updated_at": _iso(dataset.base_time),
            "pushed_at": _iso(dataset.base_time),
            "default_branch": "main",
            "visibility": "private",
            "archived": False,
            "disabled": False,
            "has_issues": True,
            "open_issues_count": 0,
            "topics": [],
            "permissions": {"admin": False, "maintain": False, "push": True, "triage": True, "pull": True},
        }

    def deployments(self, repo: str, query: dict, base_url: str) -> list[dict]:
        """Newest first, narrowed by `environment`, `ref`, `sha` and `task` as GitHub narrows them."""
        dataset = self.dataset
        listed = [dataset.deployment(repo, n, base_url) for n in range(dataset.repos[repo], 0, -1)]
        for name in ("environment", "ref", "sha", "task"):
            if query.get(name) not in (None, "", "none"):
                listed = [deployment for deployment in listed if deployment[name] == query[name]]
        return listed

    def deployment_route(self, repo: str, deployment_id: int, *, statuses: bool):
        dataset = self.dataset
        number = deployment_id - dataset.deployment_id(repo, 0)
        if not 1 <= number <= dataset.repos[repo]:
            return None
        if statuses:
            return lambda q, u, b: self.page(dataset.statuses(repo, number, b), q, u)
        return lambda q, u, b: (200, dataset.deployment(repo, number, b), {})

    def pull_route(self, repo: str, number: int, *, merge: bool):
        dataset = self.dataset
        if not 1 <= number <= dataset.pulls.get(repo, 0):
            return None
        if merge:  # GitHub's "is it merged?": 204 or 404, nothing else
            merged = dataset.pull_fields(repo, number)["state"] == "merged"
            return lambda q, u, b: (204, None, {}) if merged else (404, _error("Not Found", 404), {})
        return lambda q, u, b: (200, dataset.pull_detail(repo, number, b), {})

    def release_route(self, repo: str, wanted):
        found = next((r for r in self.dataset.release_list(repo, "") if wanted(r)), None)
        if found is None:
            return None
        return lambda q, u, b: (
            200,
            next(r for r in self.dataset.release_list(repo, b) if r["id"] == found["id"]),
            {},
        )

    def commit_route(self, repo: str, ref: str, *, checks: bool):
        sha = self.dataset.commit_sha(repo, ref)
        if sha is None:
            message = _error(f"No commit found for SHA: {ref}", 422)
            return lambda q, u, b: (422, message, {})
        if not checks:
            return lambda q, u, b: (200, self.dataset.commit(repo, sha, b), {})

        def check_runs(query, url, base_url):
            runs = self.dataset.check_runs(repo, sha, base_url)
            if query.get("check_name"):
                runs = [run for run in runs if run["name"] == query["check_name"]]
            if query.get("status"):
                runs = [run for run in runs if run["status"] == query["status"]]
            status, page, headers = self.page(runs, query, url)
            return status, {"total_count": len(runs), "check_runs": page}, headers

        return check_runs

    def environments(self, repo: str, base_url: str) -> dict:
        dataset = self.dataset
        names = sorted(
            {dataset.deployment(repo, n, base_url)["environment"] for n in range(1, dataset.repos[repo] + 1)}
        )
        listed = [
            {
                "id": 800_000 + n,
                "node_id": f"EN_{n}",
                "name": name,
                "url": f"{base_url}/repos/{repo}/environments/{name}",
                "html_url": f"https://github.example/{repo}/deployments/activity_log?environments_filter={name}",
                "created_at": _iso(dataset.base_time),
                "updated_at": _iso(dataset.base_time),
                "protection_rules": [],
            }
            for n, name in enumerate(names, start=1)
        ]
        return {"total_count": len(listed), "environments": listed}

    def branches(self, repo: str, base_url: str) -> list[dict]:
        """main, and the head branch of every open pull request."""
        dataset = self.dataset
        names = ["main"] + [
            f"feature/{n}"
            for n in range(1, dataset.pulls.get(repo, 0) + 1)
            if dataset.pull_fields(repo, n)["state"] == "open"
        ]
        return [self.branch(repo, name, base_url) for name in sorted(names)]

    def branch(self, repo: str, name: str, base_url: str) -> dict:
        sha = self.dataset.commit_sha(repo, name)
        return {
            "name": name,
            "commit": {"sha": sha, "url": f"{base_url}/repos/{repo}/commits/{sha}"},
            "protected": name == "main",
        }

    def branch_route(self, repo: str, name: str):
        if name not in {branch["name"] for branch in self.branches(repo, "")}:
            return None
        return lambda q, u, b: (200, self.branch(repo, name, b) | {"_links": {"self": u}}, {})

    def tags(self, repo: str, base_url: str) -> list[dict]:
        listed = []
        for release in self.dataset.release_list(repo, base_url):
            if release["draft"]:
                continue
            sha = self.dataset.commit_sha(repo, release["tag_name"])
            listed.append(
                {
                    "name": release["tag_name"],
                    "commit": {"sha": sha, "url": f"{base_url}/repos/{repo}/commits/{sha}"},
                    "zipball_url": f"{base_url}/repos/{repo}/zipball/refs/tags/{release['tag_name']}",
                    "tarball_url": f"{base_url}/repos/{repo}/tarball/refs/tags/{release['tag_name']}",
                    "node_id": f"REF_{release['id']}",
                }
            )
        return listed

    def milestones(self, repo: str, query: dict, base_url: str) -> list[dict]:
        """One open milestone per ref the pull requests are filed under; `state` as GitHub reads it."""
        if query.get("state", "open") not in ("open", "all"):
            return []
        return [
            {
                "url": f"{base_url}/repos/{repo}/milestones/{n}",
                "id": n,
                "number": n,
                "title": ref,
                "state": "open",
                "description": None,
                "open_issues": 0,
                "closed_issues": 0,
                "created_at": _iso(self.dataset.base_time),
                "updated_at": _iso(self.dataset.base_time),
                "due_on": None,
                "closed_at": None,
            }
            for n, ref in enumerate(self.dataset.refs, start=1)
        ]

    def commit_status_route(self, repo: str, ref: str):
        """The combined commit status: the sandbox's checks are check runs, so no statuses: pending."""
        sha = self.dataset.commit_sha(repo, ref)
        if sha is None:
            return lambda q, u, b: (404, _error("Not Found", 404), {})

        def answer(query, url, base_url):
            return (
                200,
                {
                    "state": "pending",
                    "statuses": [],
                    "sha": sha,
                    "total_count": 0,
                    "repository": {"full_name": repo, "url": f"{base_url}/repos/{repo}"},
                    "commit_url": f"{base_url}/repos/{repo}/commits/{sha}",
                    "url": url,
                },
                {},
            )

        return answer

    def page(self, items: list, query: dict, url: str):
        per_page = max(1, min(_number(query, "per_page", 30), MAX_PER_PAGE))
        page = max(1, _number(query, "page", 1))
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
            "x-ratelimit-used": str(dataset.rate_used),
            "x-ratelimit-reset": str(int(time.time()) + dataset.rate_reset_in),
            "x-ratelimit-resource": "core",
        }


def _error(message: str, status: int) -> dict:
    return {"message": message, "documentation_url": DOCUMENTATION_URL, "status": str(status)}


def _number(query: dict, name: str, default: int) -> int:
    value = str(query.get(name, default))
    return int(value) if value.isdigit() else default
