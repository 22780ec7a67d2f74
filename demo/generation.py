"""Generation: a realistic release portfolio laid out around an anchor date, built in memory.

`generate()` builds every row from `random.Random` streams seeded by the seed alone: no database, no
clock, no set ordering. The same (scale, seed, anchor) therefore gives the same rows, and
`DemoData.fingerprint()` proves it. demo.seeding inserts them.

The story the data tells, relative to the anchor ("today"): two years of shipped history, a year of
plans, and a quarterly release week a few weeks ahead (1,600+ releases at enterprise scale), most of
whose releases wait for the slow quarterly Core Ledger release.

Where the data must obey a domain rule (freeze windows, a policy's effective gates, gate evidence),
it asks the domain rather than restating the rule.
"""

import bisect
import hashlib
import json
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from django.db import models

from demo.catalogue import (
    APPLICATIONS,
    BUG_TITLES,
    COMPOSITES,
    DEMO_USERS,
    FIXES,
    GLOBAL_REQUIREMENTS,
    LEDGER_KEY,
    NOUNS,
    PORTFOLIO_REQUIREMENTS,
    PORTFOLIOS,
    REJECT_COMMENTS,
    SCALES,
    STATUS_NAMES,
    STATUS_NAMES_DE,
    STORY_TITLES,
    TASK_TITLES,
    TEAM_USERS,
    THEMES,
    WAIVER_REASONS,
    AppSpec,
    Scale,
)
from portal.roles import ENVIRONMENT_ADMIN, RELEASE_MANAGER, ROLES
from releases.models import (
    Application,
    Booking,
    Build,
    Deployment,
    Environment,
    EnvironmentComponent,
    FreezeWindow,
    Gate,
    GatePolicy,
    GateRequirement,
    Portfolio,
    Release,
    ReleaseDependency,
    ReleaseTrain,
    SignOff,
    TestRun,
    WorkItem,
    WorkItemLink,
)
from releases.services.bookings import occurrences, peak, portfolio_chain
from releases.services.evidence import NO_EVIDENCE, SuiteRun, build_evidence, qa_evidence, scope_evidence
from releases.services.forecasting import freeze_days
from releases.services.gates import Layers, overlay

# Windows around the anchor, in days. Older releases predate the gate policy and the tool sync.
GATE_DAYS_BACK = 90
WORK_ITEM_DAYS = (-90, 120)
BUILD_DAYS = (-60, 35)
DEPLOYMENT_DAYS_BACK = 120
HISTORY_WEEKS, PLAN_WEEKS = 104, 52
PEAK_WEEK_MIN_DAYS_AHEAD = 21
LEDGER_EVERY_WEEKS = 13

# --- the generated dataset ----------------------------------------------------------------------


@dataclass
class Table:
    """Rows (dicts of attnames) for one model. A foreign-key column named in `refs` holds an index
    into the rows stored under `refs[column]`; the insert swaps it for the primary key of that row."""

    key: str  # the name other tables refer to; two tables may share it (parents, then children)
    model: type[models.Model]
    rows: list[dict]
    refs: dict[str, str]
    label: str  # the name in the counts

    def __post_init__(self):
        self.label = self.label or str(self.model._meta.verbose_name_plural)


@dataclass
class DemoData:
    scale: str
    seed: int
    anchor: date
    users: list[dict]  # DEMO_USERS then TEAM_USERS; tables refer to them by position ("user")
    tables: list[Table]  # in insertion order: parents before children
    peak_week: date
    peak_week_releases: int

    def rows(self, key: str) -> list[dict]:
        return [row for t in self.tables if t.key == key for row in t.rows]

    def counts(self) -> dict[str, int]:
        counts = {"users": len(self.users)}
        for t in self.tables:
            counts[t.label] = counts.get(t.label, 0) + len(t.rows)
        return counts

    def fingerprint(self) -> str:
        """SHA-256 over every generated row: equal fingerprints mean identical data."""
        digest = hashlib.sha256(repr((self.scale, self.seed, self.anchor, self.users)).encode())
        for t in self.tables:
            digest.update(repr((t.key, t.model._meta.label, t.refs)).encode())
            for row in t.rows:
                digest.update(repr(row).encode())
        return digest.hexdigest()


def generate(*, scale: str, seed: int, anchor: date) -> DemoData:
    """Build the whole demo dataset in memory. Pure: the same arguments give the same rows."""
    world = _World(SCALES[scale], seed, anchor)
    for step in (
        _people_and_portfolios,
        _applications,
        _environments,
        _gate_policies,
        _freeze_windows,
        _releases,
        _dependencies,
        _work_items,
        _builds_and_test_runs,
        _gates_and_sign_offs,
        _bookings,
        _deployments,
    ):
        step(world)
    return DemoData(scale, seed, anchor, world.users, world.tables, world.peak_monday, world.peak_count)


# --- generation ---------------------------------------------------------------------------------


@dataclass(slots=True)
class _Portfolio:
    idx: int
    name: str
    slug: str
    code: str
    top: int  # itself, or a programme's parent portfolio
    manager: int = 0  # user index of its release manager


@dataclass(slots=True)
class _App:
    idx: int
    spec: AppSpec
    portfolio: int
    top: int
    needs: list[int]
    tests: int  # size of the regression suite
    releases: list[int] = field(default_factory=list)  # release indexes, in target order
    targets: list[date] = field(default_factory=list)  # their target dates, for bisect


@dataclass(slots=True)
class _Release:
    idx: int
    app: int
    target: date
    override: bool  # targeted inside a freeze, with an admin's override
    version: str = ""
    kind: str = "patch"  # major, minor or patch: drives the summary and the amount of work
    summary: str = ""
    status: str = "planned"
    code_freeze: date | None = None
    actual: date | None = None
    owner: int = 0
    train: int | None = None
    last_runs: dict[str, SuiteRun] = field(default_factory=dict)  # the latest run of each suite
    last_build: dict | None = None  # the latest build row
    # Its work items, counted as releases.services.evidence counts them for scope gates.
    in_scope: int = 0
    open_items: int = 0
    descoped: int = 0
    scope_at: datetime | None = None


@dataclass(slots=True)
class _Env:
    idx: int
    name: str
    kind: str
    capacity: int
    bookable: bool
    portfolio: int | None
    components: list[int] = field(default_factory=list)


class _World:
    """Everything generated so far, shared by the generation steps."""

    def __init__(self, scale: Scale, seed: int, anchor: date):
        self.scale, self.seed, self.anchor = scale, seed, anchor
        self.now = utc_at(anchor)  # the start of the anchor day: everything "past" happened before it
        self.start = _monday(anchor) - timedelta(weeks=HISTORY_WEEKS)
        self.end = _monday(anchor) + timedelta(weeks=PLAN_WEEKS)
        self.tables: list[Table] = []
        self.users = [dict(u) for u in DEMO_USERS + TEAM_USERS]
        self.portfolios: list[_Portfolio] = []
        self.apps: list[_App] = []
        self.envs: list[_Env] = []
        self.releases: list[_Release] = []
        self.requirements: dict[int, list[tuple[int, dict]]] = {}  # per portfolio: (row index, requirement)
        self.frozen_days: dict[int, set[int]] = {}  # per portfolio: date ordinals its releases avoid
        self.booking_freezes: dict[int | None, list[FreezeWindow]] = {}  # per environment (None: global)
        self.peak_monday, self.peak_count = anchor, 0

    def rng(self, step: str) -> random.Random:
        """One stream per step, so a change in one step leaves the other steps' data alone."""
        return random.Random(f"flightdeck-demo:{self.seed}:{step}")

    def add(self, key: str, model, rows: list[dict], label: str = "", **refs: str) -> None:
        self.tables.append(Table(key, model, rows, refs, label))

    def user(self, username: str) -> int:
        return next(i for i, u in enumerate(self.users) if u["username"] == username)

    def members(self, role: str) -> list[int]:
        return [i for i, u in enumerate(self.users) if u["role"] == role]

    def parents(self) -> dict[int, int | None]:
        """Each portfolio's parent, as the domain's ancestry walks take them."""
        return {p.idx: None if p.top == p.idx else p.top for p in self.portfolios}

    def portfolio(self, slug: str) -> _Portfolio | None:
        return next((p for p in self.portfolios if p.slug == slug), None)

    def env(self, name: str) -> _Env | None:
        return next((e for e in self.envs if e.name == name), None)


def _people_and_portfolios(world: _World) -> None:
    tier = world.scale.tier
    tops = [p for p in PORTFOLIOS if p[3] is None and p[4] <= tier]
    programmes = [p for p in PORTFOLIOS if p[3] is not None and p[4] <= tier]
    slugs = [p[1] for p in tops + programmes]
    managers = world.members(RELEASE_MANAGER)  # "rm" first: the demo user runs Payments
    for i, (name, slug, code, parent, _tier) in enumerate(tops + programmes):
        top = i if parent is None else slugs.index(parent)
        manager = managers[i % len(managers)] if parent is None else world.portfolios[top].manager
        world.portfolios.append(_Portfolio(i, name, slug, code, top, manager))
    rows = [{"name": p.name, "slug": p.slug, "parent_id": None} for p in world.portfolios[: len(tops)]]
    world.add("portfolio", Portfolio, rows)
    rows = [{"name": p.name, "slug": p.slug, "parent_id": p.top} for p in world.portfolios[len(tops) :]]
    world.add("portfolio", Portfolio, rows, parent_id="portfolio")
    owners = [{"portfolio_id": p.idx, "user_id": p.manager} for p in world.portfolios]
    world.add(
        "portfolio_owner",
        Portfolio.owners.through,
        owners,
        "portfolio owners",
        portfolio_id="portfolio",
        user_id="user",
    )


def _applications(world: _World) -> None:
    rng = world.rng("applications")
    specs = [s for s in APPLICATIONS if s.tier <= world.scale.tier]
    keys = [s.key for s in specs]
    for i, spec in enumerate(specs):
        portfolio = world.portfolio(spec.portfolio)
        needs = [keys.index(k) for k in spec.needs if k in keys]
        tests = rng.randrange(400, 5000, 50)
        world.apps.append(_App(i, spec, portfolio.idx, portfolio.top, needs, tests))
    rows = [
        {
            "portfolio_id": a.portfolio,
            "name": a.spec.name,
            "key": a.spec.key,
            "criticality": a.spec.criticality,
            "release_cadence": a.spec.cadence,
            "description": _app_description(a.spec),
        }
        for a in world.apps
    ]
    world.add("application", Application, rows, portfolio_id="portfolio")


def _app_description(spec: AppSpec) -> str:
    versions = "date-based versions (YYYY.M.N)" if spec.scheme == "calver" else "semantic versions"
    return f"{spec.name}: {spec.cadence.replace('_', ' ')} releases, {versions}."


def _environments(world: _World) -> None:
    """Exclusive SIT and UAT, shared QA and integration, perf labs, staging, production (not bookable),
    and composite end-to-end environments that book their components."""
    tier, rows = world.scale.tier, []

    def env(name, kind, capacity=1, bookable=True, portfolio=None, description=""):
        world.envs.append(_Env(len(world.envs), name, kind, capacity, bookable, portfolio))
        rows.append(
            {
                "name": name,
                "kind": kind,
                "capacity": capacity,
                "bookable": bookable,
                "owner_group_id": ROLES.index(ENVIRONMENT_ADMIN),
                "description": description,
            }
        )

    env("DEV-SHARED", "dev", 20, False, description="Shared development cluster.")
    if tier >= 2:
        env("CI-SANDBOX", "dev", 8, False, description="Ephemeral CI namespaces.")
    for i in range(1, world.scale.sit_environments + 1):
        env(f"SIT-{i:02d}", "test", description="System integration test.")
    env("INT-SHARED", "test", 3, description="Shared integration environment for contract tests.")
    for p in world.portfolios:
        if p.top == p.idx:
            env(f"UAT-{p.code}", "uat", portfolio=p.idx, description=f"User acceptance testing for {p.name}.")
            if tier >= 3:
                env(f"UAT-{p.code}-2", "uat", portfolio=p.idx, description=f"Second UAT stream for {p.name}.")
                env(f"QA-{p.code}", "test", 3, portfolio=p.idx, description=f"Shared QA for {p.name}.")
    for i in range(1, {1: 1, 2: 2, 3: 4}[tier] + 1):
        env(f"PERF-{i:02d}", "perf", description="Production-sized performance lab.")
    env("STAGING-EU", "staging", description="Last stop before production, EU region.")
    env("PROD-EU", "prod", bookable=False, description="Production, EU region.")
    if tier >= 2:
        env("STAGING-UK", "staging", description="Last stop before production, UK region.")
        env("PROD-UK", "prod", bookable=False, description="Production, UK region.")
    if tier >= 3:
        env("DR-EU", "prod", bookable=False, description="Disaster recovery site.")
        for i in range(1, 5):
            env(f"TRAINING-{i:02d}", "uat", 2, description="Training for branch and call-centre staff.")
    links = []
    for name, parts in COMPOSITES:
        components = [world.env(part) for part in parts]
        if all(components):
            env(name, "uat", description=f"End-to-end environment; books {', '.join(parts)}.")
            world.envs[-1].components = [c.idx for c in components]
            links += [{"composite_id": world.envs[-1].idx, "component_id": c.idx} for c in components]
    world.add("environment", Environment, rows, owner_group_id="group")
    world.add(
        "environment_component",
        EnvironmentComponent,
        links,
        "environment components",
        composite_id="environment",
        component_id="environment",
    )


def _gate_policies(world: _World) -> None:
    """One global policy plus a few portfolio policies; a programme follows its parent's policy."""
    policies = [{"portfolio_id": None, "name": "Group release policy"}]
    requirements = [(0, r) for r in GLOBAL_REQUIREMENTS]  # (policy index, requirement)
    for slug, extra in PORTFOLIO_REQUIREMENTS.items():
        portfolio = world.portfolio(slug)
        if portfolio is not None:
            policies.append({"portfolio_id": portfolio.idx, "name": f"{portfolio.name} release policy"})
            requirements += [(len(policies) - 1, r) for r in extra]
    world.add("gate_policy", GatePolicy, policies, portfolio_id="portfolio")
    rows = [
        {
            "policy_id": policy,
            "kind": r["kind"],
            "name": r["name"],
            "signer_group_id": r["group"],
            "approvals_required": r["approvals"],
            "criteria": r["criteria"],
            "due_days_before_target": r["due"],
        }
        for policy, r in requirements
    ]
    world.add("gate_requirement", GateRequirement, rows, policy_id="gate_policy", signer_group_id="group")
    # Each portfolio's effective requirements, overlaid as the domain overlays them: the global
    # policy, then its parents', then its own, the nearest with the same (kind, name) winning.
    objs = [GateRequirement(**row) for row in rows]
    own: dict[int | None, list[GateRequirement]] = {}
    for obj, (policy, _r) in zip(objs, requirements, strict=True):
        own.setdefault(policies[policy]["portfolio_id"], []).append(obj)
    layers = Layers(world.parents(), {row["portfolio_id"]: GatePolicy(**row) for row in policies}, own)
    row_of = {id(obj): n for n, obj in enumerate(objs)}
    for p in world.portfolios:
        effective = (row_of[id(layered.requirement)] for layered in overlay(p.idx, layers))
        world.requirements[p.idx] = [(n, requirements[n][1]) for n in effective]


def _freeze(scope, starts_at, ends_at, reason, portfolio=None, environment=None, rrule="") -> dict:
    return {
        "scope": scope,
        "portfolio_id": portfolio,
        "environment_id": environment,
        "starts_at": starts_at,
        "ends_at": ends_at,
        "reason": reason,
        "rrule": rrule,
    }


def _freeze_windows(world: _World) -> None:
    """Global year-end freezes, portfolio freezes (one recurring by RRULE) and environment freezes;
    then the days each portfolio's releases avoid and the intervals bookings avoid."""
    a, rows, years = world.anchor, [], range(world.start.year - 1, world.end.year + 1)
    for year in years:
        if _overlaps_window(world, date(year, 12, 18), date(year + 1, 1, 4)):
            rows.append(
                _freeze(
                    "global",
                    utc_at(date(year, 12, 18)),
                    utc_at(date(year + 1, 1, 4)),
                    "Year-end change freeze",
                )
            )
    payments = world.portfolio("payments").idx
    for year in years:
        thanksgiving = _nth_weekday(year, 11, 3, 4)
        if not _overlaps_window(world, thanksgiving - timedelta(days=1), thanksgiving + timedelta(days=6)):
            continue
        rows.append(
            _freeze(
                "portfolio",
                utc_at(thanksgiving - timedelta(days=1)),
                utc_at(thanksgiving + timedelta(days=6)),
                "Black Friday and Cyber Monday trading peak",
                portfolio=payments,
            )
        )
    saturday = _nth_weekday(world.start.year, world.start.month, 5, 1)
    rows.append(
        _freeze(
            "portfolio",
            utc_at(saturday),
            utc_at(saturday + timedelta(days=2)),
            "Monthly infrastructure patching weekend",
            portfolio=world.portfolio("core-platforms").idx,
            rrule="FREQ=MONTHLY;BYDAY=1SA",
        )
    )
    if retail := world.portfolio("retail-banking"):
        friday = a + timedelta(days=42 + (4 - a.weekday()) % 7)
        rows.append(
            _freeze(
                "portfolio",
                utc_at(friday, 18),
                utc_at(friday + timedelta(days=3), 6),
                "Base-rate change weekend",
                portfolio=retail.idx,
            )
        )
    if claims := world.portfolio("claims"):
        rows.append(
            _freeze(
                "portfolio",
                utc_at(a - timedelta(days=75)),
                utc_at(a - timedelta(days=68)),
                "Storm season readiness",
                portfolio=claims.idx,
            )
        )
    for name, first, last, reason in [
        ("PERF-01", 9, 11, "Storage array upgrade"),
        ("UAT-PAY", -30, -28, "Data refresh from production"),
    ]:
        rows.append(
            _freeze(
                "environment",
                utc_at(a + timedelta(days=first)),
                utc_at(a + timedelta(days=last)),
                reason,
                environment=world.env(name).idx,
            )
        )
    world.add("freeze_window", FreezeWindow, rows, portfolio_id="portfolio", environment_id="environment")
    _index_freezes(world, rows)


def _overlaps_window(world: _World, first: date, end: date) -> bool:
    return first < world.end and world.start < end


def _index_freezes(world: _World, rows: list[dict]) -> None:
    """The days each portfolio's releases avoid and the windows each environment's bookings avoid, by
    the domain's rules: a day is frozen when any part of an occurrence is (freeze_days, as the forecast
    and the release-target check count it), and a portfolio's freeze holds its programmes too
    (portfolio_chain)."""
    days_by_scope: dict[int | None, set[int]] = {}  # portfolio index (None: global) -> date ordinals
    for row in rows:
        window = FreezeWindow(**row)
        if row["scope"] == "environment":
            world.booking_freezes.setdefault(row["environment_id"], []).append(window)
            continue
        if row["scope"] == "global":
            world.booking_freezes.setdefault(None, []).append(window)
        days = days_by_scope.setdefault(row["portfolio_id"], set())
        for first, day_after in freeze_days(window, today=world.anchor):
            days.update(range(first.toordinal(), day_after.toordinal()))
    parents = world.parents()
    for p in world.portfolios:
        scopes = (None, *portfolio_chain(p.idx, parents))
        world.frozen_days[p.idx] = set().union(*(days_by_scope.get(s, set()) for s in scopes))


def _is_frozen(world: _World, portfolio: int, day: date) -> bool:
    return day.toordinal() in world.frozen_days[portfolio]


def _releases(world: _World) -> None:
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
        world.releases.append(_Release(idx, app, target, override))
        world.apps[app].releases.append(idx)
        world.apps[app].targets.append(target)
    for app in world.apps:
        _version_and_describe(world, rng, app)
    release_managers = world.members(RELEASE_MANAGER)
    for r in world.releases:
        _schedule(world, rng, r, release_managers)
    _keep_one_release_late(world)
    world.peak_count = sum(1 for r in world.releases if _in_peak_week(world, r.target))
    _trains(world)
    _emit_releases(world)


def _in_peak_week(world: _World, day: date) -> bool:
    return 0 <= (day - world.peak_monday).days < 7


def _peak_monday(world: _World) -> date:
    """The first Monday three or more weeks ahead whose working days no portfolio has frozen."""
    monday = _monday(world.anchor + timedelta(days=PEAK_WEEK_MIN_DAYS_AHEAD + 6))
    frozen = set().union(*world.frozen_days.values())
    while any((monday + timedelta(days=d)).toordinal() in frozen for d in range(5)):
        monday += timedelta(weeks=1)
    return monday


def _ledger_days(world: _World, ledger: _App) -> list[date]:
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


def _weekly_counts(world: _World, rng: random.Random, fixed: int) -> list[int]:
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


def _release_day(world: _World, rng: random.Random, app: _App, monday: date, offset: int) -> tuple:
    """(target, app, override): a day of the week the app's portfolio has not frozen, or else a day
    inside the freeze with an admin's override."""
    for _attempt in range(4):
        day = monday + timedelta(days=offset)
        if not _is_frozen(world, app.portfolio, day):
            return (day, app.idx, False)
        offset = rng.randrange(7)
    return (day, app.idx, True)


def _version_and_describe(world: _World, rng: random.Random, app: _App) -> None:
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


def _schedule(world: _World, rng: random.Random, r: _Release, release_managers: list[int]) -> None:
    """Owner, status, code-freeze and ship dates, from where the target falls relative to the anchor:
    history is shipped (some late, a few cancelled), the next weeks are in flight, the far future planned."""
    anchor, days, app = world.anchor, (r.target - world.anchor).days, world.apps[r.app]
    ledger = app.spec.key == LEDGER_KEY  # the backbone: late sometimes, never cancelled
    deputy = rng.random() < 0.1
    r.owner = rng.choice(release_managers) if deputy else world.portfolios[app.portfolio].manager
    lead = 21 if ledger else rng.randint(3, 10)
    hotfix = r.kind == "patch" and rng.random() < 0.3
    r.code_freeze = None if hotfix else r.target - timedelta(days=lead)
    if days < -14 or (days < 0 and rng.random() < 0.85):
        if rng.random() < 0.03 and not ledger:
            r.status = "cancelled"
        else:
            r.status = "released"
            late = rng.choice((1, 1, 1, 2, 2, 3, 5, 8)) if rng.random() < 0.2 else 0
            r.actual = min(r.target + timedelta(days=late), anchor - timedelta(days=1))
        return
    if days < 0:  # late: a gate still holds it (see _gate_status), so it is not ready
        r.status = _pick(rng, (("code_freeze", 60), ("in_progress", 40)))
    elif days < 7:
        r.status = _pick(rng, (("ready", 45), ("code_freeze", 40), ("in_progress", 15)))
    elif days < 21:
        r.status = _pick(rng, (("code_freeze", 25), ("in_progress", 70), ("ready", 5)))
    elif _in_peak_week(world, r.target):
        r.status = _pick(rng, (("in_progress", 80), ("code_freeze", 15), ("ready", 5)))
    elif days < 60:
        r.status = _pick(rng, (("in_progress", 70), ("planned", 29), ("cancelled", 1)))
    else:
        r.status = _pick(rng, (("planned", 84), ("in_progress", 15), ("cancelled", 1)))
    if r.status == "cancelled" and ledger:
        r.status = "planned"
    if r.status in ("code_freeze", "ready"):
        r.code_freeze = min(r.code_freeze or r.target, anchor)


def _keep_one_release_late(world: _World) -> None:
    """Whatever the scale, the last release due before the anchor has not shipped: the demo always has a
    late release, held by an overdue gate, on its home page."""
    due = [r for r in world.releases if r.target < world.anchor and world.apps[r.app].spec.key != LEDGER_KEY]
    if due:
        late = due[-1]
        late.status, late.actual = "code_freeze", None
        late.code_freeze = min(late.code_freeze or late.target, world.anchor)


def _trains(world: _World) -> None:
    """Each Core Ledger week is a quarterly release train per top-level portfolio (the peak is one)."""
    rows, index = [], {}
    ledger = next(a for a in world.apps if a.spec.key == LEDGER_KEY)
    for monday in (_monday(day) for day in ledger.targets):
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
        r.train = index.get((_monday(r.target), world.apps[r.app].top))
    world.add("release_train", ReleaseTrain, rows, portfolio_id="portfolio")


def _emit_releases(world: _World) -> None:
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
            "actual_date": r.actual,
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


def _dependencies(world: _World) -> None:
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


def _latest_before(world: _World, app: _App, down: _Release, within_days: int) -> _Release | None:
    """The app's last release before `down` in the release list, if targeted within `within_days`."""
    at = bisect.bisect_left(app.releases, down.idx) - 1
    if at < 0:
        return None
    up = world.releases[app.releases[at]]
    return up if (down.target - up.target).days <= within_days else None


def _dependency_plausible(rng: random.Random, up: _Release, down: _Release) -> bool:
    if down.status == "released":  # a shipped release's upstream shipped first
        return up.status == "released" and up.actual <= down.actual
    if down.status == "cancelled":
        return up.status != "cancelled"
    if up.status == "cancelled":
        return rng.random() < 0.2  # a few open releases are blocked by a cancelled upstream
    return True


ITEMS_PER_RELEASE = {"major": (6, 12), "minor": (2, 5), "patch": (1, 2)}


def _work_items(world: _World) -> None:
    """Jira-like issues for releases around the anchor, with fix releases and "blocks" links."""
    rng = world.rng("work_items")
    first, last = (world.anchor + timedelta(days=d) for d in WORK_ITEM_DAYS)
    items, fixes, next_number = [], [], {}
    for r in world.releases:
        if not (first <= r.target <= last or _in_peak_week(world, r.target)) or r.status == "cancelled":
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
        "work_item_link",
        WorkItemLink,
        _blocks(rng, len(items)),
        blocker_id="work_item",
        blocked_id="work_item",
    )


def _work_item(world: _World, rng: random.Random, r: _Release, next_number: dict) -> dict:
    app = world.apps[r.app]
    slug = world.portfolios[app.top].slug
    if app.idx not in next_number:
        next_number[app.idx] = rng.randint(120, 2400)
    number = next_number[app.idx] = next_number[app.idx] + 1
    kind = _pick(rng, (("story", 55), ("bug", 30), ("task", 15)))
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
        "priority": _pick(rng, (("Highest", 5), ("High", 20), ("Medium", 55), ("Low", 20))),
        "created_at": created,
        "resolved_at": resolved,
        "updated_at": resolved or min(created + timedelta(days=rng.randint(0, 20)), latest),
        "descoped": descoped,
        "source": "demo",
    }


def _count_in_scope(r: _Release, item: dict) -> None:
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
    return _pick(rng, (("todo", todo), ("in_progress", in_progress), ("done", done)))


def _next_release(world: _World, r: _Release) -> _Release | None:
    ids = world.apps[r.app].releases
    at = bisect.bisect_right(ids, r.idx)
    return world.releases[ids[at]] if at < len(ids) else None


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


def _builds_and_test_runs(world: _World) -> None:
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


def _release_builds(world: _World, rng: random.Random, r: _Release) -> list[dict]:
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
        return _pick(rng, (("success", 80), ("unstable", 10), ("failure", 10)))
    return _pick(rng, (("success", 60), ("unstable", 20), ("failure", 20)))


FAILED_TESTS = {"success": (0, 0), "unstable": (1, 25), "failure": (20, 200)}


def _test_run(world: _World, rng: random.Random, r: _Release, build_row: int, build: dict) -> dict:
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


def _test_env(world: _World, app: _App, status: str) -> _Env:
    """Late-stage releases test in their portfolio's UAT, the rest in a SIT environment."""
    uat = world.env(f"UAT-{world.portfolios[app.top].code}")
    if status in ("code_freeze", "ready", "released") and uat is not None:
        return uat
    sits = [e for e in world.envs if e.name.startswith("SIT-")]
    return sits[app.idx % len(sits)]


def _gates_and_sign_offs(world: _World) -> None:
    """Gates from the portfolio's effective policy for the releases under way and those shipped since
    the policy took effect, with the latest evidence (test run, build, work items) and the human
    sign-offs. Planned releases get theirs from the first policy change (the propagation task): at
    enterprise scale they would add 51,000 rows to the seed's slowest stage."""
    rng = world.rng("gates")
    since = world.anchor - timedelta(days=GATE_DAYS_BACK)
    gates, sign_offs = [], []
    for r in world.releases:
        if r.status in ("planned", "cancelled") or (r.status == "released" and r.target < since):
            continue
        for requirement_row, req in world.requirements[world.apps[r.app].portfolio]:
            gate = _gate(world, rng, r, requirement_row, req)
            signed = _sign_offs(world, rng, r, req, gate)
            sign_offs += [s | {"gate_id": len(gates)} for s in signed]
            gates.append(gate)
    world.add(
        "gate",
        Gate,
        gates,
        release_id="release",
        requirement_id="gate_requirement",
        signer_group_id="group",
        waived_by_id="user",
    )
    world.add("sign_off", SignOff, sign_offs, gate_id="gate", signer_id="user")


def _gate(world: _World, rng: random.Random, r: _Release, requirement_row: int, req: dict) -> dict:
    due = r.target - timedelta(days=req["due"])
    evidence = _evidence(r, req)
    status = _gate_status(rng, r, req, due < world.anchor, evidence, late=r.target < world.anchor)
    decided_day = min(due, r.actual or due, world.anchor - timedelta(days=1)) - timedelta(
        days=rng.randint(0, 3)
    )
    waived = status == "waived"
    return {
        "release_id": r.idx,
        "requirement_id": requirement_row,
        "kind": req["kind"],
        "name": req["name"],
        "status": status,
        "due_date": due,
        "signer_group_id": req["group"],
        "approvals_required": req["approvals"],
        "decided_at": None
        if status == "pending"
        else utc_at(decided_day, rng.randint(10, 17), rng.randrange(60)),
        **evidence,
        "waived_by_id": world.user("admin") if waived else None,
        "waiver_reason": rng.choice(WAIVER_REASONS) if waived else "",
    }


def _evidence(r: _Release, req: dict) -> dict:
    """The latest automatic evidence, computed by the same rules as releases.services.evidence (so a
    refresh of the seeded gates finds nothing to change)."""
    criteria, kind = req["criteria"], req["kind"]
    if kind == "qa":
        evidence = qa_evidence(criteria, list(r.last_runs.values()))
    elif kind == "build":
        build = r.last_build
        evidence = (
            NO_EVIDENCE
            if build is None
            else build_evidence(
                criteria,
                **{name: build[name] for name in ("job", "number", "result", "started_at", "duration_ms")},
            )
        )
    elif kind == "scope":
        evidence = scope_evidence(
            criteria, in_scope=r.in_scope, open_items=r.open_items, descoped=r.descoped, at=r.scope_at
        )
    else:
        evidence = NO_EVIDENCE
    return evidence.as_fields()


def _gate_status(
    rng: random.Random, r: _Release, req: dict, overdue: bool, evidence: dict, late: bool
) -> str:
    if r.status == "released" or (r.status == "ready" and req["approvals"]):
        return "waived" if req["kind"] != "security" and rng.random() < 0.03 else "passed"
    if req["approvals"] == 0:  # decided by its evidence alone, as long as the release is open
        return {True: "passed", False: "failed", None: "pending"}[evidence["evidence_ok"]]
    if late and req["kind"] == "security":  # what holds a release past its target
        return _pick(rng, (("failed", 50), ("pending", 50)))
    if overdue:
        return _pick(rng, (("passed", 80), ("failed", 8), ("pending", 12)))
    return _pick(rng, (("passed", 15), ("failed", 3), ("pending", 82)))


def _sign_offs(world: _World, rng: random.Random, r: _Release, req: dict, gate: dict) -> list[dict]:
    """All the approvals of a passed gate, the rejection of a failed one, and half a quorum for some
    pending ones. Signers are members of the gate's group, never the release's own owner."""
    status = gate["status"]
    if req["group"] is None or status == "waived":
        return []
    if status == "passed":
        decisions = ["approve"] * req["approvals"]
    elif status == "failed":
        decisions = ["reject"]
    elif req["approvals"] > 1 and rng.random() < 0.4:
        decisions = ["approve"]  # waiting for the second reviewer
    else:
        return []
    signers = [u for u in world.members(ROLES[req["group"]]) if u != r.owner]
    rng.shuffle(signers)
    last = gate["decided_at"] or world.now - timedelta(days=rng.randint(1, 3), hours=rng.randint(1, 8))
    release = f"{world.apps[r.app].spec.key} {r.version}"
    rows = []
    for n, (signer, decision) in enumerate(zip(signers, decisions, strict=False)):
        state = {"release": release, "target": r.target.isoformat(), "gate": req["name"], "approvals": n}
        rows.append(
            {
                "signer_id": signer,
                "signer_name": world.users[signer]["full_name"],
                "decision": decision,
                "meaning": f"I have reviewed {release} against the {req['name']} criteria and {decision} it.",
                "comment": rng.choice(REJECT_COMMENTS) if decision == "reject" else "",
                "signed_at": last - timedelta(hours=2 * (len(decisions) - n), minutes=rng.randrange(60)),
                "reauthenticated": True,
                "state_hash": hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest(),
            }
        )
    return rows


def _bookings(world: _World) -> None:
    """Requests per environment, decided in start order: a request is approved only where it fits the
    environment's capacity by the domain's count (releases.services.bookings.peak), so approved
    bookings never exceed capacity at any instant. A composite's booking must fit every component
    too, and books them as its parts."""
    rng = world.rng("bookings")
    candidates = []
    for env in world.envs:
        if env.bookable:
            candidates += _booking_candidates(world, rng, env)
    candidates.sort(key=lambda c: (c[0], c[1], c[2]))
    running: dict[int, list[tuple]] = {env.idx: [] for env in world.envs}  # approved, not yet ended
    bookings, parts = [], []
    for starts_at, env_idx, _seq, ends_at in candidates:
        env = world.envs[env_idx]
        override = _booking_freeze(world, rng, env, starts_at, ends_at)
        if override is None:
            continue
        booking = _booking(world, rng, env, starts_at, ends_at, running, override)
        parts += [
            booking
            | {"part_of_id": len(bookings), "environment_id": c, "exclusive": world.envs[c].capacity == 1}
            for c in env.components
        ]
        bookings.append(booking)
    refs = {
        "environment_id": "environment",
        "release_id": "release",
        "application_id": "application",
        "requester_id": "user",
        "decided_by_id": "user",
        "freeze_override_by_id": "user",
    }
    world.add("booking", Booking, bookings, **refs)
    world.add("booking_part", Booking, parts, part_of_id="booking", **refs)


def _booking_candidates(world: _World, rng: random.Random, env: _Env) -> list[tuple]:
    """(starts_at, env, seq, ends_at) requests on working days: one stream per unit of capacity, each
    now and then overlapping its previous request (a team asks for days another team holds)."""
    first, last = (world.anchor + timedelta(days=d) for d in world.scale.booking_days)
    durations = {"perf": (1, 1, 2, 3), "staging": (1, 2, 3)}.get(env.kind, (1, 2, 3, 5, 5, 10))
    spacing = 3 if env.components else 1  # composites are booked less often than their parts
    found = []
    for _stream in range(env.capacity):
        day = first + timedelta(days=rng.randint(0, 5))
        while day < last:
            length = rng.choice(durations)
            if day.weekday() < 5:
                found.append(
                    (utc_at(day, 8), env.idx, len(found), utc_at(day + timedelta(days=length - 1), 18))
                )
            overlap = rng.randint(1, 3) if rng.random() < 0.12 else 0
            day += timedelta(days=max(1, length + rng.choice((0, 1, 2, 3, 4, 7)) * spacing - overlap))
    return found


def _booking_freeze(world: _World, rng: random.Random, env: _Env, starts_at, ends_at) -> bool | None:
    """Whether a request inside a global or environment freeze carries an admin's override; None drops
    it (teams plan around freezes). A few future requests stay in a freeze unresolved, as exceptions."""
    scopes = (None, env.idx, *env.components)
    windows = [window for scope in scopes for window in world.booking_freezes.get(scope, [])]
    if not any(occurrences(window, starts_at, ends_at) for window in windows):
        return False
    roll = rng.random()
    if roll < 0.15:
        return True
    return False if roll < 0.25 and starts_at > world.now else None


def _booking(world: _World, rng: random.Random, env: _Env, starts_at, ends_at, running, override) -> dict:
    envs = (env.idx, *env.components)
    for e in envs:  # requests come in start order: a booking that has ended meets no later one
        running[e] = [(s, end) for s, end in running[e] if end > starts_at]
    fits = all(peak(running[e], starts_at, ends_at) < world.envs[e].capacity for e in envs)
    status = _booking_status(rng, world.now, starts_at, ends_at, fits)
    if status == "approved":
        for e in envs:
            running[e].append((starts_at, ends_at))
    app, release = _booking_subject(world, rng, env, starts_at)
    decided = status in ("approved", "rejected")
    decided_at = min(
        starts_at - timedelta(days=rng.randint(1, 6)), world.now - timedelta(hours=rng.randint(2, 48))
    )
    reason = ""
    if status == "rejected":
        reason = "Conflicts with an approved booking." if not fits else "Test cycle re-planned."
    return {
        "environment_id": env.idx,
        "exclusive": env.capacity == 1,
        "starts_at": starts_at,
        "ends_at": ends_at,
        "status": status,
        "release_id": release.idx if release else None,
        "application_id": app.idx,
        "requester_id": world.portfolios[app.portfolio].manager,
        "purpose": _booking_purpose(rng, env, app, release),
        "decided_by_id": world.user("envadmin") if decided else None,
        "decided_at": decided_at if decided else None,
        "reason": reason,
        "freeze_override_by_id": world.user("admin") if override else None,
        "freeze_override_reason": "Agreed with the CAB: regression run for an emergency fix."
        if override
        else "",
    }


def _booking_status(rng: random.Random, now: datetime, starts_at, ends_at, fits: bool) -> str:
    roll = rng.random()
    if starts_at < now:  # in the past, or running now
        if not fits:
            return "rejected" if roll < 0.7 else "cancelled"
        if ends_at > now or roll < 0.9:
            return "approved"
        return "cancelled" if roll < 0.97 else "rejected"
    if not fits:  # waiting, in conflict: an exception for the environment admin
        return "requested" if roll < 0.6 else "rejected"
    if roll < (0.7 if (starts_at - now).days <= 30 else 0.35):
        return "approved"
    return "requested" if roll < 0.95 else "cancelled"


def _booking_subject(world: _World, rng: random.Random, env: _Env, starts_at: datetime):
    """An application of the environment's portfolio, and its next release if one is due soon after."""
    apps = [a for a in world.apps if env.portfolio in (None, a.top)]
    app = rng.choice(apps)
    at = bisect.bisect_left(app.targets, starts_at.date())
    if at < len(app.releases):
        release = world.releases[app.releases[at]]
        if (release.target - starts_at.date()).days <= 45 and release.status != "cancelled":
            return app, release
    return app, None


def _booking_purpose(rng: random.Random, env: _Env, app: _App, release: _Release | None) -> str:
    what = f"{app.spec.key} {release.version}" if release else app.spec.name
    if env.kind == "perf":
        return f"Performance test of {what} at year-end volumes"
    if env.components:
        return f"End-to-end test of {what} with the connected systems"
    purposes = (
        "System integration test",
        "UAT with business users",
        "Regression run",
        "Data migration rehearsal",
    )
    return f"{rng.choice(purposes)} for {what}"


def _deployments(world: _World) -> None:
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


def _production_deployment(rng: random.Random, env: _Env, r: _Release) -> list[dict]:
    status = _pick(rng, (("success", 96), ("failure", 2), ("rolled_back", 2)))
    rows = [_deployment(env, r, utc_at(r.actual, 19, rng.randrange(60)), status)]
    if status == "failure":  # fixed forward the same evening
        rows.append(_deployment(env, r, utc_at(r.actual, 21, rng.randrange(60)), "success"))
    return rows


def _deployment(env: _Env, r: _Release, at: datetime, status: str) -> dict:
    return {
        "environment_id": env.idx,
        "application_id": r.app,
        "version": r.version,
        "release_id": r.idx,
        "deployed_at": at,
        "status": status,
        "source": "demo",
    }


def utc_at(day: date, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    first = date(year, month, 1)
    return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))


def _pick(rng: random.Random, weighted: tuple) -> str:
    values, weights = zip(*weighted, strict=True)
    return rng.choices(values, weights=weights)[0]


# --- seeding the database -----------------------------------------------------------------------
