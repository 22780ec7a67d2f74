"""Jira Cloud and Jira Data Center JSON: issues, versions, search pages (issues or ids only), the API
user's time zone, the approximate count.

A Cloud search page carries an opaque `nextPageToken` and `isLast`; a Data Center one is asked for
by `startAt` and says how many issues the server chose to send, so its next token is the next
`startAt`. Both are ordered by `created`, which an edit does not change, so pages only shift when an
issue is deleted mid-sync; Data Center pages therefore overlap by a few issues (upserts make that free).
"""

from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from integrations.parse import ParseError

ISSUE_FIELDS = ",".join(
    [
        *("summary", "status", "issuetype", "priority", "created", "resolutiondate", "updated"),
        *("fixVersions", "issuelinks", "project", "resolution"),
    ]
)
PAGE_SIZE = 100  # issues asked for per search page
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
    "incident": "incident",
    "production incident": "incident",
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
    parent_key: str = ""  # its parent (an epic, or above an epic an initiative)
    labels: str = ""  # space-separated


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


def parse_datetime(value) -> datetime | None:
    """Jira's `2020-06-12T08:33:57.204+0800`, or epoch milliseconds, as an aware datetime."""
    if value in (None, ""):
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    try:
        parsed = datetime.fromisoformat(value)
    except (TypeError, ValueError) as exc:
        raise ParseError(f"Jira sent a date Flightdeck cannot read: {value!r}") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_date(value) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value / 1000, tz=UTC).date()
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError as exc:
        raise ParseError(f"Jira sent a version date Flightdeck cannot read: {value!r}") from exc


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
            parent_key=str((fields.get("parent") or {}).get("key") or "")[:64],
            labels=" ".join(str(label) for label in fields.get("labels") or () if str(label).strip())[:500],
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise ParseError(f"Jira sent an issue without {exc}: {str(raw)[:200]}") from exc


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
        raise ParseError(f"Jira sent a version without {exc}: {str(raw)[:200]}") from exc


def parse_versions(payload) -> list[JiraVersion]:
    """A bare list (`/versions`), a page (`/version`: `values`) or a project (`versions`)."""
    if isinstance(payload, dict):
        payload = payload.get("values", payload.get("versions"))
    if not isinstance(payload, list):
        raise ParseError("Jira's version list is not a list.")
    return [parse_version(raw) for raw in payload]


def parse_version_page(payload) -> tuple[list[JiraVersion], bool]:
    """A Cloud `/version` page: its versions, and whether they are the last."""
    versions = parse_versions(payload)
    return versions, not versions or not isinstance(payload, dict) or bool(payload.get("isLast", True))


def parse_search_page(payload, *, start_at: int | None = None) -> SearchPage:
    """A Cloud page (`nextPageToken`, `isLast`) or, when `start_at` is given, a Data Center one."""
    if not isinstance(payload, dict) or not isinstance(payload.get("issues"), list):
        raise ParseError("Jira's search answer has no issue list.")
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


def parse_id_page(payload, *, start_at: int | None = None) -> IdPage:
    """A search asked for ids only (`fields=id`): Cloud by token, Data Center from `start_at`."""
    if not isinstance(payload, dict) or not isinstance(payload.get("issues"), list):
        raise ParseError("Jira's search answer has no issue list.")
    try:
        ids = [str(raw["id"]) for raw in payload["issues"]]
    except (KeyError, TypeError) as exc:
        raise ParseError(f"Jira sent an issue without {exc} in an id search.") from exc
    if start_at is None:
        return IdPage(ids, None if payload.get("isLast", True) else payload.get("nextPageToken"))
    end, total = start_at + len(ids), payload.get("total", 0)
    return IdPage(ids, str(end) if ids and end < total else None)


def parse_time_zone(payload) -> str:
    """`/myself`: the zone JQL dates are read in; UTC when the server does not say."""
    return (payload or {}).get("timeZone") or "UTC"


def parse_approximate_count(payload) -> int | None:
    count = (payload or {}).get("count")
    return count if isinstance(count, int) else None
