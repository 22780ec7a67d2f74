"""The demo-data seeder: deterministic, complete, safe to re-run, and true to every invariant."""

import io
import os
import re
import subprocess
import sys
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from django.apps import apps
from django.contrib.auth import authenticate, get_user_model
from django.core.management import CommandError, call_command
from django.db import connection as db
from django.db.models import F
from django.test import RequestFactory

from demo.catalogue import (
    DEMO_USERS,
    LEDGER_KEY,
)
from demo.generation import generate
from demo.sandbox import JIRA_RELEASED_DAYS, OPEN_RELEASES_PER_APPLICATION, SANDBOX_DEPLOY_TO, sandbox_plan
from demo.seeding import DEMO_SEED_ACTION
from integrations.models import Connection
from integrations.sandbox.dataset import JiraDataset
from integrations.sandbox.github import GithubDataset
from integrations.sandbox.gitlab import GitlabDataset
from integrations.sandbox.jenkins import JenkinsDataset
from releases.audit import audit_verify
from releases.gates.services.notifications import MODEL_BACKEND
from releases.metrics.daily import FIGURES
from releases.models import (
    Application,
    AuditEvent,
    Booking,
    Build,
    DailyFigure,
    Deployment,
    Environment,
    EnvironmentComponent,
    FreezeWindow,
    Gate,
    GatePolicy,
    GateRequirement,
    MetricsRollup,
    PolicyChange,
    Portfolio,
    ProductionOutcome,
    Release,
    ReleaseDependency,
    ReleaseTrain,
    SignOff,
    WorkItem,
    WorkItemLink,
)
from releases.models import TestRun as RecordedTestRun  # not a pytest class

pytestmark = pytest.mark.django_db

ANCHOR = date(2026, 11, 23)
REPO = Path(__file__).resolve().parents[2]
EVERY_MODEL = [
    Portfolio,
    Application,
    ReleaseTrain,
    Release,
    ReleaseDependency,
    GatePolicy,
    GateRequirement,
    Gate,
    SignOff,
    Environment,
    EnvironmentComponent,
    Booking,
    FreezeWindow,
    Deployment,
    WorkItem,
    WorkItem.fix_releases.through,
    WorkItemLink,
    Build,
    RecordedTestRun,
]


@pytest.fixture(scope="module")
def medium():
    return generate(scale="medium", seed=1, anchor=ANCHOR)


@pytest.fixture(scope="module")
def enterprise():
    return generate(scale="enterprise", seed=1, anchor=ANCHOR)


def seed(*args: str) -> str:
    out = io.StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def seed_small() -> str:
    return seed("--scale", "small", "--seed", "1", "--anchor", ANCHOR.isoformat())


def row_counts() -> dict[str, int]:
    return {model._meta.label: model.objects.count() for model in apps.get_models()}


# --- invariant checkers (plain functions over plain rows, so they also run on in-memory data) ----


def over_capacity(bookings, capacity: dict) -> list:
    """(environment, instant, count) wherever approved half-open bookings exceed the capacity."""
    events = []
    for b in bookings:
        if b["status"] == "approved":
            events += [(b["environment_id"], b["starts_at"], 1), (b["environment_id"], b["ends_at"], -1)]
    events.sort(key=lambda e: (e[0], e[1], e[2]))  # at one instant an end (-1) frees its slot first
    problems, running = [], Counter()
    for env, at, step in events:
        running[env] += step
        if running[env] > capacity[env]:
            problems.append((env, at, running[env]))
    return problems


def cycle_members(edges) -> set:
    """Nodes Kahn's algorithm cannot order (on a cycle, or downstream of one): empty iff acyclic."""
    edges = list(edges)
    nodes = {n for edge in edges for n in edge}
    indegree = Counter(down for down, _up in edges)
    upstream_of = {}
    for down, up in edges:
        upstream_of.setdefault(up, []).append(down)
    ready = [n for n in nodes if indegree[n] == 0]
    while ready:
        for down in upstream_of.get(ready.pop(), []):
            indegree[down] -= 1
            if indegree[down] == 0:
                ready.append(down)
    return {n for n in nodes if indegree[n] > 0}


def test_the_invariant_checkers_catch_violations():
    at = [date(2026, 1, d) for d in (1, 2, 3)]
    overlapping = [
        {"environment_id": 1, "status": "approved", "starts_at": at[0], "ends_at": at[2]},
        {"environment_id": 1, "status": "approved", "starts_at": at[1], "ends_at": at[2]},
    ]
    touching = [
        {"environment_id": 1, "status": "approved", "starts_at": at[0], "ends_at": at[1]},
        {"environment_id": 1, "status": "approved", "starts_at": at[1], "ends_at": at[2]},
        {"environment_id": 1, "status": "requested", "starts_at": at[0], "ends_at": at[2]},
    ]
    assert over_capacity(overlapping, {1: 1}) and not over_capacity(overlapping, {1: 2})
    assert not over_capacity(touching, {1: 1})
    assert cycle_members([(1, 2), (2, 3), (3, 1)]) == {1, 2, 3}
    assert cycle_members([(1, 2), (2, 3), (4, 1)]) == set()


# --- (1) determinism ------------------------------------------------------------------------------


def test_same_seed_anchor_and_scale_give_identical_data():
    first = generate(scale="small", seed=1, anchor=ANCHOR)
    again = generate(scale="small", seed=1, anchor=ANCHOR)
    assert first.fingerprint() == again.fingerprint()
    assert first.counts() == again.counts()

    other_seed = generate(scale="small", seed=2, anchor=ANCHOR)
    other_anchor = generate(scale="small", seed=1, anchor=ANCHOR + timedelta(days=1))
    assert other_seed.fingerprint() != first.fingerprint()
    assert other_anchor.fingerprint() != first.fingerprint()


def test_generation_does_not_depend_on_the_process_hash_seed(tmp_path):
    """Set iteration order changes with PYTHONHASHSEED; the data must not."""
    script = (
        "import datetime, django; django.setup(); from demo.generation import generate; "
        f"anchor = datetime.date.fromisoformat('{ANCHOR}'); "
        "print(generate(scale='medium', seed=1, anchor=anchor).fingerprint())"
    )
    fingerprints = set()
    for hash_seed in ("1", "2"):
        env = {
            **os.environ,
            "FLIGHTDECK_VAR_DIR": str(tmp_path),
            "PYTHONHASHSEED": hash_seed,
            "DJANGO_SETTINGS_MODULE": "portal.settings",
        }
        result = subprocess.run(
            [sys.executable, "-c", script],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        fingerprints.add(result.stdout.strip())
    assert fingerprints == {generate(scale="medium", seed=1, anchor=ANCHOR).fingerprint()}


def test_the_fingerprint_sees_a_change_in_any_row():
    data = generate(scale="small", seed=1, anchor=ANCHOR)
    before = data.fingerprint()
    data.rows("sign_off")[-1]["comment"] += "!"
    assert data.fingerprint() != before


def test_dates_are_laid_out_around_the_anchor():
    for anchor in (ANCHOR, ANCHOR + timedelta(days=200)):
        data = generate(scale="small", seed=1, anchor=anchor)
        targets = [r["target_date"] for r in data.rows("release")]
        monday = anchor - timedelta(days=anchor.weekday())
        assert monday - timedelta(weeks=104) <= min(targets) and max(targets) < monday + timedelta(weeks=52)
        assert data.peak_week >= anchor + timedelta(days=21)
        assert all(r["actual_date"] < anchor for r in data.rows("release") if r["actual_date"])


# --- (2) a small seed: every model, the accounts, the audit event -------------------------------


def test_seed_small_creates_every_model_the_accounts_and_one_audit_event():
    output = seed_small()

    for model in EVERY_MODEL:
        assert model.objects.exists(), f"no {model._meta.label} rows"
    assert Environment.objects.filter(components__isnull=False).exists()  # a composite
    assert Booking.objects.filter(part_of__isnull=False).exists()  # it booked its parts
    assert WorkItemLink.objects.exists()
    assert (
        Environment.objects.filter(capacity=1).exists()
        and Environment.objects.filter(capacity__gt=1).exists()
    )
    assert Environment.objects.filter(bookable=False).exists()
    assert FreezeWindow.objects.exclude(rrule="").exists()
    assert GatePolicy.objects.filter(portfolio=None).count() == 1
    assert Gate.objects.filter(status__in=["pending", "failed"], due_date__lt=ANCHOR).exists()  # exceptions

    data = generate(scale="small", seed=1, anchor=ANCHOR)
    event = AuditEvent.objects.get(action=DEMO_SEED_ACTION)
    assert event.after["counts"] == data.counts()
    assert event.after["fingerprint"] == data.fingerprint()
    assert Release.objects.count() == data.counts()["releases"]
    assert Booking.objects.count() == data.counts()["bookings"]
    assert AuditEvent.objects.last().action == DEMO_SEED_ACTION  # after the history it imported
    assert audit_verify().ok
    assert "releases" in output and "Seeded small demo data" in output

    for account in DEMO_USERS:
        sign_in = RequestFactory().post("/login/")  # as the login page asks (django-axes wants the request)
        user = authenticate(sign_in, username=account["username"], password=account["password"])
        assert user is not None, account["username"]
        assert user.get_full_name() == account["full_name"]
        if account["role"] == "Admin":
            assert user.is_superuser and user.is_staff
        assert account["role"] in {g.name for g in user.groups.all()}
    assert sum(a["role"] == "Security reviewer" for a in DEMO_USERS) >= 2  # quorum is demoable


def test_the_seeded_history_is_in_the_trail_and_the_chain_verifies():
    """Issue 12, hole 6: seeded sign-offs had no audit events, and decisions came 2-3 hours after the
    only signature."""
    seed_small()
    assert audit_verify().ok
    signoffs = dict(SignOff.objects.values_list("pk", "signed_at"))
    events = AuditEvent.objects.filter(action="signoff.create")
    assert {int(pk): at for pk, at in events.values_list("object_id", "created_at")} == signoffs
    assert {e.actor_id for e in events} == set(SignOff.objects.values_list("signer_id", flat=True))
    times = list(AuditEvent.objects.order_by("seq").values_list("created_at", flat=True))
    assert times[:-1] == sorted(times[:-1])  # the history reads in the order it happened
    for gate in Gate.objects.filter(status__in=["passed", "failed"], signoffs__isnull=False).distinct():
        last = gate.signoffs.order_by("signed_at").last()
        assert gate.decided_at == last.signed_at, gate
        decide = AuditEvent.objects.get(action="gate.decide", object_id=str(gate.pk))
        assert (decide.actor_id, decide.created_at) == (last.signer_id, last.signed_at)
    for gate in Gate.objects.filter(status="waived"):
        assert (
            AuditEvent.objects.get(action="gate.waive", object_id=str(gate.pk)).actor_id == gate.waived_by_id
        )
    evidence_decided = Gate.objects.filter(status__in=["passed", "failed"], approvals_required=0)
    assert evidence_decided.exists()
    for gate in evidence_decided.exclude(evidence_at=None).filter(evidence_at__lte=F("decided_at")):
        assert gate.decided_at == gate.evidence_at
    assert AuditEvent.objects.filter(action="gate.evidence").count() == evidence_decided.count()


def test_the_seeded_policies_have_their_history_and_one_change_waits():
    seed_small()
    changes = PolicyChange.objects.all()
    assert changes.filter(action="add", status="applied").count() == GateRequirement.objects.count()
    proposals = AuditEvent.objects.filter(action="policychange.propose")
    assert proposals.count() == changes.count()
    for change in changes.filter(needs_approval=True, status="applied"):
        assert change.decided_by_id not in (None, change.proposed_by_id)
    waiting = changes.filter(status="pending")
    assert [(c.subject, c.weakens) for c in waiting] == [
        ("PCI DSS review (Compliance)", ["lowers the approvals from 2 to 1"])
    ]


def test_every_seeded_gate_has_someone_who_can_sign_it():
    """Issue 12, hole 2: CAB gates named "Release manager" and performance gates "Environment admin",
    groups without the sign permission, so every release waited on a waiver."""
    seed_small()
    User = get_user_model()
    signers = set(
        User.objects.with_perm("releases.sign_gate", backend=MODEL_BACKEND).values_list("pk", flat=True)
    )
    members: dict[int, set[int]] = {}
    for group_id, user_id in User.groups.through.objects.values_list("group_id", "user_id"):
        members.setdefault(group_id, set()).add(user_id)
    gates = (
        Gate.objects.filter(signer_group__isnull=False).select_related("release").prefetch_related("signoffs")
    )
    assert gates.filter(kind="cab").exists()
    for gate in gates:
        able = (members.get(gate.signer_group_id, set()) & signers) - gate.release.barred_signer_ids
        able -= {signoff.signer_id for signoff in gate.signoffs.all()} if gate.status == "pending" else set()
        assert able, f"nobody can sign {gate.name} of {gate.release}"


def test_seeded_rows_hold_the_invariants():
    seed_small()
    capacity = dict(Environment.objects.values_list("pk", "capacity"))
    bookings = Booking.objects.values("environment_id", "status", "starts_at", "ends_at")
    assert not over_capacity(bookings, capacity)
    assert not cycle_members(ReleaseDependency.objects.values_list("downstream_id", "upstream_id"))
    for booking in Booking.objects.select_related("environment"):
        assert booking.exclusive == (booking.environment.capacity == 1)


# --- (3) re-running, (4) refusing real data, (5) unknown scale ------------------------------------


def test_rerunning_is_a_no_op():
    seed_small()
    before = row_counts()

    output = seed("--scale", "medium", "--seed", "7")

    assert output.strip() == "Demo data already present (scale small, seed 1); nothing to do."
    assert row_counts() == before


@pytest.mark.skipif(db.vendor != "postgresql", reason="planner statistics are PostgreSQL's")
def test_the_seeded_tables_have_planner_statistics():
    seed_small()
    with db.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE relname = 'releases_release'")
        (estimated,) = cursor.fetchone()
    assert estimated == Release.objects.count()  # -1 until the table is analyzed


def test_refuses_a_database_with_real_releases():
    portfolio = Portfolio.objects.create(name="Payments", slug="payments")
    app = Application.objects.create(portfolio=portfolio, name="Payments Hub", key="PAY")
    Release.objects.create(application=app, version="1.0.0", target_date=ANCHOR)

    with pytest.raises(CommandError, match=r"holds real data \(1 releases\); seed_demo only seeds an empty"):
        seed_small()
    assert Release.objects.count() == 1
    assert not AuditEvent.objects.exists()


def test_unknown_scale_is_a_clear_error():
    with pytest.raises(CommandError, match=r"argument --scale: invalid choice: 'huge'"):
        seed("--scale", "huge")


def test_unknown_scale_on_the_command_line_is_one_line_not_a_traceback(manage_py):
    result = manage_py("seed_demo", "--scale", "huge")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("manage.py seed_demo: error: argument --scale: invalid choice: 'huge'")
    assert "small" in last_line and "enterprise" in last_line


# --- (5b) the connections to the tool sandbox, and the plan it serves ----------------------------


def test_seed_connects_jira_jenkins_github_and_gitlab_in_the_sandbox_with_encrypted_credentials():
    seed_small()

    connections = {c.kind: c for c in Connection.objects.prefetch_related("mappings__application")}
    assert {kind: c.base_url for kind, c in connections.items()} == {
        "jira_cloud": "http://127.0.0.1:8765",
        "jenkins": "http://127.0.0.1:8766",
        "github": "http://127.0.0.1:8767",
        "gitlab": "http://127.0.0.1:8768",
    }
    # The sandbox's own credentials, stored encrypted: the token is not in the column.
    sandbox = {
        "jira_cloud": JiraDataset(),
        "jenkins": JenkinsDataset(),
        "github": GithubDataset(),
        "gitlab": GitlabDataset(),
    }
    for kind, connection in connections.items():
        assert connection.credentials["token"] == sandbox[kind].token
        assert sandbox[kind].token not in connection.credentials_encrypted
        assert connection.enabled and connection.schedule_minutes == 15
    assert connections["jenkins"].credentials["username"] == JenkinsDataset().username
    assert connections["jenkins"].scope == {"jobs": ["mob-ci", "web-ci"], "version_parameter": "VERSION"}
    assert connections["github"].scope["repos"] == ["acme/mobile-banking", "acme/customer-web"]
    # GitHub's environment names become environments the seed has.
    renamed = connections["github"].scope["environments"].values()
    assert set(Environment.objects.filter(name__in=renamed).values_list("name", flat=True)) == set(renamed)
    # The small scale has the mobile app, not the web one: only what exists is mapped.
    mapped = {
        kind: sorted((m.external_key, m.application.key) for m in c.mappings.all())
        for kind, c in connections.items()
    }
    assert mapped == {
        "jira_cloud": [("MOBILE", "MOB")],
        "jenkins": [("mob-ci", "MOB")],
        "github": [("acme/mobile-banking", "MOB")],
        "gitlab": [("acme/payments-hub", "PAY")],
    }
    assert connections["gitlab"].scope["projects"] == ["acme/payments-hub"]


def test_the_sandbox_plan_builds_and_deploys_the_next_open_releases_the_day_before_the_anchor():
    assert sandbox_plan() == {"jira": {}, "jenkins": {}, "github": {}, "gitlab": {}}  # nothing seeded
    seed_small()

    plan = sandbox_plan()
    open_mob = list(
        Release.objects.filter(application__key="MOB", status__in=["in_progress", "code_freeze", "ready"])
        .order_by("target_date", "version")
        .values_list("version", "status")[:OPEN_RELEASES_PER_APPLICATION]
    )
    assert open_mob and set(plan["jenkins"]) == {"mob-ci"} and set(plan["github"]) == {"acme/mobile-banking"}
    builds = plan["jenkins"]["mob-ci"]
    assert sorted(b["version"] for b in builds) == sorted(v for v, _ in open_mob for _build in range(3))
    started = [b["started_at"] for b in builds]
    assert started == sorted(started) and all(s.startswith("2026-11-22T") for s in started)
    last_build = {b["version"]: b for b in builds}  # time order: the last one wins
    assert {(b["result"], b["failed"]) for b in last_build.values()} == {("SUCCESS", 0)}
    deployments = plan["github"]["acme/mobile-banking"]
    statuses = dict(open_mob)
    for deployment in deployments:
        assert deployment["environment"] in SANDBOX_DEPLOY_TO[statuses[deployment["ref"]]]
    assert {d["ref"] for d in deployments} == set(statuses)
    assert sandbox_plan() == plan  # read again: the same plan


def test_the_sandbox_plan_lists_the_recent_and_open_releases_as_jira_versions_with_their_dates():
    seed_small()

    jira = sandbox_plan()["jira"]
    assert set(jira["projects"]) == {"MOBILE"}  # the small scale has no WEB for PORTAL
    assert jira["created_from"] < jira["created_until"] < f"{ANCHOR.isoformat()}T00"
    versions = jira["projects"]["MOBILE"]
    assert len({v["id"] for v in versions}) == len(versions)
    releases = Release.objects.filter(application__key="MOB")
    shown = {r.version: r for r in releases.filter(version__in=[v["name"] for v in versions])}
    since = ANCHOR - timedelta(days=JIRA_RELEASED_DAYS)
    wanted = releases.filter(status__in=["in_progress", "code_freeze", "ready"]) | releases.filter(
        status="released", target_date__gte=since
    )
    assert set(shown) == set(wanted.values_list("version", flat=True))  # no planned, no cancelled
    for v in versions:
        release = shown[v["name"]]
        # The seed's own facts, so the sync changes none of them.
        assert (v["description"], v["releaseDate"], v["released"], v["archived"]) == (
            release.summary,
            release.target_date.isoformat(),
            release.status == "released",
            False,
        )
        assert release.actual_date in (None, release.target_date)
        seeded = release.work_items.filter(descoped=False)
        open_seeded = seeded.exclude(status_category="done").exists()
        issues = v["issues"]
        if release.status != "released" and not seeded.exists():
            assert sum(issues.values()) == 0  # too far ahead for work: its scope gate keeps waiting
            continue
        assert 4 <= sum(issues.values()) <= 9
        if release.status in ("released", "ready") or not open_seeded:
            assert issues["todo"] == issues["in_progress"] == 0  # a gate the seed passed stays passed
        else:
            assert issues["todo"] + issues["in_progress"] > 0
    assert any(v["issues"]["todo"] for v in versions)  # some release under way is far from done


# --- (6) invariants of generated data ------------------------------------------------------------


@pytest.mark.parametrize("data_name", ["medium", "enterprise"])
def test_generated_data_holds_the_invariants(request, data_name):
    data = request.getfixturevalue(data_name)
    capacity = {n: e["capacity"] for n, e in enumerate(data.rows("environment"))}
    bookings = data.rows("booking") + data.rows("booking_part")
    assert not over_capacity(bookings, capacity)
    assert not cycle_members((d["downstream_id"], d["upstream_id"]) for d in data.rows("release_dependency"))
    assert_rows_obey_the_database_constraints(data)


def assert_rows_obey_the_database_constraints(data):
    """What the Meta.constraints (and PostgreSQL's exclusion constraint) demand, checked in memory."""
    releases = data.rows("release")
    assert all((r["status"] == "released") == (r["actual_date"] is not None) for r in releases)
    assert all(r["code_freeze_date"] is None or r["code_freeze_date"] <= r["target_date"] for r in releases)
    assert all(r["freeze_override_by_id"] is None or r["freeze_override_reason"] for r in releases)
    assert len({(r["application_id"], r["version"]) for r in releases}) == len(releases)
    gates = data.rows("gate")
    assert len({(g["release_id"], g["kind"], g["name"]) for g in gates}) == len(gates)
    assert all(
        g["status"] != "waived" or (g["waived_by_id"] is not None and g["waiver_reason"]) for g in gates
    )
    sign_offs = data.rows("sign_off")
    assert len({(s["gate_id"], s["signer_id"]) for s in sign_offs}) == len(sign_offs)
    for s in sign_offs:
        assert s["meaning"] and s["reauthenticated"] and re.fullmatch(r"[0-9a-f]{64}", s["state_hash"])
        assert s["decision"] == "approve" or s["comment"]
    for b in data.rows("booking") + data.rows("booking_part"):
        assert b["ends_at"] > b["starts_at"]
        assert b["release_id"] is not None or b["application_id"] is not None
        assert b["status"] in ("requested", "cancelled") or b["decided_by_id"] is not None
    for f in data.rows("freeze_window"):
        targets = (f["portfolio_id"] is not None, f["environment_id"] is not None)
        assert (
            targets
            == {"global": (False, False), "portfolio": (True, False), "environment": (False, True)}[
                f["scope"]
            ]
        )
    items = data.rows("work_item")
    assert len({(i["application_id"], i["key"]) for i in items}) == len(items)
    builds = data.rows("build")
    assert len({(b["application_id"], b["job"], b["number"]) for b in builds}) == len(builds)
    runs = data.rows("test_run")
    assert all(min(r["passed"], r["failed"], r["skipped"], r["errors"]) >= 0 for r in runs)


def test_the_scope_history_ends_in_the_fix_releases_and_shows_changes_after_code_freeze(medium):
    """Each pair's latest recorded change agrees with the fix releases (a descoped item has left);
    nothing happens after now; and releases shipped in the last 90 days show items joining and
    leaving after their code freeze, so the metric has something real to show."""
    items, releases = medium.rows("work_item"), medium.rows("release")
    latest = {}
    for change in sorted(medium.rows("scope_change"), key=lambda c: c["at"]):
        latest[(change["release_id"], change["work_item_id"])] = change["kind"]
    members = {
        (fix["release_id"], fix["workitem_id"])
        for fix in medium.rows("work_item_fix")
        if not items[fix["workitem_id"]]["descoped"]
    }
    assert {pair for pair, kind in latest.items() if kind == "added"} == members
    assert all(
        pair in latest for pair in ((f["release_id"], f["workitem_id"]) for f in medium.rows("work_item_fix"))
    )
    since = ANCHOR - timedelta(days=90)
    after_freeze = Counter()
    for change in medium.rows("scope_change"):
        release = releases[change["release_id"]]
        shipped, freeze = release["actual_date"], release["code_freeze_date"]
        if shipped and shipped >= since and freeze and freeze < change["at"].date() <= shipped:
            after_freeze[change["kind"]] += 1
    assert after_freeze["added"] >= 20 and after_freeze["removed"] >= 10, after_freeze
    now = datetime(ANCHOR.year, ANCHOR.month, ANCHOR.day, tzinfo=UTC)  # the demo's now
    assert max(change["at"] for change in medium.rows("scope_change")) <= now


# --- (7) the enterprise shape, generated in memory (about 3 s, no inserts) -------------------------


def test_enterprise_shape(enterprise):
    counts = enterprise.counts()
    portfolios = enterprise.rows("portfolio")
    assert sum(p["parent_id"] is None for p in portfolios) >= 8
    assert any(p["parent_id"] is not None for p in portfolios)  # programmes
    assert {"Retail Banking", "Payments", "Claims", "Policy Administration"} <= {
        p["name"] for p in portfolios
    }
    assert counts["applications"] >= 35
    assert counts["releases"] >= 50_000
    assert counts["gates"] >= 20_000 and counts["sign-offs"] > 0
    assert counts["environments"] >= 60
    assert counts["bookings"] >= 5_000 and len(enterprise.rows("booking")) >= 5_000
    assert counts["release dependencies"] > 0 and counts["work item links"] > 0
    assert counts["builds"] > 0 and counts["test runs"] > 0 and counts["deployments"] > 0


def test_enterprise_spans_three_years_with_one_peak_week_ahead(enterprise):
    targets = [r["target_date"] for r in enterprise.rows("release")]
    assert min(targets) <= ANCHOR - timedelta(days=700) and max(targets) >= ANCHOR + timedelta(days=350)
    weeks = Counter(day - timedelta(days=day.weekday()) for day in targets)
    (peak, peak_count), (_second, second_count) = weeks.most_common(2)
    assert peak == enterprise.peak_week and peak_count == enterprise.peak_week_releases >= 1_600
    assert second_count < peak_count / 2  # one peak, not a plateau
    assert ANCHOR + timedelta(days=21) <= peak <= ANCHOR + timedelta(days=120)


def test_enterprise_has_a_slow_ledger_that_many_releases_wait_for(enterprise):
    apps_by_key = {a["key"]: n for n, a in enumerate(enterprise.rows("application"))}
    releases = enterprise.rows("release")
    ledger = [n for n, r in enumerate(releases) if r["application_id"] == apps_by_key[LEDGER_KEY]]
    assert 10 <= len(ledger) <= 14  # quarterly over three years
    assert all(releases[n]["status"] != "cancelled" for n in ledger)
    waiting = [d for d in enterprise.rows("release_dependency") if d["upstream_id"] in set(ledger)]
    assert len(waiting) >= 1_000
    peak_ledger = [n for n in ledger if releases[n]["target_date"] == enterprise.peak_week]
    assert len(peak_ledger) == 1
    assert sum(d["upstream_id"] == peak_ledger[0] for d in waiting) >= 200
    apps_with_dependencies = {releases[d["downstream_id"]]["application_id"] for d in waiting}
    assert len(apps_with_dependencies) >= 10  # across applications


def test_enterprise_statuses_tell_a_current_story(enterprise):
    releases = enterprise.rows("release")
    past = [r for r in releases if r["target_date"] < ANCHOR - timedelta(days=14)]
    far = [r for r in releases if r["target_date"] > ANCHOR + timedelta(days=90)]
    assert sum(r["status"] == "released" for r in past) / len(past) > 0.9
    assert any(r["status"] == "cancelled" for r in past)
    assert any(r["actual_date"] and r["actual_date"] > r["target_date"] for r in past)  # some shipped late
    assert sum(r["status"] == "planned" for r in far) / len(far) > 0.7
    near = Counter(r["status"] for r in releases if ANCHOR <= r["target_date"] < ANCHOR + timedelta(days=14))
    assert near["in_progress"] and near["code_freeze"] and near["ready"]
    open_ids = {n for n, r in enumerate(releases) if r["status"] not in ("released", "cancelled")}
    overdue = [
        g
        for g in enterprise.rows("gate")
        if g["release_id"] in open_ids and g["status"] in ("pending", "failed") and g["due_date"] < ANCHOR
    ]
    assert overdue  # the home page has exceptions to show
    assert any(s["decision"] == "reject" for s in enterprise.rows("sign_off"))
    assert any(g["status"] == "waived" for g in enterprise.rows("gate"))


def test_seeding_mails_nobody_now_or_at_the_first_beat_runs(
    mailoutbox, monkeypatch, django_capture_on_commit_callbacks
):
    """The seeded past was told already: its late releases count as alerted and its gates as
    announced, so neither the seed nor the first announcement and forecast runs send a storm."""
    from releases import tasks
    from releases.gates.services.notifications import gates_announce
    from releases.models import Gate, Release
    from releases.planning.services.forecasting import forecast_refresh

    queued = []
    monkeypatch.setattr(tasks.slip_alerts_notify_task, "delay", lambda **kw: queued.append(kw))
    with django_capture_on_commit_callbacks(execute=True):
        seed_small()
    late = Release.objects.open().filter(forecast_date__gt=F("target_date"))
    assert late.exists() and not late.filter(slip_alerted_date__isnull=True).exists()
    assert not Gate.objects.filter(announced_at__isnull=True).exists()
    assert gates_announce(today=ANCHOR) == 0
    with django_capture_on_commit_callbacks(execute=True):
        forecast_refresh(today=ANCHOR)
    assert queued == [] and mailoutbox == []


def test_the_seeded_metrics_are_rolled_up_and_every_failure_sign_shows():
    """The metrics page reads the roll-up: seeding stores it, and the demo's history holds each kind
    of failure the rules count, so every figure shows something real."""
    seed("--scale", "medium", "--seed", "1", "--anchor", ANCHOR.isoformat())
    outcomes = ProductionOutcome.objects
    assert MetricsRollup.objects.get().rolled_through == ANCHOR - timedelta(days=1)
    assert outcomes.filter(status="failure").exists() and outcomes.filter(status="rolled_back").exists()
    assert outcomes.filter(hotfixed=True).exists() and outcomes.filter(incident=True).exists()
    assert 0.05 < outcomes.filter(failure=True).count() / outcomes.count() < 0.2  # a believable rate
    assert (
        outcomes.filter(lead_hours__isnull=False).exists()
        and outcomes.filter(restore_hours__isnull=False).exists()
    )
    figures = set(DailyFigure.objects.values_list("figure", flat=True).distinct())
    assert figures == set(FIGURES)  # every release measure has seeded days
    assert Release.objects.filter(hotfix=True, code_freeze_date=None, summary__startswith="Hotfix: ").exists()
    assert not Release.objects.filter(hotfix=False, summary__startswith="Hotfix").exists()
