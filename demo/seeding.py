"""Seeding: the entry point `manage.py seed_demo` calls.

`demo_seed()` seeds an empty instance, or does nothing where a demo seed is already recorded, and
refuses a database that holds real data. It generates the rows (demo.generation), inserts them with
bulk_create, parents first, in one transaction, creates the connections to the tool sandbox, writes
the governance history a real instance would have (policy changes, and the audit events of every
policy change, sign-off, decision and waiver, at their own times: demo.history), and records one
"demo.seed" audit event.
The same (scale, seed, anchor) gives the same rows. On PostgreSQL it then analyzes what it loaded.
"""

import gc
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.db import connection as db
from django.db import transaction
from django.utils import timezone

from demo.catalogue import (
    DEMO_USERS,
    SANDBOX_CREDENTIALS,
    SANDBOX_GITHUB_CREDENTIALS,
    SANDBOX_GITHUB_ENVIRONMENTS,
    SANDBOX_GITHUB_URL,
    SANDBOX_GITLAB_CREDENTIALS,
    SANDBOX_GITLAB_PROJECTS,
    SANDBOX_GITLAB_URL,
    SANDBOX_JENKINS_CREDENTIALS,
    SANDBOX_JENKINS_URL,
    SANDBOX_JOBS,
    SANDBOX_PROJECTS,
    SANDBOX_REPOS,
    SANDBOX_URL,
    TEAM_USERS,
)
from demo.generation import generate
from demo.generation.world import DemoData, Table, utc_at
from demo.history import governance_history
from integrations.models import ApplicationMapping, Connection
from portal.roles import ADMIN, ROLES
from releases.audit import audit_record
from releases.metrics.rollups import metrics_rollup
from releases.models import Application, AuditEvent, Gate, Release
from releases.planning.services.forecasting import forecast_refresh

DEMO_SEED_ACTION = "demo.seed"
BATCH_SIZE = 2000


class DemoSeedRefused(Exception):
    """The database is not an empty instance; the message says why, in one line."""


@dataclass(frozen=True)
class DemoSeedResult:
    created: bool  # False: the instance already held a demo seed, and nothing was written
    summary: dict  # scale, seed, anchor, counts and peak week, of this seed or the earlier one


Progress = Callable[[str, int, float], None]  # (stage, rows, seconds)


def demo_seed(*, scale: str, seed: int, anchor: date, progress: Progress | None = None) -> DemoSeedResult:
    """Seed an empty instance in one transaction, or do nothing if it already holds a demo seed."""
    progress = progress or _no_progress
    with transaction.atomic(), _gc_paused():
        existing = demo_seed_summary()
        if existing is not None:
            return DemoSeedResult(created=False, summary=existing)
        _refuse_unless_empty()
        if utc_at(anchor) > timezone.now():
            raise DemoSeedRefused(
                f"The anchor {anchor.isoformat()} is in the future: the demo's history ends on its "
                "anchor day, so the anchor is today or earlier."
            )
        started = time.perf_counter()
        data = generate(scale=scale, seed=seed, anchor=anchor)
        progress("generated in memory", sum(len(t.rows) for t in data.tables), time.perf_counter() - started)
        demo_insert(data, progress=progress)
        demo_connections()
        started = time.perf_counter()
        progress("audit history", governance_history(now=utc_at(anchor)), time.perf_counter() - started)
        summary = {
            "scale": scale,
            "seed": seed,
            "anchor": anchor.isoformat(),
            "fingerprint": data.fingerprint(),
            "counts": data.counts(),
            "peak_week": {"start": data.peak_week.isoformat(), "releases": data.peak_week_releases},
        }
        object_id = f"{scale}/{seed}/{anchor.isoformat()}"
        audit_record(
            actor=None, action=DEMO_SEED_ACTION, object_type="demo", object_id=object_id, after=summary
        )
        started = time.perf_counter()
        # Yesterday's forecast first, so Home's "slipped since yesterday" compares with a real one.
        # The seeded past was told already: its late releases are recorded as alerted and its gates
        # as announced, so seeding (and the first beat runs after it) mails nobody.
        forecast_refresh(today=anchor - timedelta(days=1), notify=False)
        progress("forecasts", forecast_refresh(today=anchor, notify=False), time.perf_counter() - started)
        Gate.objects.filter(announced_at__isnull=True).update(announced_at=timezone.now())
        started = time.perf_counter()
        progress(
            "metrics roll-up", metrics_rollup(full=True, today=anchor).outcomes, time.perf_counter() - started
        )
    if db.vendor == "postgresql":
        # Fresh tables have no planner statistics until autovacuum gets round to them (never,
        # where it is off): the demo's first pages would be planned blind.
        with db.cursor() as cursor:
            cursor.execute("ANALYZE")
    return DemoSeedResult(created=True, summary=summary)


def demo_connections() -> None:
    """Jira Cloud, Jenkins, GitHub and GitLab connections to the local sandbox, so the demo worker really
    syncs over HTTP."""
    _sandbox_connection(
        "Sandbox Jira Cloud",
        Connection.Kind.JIRA_CLOUD,
        SANDBOX_URL,
        SANDBOX_CREDENTIALS,
        {"projects": list(SANDBOX_PROJECTS)},
        SANDBOX_PROJECTS,
    )
    _sandbox_connection(
        "Sandbox Jenkins",
        Connection.Kind.JENKINS,
        SANDBOX_JENKINS_URL,
        SANDBOX_JENKINS_CREDENTIALS,
        {"jobs": list(SANDBOX_JOBS), "version_parameter": "VERSION"},
        SANDBOX_JOBS,
    )
    _sandbox_connection(
        "Sandbox GitHub",
        Connection.Kind.GITHUB,
        SANDBOX_GITHUB_URL,
        SANDBOX_GITHUB_CREDENTIALS,
        {"repos": list(SANDBOX_REPOS), "environments": SANDBOX_GITHUB_ENVIRONMENTS},
        SANDBOX_REPOS,
    )
    _sandbox_connection(
        "Sandbox GitLab",
        Connection.Kind.GITLAB,
        SANDBOX_GITLAB_URL,
        SANDBOX_GITLAB_CREDENTIALS,
        {"projects": list(SANDBOX_GITLAB_PROJECTS), "environments": SANDBOX_GITHUB_ENVIRONMENTS},
        SANDBOX_GITLAB_PROJECTS,
    )


def _sandbox_connection(name, kind, url, credentials: dict, scope: dict, keys: dict[str, str]) -> None:
    """One connection (credentials encrypted by the model) and its mappings to the applications this
    scale has (the small one has no WEB)."""
    connection = Connection(name=name, kind=kind, base_url=url, scope=scope, schedule_minutes=15)
    connection.credentials = credentials
    connection.save()
    apps = dict(Application.objects.filter(key__in=keys.values()).values_list("key", "pk"))
    ApplicationMapping.objects.bulk_create(
        ApplicationMapping(connection=connection, application_id=apps[app], external_key=external_key)
        for external_key, app in keys.items()
        if app in apps
    )


def _no_progress(stage: str, rows: int, seconds: float) -> None:
    pass


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Hundreds of thousands of short-lived rows and instances keep triggering the cyclic garbage
    collector, which finds nothing to free here; pausing it saves seconds at enterprise scale."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def demo_seed_summary() -> dict | None:
    """What the earlier demo seed recorded, or None if this instance was never seeded."""
    event = AuditEvent.objects.filter(action=DEMO_SEED_ACTION).order_by("seq").first()
    return event.after if event is not None else None


def _refuse_unless_empty() -> None:
    releases = Release.objects.count()
    if releases:
        raise DemoSeedRefused(
            f"This database holds real data ({releases:,} releases); seed_demo only seeds an empty instance."
        )
    usernames = [u["username"] for u in DEMO_USERS + TEAM_USERS]
    taken = sorted(get_user_model().objects.filter(username__in=usernames).values_list("username", flat=True))
    if taken:
        raise DemoSeedRefused(
            f"Users {', '.join(taken)} already exist; seed_demo creates its accounts in an empty instance."
        )


def demo_insert(data: DemoData, *, progress: Progress = _no_progress) -> None:
    """Insert the generated rows with bulk_create, parents first, swapping row indexes for primary keys."""
    started = time.perf_counter()
    pks = {"group": _role_group_ids(), "user": _create_users(data.users)}
    progress("users", len(data.users), time.perf_counter() - started)
    for label, tables in _stages(data.tables):
        started = time.perf_counter()
        for table in tables:
            _insert(table, pks)
        progress(label, sum(len(t.rows) for t in tables), time.perf_counter() - started)


def _stages(tables: list[Table]) -> list[tuple[str, list[Table]]]:
    """Consecutive tables with one label (parents, then their children) report as one stage."""
    stages: list[tuple[str, list[Table]]] = []
    for table in tables:
        if stages and stages[-1][0] == table.label:
            stages[-1][1].append(table)
        else:
            stages.append((table.label, [table]))
    return stages


def _role_group_ids() -> list[int]:
    ids = dict(Group.objects.filter(name__in=ROLES).values_list("name", "pk"))
    missing = [role for role in ROLES if role not in ids]
    if missing:
        raise DemoSeedRefused(f"Role groups missing ({', '.join(missing)}); run `manage.py migrate` first.")
    return [ids[role] for role in ROLES]


def _create_users(users: list[dict]) -> list[int]:
    User = get_user_model()
    objs = []
    for u in users:
        first_name, _, last_name = u["full_name"].partition(" ")
        admin = u["role"] == ADMIN
        password = make_password(u["password"] or None)
        objs.append(
            User(
                username=u["username"],
                first_name=first_name,
                last_name=last_name,
                email=f"{u['username']}@example.com",
                is_staff=admin,
                is_superuser=admin,
                password=password,
            )
        )
    User.objects.bulk_create(objs)
    groups = dict(zip(ROLES, _role_group_ids(), strict=True))
    memberships = [
        User.groups.through(user_id=obj.pk, group_id=groups[u["role"]])
        for obj, u in zip(objs, users, strict=True)
    ]
    User.groups.through.objects.bulk_create(memberships)
    return [obj.pk for obj in objs]


def _insert(table: Table, pks: dict[str, list[int]]) -> None:
    """Build the model instances batch by batch, with positional arguments (Model.__init__'s fast path),
    then bulk_create them; their new primary keys are appended to pks[table.key]."""
    fields = table.model._meta.concrete_fields
    position = {f.attname: n for n, f in enumerate(fields)}
    template = [None if f.primary_key else f.get_default() for f in fields]
    refs = [(column, pks[target]) for column, target in table.refs.items()]
    ids = pks.setdefault(table.key, [])
    for start in range(0, len(table.rows), BATCH_SIZE):
        objs = []
        for row in table.rows[start : start + BATCH_SIZE]:
            values = template.copy()
            for column, value in row.items():
                values[position[column]] = value
            for column, targets in refs:
                if row.get(column) is not None:
                    values[position[column]] = targets[row[column]]
            objs.append(table.model(*values))
        table.model.objects.bulk_create(objs, batch_size=BATCH_SIZE)
        ids.extend(obj.pk for obj in objs)
