"""Jira Cloud and Jira Data Center: the endpoints a sync reads, their answers parsed by parse/jira.

Cloud searches with `/rest/api/3/search/jql` (an opaque `nextPageToken`, fields named explicitly);
Data Center with `/rest/api/2/search` and `startAt`.
"""

from collections.abc import Iterator

from integrations.http import RequestBudget, ToolClient
from integrations.parse.jira import (
    ISSUE_FIELDS,
    PAGE_SIZE,
    JiraVersion,
    SearchPage,
    parse_approximate_count,
    parse_id_page,
    parse_search_page,
    parse_time_zone,
    parse_version_page,
    parse_versions,
)

ID_PAGE_SIZE = 1000


class JiraClient(ToolClient):
    tool = "Jira"

    def __init__(self, *, cloud: bool, **kwargs):
        super().__init__(**kwargs)
        self.cloud = cloud
        self.api = "/rest/api/3" if cloud else "/rest/api/2"

    @classmethod
    def for_connection(cls, connection, *, budget: RequestBudget | None = None, **kwargs) -> "JiraClient":
        credentials = connection.credentials
        username, token = credentials.get("username", ""), credentials.get("token", "")
        headers = {} if username else {"Authorization": f"Bearer {token}"}  # a Data Center PAT
        return cls(
            cloud=connection.kind == "jira_cloud",
            base_url=connection.base_url,
            auth=(username, token) if username else None,
            headers=headers,
            budget=budget or RequestBudget(limit=connection.request_budget),
            **kwargs,
        )

    def time_zone(self) -> str:
        """The API user's zone: JQL dates are read in it."""
        return parse_time_zone(self.get_json(f"{self.api}/myself"))

    def versions(self, project_key: str) -> list[JiraVersion]:
        if not self.cloud:
            return parse_versions(self.get_json(f"{self.api}/project/{project_key}/versions"))
        found, start = [], 0
        while True:
            page = self.get_json(
                f"{self.api}/project/{project_key}/version", {"startAt": start, "maxResults": 50}
            )
            values, last = parse_version_page(page)
            found += values
            start += len(values)
            if last:
                return found

    def search_page(self, jql: str, token: str | None, *, fields: str = ISSUE_FIELDS) -> SearchPage:
        params = {"jql": jql, "fields": fields, "maxResults": PAGE_SIZE}
        if self.cloud:
            if token:
                params["nextPageToken"] = token
            return parse_search_page(self.get_json(f"{self.api}/search/jql", params))
        start = int(token or 0)
        return parse_search_page(
            self.get_json(f"{self.api}/search", params | {"startAt": start}), start_at=start
        )

    def approximate_count(self, jql: str) -> int | None:
        """Cloud's search has no total; this one request gives the progress bar its end."""
        if not self.cloud:
            return None
        body = {"jql": jql.split(" ORDER BY")[0]}
        return parse_approximate_count(self.post_json(f"{self.api}/search/approximate-count", body))

    def issue_ids(self, jql: str) -> Iterator[str]:
        """Every issue id the JQL matches (the reconcile's sweep), in pages of ids only."""
        token = None
        while True:
            params = {"jql": jql, "fields": "id", "maxResults": ID_PAGE_SIZE}
            if self.cloud:
                params |= {"nextPageToken": token} if token else {}
                page = parse_id_page(self.get_json(f"{self.api}/search/jql", params))
            else:
                start = int(token or 0)
                payload = self.get_json(f"{self.api}/search", params | {"startAt": start})
                page = parse_id_page(payload, start_at=start)
            yield from page.ids
            token = page.next_token
            if token is None:
                return
