"""Releases, their schedule and trains, and the dependencies between them."""

import bisect
import random
from datetime import date, datetime, timedelta

from demo.catalogue import FIXES, LEDGER_KEY, THEMES
from demo.generation.world import DemoApp, DemoRelease, World, in_peak_week, monday_of, pick, utc_at
from portal.roles import RELEASE_MANAGER
from releases.models import Release, ReleaseDependency, ReleaseTrain

PEAK_WEEK_MIN_DAYS_AHEAD = 21
LEDGER_EVERY_WEEKS = 13


def _is_frozen(world: World, portfolio: int, day: date) -> bool:
    return day.toordinal() in world.frozen_days[portfolio]


def releases(world: World) -> None:
    rng = world.rng("releases")
    world.peak_monday = _peak_monday(world)
    ledger_app = next(a for a in world.apps if a.spec.key == LEDGER_KEY)
    drafts = [
        (day, ledger_app.idx, False) for day in _ledger_days(world, ledger_app)
    ]  # (target, app, override)
    apps = [a for a in world.apps if a is not ledger_app]
    cum_weights = [sum(a.spec.weight for a in apps[: i + 1]) for i in range(len(apps))]
    for week, count in enumerate(_weekly_counts(world, rng, len(drafts))):
        monday = world.start + timedelta(weeks=week)
        peak = monday == world.peak_monday
        day_weights = (18, 20, 20, 18, 12, 6, 6) if peak else (20, 24, 24, 20, 8, 2, 2)
        chosen = rng.choices(apps, cum_weights=cum_weights, k=count)
        offsets = rng.choices(range(7), weights=day_weights, k=count)
        drafts += [
            _release_day(world, rng, app, monday, offset) for app, offset in zip(chosen, offsets, strict=True)
        ]
    ordered = sorted(range(len(drafts)), key=lambda n: (drafts[n][0], drafts[n][1], n))
    for idx, n in enumerate(ordered):
        target, app, override = drafts[n]
        world.releases.append(DemoRelease(idx, app, target, override))
        world.apps[app].releases.append(idx)
        world.apps[app].targets.append(target)
    for app in world.apps:
        _version_and_describe(world, rng, app)
    release_managers = world.members(RELEASE_MANAGER)
    for r in world.releases:
        _schedule(world, rng, r, release_managers)
    _keep_one_release_late(world)
    world.peak_count = sum(1 for r in world.releases if in_peak_week(world, r.target))
    _trains(world)
    _emit_releases(world)


def _peak_monday(world: World) -> date:
    """The first Monday three or more weeks ahead whose working days no portfolio has frozen."""
    monday = monday_of(world.anchor + timedelta(days=PEAK_WEEK_MIN_DAYS_AHEAD + 6))
    frozen = set().union(*world.frozen_days.values())
    while any((monday + timedelta(days=d)).toordinal() in frozen for d in range(5)):
        monday += timedelta(weeks=1)
    return monday


def _ledger_days(world: World, ledger: DemoApp) -> list[date]:
    """Quarterly Core Ledger releases, one on the peak Monday; a frozen one moves a week earlier."""
    quarter = timedelta(weeks=LEDGER_EVERY_WEEKS)
    day = world.peak_monday - quarter * ((world.peak_monday - world.start) // quarter)
    days = []
    while day < world.end:
        shipped = day
        while _is_frozen(world, ledger.portfolio, shipped):
            shipped -= timedelta(weeks=1)
        if shipped >= world.start:
            days.append(shipped)
        day += quarter
    return days


def _weekly_counts(world: World, rng: random.Random, fixed: int) -> list[int]:
    """Releases per week: quiet over year-end and in August, busier in quarterly release weeks, growing a
    little over time; the peak week gets its own count, and all weeks sum to the scale's total."""
    weeks = (world.end - world.start).days // 7
    peak = (world.peak_monday - world.start).days // 7
    weights = []
    for week in range(weeks):
        monday = world.start + timedelta(weeks=week)
        weight = (0.85 + 0.3 * week / weeks) * rng.uniform(0.85, 1.15)
        if (monday.month, monday.day) >= (12, 18) or (monday.month, monday.day) <= (1, 3):
            weight *= 0.15
        elif monday.month == 8:
            weight *= 0.75
        if (week - peak) % LEDGER_EVERY_WEEKS == 0:
            weight *= 1.6
        weights.append(0.0 if week == peak else weight)
    remaining = world.scale.releases - world.scale.peak_week_releases - fixed
    counts, cumulative, placed, total = [], 0.0, 0, sum(weights)
    for weight in weights:
        cumulative += weight
        upto = round(remaining * cumulative / total)
        counts.append(upto - placed)
        placed = upto
    counts[peak] = world.scale.peak_week_releases
    return counts


def _release_day(world: World, rng: random.Random, app: DemoApp, monday: date, offset: int) -> tuple:
    """(target, app, override): a day of the week the app's portfolio has not frozen, or else a day
    inside the freeze with an admin's override."""
    for _attempt in range(4):
        day = monday + timedelta(days=offset)
        if not _is_frozen(world, app.portfolio, day):
            return (day, app.idx, False)
        offset = rng.randrange(7)
    return (day, app.idx, True)


def _version_and_describe(world: World, rng: random.Random, app: DemoApp) -> None:
    """Versions in target order: semver with mostly patches, or YYYY.M.N; summaries to match."""
    spec, themes = app.spec, THEMES[world.portfolios[app.top].slug]
    major, minor, patch, serial, month = rng.randint(1, 7), rng.randint(0, 20), rng.randint(0, 5), 0, None
    for n in app.releases:
        r = world.releases[n]
        if spec.scheme == "semver":
            roll = rng.random()
            if roll < 0.004:
                major, minor, patch, r.kind = major + 1, 0, 0, "major"
            elif roll < 0.1:
                minor, patch, r.kind = minor + 1, 0, "minor"
            else:
                patch += 1
            r.version = f"{major}.{minor}.{patch}"
        else:
            serial = serial + 1 if month == (r.target.year, r.target.month) else 0
            month = (r.target.year, r.target.month)
            r.version = f"{r.target.year}.{r.target.month}.{serial}"
            r.kind = "minor" if serial == 0 or rng.random() < 0.08 else "patch"
        if spec.key == LEDGER_KEY:
            r.kind = "major"
            quarter = (r.target.month - 1) // 3 + 1
            r.summary = f"Core Ledger {r.target.year} Q{quarter} release: {rng.choice(themes)}"
        elif r.kind == "major":
            r.summary = f"{spec.name} {major}.0: {rng.choice(themes)}"
        else:
            r.summary = rng.choice(themes if r.kind == "minor" else FIXES)


def _hotfix_summary(summary: str) -> str:
    return summary if summary.startswith("Hotfix: ") else f"Hotfix: {summary[0].lower()}{summary[1:]}"


def _schedule(world: World, rng: random.Random, r: DemoRelease, release_managers: list[int]) -> None:
    """Owner, status, code-freeze and ship dates, from where the target falls relative to the anchor:
    history is shipped (some late, a few cancelled), the next weeks are in flight, the far future planned."""
    anchor, days, app = world.anchor, (r.target - world.anchor).days, world.apps[r.app]
    ledger = app.spec.key == LEDGER_KEY  # the backbone: late sometimes, never cancelled
    deputy = rng.random() < 0.1
    r.owner = rng.choice(release_managers) if deputy else world.portfolios[app.portfolio].manager
    lead = 21 if ledger else rng.randint(3, 10)
    # A patch is made in a hurry (no code freeze) three times in ten, and one in twenty is a hotfix
    # that repairs production: the change failure rate counts the deployment it replaces.
    hurry = rng.random() if r.kind == "patch" else 1.0
    r.hotfix = hurry < 0.05
    r.code_freeze = None if hurry < 0.3 else r.target - timedelta(days=lead)
    r.summary = _hotfix_summary(r.summary) if r.hotfix else r.summary.replace("Hotfix: ", "Fix: ")
    if days < -14 or (days < 0 and rng.random() < 0.85):
        if rng.random() < 0.03 and not ledger:
            r.status = "cancelled"
        else:
            r.status = "released"
            late = rng.choice((1, 1, 1, 2, 2, 3, 5, 8)) if rng.random() < 0.2 else 0
            r.actual = min(r.target + timedelta(days=late), anchor - timedelta(days=1))
        return
    if days < 0:  # late: a gate still holds it (see _gate_status), so it is not ready
        r.status = pick(rng, (("code_freeze", 60), ("in_progress", 40)))
    elif days < 7:
        r.status = pick(rng, (("ready", 45), ("code_freeze", 40), ("in_progress", 15)))
    elif days < 21:
        r.status = pick(rng, (("code_freeze", 25), ("in_progress", 70), ("ready", 5)))
    elif in_peak_week(world, r.target):
        r.status = pick(rng, (("in_progress", 80), ("code_freeze", 15), ("ready", 5)))
    elif days < 60:
        r.status = pick(rng, (("in_progress", 70), ("planned", 29), ("cancelled", 1)))
    else:
        r.status = pick(rng, (("planned", 84), ("in_progress", 15), ("cancelled", 1)))
    if r.status == "cancelled" and ledger:
        r.status = "planned"
    if r.status in ("code_freeze", "ready"):
        r.code_freeze = min(r.code_freeze or r.target, anchor)


def _keep_one_release_late(world: World) -> None:
    """Whatever the scale, the last release due before the anchor has not shipped: the demo always has a
    late release, held by an overdue gate, on its home page."""
    due = [r for r in world.releases if r.target < world.anchor and world.apps[r.app].spec.key != LEDGER_KEY]
    if due:
        late = due[-1]
        late.status, late.actual = "code_freeze", None
        late.code_freeze = min(late.code_freeze or late.target, world.anchor)


def _trains(world: World) -> None:
    """Each Core Ledger week is a quarterly release train per top-level portfolio (the peak is one)."""
    rows, index = [], {}
    ledger = next(a for a in world.apps if a.spec.key == LEDGER_KEY)
    for monday in (monday_of(day) for day in ledger.targets):
        year, week, _ = monday.isocalendar()
        for p in world.portfolios:
            if p.top == p.idx:
                index[(monday, p.idx)] = len(rows)
                rows.append(
                    {
                        "portfolio_id": p.idx,
                        "name": f"{p.name} quarterly release {year}-W{week:02d}",
                        "starts_on": monday,
                        "ends_on": monday + timedelta(days=7),
                    }
                )
    for r in world.releases:
        r.train = index.get((monday_of(r.target), world.apps[r.app].top))
    world.add("release_train", ReleaseTrain, rows, portfolio_id="portfolio")


PLANNING_DAYS = {"major": 120, "minor": 60, "patch": 21}  # how long before its target a release is planned


def _planned_at(world: World, r) -> datetime:
    """When the release was entered: its planning lead before the target, and never after today."""
    return min(
        utc_at(r.target - timedelta(days=PLANNING_DAYS.get(r.kind, 30)), 9), world.now - timedelta(hours=1)
    )


def _emit_releases(world: World) -> None:
    admin = world.user("admin")
    rows = [
        {
            "application_id": r.app,
            "train_id": r.train,
            "version": r.version,
            "summary": r.summary,
            "status": r.status,
            "target_date": r.target,
            "code_freeze_date": r.code_freeze,
            "hotfix": r.hotfix,
            "actual_date": r.actual,
            "created_at": _planned_at(world, r),
            "owner_id": r.owner,
            "freeze_override_by_id": admin if r.override else None,
            "freeze_override_reason": "Regulatory deadline; shipping in the freeze approved by the CAB."
            if r.override
            else "",
        }
        for r in world.releases
    ]
    world.add(
        "release",
        Release,
        rows,
        application_id="application",
        train_id="release_train",
        owner_id="user",
        freeze_override_by_id="user",
    )


def dependencies(world: World) -> None:
    """Every edge points from a release to one earlier in the release list (target order), so the list
    is a topological order and there is no cycle. Many releases wait for the quarterly Core Ledger."""
    rng, rows, seen = world.rng("dependencies"), [], set()
    ledger = next(a for a in world.apps if a.spec.key == LEDGER_KEY)
    for down in world.releases:
        app, wanted = world.apps[down.app], []
        if app.spec.uses_ledger and rng.random() < 0.8:
            up = _latest_before(world, ledger, down, within_days=14)
            if up is not None and up.target < down.target:
                wanted.append((up, f"Needs Core Ledger {up.version} posting interface"))
        for provider in app.needs:
            if rng.random() < 0.12:
                up = _latest_before(world, world.apps[provider], down, within_days=21)
                if up is not None:
                    wanted.append((up, f"Uses the new {world.apps[provider].spec.name} API"))
        for up, note in wanted:
            if (down.idx, up.idx) not in seen and _dependency_plausible(rng, up, down):
                seen.add((down.idx, up.idx))
                kind = "ships_with" if up.target == down.target else "ships_before"
                rows.append({"downstream_id": down.idx, "upstream_id": up.idx, "kind": kind, "note": note})
    world.add("release_dependency", ReleaseDependency, rows, downstream_id="release", upstream_id="release")


def _latest_before(world: World, app: DemoApp, down: DemoRelease, within_days: int) -> DemoRelease | None:
    """The app's last release before `down` in the release list, if targeted within `within_days`."""
    at = bisect.bisect_left(app.releases, down.idx) - 1
    if at < 0:
        return None
    up = world.releases[app.releases[at]]
    return up if (down.target - up.target).days <= within_days else None


def _dependency_plausible(rng: random.Random, up: DemoRelease, down: DemoRelease) -> bool:
    if down.status == "released":  # a shipped release's upstream shipped first
        return up.status == "released" and up.actual <= down.actual
    if down.status == "cancelled":
        return up.status != "cancelled"
    if up.status == "cancelled":
        return rng.random() < 0.2  # a few open releases are blocked by a cancelled upstream
    return True
