"""Jira Cloud and Jira Data Center: the endpoints a sync reads, and their JSON parsed into dataclasses.

Cloud searches with `/rest/api/3/search/jql` (an opaque `nextPageToken`, fields named explicitly);
Data Center with `/rest/api/2/search` and `startAt`, reading back how many issues the server chose
to send. Both order by `created`, which an edit does not change, so pages only shift when an issue is
deleted mid-sync; Data Center pages therefore overlap by a few issues (upserts make that free).
"""

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from integrations.http import BadPayload, RequestBudget, ToolClient

ISSUE_FIELDS = ",".join(
    [
        *("summary", "status", "issuetype", "priority", "created", "resolutiondate", "updated"),
        *("fixVersions", "issuelinks", "project", "resolution"),
    ]
)
PAGE_SIZE = 100
ID_PAGE_SIZE = 1000
DC_PAGE_OVERLAP = 5  # issues re-read at each Data Center page boundary: covers deletions mid-sync

# Jira's fixed status category keys; the names next to them are localised and never read.
STATUS_CATEGORIES = {"new": "todo", "undefined": "todo", "indeterminate": "in_progress", "done": "done"}
ISSUE_TYPES = {
    "story": "story",
    "user story": "story",
    "bug": "bug",
    "defect": "bug",
    "task": "task",
    "epic": "epic",
    "sub-task": "subtask",
    "subtask": "subtask",
}


@dataclass(frozen=True)
class JiraVersion:
    id: str
    name: str
    released: bool
    archived: bool
    release_date: date | None
    start_date: date | None
    description: str = ""


@dataclass(frozen=True)
class JiraIssue:
    id: str
    key: str
    project_key: str
    summary: str
    type: str
    status_name: str
    status_category: str
    priority: str
    created: datetime | None
    resolved: datetime | None
    updated: datetime | None
    fix_version_ids: tuple[str, ...] = ()
    blocks: tuple[str, ...] = ()  # keys of the issues this one blocks
    blocked_by: tuple[str, ...] = ()


@dataclass
class SearchPage:
    issues: list[JiraIssue]
    next_token: str | None  # Cloud: nextPageToken; Data Center: the next startAt; None on the last page
    raw_count: int = 0
    total: int | None = None


@dataclass
class IdPage:
    ids: list[str] = field(default_factory=list)
    next_token: str | None = None


# --- parsing ----------------------------------------------------------------------------------------


def parse_datetime(value) -> datetime | None:
    """Jira's `2020-06-12T08:33:57.204+0800`, or epoch milliseconds, as an aware datetime."""
    if value in (None, ""):
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    try:
        parsed = datetime.fromisoformat(value)
    except (TypeError, ValueError) as exc:
        raise BadPayload(f"Jira sent a date Flightdeck cannot read: {value!r}") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_date(value) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value / 1000, tz=UTC).date()
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError as exc:
        raise BadPayload(f"Jira sent a version date Flightdeck cannot read: {value!r}") from exc


def status_category(fields: dict) -> str:
    """From the status category key; a payload without one (old servers) falls back on the resolution."""
    category = ((fields.get("status") or {}).get("statusCategory") or {}).get("key")
    if category in STATUS_CATEGORIES:
        return STATUS_CATEGORIES[category]
    return "done" if fields.get("resolution") or fields.get("resolutiondate") else "todo"


def issue_type(raw: dict | None) -> str:
    raw = raw or {}
    named = ISSUE_TYPES.get(str(raw.get("name", "")).strip().lower())
    if named:
        return named
    if raw.get("subtask"):
        return "subtask"
    return "epic" if raw.get("hierarchyLevel") == 1 else "other"


def _blocking_links(links: list) -> tuple[tuple[str, ...], tuple[str, ...]]:
    blocks, blocked_by = [], []
    for link in links or []:
        kind = link.get("type") or {}
        if "block" not in f"{kind.get('name', '')} {kind.get('outward', '')}".lower():
            continue
        if link.get("outwardIssue", {}).get("key"):
            blocks.append(link["outwardIssue"]["key"])
        if link.get("inwardIssue", {}).get("key"):
            blocked_by.append(link["inwardIssue"]["key"])
    return tuple(blocks), tuple(blocked_by)


def parse_issue(raw: dict) -> JiraIssue:
    try:
        fields = raw.get("fields") or {}
        key = raw["key"]
        blocks, blocked_by = _blocking_links(fields.get("issuelinks"))
        return JiraIssue(
            id=str(raw["id"]),
            key=key,
            project_key=(fields.get("project") or {}).get("key") or key.rsplit("-", 1)[0],
            summary=str(fields.get("summary") or "")[:500],
            type=issue_type(fields.get("issuetype")),
            status_name=str((fields.get("status") or {}).get("name") or "")[:100],
            status_category=status_category(fields),
            priority=str((fields.get("priority") or {}).get("name") or "")[:32],
            created=parse_datetime(fields.get("created")),
            resolved=parse_datetime(fields.get("resolutiondate")),
            updated=parse_datetime(fields.get("updated")),
            fix_version_ids=tuple(str(v["id"]) for v in fields.get("fixVersions") or () if "id" in v),
            blocks=blocks,
            blocked_by=blocked_by,
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise BadPayload(f"Jira sent an issue without {exc}: {str(raw)[:200]}") from exc


def parse_version(raw: dict) -> JiraVersion:
    try:
        return JiraVersion(
            id=str(raw["id"]),
            name=str(raw["name"])[:64],
            released=bool(raw.get("released")),
            archived=bool(raw.get("archived")),
            release_date=parse_date(raw.get("releaseDate")),
            start_date=parse_date(raw.get("startDate")),
            description=str(raw.get("description") or "")[:300],
        )
    except (KeyError, TypeError) as exc:
        raise BadPayload(f"Jira sent a version without {exc}: {str(raw)[:200]}") from exc


def parse_versions(payload) -> list[JiraVersion]:
    """A bare list (`/versions`), a page (`/version`: `values`) or a project (`versions`)."""
    if isinstance(payload, dict):
        payload = payload.get("values", payload.get("versions"))
    if not isinstance(payload, list):
        raise BadPayload("Jira's version list is not a list.")
    return [parse_version(raw) for raw in payload]


def parse_search_page(payload, *, start_at: int | None = None) -> SearchPage:
    """A Cloud page (`nextPageToken`, `isLast`) or, when `start_at` is given, a Data Center one."""
    if not isinstance(payload, dict) or not isinstance(payload.get("issues"), list):
        raise BadPayload("Jira's search answer has no issue list.")
    issues = [parse_issue(raw) for raw in payload["issues"]]
    if start_at is None:
        token = (
            None if payload.get("isLast", "nextPageToken" not in payload) else payload.get("nextPageToken")
        )
        return SearchPage(issues, token, raw_count=len(issues))
    total = payload.get("total")
    end = start_at + len(issues)
    more = bool(issues) and (end < total if isinstance(total, int) else len(issues) >= PAGE_SIZE)
    overlap = DC_PAGE_OVERLAP if len(issues) > 2 * DC_PAGE_OVERLAP else 0
    return SearchPage(issues, str(end - overlap) if more else None, raw_count=len(issues), total=total)


# --- the client -------------------------------------------------------------------------------------


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
        payload = self.get_json(f"{self.api}/myself")
        return (payload or {}).get("timeZone") or "UTC"

    def versions(self, project_key: str) -> list[JiraVersion]:
        if not self.cloud:
            return parse_versions(self.get_json(f"{self.api}/project/{project_key}/versions"))
        found, start = [], 0
        while True:
            page = self.get_json(
                f"{self.api}/project/{project_key}/version", {"startAt": start, "maxResults": 50}
            )
            values = parse_versions(page)
            found += values
            start += len(values)
            if page.get("isLast", True) or not values:
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
        payload = self.post_json(f"{self.api}/search/approximate-count", {"jql": jql.split(" ORDER BY")[0]})
        count = (payload or {}).get("count")
        return count if isinstance(count, int) else None

    def issue_ids(self, jql: str) -> Iterator[str]:
        """Every issue id the JQL matches (the reconcile's sweep), in pages of ids only."""
        token = None
        while True:
            params = {"jql": jql, "fields": "id", "maxResults": ID_PAGE_SIZE}
            if self.cloud:
                params |= {"nextPageToken": token} if token else {}
                payload = self.get_json(f"{self.api}/search/jql", params)
                token = None if payload.get("isLast", True) else payload.get("nextPageToken")
            else:
                start = int(token or 0)
                payload = self.get_json(f"{self.api}/search", params | {"startAt": start})
                issues = payload.get("issues") or []
                total = payload.get("total", 0)
                token = str(start + len(issues)) if issues and start + len(issues) < total else None
            if not isinstance(payload.get("issues"), list):
                raise BadPayload("Jira's search answer has no issue list.")
            yield from (str(raw["id"]) for raw in payload["issues"])
            if token is None:
                return
