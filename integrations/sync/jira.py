"""Jira → Flightdeck: project versions become releases, issues become work items.

Incremental by `updated`: a pass asks for issues updated since the last completed pass started, less
an overlap window, written as a wall time in the API user's time zone (JQL reads dates in it; the
zone comes from `/myself`). The pass's own start becomes the next watermark only when its last page
is stored, so an issue edited during a pass is read again by the next one. A reconcile sweeps every
issue id: work items Jira no longer has are deleted, issues a pass missed are fetched.
"""

import json
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.utils import timezone

from integrations.clients.jira import JiraClient
from integrations.http import SyncError
from integrations.models import ApplicationMapping, Connection
from integrations.parse.jira import JiraIssue, JiraVersion, SearchPage
from integrations.sync.base import RunContext, cursor_get, upsert_page
from releases.facts.services.upserts import (
    ReleaseFact,
    WorkItemFact,
    releases_upsert,
    work_items_delete,
    work_items_upsert,
)
from releases.models import WorkItem

OVERLAP = timedelta(minutes=5)
ORDER_BY_RE = re.compile(r"""\border\s+by\s+(?:[^"']|"[^"]*"|'[^']*')*$""", re.IGNORECASE)
ISSUES_STREAM = "issues"
RECONCILE_STREAM = "reconcile"
FETCH_MISSING_CHUNK = 100
STORE_BATCH = 1000  # issues per transaction: fewer, larger statements; a crash re-reads at most this
# A sweep that would delete more than this share of the stored items is refused: Jira answering
# "no issues" usually means the API user lost access, not that the project was emptied.
MAX_DELETED_SHARE = 0.5


def jira_sync(*, context: RunContext, client: JiraClient, mode: str = "incremental") -> None:
    connection = context.connection
    mappings = _mappings(connection)
    zone = _zone(client.time_zone())
    for project, application_id in mappings.items():
        versions = client.versions(project)
        facts = [_release_fact(version) for version in versions]
        upsert_page(
            context=context,
            stream=f"versions:{project}",
            cursor={"watermark": timezone.now().isoformat()},
            fetched=len(facts),
            store=lambda app=application_id, facts=facts: releases_upsert(
                source=connection.source_key, application_id=app, facts=facts
            ),
        )
    issues_pass(context=context, client=client, mappings=mappings, zone=zone)
    if mode == "reconcile":
        issues_reconcile(context=context, client=client, mappings=mappings)


def jira_connection_test(*, connection: Connection, client: JiraClient) -> str:
    """One readable line, or a SyncError saying what is wrong."""
    zone = client.time_zone()
    mapped = list(_mappings(connection))
    counts = [f"{project} ({len(client.versions(project))} versions)" for project in mapped]
    return f"Connected to {connection.base_url} (user time zone {zone}); readable: {', '.join(counts)}."


def issues_pass(*, context: RunContext, client: JiraClient, mappings: dict[str, int], zone: ZoneInfo) -> None:
    connection = context.connection
    cursor = cursor_get(connection, ISSUES_STREAM)
    pending = json.loads(cursor.page_token) if cursor.page_token else None
    if pending is None:
        since = datetime.fromisoformat(cursor.watermark) - OVERLAP if cursor.watermark else None
        pending = {
            "since": since.isoformat() if since else None,
            "started": timezone.now().isoformat(),
            "token": None,
        }
    since = datetime.fromisoformat(pending["since"]) if pending["since"] else None
    jql = issues_jql(connection, mappings, since=since, zone=zone)
    if pending["token"] is None:
        pending["expected"] = client.approximate_count(jql)
    # The next page is fetched while the ones before are stored: the tool and the database work at
    # once. Pages are stored in batches of about STORE_BATCH issues, each with its cursor; when a
    # fetch fails, what was already read is stored before the error goes up.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="jira-fetch") as fetcher:
        ahead = fetcher.submit(client.search_page, jql, pending["token"])
        batch: list[SearchPage] = []
        while True:
            try:
                page = ahead.result()
            except SyncError:
                _store_issue_pages(context, batch, mappings, pending)
                raise
            if page.next_token is not None:
                ahead = fetcher.submit(client.search_page, jql, page.next_token)
            batch.append(page)
            if page.next_token is None or sum(len(p.issues) for p in batch) >= STORE_BATCH:
                _store_issue_pages(context, batch, mappings, pending)
                batch = []
            if page.next_token is None:
                return


def _store_issue_pages(
    context: RunContext, pages: list[SearchPage], mappings: dict[str, int], pending
) -> None:
    """Store fetched pages and the cursor after the last; the run expects what it fetched so far plus
    what the search says is left."""
    if not pages:
        return
    issues = [issue for page in pages for issue in page.issues]
    facts = [_work_item_fact(issue, mappings) for issue in issues if issue.project_key in mappings]
    expected = _expected(context, pages[-1], pending)
    token = pages[-1].next_token
    if token is None:  # the pass is complete: its start becomes the watermark
        cursor = {"watermark": pending["started"], "page_token": ""}
    else:
        cursor = {"page_token": json.dumps(pending | {"token": token})}
    upsert_page(
        context=context,
        stream=ISSUES_STREAM,
        cursor=cursor,
        fetched=len(issues),
        pages=len(pages),
        expected=expected,
        store=lambda: work_items_upsert(source=context.connection.source_key, facts=facts),
    )


def _expected(context: RunContext, page, pending: dict) -> int | None:
    total = page.total if page.total is not None else pending.get("expected")
    if total is None:
        return None
    if not pending.get("base"):
        pending["base"] = context.run.items_fetched + context.fetched  # before this pass's first page
    return pending["base"] + total


def issues_reconcile(*, context: RunContext, client: JiraClient, mappings: dict[str, int]) -> None:
    """Delete what Jira no longer has, fetch what a pass missed; nothing is wiped and reloaded."""
    connection = context.connection
    remote = set(client.issue_ids(issues_jql(connection, mappings, since=None, zone=None)))
    stored = set(
        WorkItem.objects.filter(
            source=connection.source_key, application_id__in=mappings.values()
        ).values_list("external_id", flat=True)
    )
    gone, missing = stored - remote, sorted(remote - stored, key=int)
    if stored and len(gone) > MAX_DELETED_SHARE * len(stored):
        raise SyncError(
            f"The reconcile would delete {len(gone)} of {len(stored)} work items: refused. Check that the "
            "connection's user can still browse the mapped projects."
        )
    for start in range(0, len(missing), FETCH_MISSING_CHUNK):
        chunk = missing[start : start + FETCH_MISSING_CHUNK]
        page = client.search_page(f"id in ({','.join(chunk)}) ORDER BY created ASC", None)
        facts = [_work_item_fact(issue, mappings) for issue in page.issues if issue.project_key in mappings]
        upsert_page(
            context=context,
            stream=RECONCILE_STREAM,
            cursor={"watermark": ""},
            fetched=len(page.issues),
            store=lambda facts=facts: work_items_upsert(source=connection.source_key, facts=facts),
        )
    upsert_page(
        context=context,
        stream=RECONCILE_STREAM,
        cursor={"watermark": timezone.now().isoformat()},
        fetched=0,
        store=lambda: work_items_delete(source=connection.source_key, external_ids=gone),
    )


def issues_jql(connection: Connection, mappings: dict[str, int], *, since: datetime | None, zone) -> str:
    custom = _without_order_by((connection.scope or {}).get("jql") or "")
    projects = ", ".join(f'"{key}"' for key in sorted(mappings))
    clauses = [f"({custom})" if custom else f"project in ({projects})"]
    if since is not None:
        wall = since.astimezone(zone).strftime("%Y/%m/%d %H:%M")  # minutes, floored: never later
        clauses.append(f'updated >= "{wall}"')
    return " AND ".join(clauses) + " ORDER BY created ASC"


def _without_order_by(jql: str) -> str:
    """A scope's own JQL, its ORDER BY dropped: inside parentheses Jira refuses one, and the sync
    orders by creation itself."""
    return ORDER_BY_RE.sub("", jql).strip()


def _mappings(connection: Connection) -> dict[str, int]:
    scope = set((connection.scope or {}).get("projects") or ())
    mappings = dict(
        ApplicationMapping.objects.filter(connection=connection).values_list("external_key", "application_id")
    )
    if scope:
        mappings = {key: app for key, app in mappings.items() if key in scope}
    if not mappings:
        raise SyncError(
            f"{connection} maps no Jira project to an application: add a mapping (project key → "
            "application) to the connection in the admin."
        )
    return mappings


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise SyncError(
            f"Jira reports the API user's time zone as {name!r}, which is not a known zone."
        ) from exc


def _release_fact(version: JiraVersion) -> ReleaseFact:
    return ReleaseFact(
        external_id=version.id,
        version=version.name,
        summary=version.description,
        released=version.released,
        archived=version.archived,
        release_date=version.release_date,
        start_date=version.start_date,
        hotfix=_says_hotfix(version.name) or _says_hotfix(version.description),
    )


def _says_hotfix(text: str) -> bool:
    """Jira has no hotfix flag: teams write it in the version's name or description."""
    return "hotfix" in text.casefold()


def _work_item_fact(issue: JiraIssue, mappings: dict[str, int]) -> WorkItemFact:
    return WorkItemFact(
        external_id=issue.id,
        application_id=mappings[issue.project_key],
        key=issue.key,
        title=issue.summary or issue.key,
        type=issue.type,
        status_category=issue.status_category,
        status_name=issue.status_name,
        priority=issue.priority,
        created_at=issue.created or issue.updated or timezone.now(),
        resolved_at=issue.resolved,
        updated_at=issue.updated,
        parent_key=issue.parent_key,
        labels=issue.labels,
        fix_release_ids=issue.fix_version_ids,
        blocks=_mapped_keys(issue.blocks, mappings),
        blocked_by=_mapped_keys(issue.blocked_by, mappings),
    )


def _mapped_keys(keys, mappings: dict[str, int]) -> tuple[tuple[int, str], ...]:
    """Linked issues as (application, key); a link into a project nobody mapped has nothing to point at."""
    pairs = ((mappings.get(key.rsplit("-", 1)[0]), key) for key in keys)
    return tuple((app, key) for app, key in pairs if app is not None)
