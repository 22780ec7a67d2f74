"""A generated Jira instance: projects, versions and issues, derived from an index on demand.

Issue `i` is computed from `i` alone until a test edits or deletes it, so 100,000 issues cost no
memory; `created` grows with `i`, which keeps the server's ORDER BY created cheap (a range scan).
"""

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

# Localised like a German instance: the names differ from English, the category keys never do.
STATUSES = [
    ("Offen", {"id": 2, "key": "new", "name": "Aufgaben", "colorName": "blue-gray"}),
    ("In Arbeit", {"id": 4, "key": "indeterminate", "name": "In Arbeit", "colorName": "yellow"}),
    ("Erledigt", {"id": 3, "key": "done", "name": "Fertig", "colorName": "green"}),
]
TYPES = [("Story", False), ("Bug", False), ("Task", False), ("Sub-task", True)]
PRIORITIES = ["High", "Medium", "Low"]
ISSUE_STEP = timedelta(seconds=10)
UPDATED_AFTER_CREATED = timedelta(hours=1)


@dataclass
class JiraDataset:
    issues: int = 1000
    projects: tuple[str, ...] = ("PAY",)
    versions_per_project: int = 6
    time_zone: str = "UTC"
    base_time: datetime = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
    issue_step: timedelta = ISSUE_STEP  # between two issues' creation
    username: str = "sync-bot@example.com"
    token: str = "sandbox-token"  # noqa: S105 - the sandbox's own fixed test credential
    edits: dict[int, dict] = field(default_factory=dict)
    deleted: set[int] = field(default_factory=set)
    version_edits: dict[str, dict] = field(default_factory=dict)
    revision: int = 0  # bumped by every change, so the server's cached searches know they are stale
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    # --- issues -------------------------------------------------------------------------------

    def issue_id(self, i: int) -> str:
        return str(10000 + i)

    def index_of(self, issue_id: str) -> int | None:
        try:
            i = int(issue_id) - 10000
        except ValueError:
            return None
        return i if 0 <= i < self.issues and i not in self.deleted else None

    def key(self, i: int) -> str:
        project = self.project_of(i)
        return f"{project}-{i // len(self.projects) + 1}"

    def project_of(self, i: int) -> str:
        return self.projects[i % len(self.projects)]

    def created(self, i: int) -> datetime:
        return self.edits.get(i, {}).get("created") or self.base_time + i * self.issue_step

    def updated(self, i: int) -> datetime:
        return self.edits.get(i, {}).get("updated") or self.created(i) + UPDATED_AFTER_CREATED

    def exists(self, i: int) -> bool:
        return 0 <= i < self.issues and i not in self.deleted

    def edit(self, i: int, *, at: datetime, **fields) -> None:
        """Change issue i at time `at` (summary, status 0-2, priority, fix_versions, blocks: only the
        default link is mirrored on the other issue)."""
        with self.lock:
            self.edits[i] = {**self.edits.get(i, {}), **fields, "updated": at}
            self.revision += 1

    def delete(self, i: int) -> None:
        with self.lock:
            self.deleted.add(i)
            self.revision += 1

    def add(self, count: int, *, at: datetime) -> list[int]:
        """New issues created at `at`: appended, so they sort after every existing one."""
        with self.lock:
            start = self.issues
            for i in range(start, start + count):
                self.edits[i] = {"created": at, "updated": at}
            self.issues += count
            self.revision += 1
            return list(range(start, start + count))

    def first_index_updated_since(self, since: datetime) -> int:
        """Unedited issues are updated in index order: the first one at or after `since`."""
        offset = since - self.base_time - UPDATED_AFTER_CREATED
        return max(0, -(-offset // self.issue_step))

    def index_of_key(self, key: str) -> int | None:
        """The issue an issue key names (any case), or None."""
        project, _, number = key.upper().rpartition("-")
        if project not in self.projects or not number.isdigit():
            return None
        guess = (int(number) - 1) * len(self.projects) + self.projects.index(project)
        if self.exists(guess) and self.key(guess) == key.upper():
            return guess
        return next((i for i in range(self.issues) if self.key(i) == key.upper() and self.exists(i)), None)

    # the fields a search compares and sorts, read without building the issue

    def status_index(self, i: int) -> int:
        """An index into STATUSES."""
        return self.edits.get(i, {}).get("status", self.default_status(i))

    def type_index(self, i: int) -> int:
        """An index into TYPES."""
        return i % 4

    def priority_name(self, i: int) -> str:
        return self.edits.get(i, {}).get("priority", PRIORITIES[i % 3])

    def fix_versions(self, i: int) -> list[str]:
        return self.edits.get(i, {}).get("fix_versions", self.default_fix_versions(i))

    def resolved(self, i: int) -> datetime | None:
        return self.updated(i) if STATUSES[self.status_index(i)][1]["key"] == "done" else None

    def issue_fields(self, i: int, base_url: str) -> dict:
        edit = self.edits.get(i, {})
        status_name, category = STATUSES[self.status_index(i)]
        type_name, subtask = TYPES[self.type_index(i)]
        done = category["key"] == "done"
        project = self.project_of(i)
        blocker = i - len(
            self.projects
        )  # the default links: every tenth issue blocks the next of its project
        blocked_by = [blocker] if blocker >= 0 and i in self.blocks(blocker) else []
        versions = self.fix_versions(i)
        return {
            "summary": edit.get("summary", f"{type_name} {i}: make the payment flow faster"),
            "status": {
                "self": f"{base_url}/rest/api/2/status/{category['id']}",
                "name": status_name,
                "id": str(10000 + category["id"]),
                "statusCategory": {
                    "self": f"{base_url}/rest/api/2/statuscategory/{category['id']}",
                    **category,
                },
            },
            "issuetype": {"id": str(10001 + self.type_index(i)), "name": type_name, "subtask": subtask},
            "priority": {"id": str(1 + i % 3), "name": self.priority_name(i)},
            "created": jira_time(self.created(i)),
            "updated": jira_time(self.updated(i)),
            "resolutiondate": jira_time(self.updated(i)) if done else None,
            "resolution": {"name": "Fertig"} if done else None,
            "project": {
                "id": str(100 + self.projects.index(project)),
                "key": project,
                "name": project.title(),
            },
            "fixVersions": [self.version_ref(version_id) for version_id in versions],
            "issuelinks": [self.link(j, "outwardIssue") for j in self.blocks(i) if self.exists(j)]
            + [self.link(j, "inwardIssue") for j in blocked_by if self.exists(j)],
        }

    def default_status(self, i: int) -> int:
        """An index into STATUSES for an issue nobody edited."""
        return i % 3

    def default_fix_versions(self, i: int) -> list[str]:
        return [self.version_id(self.project_of(i), i % self.versions_per_project)]

    def blocks(self, i: int) -> list[int]:
        return self.edits.get(i, {}).get("blocks", [i + len(self.projects)] if i % 10 == 0 else [])

    def link(self, j: int, side: str) -> dict:
        return {
            "id": str(900000 + j),
            "type": {"id": "10000", "name": "Blocks", "inward": "is blocked by", "outward": "blocks"},
            side: {"id": self.issue_id(j), "key": self.key(j)},
        }

    # --- versions -----------------------------------------------------------------------------

    def version_id(self, project: str, v: int) -> str:
        return str(20000 + self.projects.index(project) * 100 + v)

    def version(self, project: str, v: int) -> dict:
        version_id = self.version_id(project, v)
        released = v < self.versions_per_project // 2
        release_day = self.base_time.date() + timedelta(days=14 * (v - self.versions_per_project // 2 + 1))
        raw = {
            "id": version_id,
            "name": f"{project} 1.{v}",
            "description": f"Release 1.{v} of {project}",
            "archived": False,
            "released": released,
            "releaseDate": release_day.isoformat(),
            "projectId": 100 + self.projects.index(project),
        }
        return raw | self.version_edits.get(version_id, {})

    def versions(self, project: str) -> list[dict]:
        return [self.version(project, v) for v in range(self.versions_per_project)]

    def version_ref(self, version_id: str) -> dict:
        project = self.projects[(int(version_id) - 20000) // 100]
        raw = self.version(project, int(version_id) % 100)
        return {key: raw[key] for key in ("id", "name", "archived", "released", "releaseDate")}

    def edit_version(self, version_id: str, **fields) -> None:
        with self.lock:
            self.version_edits[version_id] = {**self.version_edits.get(version_id, {}), **fields}
            self.revision += 1


def jira_time(moment: datetime) -> str:
    """Jira's own format: milliseconds and a +hhmm offset."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
