"""A generated GitLab: projects with merge requests, pipelines (their jobs and JUnit test report),
deployments and releases, shaped like the REST API v4.

As GitLab answers: `/api/v4/projects/:id` where `:id` is the numeric id or the URL-encoded path
(`acme%2Fpayments`), a `PRIVATE-TOKEN` header (else 401 `{"message": "401 Unauthorized"}`), lists
filtered by `updated_after` and ordered by `order_by` and `sort` (newest first by default), offset
pages (`page`, `per_page` up to 100) with `Link` and `X-Next-Page`/`X-Total` headers, or keyset pages
(`pagination=keyset`, the next page's `cursor` in `Link: rel="next"`), and `RateLimit-*` headers on
every answer; a spent limit is a 429 with `Retry-After`. Items are computed from their index until a
test edits or deletes them.
"""

import base64
import bisect
import hashlib
import hmac
import json
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote, urlencode

MERGE_REQUEST_STEP = timedelta(hours=2)
MERGE_REQUEST_OPEN_FOR = timedelta(minutes=30)
PIPELINE_STEP = timedelta(hours=1)
DEPLOYMENT_STEP = timedelta(hours=1)
MAX_PER_PAGE = 100
ROUTE = re.compile(
    r"/api/v4/projects/([^/]+)"
    r"(?:/(merge_requests|pipelines|deployments|releases)(?:/(\d+)(?:/(jobs|test_report))?)?)?"
)
UNAUTHORISED = {"message": "401 Unauthorized"}
NOT_FOUND = {"message": "404 Not found"}


@dataclass
class SandboxRelease:
    tag: str
    released_at: datetime


@dataclass
class GitlabDataset:
    merge_requests: dict[str, int] = field(default_factory=lambda: {"acme/payments": 30})
    pipelines: dict[str, int] = field(default_factory=dict)  # per project; none unless asked
    deployments: dict[str, int] = field(default_factory=dict)
    environments: tuple[str, ...] = ("staging", "production")
    refs: tuple[str, ...] = ("v4.2", "v4.3")  # pipelines' and deployments' refs (tags)
    milestones: tuple[str, ...] = ("4.2", "4.3")
    base_time: datetime = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
    username: str = "sync-bot"
    token: str = "sandbox-gitlab-token"  # noqa: S105 - the sandbox's own fixed test credential
    rate_limit: int = 1_000_000  # requests until the reset
    rate_used: int = 0
    rate_reset_in: int = 60  # seconds a window lasts; the count starts again after it
    rate_window_started: float = field(default_factory=time.time)
    edits: dict[tuple[str, str, int], dict] = field(default_factory=dict)  # (project, kind, n) -> fields
    deleted: set[tuple[str, str, int]] = field(default_factory=set)
    releases: dict[str, list[SandboxRelease]] = field(default_factory=dict)
    revision: int = 0  # bumped by every change, so the routes' cached lists know they are stale
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    @property
    def projects(self) -> list[str]:
        return sorted(set(self.merge_requests) | set(self.pipelines) | set(self.deployments))

    def project_id(self, project: str) -> int:
        return 100 + self.projects.index(project)

    def project_named(self, id_or_path: str) -> str | None:
        path = unquote(id_or_path)
        if path.isdigit():
            by_id = {self.project_id(p): p for p in self.projects}
            return by_id.get(int(path))
        return path if path in self.projects else None

    def project(self, project: str, base_url: str) -> dict:
        namespace, _, name = project.rpartition("/")
        return {
            "id": self.project_id(project),
            "name": name,
            "path": name,
            "path_with_namespace": project,
            "name_with_namespace": f"{namespace.title()} / {name.title()}",
            "default_branch": "main",
            "web_url": f"https://gitlab.example/{project}",
            "created_at": _iso(self.base_time - timedelta(days=365)),
            "last_activity_at": _iso(self.base_time),
            "namespace": {"id": 10, "name": namespace, "path": namespace, "kind": "group"},
        }

    def fields(self, project: str, kind: str, n: int, generated: dict) -> dict:
        return generated | self.edits.get((project, kind, n), {})

    def edit(self, project: str, kind: str, n: int, *, at: datetime, **fields) -> None:
        """Change merge request (kind "merge_requests"), pipeline or deployment n at time `at`."""
        with self.lock:
            self.edits[(project, kind, n)] = {
                **self.edits.get((project, kind, n), {}),
                **fields,
                "updated": at,
            }
            self.revision += 1

    def delete(self, project: str, kind: str, n: int) -> None:
        with self.lock:
            self.deleted.add((project, kind, n))
            self.revision += 1

    def add(self, project: str, kind: str, *, at: datetime, **fields) -> int:
        with self.lock:
            counts = getattr(self, kind)
            counts[project] = counts.get(project, 0) + 1
            n = counts[project]
            opened = {"merge_requests": {"state": "opened"}}.get(kind, {})
            self.edits[(project, kind, n)] = {**opened, **fields, "created": at, "updated": at}
            self.revision += 1
            return n

    def numbers(self, project: str, kind: str) -> list[int]:
        count = getattr(self, kind).get(project, 0)
        return [n for n in range(1, count + 1) if (project, kind, n) not in self.deleted]

    def _sha(self, *parts) -> str:
        return hashlib.sha1(":".join(map(str, parts)).encode()).hexdigest()  # noqa: S324 - a fake commit

    # --- merge requests -----------------------------------------------------------------------------

    def merge_request(self, project: str, n: int) -> dict:
        created = self.base_time + n * MERGE_REQUEST_STEP
        generated = {
            "title": f"Change {n} of {project}",
            "state": "closed" if n % 7 == 0 else ("opened" if n % 3 == 0 else "merged"),
            "milestone": ("", *self.milestones)[n // 2 % (len(self.milestones) + 1)],
            "created": created,
            "updated": created + MERGE_REQUEST_OPEN_FOR,
        }
        f = self.fields(project, "merge_requests", n, generated)
        updated, state = f["updated"], f["state"]
        milestone = None
        if f["milestone"]:
            number = self.milestones.index(f["milestone"]) + 1 if f["milestone"] in self.milestones else 99
            milestone = {
                "id": 300 + number,
                "iid": number,
                "project_id": self.project_id(project),
                "title": f["milestone"],
                "state": "active",
            }
        user = {"id": 7 + n % 5, "username": f"dev{n % 5}", "name": f"Developer {n % 5}", "state": "active"}
        return {
            "id": 500_000 * (self.projects.index(project) + 1) + n,
            "iid": n,
            "project_id": self.project_id(project),
            "title": f["title"],
            "description": "",
            "state": state,
            "created_at": _iso(f["created"]),
            "updated_at": _iso(updated),
            "merged_at": _iso(updated) if state == "merged" else None,
            "merge_user": user if state == "merged" else None,
            "closed_at": _iso(updated) if state == "closed" else None,
            "closed_by": user if state == "closed" else None,
            "target_branch": "main",
            "source_branch": f"feature/{n}",
            "author": user,
            "milestone": milestone,
            "draft": False,
            "sha": self._sha(project, "mr", n),
            "merge_commit_sha": self._sha(project, "merge", n) if state == "merged" else None,
            "references": {"short": f"!{n}", "full": f"{project}!{n}"},
            "web_url": f"https://gitlab.example/{project}/-/merge_requests/{n}",
        }

    # --- pipelines ----------------------------------------------------------------------------------

    def pipeline_fields(self, project: str, n: int) -> dict:
        created = self.base_time + n * PIPELINE_STEP
        generated = {
            "status": "failed" if n % 6 == 0 else "success",
            "ref": self.refs[n % len(self.refs)],
            "created": created,
            "updated": created + timedelta(minutes=16),
        }
        return self.fields(project, "pipelines", n, generated)

    def pipeline_id(self, project: str, n: int) -> int:
        return 10_000 * (self.projects.index(project) + 1) + n

    def pipeline(self, project: str, n: int) -> dict:
        f = self.pipeline_fields(project, n)
        return {
            "id": self.pipeline_id(project, n),
            "iid": n,
            "project_id": self.project_id(project),
            "sha": self._sha(project, "pipeline", n),
            "ref": f["ref"],
            "status": f["status"],
            "source": "push",
            "created_at": _iso(f["created"]),
            "updated_at": _iso(f["updated"]),
            "web_url": f"https://gitlab.example/{project}/-/pipelines/{self.pipeline_id(project, n)}",
        }

    def jobs(self, project: str, n: int) -> list[dict]:
        """build then test; the test job has not finished while the pipeline runs."""
        f = self.pipeline_fields(project, n)
        running = f["status"] in ("running", "pending", "created")
        created = f["created"]
        steps = [("build", "build", 1, 6), ("test", "test", 7, 15)]
        jobs = []
        for k, (name, stage, start, end) in enumerate(steps):
            last = k == len(steps) - 1
            status = (
                "running"
                if running and last
                else ("failed" if last and f["status"] == "failed" else "success")
            )
            finished = None if status == "running" else _iso(created + timedelta(minutes=end))
            jobs.append(
                {
                    "id": 70_000 * (self.projects.index(project) + 1) + 2 * n + k,
                    "name": name,
                    "stage": stage,
                    "status": status,
                    "ref": f["ref"],
                    "created_at": _iso(created),
                    "started_at": _iso(created + timedelta(minutes=start)),
                    "finished_at": finished,
                    "duration": None if finished is None else float((end - start) * 60),
                    "pipeline": {"id": self.pipeline_id(project, n), "status": f["status"]},
                }
            )
        return list(reversed(jobs))  # newest first, as GitLab lists them

    def test_report(self, project: str, n: int) -> dict:
        f = self.pipeline_fields(project, n)
        failed = 1 if f["status"] == "failed" else 0
        passed = f.get("passed", 40 + n % 5)
        suite = {
            "name": "unit",
            "total_time": 12.5,
            "total_count": passed + failed + 2,
            "success_count": passed,
            "failed_count": failed,
            "skipped_count": 2,
            "error_count": 0,
            "test_cases": [],
        }
        return {key: suite[key] for key in suite if key not in ("name", "test_cases")} | {
            "test_suites": [suite]
        }

    # --- deployments --------------------------------------------------------------------------------

    def deployment(self, project: str, n: int) -> dict:
        created = self.base_time + n * DEPLOYMENT_STEP + timedelta(minutes=30)
        generated = {
            "status": "failed" if n % 6 == 0 else "success",
            "ref": self.refs[n % len(self.refs)],
            "environment": self.environments[n % len(self.environments)],
            "created": created,
            "updated": created + timedelta(minutes=5),
        }
        f = self.fields(project, "deployments", n, generated)
        deployment_id = 20_000 * (self.projects.index(project) + 1) + n
        finished = f["status"] in ("success", "failed", "canceled")
        return {
            "id": deployment_id,
            "iid": n,
            "ref": f["ref"],
            "sha": self._sha(project, "deploy", n),
            "status": f["status"],
            "created_at": _iso(f["created"]),
            "updated_at": _iso(f["updated"]),
            "user": {"id": 1, "username": self.username},
            "environment": {
                "id": 40 + self.environments.index(f["environment"])
                if f["environment"] in self.environments
                else 99,
                "name": f["environment"],
                "external_url": f"https://{f['environment']}.example",
            },
            "deployable": {
                "id": 80_000 + deployment_id,
                "status": f["status"],
                "finished_at": _iso(f["updated"]) if finished else None,
            },
        }

    # --- releases -----------------------------------------------------------------------------------

    def publish(self, project: str, tag: str, *, at: datetime) -> None:
        """A release of `tag` dated `at` (in the future: an upcoming release)."""
        with self.lock:
            self.releases.setdefault(project, []).append(SandboxRelease(tag, at))
            self.revision += 1

    def release_list(self, project: str) -> list[dict]:
        now = datetime.now(UTC)
        return [
            {
                "tag_name": release.tag,
                "name": f"Release {release.tag}",
                "description": "",
                "created_at": _iso(release.released_at - timedelta(hours=1)),
                "released_at": _iso(release.released_at),
                "upcoming_release": release.released_at > now,
                "author": {"id": 1, "username": self.username},
                "commit": {"id": self._sha(project, "tag", release.tag)},
                "_links": {"self": f"https://gitlab.example/{project}/-/releases/{release.tag}"},
            }
            for release in self.releases.get(project, [])
        ]


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


class GitlabRoutes:
    tool = "gitlab"  # what it proves to be (proof.py)

    def __init__(self, dataset: GitlabDataset):
        self.dataset = dataset
        self.cache: dict[tuple, tuple[list, list]] = {}  # a list, filtered and ordered: computed once
        self.cache_revision = -1

    def authorised_request(self, headers, token: str) -> bool:
        """A `PRIVATE-TOKEN` header (or an OAuth bearer token) carrying the token."""
        given = headers.get("PRIVATE-TOKEN") or ""
        bearer = headers.get("Authorization") or ""
        if not given and bearer.startswith("Bearer "):
            given = bearer[7:]
        return bool(given) and hmac.compare_digest(given.encode(), token.encode())

    def unauthorised(self) -> tuple[int, dict, dict]:
        return 401, UNAUTHORISED, {}

    def answer_http(self, path: str, query: dict, base_url: str, request_headers):
        dataset = self.dataset
        with dataset.lock:
            if time.time() >= dataset.rate_window_started + dataset.rate_reset_in:
                dataset.rate_used, dataset.rate_window_started = 0, time.time()
            if dataset.rate_used >= dataset.rate_limit:
                wait = int(dataset.rate_window_started + dataset.rate_reset_in - time.time()) + 1
                headers = self.rate_headers() | {"Retry-After": str(max(wait, 1))}
                return 429, {"message": "Retry later"}, headers
            dataset.rate_used += 1
            status, body, headers = self.route(path, query, base_url)
            return status, body, {**headers, **self.rate_headers()}

    def route(self, path: str, query: dict, base_url: str):
        dataset = self.dataset
        match = ROUTE.fullmatch(path)
        project = dataset.project_named(match.group(1)) if match else None
        if project is None:
            return 404, {"message": "404 Project Not Found"}, {}
        kind, number, sub = match.group(2), match.group(3), match.group(4)
        if kind is None:
            return 200, dataset.project(project, base_url), {}
        if kind == "releases":
            if number is not None:
                return 404, NOT_FOUND, {}
            return self.page(dataset.release_list(project), query, base_url + path, key="created_at")
        if number is None:
            return self.listed(project, kind, query, base_url + path)
        n = int(number)
        if kind == "pipelines":
            n -= dataset.pipeline_id(project, 0)
        if n not in dataset.numbers(project, kind):
            return 404, NOT_FOUND, {}
        if kind == "pipelines" and sub == "jobs":
            return self.page(dataset.jobs(project, n), query, base_url + path, key="id")
        if kind == "pipelines" and sub == "test_report":
            return 200, dataset.test_report(project, n), {}
        if sub is not None:
            return 404, NOT_FOUND, {}
        return (
            200,
            {"merge_requests": dataset.merge_request, "pipelines": dataset.pipeline}.get(
                kind, dataset.deployment
            )(project, n),
            {},
        )

    def listed(self, project: str, kind: str, query: dict, url: str):
        if query.get("pagination") == "keyset":  # as GitLab: these lists have offset pages only
            return 405, {"message": "Keyset pagination is not yet available for this type of request"}, {}
        default = "created_at" if kind != "pipelines" else "id"
        key = query.get("order_by", default)
        if kind == "deployments" and query.get("updated_after") and key != "updated_at":
            return 400, {"message": "`updated_at` filter requires `updated_at` sort"}, {}
        items, keys = self.ordered(project, kind, key, query.get("state", "all"))
        if query.get("updated_after"):
            after = datetime.fromisoformat(query["updated_after"].replace("Z", "+00:00"))
            if key == "updated_at":  # ordered by it: the items from `after` on, found by bisection
                start = bisect.bisect_left(keys, (_iso(after), 0))
                items, keys = items[start:], keys[start:]
            else:
                kept = [
                    i for i, item in enumerate(items) if datetime.fromisoformat(item["updated_at"]) >= after
                ]
                items, keys = [items[i] for i in kept], [keys[i] for i in kept]
        return self.paged((items, keys), query, url, key=key)

    def ordered(self, project: str, kind: str, key: str, state: str) -> tuple[list, list]:
        """The items and their (key, id), ascending; cached until the dataset changes (a sync reads
        the same list page after page: 50,000 merge requests are built once, not once a page)."""
        dataset = self.dataset
        if self.cache_revision != dataset.revision:
            self.cache, self.cache_revision = {}, dataset.revision
        cached = self.cache.get((project, kind, key, state))
        if cached is not None:
            return cached
        make = {
            "merge_requests": dataset.merge_request,
            "pipelines": dataset.pipeline,
            "deployments": dataset.deployment,
        }[kind]
        items = [make(project, n) for n in dataset.numbers(project, kind)]
        if kind == "merge_requests" and state != "all":
            items = [item for item in items if item["state"] == state]
        items.sort(key=lambda item: (item.get(key) or "", item.get("id", 0)))
        self.cache[(project, kind, key, state)] = result = (
            items,
            [(item.get(key) or "", item.get("id", 0)) for item in items],
        )
        return result

    def page(self, items: list[dict], query: dict, url: str, *, key: str):
        """A short list (jobs, releases), ordered and paged like the long ones."""
        items = sorted(items, key=lambda item: (item.get(key) or "", item.get("id", 0)))
        return self.paged(
            (items, [(item.get(key) or "", item.get("id", 0)) for item in items]), query, url, key=key
        )

    def paged(self, ordered: tuple[list, list], query: dict, url: str, *, key: str):
        """Ordered by (key, id), `sort` desc unless asked asc; keyset or offset pages."""
        items = ordered[0]
        descending = query.get("sort", "desc") != "asc"
        per_page = max(1, min(int(query.get("per_page", 20)), MAX_PER_PAGE))
        if query.get("pagination") == "keyset":
            return self.keyset_page(ordered, query, url, key=key, per_page=per_page, descending=descending)
        items = items[::-1] if descending else items
        page = max(int(query.get("page", 1)), 1)
        pages = max((len(items) + per_page - 1) // per_page, 1)
        headers = {
            "X-Page": str(page),
            "X-Per-Page": str(per_page),
            "X-Total": str(len(items)),
            "X-Total-Pages": str(pages),
            "X-Next-Page": str(page + 1) if page < pages else "",
            "X-Prev-Page": str(page - 1) if page > 1 else "",
        }
        links = [("first", 1), ("last", pages)] + ([("next", page + 1)] if page < pages else [])
        headers["Link"] = ", ".join(
            f'<{url}?{urlencode(query | {"page": n})}>; rel="{rel}"' for rel, n in links
        )
        return 200, items[(page - 1) * per_page : page * per_page], headers

    def keyset_page(self, ordered, query: dict, url: str, *, key: str, per_page: int, descending: bool):
        """After the cursor's (key, id): a page never repeats nor skips an item, whatever is added."""
        items, keys = ordered
        cursor = query.get("cursor")
        after = None
        if cursor:
            try:
                after = tuple(json.loads(base64.urlsafe_b64decode(cursor.encode())))
            except ValueError:
                return 400, {"message": "400 Bad request - invalid cursor"}, {}
        if descending:
            end = len(items) if after is None else bisect.bisect_left(keys, after)
            chunk, more = items[max(end - per_page, 0) : end][::-1], end > per_page
        else:
            start = 0 if after is None else bisect.bisect_right(keys, after)
            chunk, more = items[start : start + per_page], start + per_page < len(items)
        headers = {"X-Per-Page": str(per_page)}
        if more and chunk:
            last = chunk[-1]
            token = base64.urlsafe_b64encode(json.dumps([last.get(key) or "", last.get("id", 0)]).encode())
            next_query = {k: v for k, v in query.items() if k != "cursor"} | {"cursor": token.decode()}
            headers["Link"] = f'<{url}?{urlencode(next_query)}>; rel="next"'
        return 200, chunk, headers

    def rate_headers(self) -> dict:
        dataset = self.dataset
        return {
            "RateLimit-Limit": str(dataset.rate_limit),
            "RateLimit-Remaining": str(max(dataset.rate_limit - dataset.rate_used, 0)),
            "RateLimit-Reset": str(int(dataset.rate_window_started + dataset.rate_reset_in)),
        }


# --- the demo's plan ------------------------------------------------------------------------------

PLANNED_MERGE_REQUESTS = 4  # a planned version's milestone holds this many merge requests


def gitlab_from_plan(plan: dict) -> GitlabDataset:
    """The demo's GitLab (demo.sandbox.sandbox_plan()["gitlab"]): per project, for each planned version
    (oldest first), PLANNED_MERGE_REQUESTS merged merge requests in its milestone and one green pipeline
    of its tag with a passing test report, on the planned day; and the planned deployments in full.
    Without a plan, the generated `acme/payments` dataset."""
    planned = plan.get("gitlab") or {}
    if not planned:
        return GitlabDataset()
    versions = sorted({v for project in planned.values() for v in project.get("versions", [])})
    environments = sorted({d["environment"] for p in planned.values() for d in p.get("deployments", [])})
    dataset = GitlabDataset(
        merge_requests={},
        milestones=tuple(versions) or ("1.0",),
        refs=tuple(f"v{v}" for v in versions) or ("v1.0",),
        environments=tuple(environments) or ("staging",),
    )
    for project, entry in planned.items():
        day = datetime.fromisoformat(entry["day"]).replace(tzinfo=UTC)
        for n, version in enumerate(entry.get("versions", [])):
            for k in range(PLANNED_MERGE_REQUESTS):
                opened = (
                    day
                    + timedelta(hours=8, minutes=10 * (n * PLANNED_MERGE_REQUESTS + k))
                    - timedelta(days=2)
                )
                dataset.add(
                    project,
                    "merge_requests",
                    at=opened,
                    milestone=version,
                    title=f"Work {k + 1} for {version}",
                )
                dataset.edit(
                    project,
                    "merge_requests",
                    dataset.merge_requests[project],
                    at=opened + timedelta(hours=2),
                    state="merged",
                )
            started = day + timedelta(hours=9, minutes=20 * n)
            dataset.add(project, "pipelines", at=started, ref=version, status="success")
            dataset.edit(project, "pipelines", dataset.pipelines[project], at=started + timedelta(minutes=16))
        for deployment in entry.get("deployments", []):
            created = datetime.fromisoformat(deployment["created_at"])
            dataset.add(
                project,
                "deployments",
                at=created,
                ref=deployment["ref"],
                environment=deployment["environment"],
                status=deployment.get("state", "success"),
            )
            dataset.edit(
                project, "deployments", dataset.deployments[project], at=created + timedelta(minutes=5)
            )
    return dataset
