"""The generated dataset (Table, DemoData), the world the generation steps share, and their date helpers."""

import hashlib
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from django.db import models

from demo.catalogue import DEMO_USERS, TEAM_USERS, AppSpec, Scale
from releases.gates.services.evidence import SuiteRun
from releases.models import FreezeWindow

HISTORY_WEEKS, PLAN_WEEKS = 104, 52  # the world's span around the anchor's week


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


@dataclass(slots=True)
class DemoPortfolio:
    idx: int
    name: str
    slug: str
    code: str
    top: int  # itself, or a programme's parent portfolio
    manager: int = 0  # user index of its release manager


@dataclass(slots=True)
class DemoApp:
    idx: int
    spec: AppSpec
    portfolio: int
    top: int
    needs: list[int]
    tests: int  # size of the regression suite
    releases: list[int] = field(default_factory=list)  # release indexes, in target order
    targets: list[date] = field(default_factory=list)  # their target dates, for bisect


@dataclass(slots=True)
class DemoRelease:
    idx: int
    app: int
    target: date
    override: bool  # targeted inside a freeze, with an admin's override
    version: str = ""
    kind: str = "patch"  # major, minor or patch: drives the summary and the amount of work
    summary: str = ""
    status: str = "planned"
    code_freeze: date | None = None
    hotfix: bool = False  # a patch shipped without a code freeze to repair production
    actual: date | None = None
    owner: int = 0
    train: int | None = None
    last_runs: dict[str, SuiteRun] = field(default_factory=dict)  # the latest run of each suite
    last_build: dict | None = None  # the latest build row
    # Its work items, counted as releases.gates.services.evidence counts them for scope gates.
    in_scope: int = 0
    open_items: int = 0
    descoped: int = 0
    scope_at: datetime | None = None


@dataclass(slots=True)
class DemoEnv:
    idx: int
    name: str
    kind: str
    capacity: int
    bookable: bool
    portfolio: int | None
    components: list[int] = field(default_factory=list)


class World:
    """Everything generated so far, shared by the generation steps."""

    def __init__(self, scale: Scale, seed: int, anchor: date):
        self.scale, self.seed, self.anchor = scale, seed, anchor
        self.now = utc_at(anchor)  # the start of the anchor day: everything "past" happened before it
        self.start = monday_of(anchor) - timedelta(weeks=HISTORY_WEEKS)
        self.end = monday_of(anchor) + timedelta(weeks=PLAN_WEEKS)
        self.tables: list[Table] = []
        self.users = [dict(u) for u in DEMO_USERS + TEAM_USERS]
        self.portfolios: list[DemoPortfolio] = []
        self.apps: list[DemoApp] = []
        self.envs: list[DemoEnv] = []
        self.releases: list[DemoRelease] = []
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

    def portfolio(self, slug: str) -> DemoPortfolio | None:
        return next((p for p in self.portfolios if p.slug == slug), None)

    def env(self, name: str) -> DemoEnv | None:
        return next((e for e in self.envs if e.name == name), None)


def in_peak_week(world: World, day: date) -> bool:
    return 0 <= (day - world.peak_monday).days < 7


def utc_at(day: date, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


def monday_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    first = date(year, month, 1)
    return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))


def pick(rng: random.Random, weighted: tuple) -> str:
    values, weights = zip(*weighted, strict=True)
    return rng.choices(values, weights=weights)[0]
