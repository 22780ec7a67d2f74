"""Jira routes: Cloud (`/rest/api/3`, enhanced search `/search/jql` with nextPageToken, explicit
fields) and Data Center (`/rest/api/2`, `/search` with startAt and a page size the server caps).

Served: serverInfo (api/3 says Cloud, api/2 says Server), myself, field, project (list and one),
a project's versions, one issue, searches by GET and by POST (the body read as Jira reads it), and
Cloud's approximate count. The JQL is parsed strictly by jql.py and evaluated here against the
dataset; a query it refuses is answered 400 {"errorMessages": [...], "errors": {}} as Jira does.
Without ORDER BY, issues come in created order.
"""

import base64
import bisect
import re
from datetime import UTC, datetime

from integrations.sandbox import jql
from integrations.sandbox.dataset import PRIORITIES, STATUSES, TYPES, JiraDataset, jira_time
from integrations.sandbox.jql import And, Clause, Function, JqlError, Not, Or

CLOUD_MAX_RESULTS = 100  # with named fields; id-only searches get up to 5000, as on Cloud
CLOUD_MAX_ID_RESULTS = 5000
CATEGORY_NAMES = {"new": "To Do", "indeterminate": "In Progress", "done": "Done"}
SERVER_VERSION = (9, 12, 2)
CLOUD_VERSION = (1001, 0, 0)
PROJECT_ROUTE = re.compile(r"/rest/api/([23])/project/([\w-]+)")
ISSUE_ROUTE = re.compile(r"/rest/api/([23])/issue/([\w-]+)")
META_ROUTE = re.compile(r"/rest/api/([23])/(status|statuscategory|issuetype|priority|resolution)")
VERSION_ROUTE = re.compile(r"/rest/api/([23])/version/(\d+)")
VERSIONS_ROUTE = re.compile(r"/rest/api/([23])/project/([\w-]+)/(versions?)")
FIELD_LIST = [  # (id, name, JQL clause names, schema type)
    ("summary", "Summary", ["summary"], "string"),
    ("status", "Status", ["status"], "status"),
    ("issuetype", "Issue Type", ["issuetype", "type"], "issuetype"),
    ("priority", "Priority", ["priority"], "priority"),
    ("created", "Created", ["created", "createdDate"], "datetime"),
    ("updated", "Updated", ["updated", "updatedDate"], "datetime"),
    ("resolutiondate", "Resolved", ["resolved", "resolutiondate"], "datetime"),
    ("resolution", "Resolution", ["resolution"], "resolution"),
    ("project", "Project", ["project"], "project"),
    ("fixVersions", "Fix Version/s", ["fixVersion"], "array"),
    ("issuelinks", "Linked Issues", ["issuelinks"], "array"),
    ("issuekey", "Key", ["id", "issue", "issuekey", "key"], None),
]


class BadRequest(ValueError):
    pass


class JiraRoutes:
    tool = "jira"  # what it proves to be (proof.py)

    def __init__(self, dataset: JiraDataset, *, dc_max_results: int = 50):
        self.dataset = dataset
        self.dc_max_results = dc_max_results
        self._matches: dict[str, tuple[int, list[int], bool]] = {}
        self._positions: tuple[list[int] | None, dict[int, int]] = (None, {})  # a result's index -> place

    def answer(self, path: str, query: dict, base_url: str):
        """(status, JSON-able body) for one request; a POST's JSON body is in query["_body"]."""
        try:
            return self.route(path.rstrip("/"), query, base_url)
        except (JqlError, BadRequest) as exc:
            return 400, {"errorMessages": [str(exc)], "errors": {}}

    def route(self, path: str, query: dict, base_url: str):
        post = "_body" in query
        api = "3" if path.startswith("/rest/api/3/") else "2"
        cloud = api == "3"
        if post and path not in (
            "/rest/api/3/search/jql",
            "/rest/api/2/search",
            "/rest/api/3/search/approximate-count",
        ):
            return 405, {"errorMessages": ["Method Not Allowed"], "errors": {}}
        if path in ("/rest/api/3/myself", "/rest/api/2/myself"):
            return 200, self.myself(cloud=cloud)
        if path in ("/rest/api/3/serverInfo", "/rest/api/2/serverInfo"):
            return 200, self.server_info(base_url, cloud=cloud)
        if path in ("/rest/api/3/field", "/rest/api/2/field"):
            return 200, self.fields()
        if match := META_ROUTE.fullmatch(path):
            return 200, self.metadata(match.group(2), base_url)
        if match := VERSION_ROUTE.fullmatch(path):
            return self.version(match.group(2))
        if path in ("/rest/api/3/project", "/rest/api/2/project"):
            return 200, [self.project(key, base_url) for key in self.dataset.projects]
        if path == "/rest/api/3/search/jql":
            return self.cloud_search(_params(query), base_url)
        if path == "/rest/api/3/search/approximate-count":
            body = query.get("_body")
            if not isinstance(body, dict) or not isinstance(body.get("jql"), str):
                return 400, {"errorMessages": ["The request body must name a jql."], "errors": {}}
            return 200, {"count": len(self.matches(body["jql"], bounded=True))}
        if path == "/rest/api/2/search":
            return self.dc_search(_params(query), base_url)
        if match := VERSIONS_ROUTE.fullmatch(path):
            return self.versions(match.group(2), paged=match.group(3) == "version", query=query)
        if match := PROJECT_ROUTE.fullmatch(path):
            key = self.project_key(match.group(2))
            if key is None:
                return 404, _no_project(match.group(2))
            return 200, self.project(key, base_url, full=True)
        if match := ISSUE_ROUTE.fullmatch(path):
            return self.single_issue(match.group(2), query, base_url)
        return 404, {"errorMessages": [f"No route {path}"], "errors": {}}

    # --- instance -------------------------------------------------------------------------------

    def myself(self, *, cloud: bool) -> dict:
        user = {
            "emailAddress": self.dataset.username,
            "displayName": "Sync Bot",
            "timeZone": self.dataset.time_zone,
            "active": True,
        }
        return user | (
            {"accountId": "5b10a2844c20165700ede21g"} if cloud else {"name": "sync-bot", "key": "sync-bot"}
        )

    def server_info(self, base_url: str, *, cloud: bool) -> dict:
        numbers = CLOUD_VERSION if cloud else SERVER_VERSION
        return {
            "baseUrl": base_url,
            "version": ".".join(map(str, numbers)) + ("-OD-SANDBOX" if cloud else ""),
            "versionNumbers": list(numbers),
            "deploymentType": "Cloud" if cloud else "Server",
            "buildNumber": 100260 if cloud else 9120002,
            "buildDate": "2026-01-05T00:00:00.000+0000",
            "serverTime": jira_time(datetime.now(UTC)),
            "scmInfo": "sandbox",
            "serverTitle": "Jira Sandbox",
        }

    def fields(self) -> list[dict]:
        return [
            {
                "id": field_id,
                "key": field_id,
                "name": name,
                "custom": False,
                "orderable": field_id not in ("created", "updated", "resolutiondate", "issuekey"),
                "navigable": True,
                "searchable": True,
                "clauseNames": clauses,
                **({"schema": {"type": kind, "system": field_id}} if kind else {}),
            }
            for field_id, name, clauses, kind in FIELD_LIST
        ]

    def metadata(self, kind: str, base_url: str) -> list[dict]:
        """The instance's statuses, status categories, issue types, priorities and resolutions."""
        api = f"{base_url}/rest/api/2"
        if kind == "status":
            return [
                {
                    "self": f"{api}/status/{10000 + category['id']}",
                    "id": str(10000 + category["id"]),
                    "name": name,
                    "description": "",
                    "statusCategory": {"self": f"{api}/statuscategory/{category['id']}", **category},
                }
                for name, category in STATUSES
            ]
        if kind == "statuscategory":
            return [{"self": f"{api}/statuscategory/{c['id']}", **c} for _name, c in STATUSES]
        if kind == "issuetype":
            return [
                {
                    "self": f"{api}/issuetype/{10001 + n}",
                    "id": str(10001 + n),
                    "name": name,
                    "subtask": subtask,
                }
                for n, (name, subtask) in enumerate(TYPES)
            ]
        if kind == "priority":
            return [
                {"self": f"{api}/priority/{1 + n}", "id": str(1 + n), "name": name}
                for n, name in enumerate(PRIORITIES)
            ]
        return [{"self": f"{api}/resolution/1", "id": "1", "name": "Fertig", "description": "Done"}]

    def version(self, version_id: str):
        for project in self.dataset.projects:
            for version in self.dataset.versions(project):
                if version["id"] == version_id:
                    return 200, version
        message = f"Could not find version for id '{version_id}'"
        return 404, {"errorMessages": [message], "errors": {}}

    # --- projects and versions ------------------------------------------------------------------

    def project_key(self, key_or_id: str) -> str | None:
        projects = self.dataset.projects
        for n, key in enumerate(projects):
            if key_or_id.upper() == key or key_or_id == str(100 + n):
                return key
        return None

    def project(self, key: str, base_url: str, *, full: bool = False) -> dict:
        project_id = str(100 + self.dataset.projects.index(key))
        raw = {
            "expand": "description,lead,issueTypes,url,projectKeys,permissions,insight",
            "self": f"{base_url}/rest/api/2/project/{project_id}",
            "id": project_id,
            "key": key,
            "name": key.title(),
            "projectTypeKey": "software",
            "simplified": False,
            "style": "classic",
            "isPrivate": False,
            "archived": False,
        }
        if full:
            raw |= {
                "description": f"The {key.title()} team's project",
                "lead": {"name": "sync-bot", "displayName": "Sync Bot", "active": True},
                "components": [],
                "issueTypes": [
                    {"id": str(10001 + n), "name": name, "subtask": subtask}
                    for n, (name, subtask) in enumerate(TYPES)
                ],
                "versions": self.dataset.versions(key),
                "roles": {},
            }
        return raw

    def versions(self, project: str, *, paged: bool, query: dict):
        key = self.project_key(project)
        if key is None:
            return 404, _no_project(project)
        values = self.dataset.versions(key)
        if not paged:
            return 200, values
        start, size = _int(query, "startAt", 0), min(_int(query, "maxResults", 50), 50)
        page = values[start : start + size]
        return 200, {
            "startAt": start,
            "maxResults": size,
            "total": len(values),
            "isLast": start + len(page) >= len(values),
            "values": page,
        }

    # --- issues and search ----------------------------------------------------------------------

    def single_issue(self, id_or_key: str, query: dict, base_url: str):
        ds = self.dataset
        with ds.lock:
            i = ds.index_of(id_or_key) if id_or_key.isdigit() else ds.index_of_key(id_or_key)
            if i is None:
                message = "Issue does not exist or you do not have permission to see it."
                return 404, {"errorMessages": [message], "errors": {}}
            raw = self.issue(i, _fields(query.get("fields"), default="*all"), base_url)
            if "changelog" in str(query.get("expand", "")).split(","):  # the sandbox keeps no history
                raw["changelog"] = {"startAt": 0, "maxResults": 0, "total": 0, "histories": []}
            return 200, raw

    def cloud_search(self, params: dict, base_url: str):
        fields = _fields(params.get("fields"), default="id")
        cap = CLOUD_MAX_ID_RESULTS if fields <= {"id", "key"} else CLOUD_MAX_RESULTS
        size = max(1, min(_int(params, "maxResults", 50), cap))
        with self.dataset.lock:
            matches = self.matches(params.get("jql") or "", bounded=True)
            start = self.resume(matches, params["nextPageToken"]) if params.get("nextPageToken") else 0
            page = matches[start : start + size]
            body = {
                "issues": [self.issue(i, fields, base_url) for i in page],
                "isLast": start + size >= len(matches),
            }
        if not body["isLast"]:
            body["nextPageToken"] = base64.urlsafe_b64encode(f"after:{page[-1]}".encode()).decode()
        return 200, body

    def dc_search(self, params: dict, base_url: str):
        fields = _fields(params.get("fields"), default="*navigable")
        size = max(0, min(_int(params, "maxResults", 50), self.dc_max_results))
        start = max(0, _int(params, "startAt", 0))
        with self.dataset.lock:
            matches = self.matches(params.get("jql") or "")
            page = matches[start : start + size]
            issues = [self.issue(i, fields, base_url) for i in page]
        return 200, {
            "expand": "schema,names",
            "startAt": start,
            "maxResults": size,
            "total": len(matches),
            "issues": issues,
        }

    def issue(self, i: int, fields: set[str], base_url: str) -> dict:
        issue_id = self.dataset.issue_id(i)
        raw = {
            "expand": "operations,versionedRepresentations,editmeta,changelog,renderedFields",
            "id": issue_id,
            "self": f"{base_url}/rest/api/2/issue/{issue_id}",
            "key": self.dataset.key(i),
        }
        if fields - {"id", "key"}:
            every = self.dataset.issue_fields(i, base_url)
            if "*all" in fields or "*navigable" in fields:
                raw["fields"] = {name: value for name, value in every.items() if f"-{name}" not in fields}
            else:
                raw["fields"] = {name: every[name] for name in fields if name in every}
        return raw

    def resume(self, matches: list[int], token: str) -> int:
        """Where a nextPageToken continues: after the issue it names (where that issue would sort,
        in created order, if it has since left the result)."""
        try:
            after = int(base64.urlsafe_b64decode(token.encode()).decode().removeprefix("after:"))
        except ValueError as exc:
            raise BadRequest("The nextPageToken is invalid or expired.") from exc
        with self.dataset.lock:
            if self._positions[0] is not matches:  # built once per result, not once per page
                self._positions = (matches, {i: n for n, i in enumerate(matches)})
            position = self._positions[1].get(after)
        return position + 1 if position is not None else bisect.bisect_right(matches, after)

    def matches(self, text: str, *, bounded: bool = False) -> list[int]:
        """The issue indexes the JQL selects, in its order; cached until the dataset changes."""
        ds = self.dataset
        with ds.lock:
            cached = self._matches.get(text)
            if cached and cached[0] == ds.revision:
                found, restricted = cached[1], cached[2]
            else:
                query = jql.parse(text)
                found, restricted = JqlSearch(ds, query).run(), query.where is not None
                self._matches = {text: (ds.revision, found, restricted)}  # one query at a time
        if bounded and not restricted:
            raise BadRequest(
                "Unbounded JQL queries are not allowed here. Please add a search restriction to your query."
            )
        return found


class JqlSearch:
    """One parsed query evaluated against the dataset: values checked against what exists (as Jira
    does before it searches), then the candidates filtered and ordered."""

    def __init__(self, dataset: JiraDataset, query: jql.Query, *, now: datetime | None = None):
        self.ds = dataset
        self.query = query
        self.now = now or datetime.now(UTC)
        self.predicate = self.compile(query.where) if query.where is not None else None

    def run(self) -> list[int]:
        ds = self.ds
        found = [i for i in self.candidates() if not ds.deleted or i not in ds.deleted]
        if self.predicate:
            found = [i for i in found if self.predicate(i)]
        for field, direction in reversed(self.query.order):
            found.sort(key=self.sort_key(field), reverse=direction == "desc")
        return found

    def candidates(self) -> list[int]:
        """Every issue, or fewer when a top-level clause narrows them cheaply: `id`/`key` lists,
        and `updated >=` (unedited issues are updated in index order)."""
        ds = self.ds
        where = self.query.where
        conjuncts = where.parts if isinstance(where, And) else (where,)
        for clause in conjuncts:
            if isinstance(clause, Clause) and clause.field in ("id", "key") and clause.op in ("=", "in"):
                return sorted(self.issue_set(clause))
        for clause in conjuncts:
            if isinstance(clause, Clause) and clause.field == "updated" and clause.op in (">=", ">"):
                since = self.moment(clause)
                first = ds.first_index_updated_since(since)
                return [*sorted(i for i in ds.edits if i < first), *range(first, ds.issues)]
        return list(range(ds.issues))

    # --- clauses --------------------------------------------------------------------------------

    def compile(self, node):
        if isinstance(node, And):
            parts = [self.compile(part) for part in node.parts]
            return lambda i: all(part(i) for part in parts)
        if isinstance(node, Or):
            parts = [self.compile(part) for part in node.parts]
            return lambda i: any(part(i) for part in parts)
        if isinstance(node, Not):
            inner = self.compile(node.part)
            return lambda i: not inner(i)
        return self.clause(node)

    def clause(self, clause: Clause):
        ds, op = self.ds, clause.op
        if clause.field in ("created", "updated", "resolutiondate"):
            read = {"created": ds.created, "updated": ds.updated, "resolutiondate": ds.resolved}[clause.field]
            if op in ("is", "is not"):
                return lambda i: (read(i) is None) == (op == "is")
            return _compare(read, op, self.moment(clause))
        if clause.field in ("id", "key") and op in (">", ">=", "<", "<="):
            return self.key_range(clause)
        if clause.field in ("id", "key"):
            wanted = self.issue_set(clause)
            return lambda i: (i in wanted) == (op in ("=", "in"))
        if clause.field == "resolution" and all(str(v).lower() == "unresolved" for v in clause.values):
            op = "is" if op in ("=", "in") else "is not"  # Unresolved is the empty resolution
            return lambda i: (not self.resolution(i)) == (op == "is")
        read, wanted = self.choice(clause)
        if op in ("is", "is not"):
            return lambda i: (not read(i)) == (op == "is")
        if op in ("=", "in"):
            return lambda i: bool(read(i) & wanted)
        return lambda i: bool(read(i)) and not read(i) & wanted  # != and NOT IN skip empty fields

    def choice(self, clause: Clause):
        """(issue -> its values as a set, the set the clause names), each value checked."""
        ds = self.ds
        field = clause.field
        if field == "fixversion":
            return (lambda i: set(ds.fix_versions(i))), self.version_ids(clause)
        if field == "project":
            names = {
                key: {key, key.lower(), str(100 + n), key.title().lower()}
                for n, key in enumerate(ds.projects)
            }
            return (lambda i: {ds.project_of(i)}), self.named(clause, names)
        if field == "status":
            names = {n: {name.lower(), str(10000 + cat["id"])} for n, (name, cat) in enumerate(STATUSES)}
            return (lambda i: {ds.status_index(i)}), self.named(clause, names)
        if field == "statuscategory":
            names = {
                n: {cat["key"], cat["name"].lower(), CATEGORY_NAMES[cat["key"]].lower(), str(cat["id"])}
                for n, (_name, cat) in enumerate(STATUSES)
            }
            return (lambda i: {ds.status_index(i)}), self.named(clause, names)
        if field == "issuetype":
            names = {n: {name.lower(), str(10001 + n)} for n, (name, _subtask) in enumerate(TYPES)}
            return (lambda i: {ds.type_index(i)}), self.named(clause, names)
        if field == "priority":
            names = {name: {name.lower(), str(1 + n)} for n, name in enumerate(PRIORITIES)}
            return (lambda i: {ds.priority_name(i)}), self.named(clause, names)
        return self.resolution, self.named(clause, {"Fertig": {"fertig", "done"}})

    def resolution(self, i: int) -> set[str]:
        """Done issues are resolved "Fertig" (the German instance's Done); the rest are Unresolved."""
        return {"Fertig"} if STATUSES[self.ds.status_index(i)][1]["key"] == "done" else set()

    def named(self, clause: Clause, names: dict) -> set:
        """The values a clause names, matched case-insensitively against each value's names."""
        wanted = set()
        for value in clause.values:
            if isinstance(value, Function):
                raise JqlError(f"The function '{value.name}' is not supported by the '{clause.field}' field.")
            found = {item for item, aliases in names.items() if str(value).lower() in aliases}
            if not found:
                raise JqlError(f"The value '{value}' does not exist for the field '{_shown(clause.field)}'.")
            wanted |= found
        return wanted

    def version_ids(self, clause: Clause) -> set[str]:
        ds, wanted = self.ds, set()
        every = [version for project in ds.projects for version in ds.versions(project)]
        for value in clause.values:
            if isinstance(value, Function):
                projects = {self.project_named(arg) for arg in value.args} or set(ds.projects)
                released = value.name == "releasedversions"
                wanted |= {
                    v["id"]
                    for project in projects
                    for v in ds.versions(project)
                    if bool(v.get("released")) == released and not v.get("archived")
                }
                continue
            found = {v["id"] for v in every if str(value) in (v["id"], v["name"])}
            found = found or {v["id"] for v in every if v["name"].lower() == str(value).lower()}
            if not found:
                raise JqlError(f"The value '{value}' does not exist for the field 'fixVersion'.")
            wanted |= found
        return wanted

    def project_named(self, value: str) -> str:
        for n, key in enumerate(self.ds.projects):
            if value.upper() == key or value == str(100 + n):
                return key
        raise JqlError(f"The value '{value}' does not exist for the field 'project'.")

    def issue_set(self, clause: Clause) -> set[int]:
        """The issues an id/key clause names; an unknown one matches nothing."""
        ds, found = self.ds, set()
        for value in clause.values:
            if isinstance(value, Function):
                raise JqlError(f"The function '{value.name}' is not supported by the '{clause.field}' field.")
            text = str(value).strip()
            i = ds.index_of(text) if text.isdigit() else ds.index_of_key(text)
            if i is not None:
                found.add(i)
        return found

    def key_range(self, clause: Clause):
        """`key > PAY-10`: issues of the same project with a higher number; `id > 10020` by id."""
        (value,) = clause.values
        if clause.field == "id":
            if not str(value).isdigit():
                raise JqlError(f"The value '{value}' is not a valid issue id.")
            bound = int(value)
            return _compare(lambda i: int(self.ds.issue_id(i)), clause.op, bound)
        project, _, number = str(value).upper().rpartition("-")
        if project not in self.ds.projects or not number.isdigit():
            raise JqlError(f"The issue key '{value}' for field 'key' is invalid.")
        ds = self.ds
        within = _compare(lambda i: _key_number(ds.key(i)), clause.op, int(number))
        return lambda i: ds.project_of(i) == project and within(i)

    def moment(self, clause: Clause) -> datetime:
        (value,) = clause.values
        if isinstance(value, Function):
            raise JqlError(f"The function '{value.name}' is not supported by the '{clause.field}' field.")
        return jql.moment(str(value), field=clause.field, zone=self.ds.time_zone, now=self.now)

    # --- order ----------------------------------------------------------------------------------

    def sort_key(self, field: str):
        ds = self.ds
        if field == "created":
            return ds.created
        if field == "updated":
            return ds.updated
        if field == "resolutiondate":
            never = datetime.max.replace(tzinfo=UTC)
            return lambda i: ds.resolved(i) or never
        if field == "id":
            return lambda i: i
        if field == "key":
            return lambda i: (ds.project_of(i), _key_number(ds.key(i)))
        if field == "project":
            return ds.project_of
        if field == "status":
            return ds.status_index
        if field == "issuetype":
            return ds.type_index
        # priority: ASC lowest first, as Jira orders by the priorities' sequence
        ranks = {name: -n for n, name in enumerate(PRIORITIES)}
        return lambda i: ranks.get(ds.priority_name(i), -len(PRIORITIES))


def _compare(read, op: str, bound):
    tests = {
        "=": lambda v: v == bound,
        "!=": lambda v: v != bound,
        ">": lambda v: v > bound,
        ">=": lambda v: v >= bound,
        "<": lambda v: v < bound,
        "<=": lambda v: v <= bound,
    }
    test = tests[op]
    return lambda i: (value := read(i)) is not None and test(value)


def _key_number(key: str) -> int:
    return int(key.rpartition("-")[2])


def _shown(field: str) -> str:
    return {"statuscategory": "statusCategory", "issuetype": "issuetype", "fixversion": "fixVersion"}.get(
        field, field
    )


def _no_project(key: str) -> dict:
    return {"errorMessages": [f"No project could be found with key '{key}'."], "errors": {}}


def _params(query: dict) -> dict:
    """A search's parameters: the query string, or a POST's JSON body (lists as Jira takes them)."""
    if "_body" not in query:
        return query
    body = query["_body"]
    if not isinstance(body, dict):
        raise BadRequest("The request body is not valid JSON.")
    params = {key: value for key, value in query.items() if key != "_body"}
    for key, value in body.items():
        if isinstance(value, list):
            value = ",".join(str(item) for item in value)
        params[key] = value
    return params


def _fields(value, *, default: str) -> set[str]:
    """Jira's `fields`: names, `*all`, `*navigable`, `-name` to leave one out; repeated parameters
    arrive joined with commas."""
    if value is None or value == "":
        value = default
    names = {name.strip() for name in str(value).split(",") if name.strip()}
    if names and all(name.startswith("-") for name in names):
        names.add(default if default.startswith("*") else "*navigable")
    return names


def _int(query: dict, name: str, default: int) -> int:
    value = query.get(name, default)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise BadRequest(f"The value '{value}' of the parameter '{name}' is not a number.") from exc
