"""Sync 100,000 Jira issues from the sandbox end to end, and compare the store step; one JSON object.

    .venv/bin/python bench/sync.py [--issues 100000] [--naive-rows 5000]
    .venv/bin/python bench/sync.py --database-url postgres://postgres@127.0.0.1:5432/flightdeck_sync

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
   Ratios are per row: naive/ours (target >= 20) and ours/COPY (target <= 3).
"""

import argparse
import json
import resource
import subprocess
import sys
import time

from common import REPO, add_instance_options, bench_instance

PROJECTS = ("PAY", "WEB", "APP", "OPS")
TARGETS = {"end_to_end_s": 20, "naive_over_ours": 20, "ours_over_copy": 3, "rss_mb": 250}
PAGE = 1000  # issues per transaction, as integrations.sync.jira.STORE_BATCH


def main() -> None:
    options = parse_args()
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
    parser.add_argument("--issues", type=int, default=100_000)
    parser.add_argument("--naive-rows", type=int, default=5000)
    return parser.parse_args()


def start_sandbox(issues: int) -> tuple[subprocess.Popen, str]:
    command = [sys.executable, "-m", "integrations.sandbox", "--port", "0", "--issues", str(issues)]
    command += ["--projects", ",".join(PROJECTS), "--time-zone", "Europe/Berlin"]
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, text=True)
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
    result = {
        "database": db.vendor,
        "issues": options.issues,
        "end_to_end": e2e,
        "worker_peak_rss_mb": round(rss_mb, 1),
        "unchanged_resync": resync,
        "store_step": store,
        "targets": TARGETS,
    }
    result["met"] = {
        "end_to_end": e2e["seconds"] <= TARGETS["end_to_end_s"],
        "unchanged_resync_writes_0_rows": resync["domain_rows_written"] == 0
        and not resync["write_statements"],
        "naive_over_ours": store["naive_over_ours"] >= TARGETS["naive_over_ours"],
        "ours_over_copy": store["ours_over_copy"] is not None
        and store["ours_over_copy"] <= TARGETS["ours_over_copy"],
        "rss": rss_mb <= TARGETS["rss_mb"],
    }
    return result


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


if __name__ == "__main__":
    main()
