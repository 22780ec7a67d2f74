"""GitLab REST API v4: a project, its merge requests, pipelines (their jobs and test report),
deployments and releases. Lists are asked for with keyset paging (`pagination=keyset`, which GitLab
honours where it can, and offset paging otherwise) and followed by `Link: rel="next"` either way.

Authentication is a `PRIVATE-TOKEN` header (a personal, group or project access token with read_api).
A 429 becomes RateLimited with GitLab's own wait (`Retry-After`, else `RateLimit-Reset`); an answer
saying `RateLimit-Remaining: 0` makes the next request raise RateLimited until `RateLimit-Reset`
instead of spending a request that would be refused."""

import time
from collections.abc import Iterator
from urllib.parse import quote, urlsplit

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
        super()._raise_for_status(response, url)

    def _pages(self, url: str, params: dict, parse) -> Iterator[tuple[list, PageMeta]]:
        """Each page parsed, following `Link: rel="next"` (a full URL, the keyset cursor in it)."""
        params = {"per_page": PER_PAGE, "pagination": "keyset", **params}
        while url:
            response = self.get(url, params)
            meta = page_meta(response.status_code, response.headers)
            yield _parsed(parse, self.json_of(response, url)), meta
            url, params = meta.next_url, None

    def project(self, project: str) -> dict:
        data = self.get_json(project_path(project))
        if not isinstance(data, dict) or "id" not in data:
            raise BadPayload(f"GitLab answered {project_path(project)} without a project id.")
        return data

    def merge_requests(
        self, project: str, *, updated_after: str = ""
    ) -> Iterator[tuple[list[GitlabMergeRequest], PageMeta]]:
        """Every state, the least recently updated first, from `updated_after` (ISO) when given."""
        params = {"state": "all", "scope": "all", "order_by": "updated_at", "sort": "asc"}
        if updated_after:
            params["updated_after"] = updated_after
        return self._pages(f"{project_path(project)}/merge_requests", params, parse_merge_request)

    def pipelines(
        self, project: str, *, updated_after: str = ""
    ) -> Iterator[tuple[list[GitlabPipeline], PageMeta]]:
        params = {"order_by": "updated_at", "sort": "asc"}
        if updated_after:
            params["updated_after"] = updated_after
        return self._pages(f"{project_path(project)}/pipelines", params, parse_pipeline)

    def pipeline_ids(self, project: str) -> Iterator[tuple[list[GitlabPipeline], PageMeta]]:
        """Every pipeline, by id (a reconcile's listing)."""
        return self._pages(
            f"{project_path(project)}/pipelines", {"order_by": "id", "sort": "asc"}, parse_pipeline
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
        params = {"order_by": "updated_at", "sort": "asc"}
        if updated_after:
            params["updated_after"] = updated_after
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
