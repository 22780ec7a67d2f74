"""Jira routes: Cloud (`/rest/api/3/search/jql`, nextPageToken, explicit fields) and Data Center
(`/rest/api/2/search`, startAt, a page size the server caps), `myself` and project versions.

The JQL understood is what a sync sends: `project in (...)` / `project = X`, `updated >= "yyyy/MM/dd
HH:mm"` read in the API user's time zone, `id in (...)`, and `ORDER BY created` (always applied).
"""

import base64
import bisect
import re
from datetime import datetime
from zoneinfo import ZoneInfo

from integrations.sandbox.dataset import JiraDataset

CLOUD_MAX_RESULTS = 100  # with named fields; id-only searches get up to 5000, as on Cloud
CLOUD_MAX_ID_RESULTS = 5000
PROJECT_RE = re.compile(r"project\s*(?:=\s*\"?([\w-]+)\"?|in\s*\(([^)]*)\))", re.I)
UPDATED_RE = re.compile(r"updated\s*>=\s*[\"']([\d/\- :]+)[\"']", re.I)
ID_RE = re.compile(r"\bid\s+in\s*\(([^)]*)\)", re.I)


class JqlError(ValueError):
    pass


class JiraRoutes:
    tool = "jira"  # what it proves to be (proof.py)

    def __init__(self, dataset: JiraDataset, *, dc_max_results: int = 50):
        self.dataset = dataset
        self.dc_max_results = dc_max_results
        self._matches: dict[str, tuple[int, list[int]]] = {}

    def answer(self, path: str, query: dict, base_url: str):
        """(status, JSON-able body) for one GET."""
        if path in ("/rest/api/3/myself", "/rest/api/2/myself"):
            return 200, self.myself(cloud=path.startswith("/rest/api/3"))
        if path == "/rest/api/3/search/jql":
            return self.guard(lambda: self.cloud_search(query, base_url))
        if path == "/rest/api/3/search/approximate-count":
            body = query.get("_body")
            if not isinstance(body, dict) or not isinstance(body.get("jql"), str):
                return 400, {"errorMessages": ["The request body must name a jql."], "errors": {}}
            return self.guard(lambda: (200, {"count": len(self.matches(body["jql"]))}))
        if path == "/rest/api/2/search":
            return self.guard(lambda: self.dc_search(query, base_url))
        match = re.fullmatch(r"/rest/api/([23])/project/([\w-]+)/(versions?)", path)
        if match:
            return self.versions(match.group(2), paged=match.group(3) == "version", query=query)
        return 404, {"errorMessages": [f"No route {path}"], "errors": {}}

    @staticmethod
    def guard(answer):
        try:
            return answer()
        except JqlError as exc:
            return 400, {"errorMessages": [str(exc)], "errors": {}}

    def myself(self, *, cloud: bool) -> dict:
        user = {
            "emailAddress": self.dataset.username,
            "displayName": "Sync Bot",
            "timeZone": self.dataset.time_zone,
        }
        return user | (
            {"accountId": "5b10a2844c20165700ede21g"} if cloud else {"name": "sync-bot", "key": "sync-bot"}
        )

    def versions(self, project: str, *, paged: bool, query: dict):
        if project not in self.dataset.projects:
            return 404, {"errorMessages": [f"No project could be found with key '{project}'."], "errors": {}}
        values = self.dataset.versions(project)
        if not paged:
            return 200, values
        start, size = int(query.get("startAt", 0)), min(int(query.get("maxResults", 50)), 50)
        page = values[start : start + size]
        return 200, {
            "startAt": start,
            "maxResults": size,
            "total": len(values),
            "isLast": start + len(page) >= len(values),
            "values": page,
        }

    # --- search -------------------------------------------------------------------------------

    def cloud_search(self, query: dict, base_url: str):
        fields = _fields(query.get("fields"))
        cap = CLOUD_MAX_ID_RESULTS if fields <= {"id", "key"} else CLOUD_MAX_RESULTS
        size = max(1, min(int(query.get("maxResults", 50)), cap))
        matches = self.matches(query.get("jql", ""))
        start = (
            bisect.bisect_right(matches, _read_token(query.get("nextPageToken")))
            if "nextPageToken" in query
            else 0
        )
        page = matches[start : start + size]
        body = {
            "issues": [self.issue(i, fields, base_url) for i in page],
            "isLast": start + size >= len(matches),
        }
        if not body["isLast"]:
            body["nextPageToken"] = base64.urlsafe_b64encode(f"after:{page[-1]}".encode()).decode()
        return 200, body

    def dc_search(self, query: dict, base_url: str):
        fields = _fields(query.get("fields", "*navigable"))
        size = max(1, min(int(query.get("maxResults", 50)), self.dc_max_results))
        start = max(0, int(query.get("startAt", 0)))
        matches = self.matches(query.get("jql", ""))
        page = matches[start : start + size]
        return 200, {
            "expand": "schema,names",
            "startAt": start,
            "maxResults": size,
            "total": len(matches),
            "issues": [self.issue(i, fields, base_url) for i in page],
        }

    def issue(self, i: int, fields: set[str], base_url: str) -> dict:
        issue_id = self.dataset.issue_id(i)
        raw = {"id": issue_id, "key": self.dataset.key(i), "self": f"{base_url}/rest/api/2/issue/{issue_id}"}
        if fields - {"id", "key"}:
            every = self.dataset.issue_fields(i, base_url)
            raw["fields"] = (
                every
                if "*all" in fields or "*navigable" in fields
                else {name: every[name] for name in fields if name in every}
            )
        return raw

    def matches(self, jql: str) -> list[int]:
        """The issue indexes the JQL selects, in created order; cached until the dataset changes."""
        ds = self.dataset
        with ds.lock:
            cached = self._matches.get(jql)
            if cached and cached[0] == ds.revision:
                return cached[1]
            found = self._select(jql)
            self._matches = {jql: (ds.revision, found)}  # one query at a time is what a sync sends
            return found

    def _select(self, jql: str) -> list[int]:
        ds = self.dataset
        projects = _projects(jql) or set(ds.projects)
        ids = ID_RE.search(jql)
        if ids:
            wanted = {ds.index_of(value.strip().strip("\"'")) for value in ids.group(1).split(",")}
            candidates = sorted(i for i in wanted if i is not None)
        else:
            since = _since(jql, ds.time_zone)
            first = ds.first_index_updated_since(since) if since else 0
            earlier_edits = sorted(i for i in ds.edits if i < first)
            candidates = [*earlier_edits, *range(first, ds.issues)]
            if since:
                candidates = [i for i in candidates if i not in ds.edits or ds.updated(i) >= since]
        return [i for i in candidates if i not in ds.deleted and ds.project_of(i) in projects]


def _fields(value: str | None) -> set[str]:
    return {name.strip() for name in (value or "id").split(",") if name.strip()}


def _read_token(token: str) -> int:
    try:
        return int(base64.urlsafe_b64decode(token.encode()).decode().removeprefix("after:"))
    except ValueError as exc:
        raise JqlError("The nextPageToken is invalid or expired.") from exc


def _projects(jql: str) -> set[str]:
    found = set()
    for single, many in PROJECT_RE.findall(jql):
        found |= {single} if single else {name.strip().strip("\"'") for name in many.split(",")}
    return found


def _since(jql: str, time_zone: str) -> datetime | None:
    """`updated >= "2026/01/05 09:30"` as Jira reads it: a wall time in the API user's zone."""
    match = UPDATED_RE.search(jql)
    if not match:
        return None
    text = match.group(1).strip().replace("-", "/")
    try:
        wall = datetime.strptime(text, "%Y/%m/%d %H:%M")
    except ValueError as exc:
        raise JqlError(f"Date value '{text}' for field 'updated' is invalid.") from exc
    return wall.replace(tzinfo=ZoneInfo(time_zone))
