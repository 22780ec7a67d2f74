"""GitLab REST API v4: a project, its merge requests, pipelines (their jobs and test report),
deployments and releases. GitLab pages these lists by offset only (`page`, `per_page`), and an offset
page of a list ordered by `updated_at` skips an item whenever one before it is updated meanwhile (it
moves to the end and the rest shift back). So the incremental lists are read by seeking: each request
asks again for what was updated since the newest time read so far, less a second, and an item updated
during the read is simply met again further on. The reconcile's whole listings are ordered by what
never changes (creation, id), and what they miss is asked for one by one before anything is deleted.
A `Link: rel="next"` is followed only to the connection's own address, so the token goes nowhere else.

Authentication is a `PRIVATE-TOKEN` header (a personal, group or project access token with read_api).
A 429 becomes RateLimited with GitLab's own wait (`Retry-After`, else `RateLimit-Reset`); an answer
saying `RateLimit-Remaining: 0` makes the next request raise RateLimited until `RateLimit-Reset`
instead of spending a request that would be refused."""

import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from urllib.parse import quote, urlencode, urlsplit

import httpx

from integrations.http import MAX_RETRY_AFTER, BadPayload, RateLimited, RequestBudget, ToolClient
from integrations.parse import ParseError
from integrations.parse.gitlab import (
    GitlabDeployment,
    GitlabJob,
    GitlabMergeRequest,
    GitlabPipeline,
    GitlabRelease,
    GitlabTestReport,
    PageMeta,
    page_meta,
    parse_deployment,
    parse_job,
    parse_merge_request,
    parse_pipeline,
    parse_release,
    parse_test_report,
    retry_after,
)

PER_PAGE = 100
API = "/api/v4"
# A seek asks again from this long before the newest time read: GitLab may compare `updated_after`
# strictly or by whole seconds, and an item in that last second must not be missed.
SEEK_BACK = timedelta(seconds=1)


class Gone(BadPayload):
    """GitLab answered 404: the item (or the project) is not there."""


def project_path(project: str) -> str:
    """`group/sub/project` as GitLab wants it in a URL: one URL-encoded segment."""
    return f"{API}/projects/{quote(project, safe='')}"


class GitlabClient(ToolClient):
    tool = "GitLab"

    @classmethod
    def for_connection(cls, connection, *, budget: RequestBudget | None = None, **kwargs) -> "GitlabClient":
        token = connection.credentials.get("token", "")
        return cls(
            base_url=connection.base_url,
            headers={"PRIVATE-TOKEN": token},
            budget=budget or RequestBudget(limit=connection.request_budget),
            **kwargs,
        )

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.spent_until = 0.0  # a RateLimit-Remaining: 0 answer: no request before this time

    def get(self, path: str, params: dict | None = None, headers: dict | None = None) -> httpx.Response:
        wait = int(self.spent_until - time.time() + 0.999)
        if wait > 0:
            raise RateLimited(
                f"GitLab's rate limit is spent until its reset; retrying after {wait} s.",
                retry_after=min(wait, MAX_RETRY_AFTER),
            )
        response = super().get(path, params, headers)
        reset = response.headers.get("ratelimit-reset", "")
        if response.headers.get("ratelimit-remaining") == "0" and reset.isascii() and reset.isdigit():
            self.spent_until = float(reset)
        return response

    def _raise_for_status(self, response: httpx.Response, url: str) -> None:
        url = urlsplit(url).path  # a `Link` URL carries the host and a long cursor: name the endpoint
        wait = retry_after(response.status_code, response.headers, now=time.time())
        if wait is not None:
            wait = min(wait, MAX_RETRY_AFTER)
            raise RateLimited(f"GitLab rate-limited {url}; retrying after {wait} s.", retry_after=wait)
        if response.status_code == 404:
            raise Gone(f"GitLab answered 404 on {url}: not found, or not visible to the token.")
        super()._raise_for_status(response, url)

    def _pages(self, url: str, params: dict, parse) -> Iterator[tuple[list, PageMeta]]:
        """Each page parsed, following `Link: rel="next"`, on this connection's own address only."""
        params = {"per_page": PER_PAGE, **params}
        while url:
            response = self.get(url, params)
            meta = page_meta(response.status_code, response.headers)
            yield _parsed(parse, self.json_of(response, url)), meta
            url, params = self._own(meta.next_url), None

    def _own(self, url: str) -> str:
        """The next page's address as a path on the connection's own host (GitLab writes its
        `external_url` into links, which may name another host or scheme than the one configured)."""
        if not url:
            return ""
        parts = urlsplit(url)
        path, root = parts.path, urlsplit(str(self.http.base_url)).path.rstrip("/")
        if root and path.startswith(f"{root}/"):  # GitLab served under a path: requests add it again
            path = path.removeprefix(root)
        return f"{path}?{parts.query}" if parts.query else path

    def _updated_since(
        self, path: str, params: dict, parse, *, updated_after: str
    ) -> Iterator[tuple[list, PageMeta]]:
        """Every item updated after `updated_after` (ISO; all when empty), the least recently updated
        first, read by seeking (the module's docstring says why). When a whole page shares the time
        it started from, the next page of that same time is asked for by number."""
        newest = datetime.fromisoformat(updated_after) if updated_after else None
        page = 1
        while True:
            query = {**params, "order_by": "updated_at", "sort": "asc", "per_page": PER_PAGE, "page": page}
            if newest is not None:
                query["updated_after"] = (newest - SEEK_BACK).isoformat()
            response = self.get(path, query)
            items = _parsed(parse, self.json_of(response, path))
            more = len(items) == PER_PAGE
            if more:
                latest = max(item.updated_at for item in items)
                if newest is not None and latest <= newest:
                    page += 1
                else:
                    newest, page = latest, 1
                following = {**query, "page": page, "updated_after": (newest - SEEK_BACK).isoformat()}
            yield items, PageMeta(response.status_code, f"{path}?{urlencode(following)}" if more else "")
            if not more:
                return

    def still_there(self, path: str) -> bool:
        """Whether one item still answers: a reconcile asks before deleting what its listing missed."""
        try:
            self.get(path)
        except Gone:
            return False
        return True

    def project(self, project: str) -> dict:
        data = self.get_json(project_path(project))
        if not isinstance(data, dict) or "id" not in data:
            raise BadPayload(f"GitLab answered {project_path(project)} without a project id.")
        return data

    def merge_requests(
        self, project: str, *, updated_after: str = ""
    ) -> Iterator[tuple[list[GitlabMergeRequest], PageMeta]]:
        """Every state, the least recently updated first, from `updated_after` (ISO) when given."""
        return self._updated_since(
            f"{project_path(project)}/merge_requests",
            {"state": "all", "scope": "all"},
            parse_merge_request,
            updated_after=updated_after,
        )

    def all_merge_requests(self, project: str) -> Iterator[tuple[list[GitlabMergeRequest], PageMeta]]:
        """Every merge request, the oldest first (a reconcile's listing: creation never changes)."""
        params = {"state": "all", "scope": "all", "order_by": "created_at", "sort": "asc"}
        return self._pages(f"{project_path(project)}/merge_requests", params, parse_merge_request)

    def pipelines(
        self, project: str, *, updated_after: str = ""
    ) -> Iterator[tuple[list[GitlabPipeline], PageMeta]]:
        return self._updated_since(
            f"{project_path(project)}/pipelines", {}, parse_pipeline, updated_after=updated_after
        )

    def jobs(self, project: str, pipeline_id: int) -> list[GitlabJob]:
        jobs = []
        for page, _ in self._pages(f"{project_path(project)}/pipelines/{pipeline_id}/jobs", {}, parse_job):
            jobs.extend(page)
        return jobs

    def test_report(self, project: str, pipeline_id: int) -> GitlabTestReport | None:
        """The pipeline's JUnit totals; None when it has no test cases."""
        data = self.get_json(f"{project_path(project)}/pipelines/{pipeline_id}/test_report")
        (report,) = _parsed(parse_test_report, [data])
        return report if report.total else None

    def deployments(
        self, project: str, *, updated_after: str = ""
    ) -> Iterator[tuple[list[GitlabDeployment], PageMeta]]:
        # GitLab refuses `updated_after` unless the list is ordered by `updated_at`: a seek it is.
        return self._updated_since(
            f"{project_path(project)}/deployments", {}, parse_deployment, updated_after=updated_after
        )

    def all_deployments(self, project: str) -> Iterator[tuple[list[GitlabDeployment], PageMeta]]:
        """Every deployment by id (a reconcile's listing)."""
        params = {"order_by": "id", "sort": "asc"}
        return self._pages(f"{project_path(project)}/deployments", params, parse_deployment)

    def releases(self, project: str) -> Iterator[tuple[list[GitlabRelease], PageMeta]]:
        return self._pages(f"{project_path(project)}/releases", {"order_by": "created_at"}, parse_release)


def _parsed(parse, items) -> list:
    if not isinstance(items, list):
        raise BadPayload(f"GitLab answered a list request with {type(items).__name__}, not a list.")
    try:
        return [parse(item) for item in items]
    except (ParseError, TypeError, ValueError) as exc:
        raise BadPayload(f"GitLab answered unexpectedly: {exc}") from exc
