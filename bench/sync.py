"""Sync 100,000 Jira issues from the sandbox end to end, and compare the store step; one JSON object.

    .venv/bin/python bench/sync.py [--issues 100000] [--naive-rows 5000]
    .venv/bin/python bench/sync.py --database-url postgres://postgres@127.0.0.1:5432/flightdeck_sync
    .venv/bin/python bench/sync.py --tool gitlab [--merge-requests 50000] [--database-url ...]

With --tool gitlab, the same for 50,000 GitLab merge requests (one project, keyset pages of 100):
the end-to-end sync, the unchanged re-sync, and the store step (pull_requests_upsert a page, against
per-row update_or_create and COPY), with the same targets; the raw/Django comparison is Jira's only.

A fresh instance (temporary folder; with --database-url the PostgreSQL database is dropped and
created) and the Jira sandbox in its own process (so its CPU and memory are not the worker's). Then:

1. end to end: one Jira Cloud sync (myself, versions, every search page: fetch, parse, store), timed,
   with this process's peak RSS taken right after it (this process is the worker);
2. an unchanged re-sync: the watermark cleared so every issue is read again; the domain rows it
   writes are counted from the SQL it sends (INSERT/UPDATE/DELETE on releases_* tables, audit aside);
3. the store step alone, three ways, on the same rows (work items, their fix releases and "blocks"
   links) built from the sandbox's dataset, each into its own applications:
   - ours: releases.facts.services.upserts.work_items_upsert, 1,000 per transaction as a sync does;
   - naive: per row update_or_create, fix_releases.set() and a get_or_create per link, on the first
     --naive-rows rows (a per-row ingester's cost is linear; the full run would take minutes);
   - COPY (PostgreSQL only): COPY of the same work item, fix-release and link rows with ids assigned.
   Ratios are per row: naive/ours (target >= 20) and ours/COPY (target <= 3);
4. each write of the store step, the hand-written SQL against Django's own bulk path, on the same
   --write-rows rows in pages of 1,000, --repeats times interleaved (the order flips each time), each
   time in a transaction rolled back afterwards; medians, and Django's over raw. Inserts: work items
   (ids returned), fix releases, links (a pair already there skipped): raw INSERT ... SELECT from one
   JSON parameter against bulk_create. Updates, a full page changed and a few rows a page (the usual
   incremental sync): raw executemany UPDATE against bulk_create(update_conflicts=True,
   unique_fields=["pk"]) and bulk_update (in the first BULK_UPDATE_REPEATS runs only). The raw path
   earns its place only where Django's takes at least twice as long (RAW_MIN_SPEEDUP). The product
   (releases.facts.services.upserts) inserts raw and updates with bulk_create: each way measured
   here as the product writes it, except the raw UPDATE and the Django inserts, kept here only to be
   measured. The choice rests on raw_earns_its_place: true for each insert, false for updates.
"""

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from collections import defaultdict

from common import REPO, add_instance_options, bench_instance

PROJECTS = ("PAY", "WEB", "APP", "OPS")
TARGETS = {"end_to_end_s": 20, "naive_over_ours": 20, "ours_over_copy": 3, "rss_mb": 250}
PAGE = 1000  # issues per transaction, as integrations.sync.jira.STORE_BATCH
RAW_MIN_SPEEDUP = 2  # hand-written SQL is kept only where Django's own path takes this many times longer
FEW_CHANGED = 50  # changed items a page in an incremental sync
BULK_UPDATE_REPEATS = 3  # bulk_update, 20x slower than the others, is timed in the first runs only


def main() -> None:
    options = parse_args()
    if options.tool == "gitlab":
        with bench_instance(options, "flightdeck-bench-sync-gitlab-"):
            sandbox, url = start_sandbox(options.issues, gitlab_merge_requests=options.merge_requests)
            try:
                result = run_gitlab(options, url)
            finally:
                sandbox.terminate()
                sandbox.wait(timeout=10)
        print(json.dumps(result, indent=2))
        return
    with bench_instance(options, "flightdeck-bench-sync-"):
        sandbox, url = start_sandbox(options.issues)
        try:
            result = run(options, url)
        finally:
            sandbox.terminate()
            sandbox.wait(timeout=10)
    print(json.dumps(result, indent=2))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_instance_options(parser, var_dir=False, reuse=False)  # always a fresh instance
    parser.add_argument("--tool", choices=("jira", "gitlab"), default="jira")
    parser.add_argument("--issues", type=int, default=100_000)
    parser.add_argument("--merge-requests", type=int, default=50_000, help="with --tool gitlab")
    parser.add_argument("--naive-rows", type=int, default=5000)
    parser.add_argument("--write-rows", type=int, default=10_000, help="rows of the raw/Django comparison")
    parser.add_argument("--repeats", type=int, default=7, help="interleaved runs of each way; medians")
    return parser.parse_args()


def start_sandbox(issues: int, *, gitlab_merge_requests: int = 0) -> tuple[subprocess.Popen, str]:
    """The sandbox in its own process, and Jira's URL (GitLab's, with `gitlab_merge_requests`)."""
    if gitlab_merge_requests:
        issues = 10  # Jira idles
    command = [sys.executable, "-m", "integrations.sandbox", "--port", "0", "--issues", str(issues)]
    command += ["--projects", ",".join(PROJECTS), "--time-zone", "Europe/Berlin"]
    command += ["--merge-requests", str(gitlab_merge_requests), "--gitlab-projects", GITLAB_PROJECT]
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, text=True)
    wanted = "GitLab" if gitlab_merge_requests else "Jira"
    line = process.stdout.readline()
    while line and not line.startswith(wanted):
        line = process.stdout.readline()
    return process, line.rsplit(" ", 1)[-1].strip()


def run(options, url: str) -> dict:
    from django.core.management import call_command
    from django.db import connection as db

    call_command("migrate", "--noinput", verbosity=0)
    connection = make_connection(url, "Bench Jira")
    e2e = timed_sync(connection)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    resync = unchanged_resync(connection)
    store = compare_store(options, connection)
    writes = compare_writes(options, connection.source_key)
    result = {
        "database": db.vendor,
        "issues": options.issues,
        "end_to_end": e2e,
        "worker_peak_rss_mb": round(rss_mb, 1),
        "unchanged_resync": resync,
        "store_step": store,
        "raw_vs_django": writes,
        "targets": TARGETS,
    }
    result["met"] = met(e2e, resync, store, rss_mb)
    return result


def met(e2e: dict, resync: dict, store: dict, rss_mb: float) -> dict:
    """Each target judged, the same for every tool's sync."""
    return {
        "end_to_end": e2e["seconds"] <= TARGETS["end_to_end_s"],
        "unchanged_resync_writes_0_rows": resync["domain_rows_written"] == 0
        and not resync["write_statements"],
        "naive_over_ours": store["naive_over_ours"] >= TARGETS["naive_over_ours"],
        "ours_over_copy": store["ours_over_copy"] is not None
        and store["ours_over_copy"] <= TARGETS["ours_over_copy"],
        "rss": rss_mb <= TARGETS["rss_mb"],
    }


def make_connection(url: str, name: str, *, suffix: str = ""):
    from integrations.models import ApplicationMapping, Connection
    from releases.models import Application, Portfolio

    portfolio = Portfolio.objects.create(name=f"Bench {name}", slug=f"bench-{len(name)}{suffix}")
    connection = Connection.objects.create(
        name=name, kind="jira_cloud", base_url=url, scope={"projects": list(PROJECTS)}, request_budget=10_000
    )
    connection.credentials = {"username": "sync-bot@example.com", "token": "sandbox-token"}
    connection.save()
    for project in PROJECTS:
        app = Application.objects.create(
            portfolio=portfolio, name=f"{project}{suffix}", key=f"{project}{suffix}"
        )
        ApplicationMapping.objects.create(connection=connection, application=app, external_key=project)
    return connection


def timed_sync(connection) -> dict:
    from integrations.runner import connection_sync
    from integrations.tasks import sync_run_queue

    run = sync_run_queue(connection=connection, by=None)
    started = time.perf_counter()
    connection_sync(run_id=run.pk)
    seconds = time.perf_counter() - started
    run.refresh_from_db()
    return {
        "seconds": round(seconds, 2),
        "status": run.status,
        "error": run.error,
        "pages": run.pages,
        "requests": run.requests,
        "fetched": run.items_fetched,
        "created": run.items_created,
        "updated": run.items_updated,
        "unchanged": run.items_unchanged,
        "issues_per_second": round(run.items_fetched / seconds),
    }


def unchanged_resync(connection) -> dict:
    from django.db import connection as db

    from integrations.models import SyncCursor

    SyncCursor.objects.filter(connection=connection).update(watermark="", page_token="")
    writes = []

    def count_writes(execute, sql, params, many, context):
        head = sql.lstrip()[:80]
        verb = head.split(" ", 1)[0]
        if verb in ("INSERT", "UPDATE", "DELETE") and '"releases_' in head and "releases_audit" not in head:
            writes.append(head)
        return execute(sql, params, many, context)

    with db.execute_wrapper(count_writes):
        sync = timed_sync(connection)
    return {
        "seconds": sync["seconds"],
        "fetched": sync["fetched"],
        "unchanged": sync["unchanged"],
        "domain_rows_written": sync["created"] + sync["updated"],
        "write_statements": writes[:5],
    }


# --- the store step, three ways -------------------------------------------------------------------


def dataset_facts(options, connection, suffix: str):
    """The sync's WorkItemFacts for every issue, built without HTTP, for applications `suffix`."""
    from integrations.parse.jira import ISSUE_FIELDS, parse_issue
    from integrations.sandbox.dataset import JiraDataset
    from integrations.sandbox.jira import JiraRoutes
    from integrations.sync.jira import _work_item_fact
    from releases.models import Application

    routes = JiraRoutes(JiraDataset(issues=options.issues, projects=PROJECTS, time_zone="Europe/Berlin"))
    fields = set(ISSUE_FIELDS.split(","))
    apps = dict(Application.objects.filter(key__in=[p + suffix for p in PROJECTS]).values_list("key", "pk"))
    mappings = {project: apps[project + suffix] for project in PROJECTS}
    return [
        _work_item_fact(parse_issue(routes.issue(i, fields, "")), mappings) for i in range(options.issues)
    ]


def compare_store(options, connection) -> dict:
    from django.db import connection as db

    source_releases = connection.source_key  # the fix versions synced end to end above, copied
    ours = store_ours(options, source_releases)
    naive = store_naive(options, source_releases)
    copy = store_copy(options, source_releases) if db.vendor == "postgresql" else None
    per_row = {
        name: (r["seconds"] / r["rows"] if r else None)
        for name, r in (("ours", ours), ("naive", naive), ("copy", copy))
    }
    return {
        "ours": ours,
        "naive": naive,
        "copy": copy,
        "naive_over_ours": round(per_row["naive"] / per_row["ours"], 1),
        "ours_over_copy": round(per_row["ours"] / per_row["copy"], 2) if copy else None,
    }


def _facts_for(options, synced_source: str, suffix: str):
    """Fresh applications and a source of their own, with copies of the synced releases (the fix
    versions), so each way of storing writes the same rows from an empty start."""
    from releases.models import Application, Release

    connection = make_connection("http://unused", f"Store {suffix}", suffix=suffix)
    source = f"bench-{suffix}"
    apps = dict(Application.objects.filter(key__in=[p + suffix for p in PROJECTS]).values_list("key", "pk"))
    copies = [
        Release(
            application_id=apps[release.application.key + suffix],
            version=release.version,
            target_date=release.target_date,
            status=release.status,
            actual_date=release.actual_date,
            source=source,
            external_id=release.external_id,
        )
        for release in Release.objects.filter(source=synced_source).select_related("application")
    ]
    Release.objects.bulk_create(copies)
    return source, dataset_facts(options, connection, suffix)


def store_ours(options, source: str) -> dict:
    from django.db import transaction

    from releases.facts.services.upserts import work_items_upsert

    source, facts = _facts_for(options, source, "O")
    started = time.perf_counter()
    for start in range(0, len(facts), PAGE):
        with transaction.atomic():
            work_items_upsert(source=source, facts=facts[start : start + PAGE])
    return {"rows": len(facts), "seconds": round(time.perf_counter() - started, 2)}


def store_naive(options, source: str) -> dict:
    from django.db import transaction

    from releases.facts.services.upserts import WORK_ITEM_FIELDS as FACT_FIELDS
    from releases.models import Release, WorkItem, WorkItemLink

    source, facts = _facts_for(options, source, "N")
    facts = facts[: options.naive_rows]
    started = time.perf_counter()
    for start in range(0, len(facts), 100):  # a transaction per page of 100
        with transaction.atomic():
            for fact in facts[start : start + 100]:
                item, _ = WorkItem.objects.update_or_create(
                    source=source,
                    external_id=fact.external_id,
                    defaults={name: getattr(fact, name) for name in FACT_FIELDS},
                )
                item.fix_releases.set(
                    Release.objects.filter(source=source, external_id__in=fact.fix_release_ids)
                )
                for app, key in fact.blocks:
                    other = WorkItem.objects.filter(source=source, application_id=app, key=key).first()
                    if other:
                        WorkItemLink.objects.get_or_create(blocker=item, blocked=other)
                for app, key in fact.blocked_by:
                    other = WorkItem.objects.filter(source=source, application_id=app, key=key).first()
                    if other:
                        WorkItemLink.objects.get_or_create(blocker=other, blocked=item)
    return {"rows": len(facts), "seconds": round(time.perf_counter() - started, 2)}


def store_copy(options, source: str) -> dict:
    """The floor: the same rows streamed with COPY, ids assigned up front, no reads, no comparisons."""
    from django.db import connection as db
    from django.db import transaction

    from releases.facts.services.upserts import WORK_ITEM_FIELDS as FACT_FIELDS
    from releases.models import Release, WorkItem

    source, facts = _facts_for(options, source, "C")
    releases = dict(Release.objects.filter(source=source).values_list("external_id", "pk"))
    first_id = (WorkItem.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1
    ids = {fact.external_id: first_id + n for n, fact in enumerate(facts)}
    by_key = {(fact.application_id, fact.key): ids[fact.external_id] for fact in facts}
    columns = ["id", "source", "external_id", *FACT_FIELDS, "descoped"]
    started = time.perf_counter()
    with transaction.atomic(), db.cursor() as cursor:
        raw = cursor.cursor
        with raw.copy(f"COPY releases_workitem ({', '.join(columns)}) FROM STDIN") as copy:
            for fact in facts:
                copy.write_row(
                    [ids[fact.external_id], source, fact.external_id]
                    + [getattr(fact, name) for name in FACT_FIELDS]
                    + [False]
                )
        with raw.copy("COPY releases_workitem_fix_releases (workitem_id, release_id) FROM STDIN") as copy:
            for fact in facts:
                for rid in fact.fix_release_ids:
                    if rid in releases:
                        copy.write_row([ids[fact.external_id], releases[rid]])
        with raw.copy("COPY releases_workitemlink (blocker_id, blocked_id) FROM STDIN") as copy:
            for fact in facts:
                for end in fact.blocks:
                    if end in by_key:
                        copy.write_row([ids[fact.external_id], by_key[end]])
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('releases_workitem', 'id'), %s)", [first_id + len(facts)]
        )
    return {"rows": len(facts), "seconds": round(time.perf_counter() - started, 2)}


# --- each write, hand-written SQL against Django's bulk path ----------------------------------------


def compare_writes(options, synced_source: str) -> dict:
    """Inserts and updates of the store step, raw against Django, on the same rows (see the module's
    docstring); each write's medians, their ratio and whether the raw path earns its place."""
    from releases.facts.services.upserts import WORK_ITEM_COLUMNS
    from releases.models import Release

    source, facts = _facts_for(options, synced_source, "W")
    facts = facts[: options.write_rows]
    rows = [_row(source, fact) for fact in facts]
    releases = dict(Release.objects.filter(source=source).values_list("external_id", "pk"))
    runs = defaultdict(list)
    for n in range(options.repeats):
        for way in ("raw", "django") if n % 2 == 0 else ("django", "raw"):
            for write, seconds in _timed_inserts(way, rows, facts, releases).items():
                runs[write, way].append(seconds)
    pk_of = _stored(rows)
    title = WORK_ITEM_COLUMNS.index("title")
    for n in range(options.repeats):
        changed = [(*row[:title], f"{row[title]} ({n})", *row[title + 1 :], pk_of[row[1]]) for row in rows]
        few = [row for i, row in enumerate(changed) if i % PAGE < FEW_CHANGED]
        ways = list(UPDATES) if n < BULK_UPDATE_REPEATS else ["raw", "django_upsert"]
        for way in ways if n % 2 == 0 else reversed(ways):
            runs["update_full_pages", way].append(_timed(UPDATES[way], _pages(changed)))
            runs["update_few_a_page", way].append(_timed(UPDATES[way], _pages(few, FEW_CHANGED)))
    inserts = {write: _compared(runs, write, "django") for write in ("work_items", "fix_releases", "links")}
    updates = {
        write: _compared(runs, write, "django_upsert") | _compared(runs, write, "django_bulk_update")
        for write in ("update_full_pages", "update_few_a_page")
    }
    return {
        "database_rows": len(rows),
        "repeats": options.repeats,
        "insert": inserts,
        "update": updates,
        "raw_min_speedup": RAW_MIN_SPEEDUP,
        "raw_earns_its_place": {
            "insert": {write: figures["raw_earns_its_place"] for write, figures in inserts.items()},
            "update": {
                write: figures["django_upsert_over_raw"] >= RAW_MIN_SPEEDUP
                and figures["django_bulk_update_over_raw"] >= RAW_MIN_SPEEDUP
                for write, figures in updates.items()
            },
        },
    }


def _row(source: str, fact) -> tuple:
    from releases.facts.services.upserts import WORK_ITEM_FIELDS as FACT_FIELDS

    return (source, fact.external_id, *(getattr(fact, name) for name in FACT_FIELDS), False)


def _pages(rows: list, size: int = PAGE) -> list[list]:
    return [rows[start : start + size] for start in range(0, len(rows), size)]


def _timed(write, pages: list[list]) -> float:
    """Seconds to write the pages, in a transaction rolled back afterwards (each run starts alike)."""
    from django.db import transaction

    with transaction.atomic():
        started = time.perf_counter()
        for page in pages:
            write(page)
        seconds = time.perf_counter() - started
        transaction.set_rollback(True)
    return seconds


def _timed_inserts(way: str, rows: list, facts: list, releases: dict) -> dict[str, float]:
    """The work items, then their fix releases and links, written one way; rolled back afterwards."""
    from django.db import transaction

    insert_items, insert_fixes, insert_links = INSERTS[way]
    seconds = {}
    with transaction.atomic():
        started, pk_of = time.perf_counter(), {}
        for page in _pages(rows):
            pk_of |= insert_items(page)
        seconds["work_items"] = time.perf_counter() - started
        fixes = [
            (pk_of[f.external_id], releases[r]) for f in facts for r in f.fix_release_ids if r in releases
        ]
        started = time.perf_counter()
        for page in _pages(fixes):
            insert_fixes(page)
        seconds["fix_releases"] = time.perf_counter() - started
        links = _links(facts, pk_of)
        started = time.perf_counter()
        for page in _pages(links):
            insert_links(page)
        seconds["links"] = time.perf_counter() - started
        transaction.set_rollback(True)
    return seconds


def _links(facts: list, pk_of: dict[str, int]) -> list[tuple[int, int]]:
    by_key = {(fact.application_id, fact.key): pk_of[fact.external_id] for fact in facts}
    pairs = set()
    for fact in facts:
        own = pk_of[fact.external_id]
        pairs |= {(own, by_key[end]) for end in fact.blocks if end in by_key}
        pairs |= {(by_key[end], own) for end in fact.blocked_by if end in by_key}
    return sorted((a, b) for a, b in pairs if a != b)


def _stored(rows: list) -> dict[str, int]:
    """The rows stored for good (the updates' starting point); their ids by external id."""
    from django.db import transaction

    pk_of = {}
    with transaction.atomic():
        for page in _pages(rows):
            pk_of |= _items_raw(page)
    return pk_of


def _compared(runs: dict, write: str, django: str) -> dict:
    """Medians of the raw runs and of `django`'s (the runs both took part in), and their ratio."""
    raws = runs[write, "raw"][: len(runs[write, django])]
    raw, other = statistics.median(raws), statistics.median(runs[write, django])
    ratio = other / raw
    figures = {"raw_s": round(raw, 3), f"{django}_s": round(other, 3), f"{django}_over_raw": round(ratio, 2)}
    spread = [round(b / a, 2) for a, b in zip(raws, runs[write, django], strict=True)]
    figures[f"{django}_over_raw_per_run"] = spread
    if django == "django":
        figures["raw_earns_its_place"] = ratio >= RAW_MIN_SPEEDUP
    return figures


def _items_raw(rows: list) -> dict[str, int]:
    from releases.facts.services.upserts import WORK_ITEM_COLUMNS, _insert_rows
    from releases.models import WorkItem

    return dict(_insert_rows(WorkItem, WORK_ITEM_COLUMNS, rows, returning=("external_id", "pk")))


def _items_django(rows: list) -> dict[str, int]:
    from releases.facts.services.upserts import WORK_ITEM_COLUMNS
    from releases.models import WorkItem

    items = WorkItem.objects.bulk_create(
        [WorkItem(**dict(zip(WORK_ITEM_COLUMNS, row, strict=True))) for row in rows]
    )
    return {item.external_id: item.pk for item in items}


def _fixes_raw(pairs: list) -> None:
    from releases.facts.services.upserts import FixThrough, _insert_rows

    _insert_rows(FixThrough, ("workitem", "release"), pairs)


def _fixes_django(pairs: list) -> None:
    from releases.facts.services.upserts import FixThrough

    FixThrough.objects.bulk_create([FixThrough(workitem_id=w, release_id=r) for w, r in pairs])


def _links_raw(pairs: list) -> None:
    from releases.facts.services.upserts import _insert_rows
    from releases.models import WorkItemLink

    _insert_rows(WorkItemLink, ("blocker", "blocked"), pairs, skip_on=("blocker", "blocked"))


def _links_django(pairs: list) -> None:
    from releases.models import WorkItemLink

    links = [WorkItemLink(blocker_id=a, blocked_id=b) for a, b in pairs]
    WorkItemLink.objects.bulk_create(links, ignore_conflicts=True)


def _update_raw(rows: list) -> None:
    """The hand-written path the product had for changed items, kept here as the measured alternative:
    one UPDATE per row (executemany), names from _meta; the driver adapts datetimes on PostgreSQL."""
    from django.db import connection as db

    from releases.facts.services.upserts import WORK_ITEM_TOOL_COLUMNS, _json_ready
    from releases.models import WorkItem

    quote, meta = db.ops.quote_name, WorkItem._meta
    assignments = ", ".join(f"{quote(meta.get_field(name).column)} = %s" for name in WORK_ITEM_TOOL_COLUMNS)
    sql = f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {quote(meta.pk.column)} = %s"
    rows = [(*values, pk) for values, pk in _tool_values(rows)]
    if db.vendor != "postgresql":
        rows = _json_ready(WorkItem, (*WORK_ITEM_TOOL_COLUMNS, "pk"), rows)
    with db.cursor() as cursor:
        cursor.executemany(sql, rows)


def _tool_values(rows: list) -> list[tuple[tuple, int]]:
    """(the tool's values, pk) of each changed row: a sync leaves `descoped` as it is."""
    return [(row[:-2], row[-1]) for row in rows]


def _update_django_upsert(rows: list) -> None:
    """The product's path: bulk_create(update_conflicts=True, unique_fields=["pk"])."""
    from releases.facts.services.upserts import _update_items

    _update_items(_tool_values(rows))


def _update_django_bulk_update(rows: list) -> None:
    from releases.facts.services.upserts import WORK_ITEM_TOOL_COLUMNS
    from releases.models import WorkItem

    items = [
        WorkItem(pk=pk, **dict(zip(WORK_ITEM_TOOL_COLUMNS, values, strict=True)))
        for values, pk in _tool_values(rows)
    ]
    WorkItem.objects.bulk_update(items, WORK_ITEM_TOOL_COLUMNS, batch_size=500)


INSERTS = {
    "raw": (_items_raw, _fixes_raw, _links_raw),
    "django": (_items_django, _fixes_django, _links_django),
}
UPDATES = {
    "raw": _update_raw,
    "django_upsert": _update_django_upsert,
    "django_bulk_update": _update_django_bulk_update,
}


# --- GitLab: 50,000 merge requests -------------------------------------------------------------------

GITLAB_PROJECT = "acme/payments"
GITLAB_PAGE = 100  # merge requests a page and a transaction, as integrations.clients.gitlab.PER_PAGE


def run_gitlab(options, url: str) -> dict:
    from django.core.management import call_command
    from django.db import connection as db

    call_command("migrate", "--noinput", verbosity=0)
    connection = make_gitlab_connection(url, "Bench GitLab")
    e2e = timed_sync(connection)
    e2e["merge_requests_per_second"] = e2e.pop("issues_per_second")
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    resync = unchanged_resync(connection)
    store = compare_pull_request_store(options, connection)
    result = {
        "database": db.vendor,
        "tool": "gitlab",
        "merge_requests": options.merge_requests,
        "end_to_end": e2e,
        "worker_peak_rss_mb": round(rss_mb, 1),
        "unchanged_resync": resync,
        "store_step": store,
        "targets": TARGETS,
    }
    result["met"] = met(e2e, resync, store, rss_mb)
    return result


def make_gitlab_connection(url: str, name: str, *, suffix: str = ""):
    from integrations.models import ApplicationMapping, Connection
    from releases.models import Application, Portfolio, Release

    portfolio = Portfolio.objects.create(name=f"Bench {name}", slug=f"bench-gitlab-{len(name)}{suffix}")
    connection = Connection.objects.create(
        name=name, kind="gitlab", base_url=url, scope={"projects": [GITLAB_PROJECT]}, request_budget=10_000
    )
    connection.credentials = {"token": "sandbox-gitlab-token"}
    connection.save()
    app = Application.objects.create(portfolio=portfolio, name=f"GitLab{suffix}", key=f"GL{suffix}")
    for version in ("4.2", "4.3"):  # the sandbox's milestones
        Release.objects.create(application=app, version=version, target_date="2026-12-01")
    ApplicationMapping.objects.create(connection=connection, application=app, external_key=GITLAB_PROJECT)
    return connection


def gitlab_facts(options, suffix: str):
    """The sync's PullRequestFacts for every merge request, built without HTTP, for application `suffix`."""
    from integrations.parse.gitlab import parse_merge_request
    from integrations.sandbox.gitlab import GitlabDataset
    from integrations.sync.gitlab import _merge_request_facts
    from releases.models import Application

    dataset = GitlabDataset(merge_requests={GITLAB_PROJECT: options.merge_requests})
    app = Application.objects.get(key=f"GL{suffix}")
    merge_requests = [
        parse_merge_request(dataset.merge_request(GITLAB_PROJECT, n))
        for n in range(1, options.merge_requests + 1)
    ]
    facts = []
    for start in range(0, len(merge_requests), GITLAB_PAGE):
        facts += _merge_request_facts(GITLAB_PROJECT, app.pk, merge_requests[start : start + GITLAB_PAGE])
    return facts


def compare_pull_request_store(options, connection) -> dict:
    from django.db import connection as db
    from django.db import transaction

    from integrations.sync.gitlab import STORE_BATCH
    from releases.facts.services.code_host import PULL_REQUEST_FIELDS, pull_requests_upsert
    from releases.models import PullRequest

    def prepared(suffix: str):
        make_gitlab_connection("http://unused", f"Store {suffix}", suffix=suffix)
        return f"bench-gitlab-{suffix}", gitlab_facts(options, suffix)

    source, facts = prepared("O")
    started = time.perf_counter()
    for start in range(0, len(facts), STORE_BATCH):  # a transaction as the sync stores them
        with transaction.atomic():
            pull_requests_upsert(source=source, facts=facts[start : start + STORE_BATCH])
    ours = {"rows": len(facts), "seconds": round(time.perf_counter() - started, 2)}

    source, facts = prepared("N")
    facts = facts[: options.naive_rows]
    started = time.perf_counter()
    for start in range(0, len(facts), GITLAB_PAGE):
        with transaction.atomic():
            for fact in facts[start : start + GITLAB_PAGE]:
                PullRequest.objects.update_or_create(
                    source=source,
                    external_id=fact.external_id,
                    defaults={name: getattr(fact, name) for name in PULL_REQUEST_FIELDS},
                )
    naive = {"rows": len(facts), "seconds": round(time.perf_counter() - started, 2)}

    copy = None
    if db.vendor == "postgresql":
        source, facts = prepared("C")
        columns = ["source", "external_id", *PULL_REQUEST_FIELDS]
        started = time.perf_counter()
        sql = f"COPY releases_pullrequest ({', '.join(columns)}) FROM STDIN"
        with transaction.atomic(), db.cursor() as cursor, cursor.cursor.copy(sql) as stream:
            for fact in facts:
                stream.write_row(
                    [source, *(getattr(fact, name) for name in ["external_id", *PULL_REQUEST_FIELDS])]
                )
        copy = {"rows": len(facts), "seconds": round(time.perf_counter() - started, 2)}

    per_row = {
        name: (r["seconds"] / r["rows"] if r else None)
        for name, r in (("ours", ours), ("naive", naive), ("copy", copy))
    }
    return {
        "ours": ours,
        "naive": naive,
        "copy": copy,
        "naive_over_ours": round(per_row["naive"] / per_row["ours"], 1),
        "ours_over_copy": round(per_row["ours"] / per_row["copy"], 2) if copy else None,
    }


if __name__ == "__main__":
    main()
