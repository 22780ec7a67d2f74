"""GitHub REST: a repository's deployments, pull requests and releases (paged by `Link`, the first
page conditional on its ETag), one deployment, its newest status. Rate limits become RateLimited
with GitHub's own wait."""

import time
from collections.abc import Iterator

import httpx

from integrations.http import MAX_RETRY_AFTER, BadPayload, RateLimited, RequestBudget, ToolClient
from integrations.parse import ParseError
from integrations.parse.github import (
    GithubDeployment,
    GithubDeploymentStatus,
    GithubPullRequest,
    GithubRelease,
    PageMeta,
    page_meta,
    parse_deployment,
    parse_deployment_status,
    parse_pull_request,
    parse_release,
    retry_after,
)

PER_PAGE = 100
API_HEADERS = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}


class GithubClient(ToolClient):
    tool = "GitHub"

    @classmethod
    def for_connection(cls, connection, *, budget: RequestBudget | None = None, **kwargs) -> "GithubClient":
        token = connection.credentials.get("token", "")
        return cls(
            base_url=connection.base_url,
            headers={**API_HEADERS, "Authorization": f"Bearer {token}"},
            budget=budget or RequestBudget(limit=connection.request_budget),
            **kwargs,
        )

    def _raise_for_status(self, response: httpx.Response, url: str) -> None:
        wait = retry_after(response.status_code, response.headers, now=time.time())
        if response.status_code >= 400 and wait is not None:
            wait = min(wait, MAX_RETRY_AFTER)
            raise RateLimited(f"GitHub rate-limited {url}; retrying after {wait} s.", retry_after=wait)
        super()._raise_for_status(response, url)

    def _page(self, url: str, params: dict | None, etag: str = "") -> tuple[list, PageMeta]:
        response = self.get(url, params, {"If-None-Match": etag} if etag else None)
        meta = page_meta(response.status_code, response.headers, now=time.time())
        return ([] if meta.not_modified else self.json_of(response, url)), meta

    def _pages(self, url: str, params: dict, parse, etag: str) -> Iterator[tuple[list, PageMeta]]:
        """Each page parsed, following `Link: rel="next"`; only the first is conditional on `etag`,
        and a 304 there is the only page."""
        while url:
            items, meta = self._page(url, params, etag)
            yield _parsed(parse, items), meta
            url, params, etag = meta.next_url, None, ""

    def deployments(self, repo: str, *, etag: str = "") -> Iterator[tuple[list[GithubDeployment], PageMeta]]:
        """Pages newest first."""
        return self._pages(f"/repos/{repo}/deployments", {"per_page": PER_PAGE}, parse_deployment, etag)

    def pulls(self, repo: str, *, etag: str = "") -> Iterator[tuple[list[GithubPullRequest], PageMeta]]:
        """Open, closed and merged pull requests, the most recently updated first."""
        params = {"state": "all", "sort": "updated", "direction": "desc", "per_page": PER_PAGE}
        return self._pages(f"/repos/{repo}/pulls", params, parse_pull_request, etag)

    def releases(self, repo: str, *, etag: str = "") -> Iterator[tuple[list[GithubRelease], PageMeta]]:
        """Releases (drafts too, for a token that may push) newest first."""
        return self._pages(f"/repos/{repo}/releases", {"per_page": PER_PAGE}, parse_release, etag)

    def deployment(self, repo: str, deployment_id: int) -> GithubDeployment:
        (deployment,) = _parsed(
            parse_deployment, [self.get_json(f"/repos/{repo}/deployments/{deployment_id}")]
        )
        return deployment

    def newest_status(self, repo: str, deployment_id: int) -> GithubDeploymentStatus | None:
        """GitHub lists statuses newest first: the first one decides."""
        items, _ = self._page(f"/repos/{repo}/deployments/{deployment_id}/statuses", {"per_page": 1})
        statuses = _parsed(parse_deployment_status, items)
        return statuses[0] if statuses else None


def _parsed(parse, items) -> list:
    try:
        return [parse(item) for item in items]
    except (ParseError, TypeError) as exc:
        raise BadPayload(f"GitHub answered unexpectedly: {exc}") from exc
