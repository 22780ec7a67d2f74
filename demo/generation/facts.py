"""Tool facts: work items, builds, test runs and deployments, as Jira, Jenkins and GitHub would have them."""

import bisect
import random
from datetime import datetime, timedelta

from demo.catalogue import (
    BUG_TITLES,
    INITIATIVES,
    NOUNS,
    STATUS_NAMES,
    STATUS_NAMES_DE,
    STORY_TITLES,
    TASK_TITLES,
    THEMES,
)
from demo.generation.world import DemoApp, DemoEnv, DemoRelease, World, in_peak_week, pick, utc_at
from releases.gates.services.evidence import SuiteRun
from releases.models import Build, Deployment, ScopeChange, TestRun, WorkItem, WorkItemLink

WORK_ITEM_DAYS = (-90, 120)
BUILD_DAYS = (-60, 35)
DEPLOYMENT_DAYS_BACK = 120
ITEMS_PER_RELEASE = {"major": (6, 12), "minor": (2, 5), "patch": (1, 2)}


def work_items(world: World) -> None:
    """Jira-like issues for releases around the anchor, with fix releases and "blocks" links."""
    rng = world.rng("work_items")
    first, last = (world.anchor + timedelta(days=d) for d in WORK_ITEM_DAYS)
    items, fixes, next_number = [], [], {}
    for r in world.releases:
        if not (first <= r.target <= last or in_peak_week(world, r.target)) or r.status == "cancelled":
            continue
        for _ in range(rng.randint(*ITEMS_PER_RELEASE[r.kind])):
            fixes.append({"workitem_id": len(items), "release_id": r.idx})
            item = _work_item(world, rng, r, next_number)
            _count_in_scope(r, item)
            # Some bugs name the next release too: the fix was finished or backported there.
            later = _next_release(world, r) if item["type"] == "bug" and rng.random() < 0.1 else None
            if later is not None:
                fixes.append({"workitem_id": len(items), "release_id": later.idx})
                _count_in_scope(later, item)
            items.append(item)
    _epics(world, items, next_number)
    _incidents(world, items, fixes, next_number)
    world.add("work_item", WorkItem, items, application_id="application")
    world.add(
        "work_item_fix",
        WorkItem.fix_releases.through,
        fixes,
        "work item fix releases",
        workitem_id="work_item",
        release_id="release",
    )
    world.add(
        "scope_change",
        ScopeChange,
        _scope_history(world, items, fixes),
        "scope history",
        release_id="release",
        work_item_id="work_item",
    )
    world.add(
        "work_item_link",
        WorkItemLink,
        _blocks(rng, len(items)),
        blocker_id="work_item",
        blocked_id="work_item",
    )


EPICS_PER_APPLICATION = 3


def _epics(world: World, items: list[dict], next_number: dict) -> None:
    """Each application's work rolls up to three epics, themes of its portfolio, each labelled with
    one of the company's initiatives. A stream of its own, so the other items stay as they were."""
    rng = world.rng("epics")
    by_app: dict[int, list[dict]] = {}
    for item in items:
        by_app.setdefault(item["application_id"], []).append(item)
    for app_idx, children in sorted(by_app.items()):
        app = world.apps[app_idx]
        themes = THEMES[world.portfolios[app.top].slug]
        epics = []
        for n in range(EPICS_PER_APPLICATION):
            theme_index = (app_idx + n) % len(themes)
            number = next_number[app_idx] = next_number[app_idx] + 1
            epics.append(
                _epic(world, app, number, themes[theme_index], INITIATIVES[theme_index % len(INITIATIVES)])
            )
        for child in children:
            epic = rng.choice(epics)
            child["parent_key"] = epic["key"]
            epic["created_at"] = min(epic["created_at"], child["created_at"])
        items.extend(epics)


def _epic(world: World, app, number: int, theme: str, initiative: str) -> dict:
    return {
        "application_id": app.idx,
        "key": f"{app.spec.key}-{number}",
        "title": theme,
        "type": "epic",
        "status_category": "in_progress",
        "status_name": "In Progress",
        "priority": "High",
        "created_at": world.now,
        "resolved_at": None,
        "updated_at": world.now,
        "descoped": False,
        "labels": initiative,
        "source": "demo",
    }


INCIDENT_DAYS = 120  # incidents after the releases shipped in the last four months


def _incidents(world: World, items: list[dict], fixes: list[dict], next_number: dict) -> None:
    """Production incidents a day or two after some shipped releases (the change failed), and now and
    then one that names no release. A stream of their own, so the other items stay as they were."""
    rng = world.rng("incidents")
    since = world.anchor - timedelta(days=INCIDENT_DAYS)
    for r in world.releases:
        if r.status != "released" or r.actual < since or rng.random() > 0.03:
            continue
        item = _incident(world, rng, r, next_number)
        if rng.random() > 0.15:
            fixes.append({"workitem_id": len(items), "release_id": r.idx})
        items.append(item)


def _incident(world: World, rng: random.Random, r: DemoRelease, next_number: dict) -> dict:
    app = world.apps[r.app]
    number = next_number[app.idx] = next_number.get(app.idx, rng.randint(120, 2400)) + 1
    opened = min(utc_at(r.actual + timedelta(days=rng.randint(0, 2)), rng.randint(8, 22)), world.now)
    resolved = min(opened + timedelta(hours=rng.randint(1, 30)), world.now)
    return {
        "application_id": app.idx,
        "key": f"{app.spec.key}-{number}",
        "title": f"Production incident after {app.spec.key} {r.version}",
        "type": "incident",
        "status_category": "done",
        "status_name": "Resolved",
        "priority": "Highest",
        "created_at": opened,
        "resolved_at": resolved,
        "updated_at": resolved,
        "descoped": False,
        "source": "demo",
    }


def _work_item(world: World, rng: random.Random, r: DemoRelease, next_number: dict) -> dict:
    app = world.apps[r.app]
    slug = world.portfolios[app.top].slug
    if app.idx not in next_number:
        next_number[app.idx] = rng.randint(120, 2400)
    number = next_number[app.idx] = next_number[app.idx] + 1
    kind = pick(rng, (("story", 55), ("bug", 30), ("task", 15)))
    noun = rng.choice(NOUNS[slug])
    title = rng.choice({"story": STORY_TITLES, "bug": BUG_TITLES, "task": TASK_TITLES}[kind])
    category = _item_category(rng, r.status)
    descoped = r.status == "released" and rng.random() < 0.05
    if descoped:
        category = "todo"
    latest = world.now - timedelta(hours=rng.randint(1, 72))
    created = min(utc_at(r.target - timedelta(days=rng.randint(10, 120)), rng.randint(8, 17)), latest)
    resolved = None
    if category == "done":
        finished = utc_at(r.actual or r.target, 9) - timedelta(days=rng.randint(1, 10))
        resolved = max(created + timedelta(hours=4), min(finished, latest))
    names = STATUS_NAMES_DE if slug == "claims" else STATUS_NAMES
    return {
        "application_id": app.idx,
        "key": f"{app.spec.key}-{number}",
        "title": title.format(noun=noun, Noun=noun[0].upper() + noun[1:]),
        "type": kind,
        "status_category": category,
        "status_name": rng.choice(names[category]),
        "priority": pick(rng, (("Highest", 5), ("High", 20), ("Medium", 55), ("Low", 20))),
        "created_at": created,
        "resolved_at": resolved,
        "updated_at": resolved or min(created + timedelta(days=rng.randint(0, 20)), latest),
        "descoped": descoped,
        "source": "demo",
    }


def _count_in_scope(r: DemoRelease, item: dict) -> None:
    if item["descoped"]:
        r.descoped += 1
    else:
        r.in_scope += 1
        r.open_items += item["status_category"] != "done"
    at = item["updated_at"] or item["resolved_at"] or item["created_at"]
    r.scope_at = max(r.scope_at or at, at)


def _item_category(rng: random.Random, status: str) -> str:
    todo, in_progress, done = {
        "released": (0, 0, 100),
        "ready": (0, 0, 100),
        "code_freeze": (5, 10, 85),
        "in_progress": (25, 35, 40),
        "planned": (90, 10, 0),
    }[status]
    return pick(rng, (("todo", todo), ("in_progress", in_progress), ("done", done)))


def _next_release(world: World, r: DemoRelease) -> DemoRelease | None:
    ids = world.apps[r.app].releases
    at = bisect.bisect_right(ids, r.idx)
    return world.releases[ids[at]] if at < len(ids) else None


SCOPE_ADDED_LATE = 0.12  # items of a frozen release that joined it after its code freeze
SCOPE_MOVED_IN = 0.06  # items that left the previous release after its freeze, for this one


def _scope_history(world: World, items: list[dict], fixes: list[dict]) -> list[dict]:
    """How each fix release's scope came to be (releases.models.ScopeChange): most items were in it
    from their creation; some joined after its code freeze; descoped ones left it, most after the
    freeze; and some came over from the application's previous release, which they left after its
    freeze. Nothing happens after the demo's now. A stream of its own, so the other data stay as
    they were."""
    rng = world.rng("scope_history")
    rows = []

    def change(release: int, item: int, kind: str, at: datetime) -> None:
        rows.append({"release_id": release, "work_item_id": item, "kind": kind, "at": at, "recorded_at": at})

    for fix in fixes:
        n, r = fix["workitem_id"], world.releases[fix["release_id"]]
        item = items[n]
        joined = item["created_at"]
        late = _after_freeze(world, rng, r, joined)
        earlier = _previous_release(world, r)
        moved = None
        if earlier is not None and earlier.status != "cancelled":
            moved = _after_freeze(world, rng, earlier, joined)
        if late is not None and rng.random() < SCOPE_ADDED_LATE:
            joined = late
        elif moved is not None and not item["descoped"] and rng.random() < SCOPE_MOVED_IN:
            change(earlier.idx, n, ScopeChange.Kind.ADDED, joined)
            change(earlier.idx, n, ScopeChange.Kind.REMOVED, moved)
            joined = moved
        change(r.idx, n, ScopeChange.Kind.ADDED, joined)
        if item["descoped"]:
            left = _after_freeze(world, rng, r, joined) if rng.random() < 0.6 else None
            span = max(int((min(world.now, utc_at(r.actual or r.target)) - joined).total_seconds()), 3600)
            change(
                r.idx, n, ScopeChange.Kind.REMOVED, left or joined + timedelta(seconds=rng.randint(1, span))
            )
    return rows


def _after_freeze(world: World, rng: random.Random, r: DemoRelease, since: datetime) -> datetime | None:
    """A working hour after the release's code freeze day, up to its shipping day (or now), and after
    `since`; None when there is none (no freeze, or nothing between)."""
    if r.code_freeze is None:
        return None
    last = min(r.actual or world.anchor, world.anchor - timedelta(days=1))
    days = (last - r.code_freeze).days
    if days < 1:
        return None
    moment = utc_at(r.code_freeze + timedelta(days=rng.randint(1, days)), rng.randint(8, 18))
    return moment if since < moment < world.now else None


def _previous_release(world: World, r: DemoRelease) -> DemoRelease | None:
    ids = world.apps[r.app].releases
    at = bisect.bisect_left(ids, r.idx)
    return world.releases[ids[at - 1]] if at > 0 else None


def _blocks(rng: random.Random, count: int) -> list[dict]:
    """About 3% of items are blocked by an earlier item (blockers come first, so there is no cycle)."""
    links, seen = [], set()
    blocked_items = rng.sample(range(1, count), max(1, count * 3 // 100)) if count > 1 else []
    for blocked in blocked_items:
        blocker = rng.randrange(max(0, blocked - 200), blocked)
        if (blocker, blocked) not in seen:
            seen.add((blocker, blocked))
            links.append({"blocker_id": blocker, "blocked_id": blocked})
    return links


def builds_and_test_runs(world: World) -> None:
    """Jenkins-like release-candidate builds, numbered per job in time order, and their regression runs."""
    rng = world.rng("builds")
    first, last = (world.anchor + timedelta(days=d) for d in BUILD_DAYS)
    drafts = []
    for r in world.releases:
        if first <= r.target <= last and r.status not in ("planned", "cancelled"):
            drafts += _release_builds(world, rng, r)
    drafts.sort(key=lambda b: (b["application_id"], b["started_at"]))
    runs, numbers = [], {}
    for n, build in enumerate(drafts):
        app = build["application_id"]
        numbers[app] = (numbers[app] if app in numbers else rng.randint(100, 2000)) + 1
        build["number"] = numbers[app]
        build["url"] = f"https://jenkins.example.com/job/{build['job']}/{numbers[app]}/"
        release = world.releases[build["release_id"]]
        release.last_build = build
        if build["result"] != "failure" or rng.random() < 0.3:
            runs.append(_test_run(world, rng, release, n, build))
    world.add("build", Build, drafts, application_id="application", release_id="release")
    world.add("test_run", TestRun, runs, release_id="release", build_id="build", environment_id="environment")


def _release_builds(world: World, rng: random.Random, r: DemoRelease) -> list[dict]:
    count = 3 if r.kind == "major" else rng.randint(1, 2)
    end = utc_at(min(r.actual or r.target, world.anchor - timedelta(days=1)), 6)
    builds = []
    for n in range(count):
        started = end - timedelta(days=(count - 1 - n) * rng.randint(1, 3), minutes=rng.randint(0, 600))
        builds.append(
            {
                "application_id": r.app,
                "job": f"{world.apps[r.app].spec.key.lower()}-release",
                "result": _build_result(rng, r.status, last=n == count - 1),
                "started_at": started,
                "duration_ms": rng.randint(4, 25) * 60_000,
                "commit": f"{rng.getrandbits(160):040x}",
                "release_id": r.idx,
                "source": "demo",
            }
        )
    return builds


def _build_result(rng: random.Random, status: str, last: bool) -> str:
    if last and status in ("released", "ready"):
        return "success"
    if last and status == "code_freeze":
        return pick(rng, (("success", 80), ("unstable", 10), ("failure", 10)))
    return pick(rng, (("success", 60), ("unstable", 20), ("failure", 20)))


FAILED_TESTS = {"success": (0, 0), "unstable": (1, 25), "failure": (20, 200)}


def _test_run(world: World, rng: random.Random, r: DemoRelease, build_row: int, build: dict) -> dict:
    app = world.apps[r.app]
    env = _test_env(world, app, r.status)
    result = build["result"]
    skipped = rng.randint(0, app.tests // 50)
    failed = rng.randint(*FAILED_TESTS[result])
    errors = rng.randint(5, 50) if result == "failure" else 0
    finished = build["started_at"] + timedelta(milliseconds=build["duration_ms"], minutes=rng.randint(2, 30))
    run = {
        "release_id": r.idx,
        "build_id": build_row,
        "environment_id": env.idx,
        "name": f"Regression ({env.name})",
        "passed": app.tests - skipped - failed - errors,
        "failed": failed,
        "skipped": skipped,
        "errors": errors,
        "duration_ms": app.tests * rng.randint(120, 400),
        "executed_at": finished,
        "source": "demo",
    }
    latest = r.last_runs.get(run["name"])
    if latest is None or finished >= latest.executed_at:
        counts = (run[name] for name in ("passed", "failed", "errors"))
        r.last_runs[run["name"]] = SuiteRun(run["name"], *counts, finished, build["job"], build["number"])
    return run


def _test_env(world: World, app: DemoApp, status: str) -> DemoEnv:
    """Late-stage releases test in their portfolio's UAT, the rest in a SIT environment."""
    uat = world.env(f"UAT-{world.portfolios[app.top].code}")
    if status in ("code_freeze", "ready", "released") and uat is not None:
        return uat
    sits = [e for e in world.envs if e.name.startswith("SIT-")]
    return sits[app.idx % len(sits)]


def deployments(world: World) -> None:
    """Shipped releases went to staging, then production (UK too for Payments and Retail Banking); open
    ones sit in UAT or SIT. The latest successful deployment per (environment, application) is what
    runs where."""
    rng = world.rng("deployments")
    since = world.anchor - timedelta(days=DEPLOYMENT_DAYS_BACK)
    staging, prod_eu, prod_uk = world.env("STAGING-EU"), world.env("PROD-EU"), world.env("PROD-UK")
    uk = [p.idx for p in world.portfolios if p.slug in ("payments", "retail-banking")]
    rows = []
    for r in world.releases:
        app = world.apps[r.app]
        if r.status == "released" and r.actual >= since:
            rows.append(_deployment(staging, r, utc_at(r.actual - timedelta(days=2), 14), "success"))
            for env in (prod_eu, prod_uk if app.top in uk else None):
                if env is not None:
                    rows += _production_deployment(rng, env, r)
        elif r.status in ("code_freeze", "ready", "in_progress") and r.target <= world.anchor + timedelta(
            days=35
        ):
            at = world.now - timedelta(days=rng.randint(1, 6), hours=rng.randint(0, 12))
            status = "success" if rng.random() < 0.9 else "failure"
            rows.append(_deployment(_test_env(world, app, r.status), r, at, status))
    world.add(
        "deployment",
        Deployment,
        rows,
        environment_id="environment",
        application_id="application",
        release_id="release",
    )


def _production_deployment(rng: random.Random, env: DemoEnv, r: DemoRelease) -> list[dict]:
    status = pick(rng, (("success", 96), ("failure", 2), ("rolled_back", 2)))
    rows = [_deployment(env, r, utc_at(r.actual, 19, rng.randrange(60)), status)]
    if status == "failure":  # fixed forward the same evening
        rows.append(_deployment(env, r, utc_at(r.actual, 21, rng.randrange(60)), "success"))
    return rows


def _deployment(env: DemoEnv, r: DemoRelease, at: datetime, status: str) -> dict:
    return {
        "environment_id": env.idx,
        "application_id": r.app,
        "version": r.version,
        "release_id": r.idx,
        "deployed_at": at,
        "status": status,
        "source": "demo",
    }
