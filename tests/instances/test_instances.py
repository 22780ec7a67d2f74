"""python -m instances: stamping (and its refusals), listing, upgrading all (a failing migration among
them), backup and restore to a new name with the audit chain verified, and retiring."""

import io
import json
import stat
import tarfile

import pytest

from instances import cli, core
from portal.roles import ROLE_PERMISSIONS
from tests.instances.conftest import (
    NOTHING,
    REDIS,
    SERVER,
    leftovers,
    retire_quietly,
    run_in,
    stamp,
    unique,
)


@pytest.fixture(scope="module")
def acme(root):
    made = stamp(root, "acme")
    yield made
    retire_quietly(made.instance)


def env_set(instance: core.Instance, **values: str) -> None:
    instance.env_file.write_text(core.env_text(instance.settings() | values))


# --- stamp ---------------------------------------------------------------------------------------


def test_stamp_makes_a_whole_instance(acme):
    instance = acme.instance
    env = instance.settings()
    assert stat.S_IMODE(instance.env_file.stat().st_mode) == 0o600
    assert env["FLIGHTDECK_INSTANCE"] == instance.name
    assert env["FLIGHTDECK_VAR_DIR"] == str(instance.var_dir)
    assert env["MEDIA_ROOT"] == str(instance.var_dir / "media")
    assert len(env["FIELD_ENCRYPTION_KEY"]) == 44 and len(env["SECRET_KEY"]) >= 50
    assert env["FLIGHTDECK_AUDIT_KEY"]
    if SERVER:
        assert env["DATABASE_URL"].endswith(f"/fdi_{instance.name.replace('-', '_')}")
    else:
        assert env["DATABASE_URL"] == f"sqlite:///{instance.var_dir / 'flightdeck.sqlite3'}"
    assert env["CELERY_BROKER_URL"] == (REDIS or "filesystem://localhost/")
    assert "-Q default,sync" in acme.commands["worker"]
    assert (
        "--bind 127.0.0.1:8000" in acme.commands["web"]
        and env["FLIGHTDECK_BASE_URL"] == "http://127.0.0.1:8000"
    )
    assert all(str(instance.env_file) in command for command in acme.commands.values())

    state = run_in(
        instance,
        f"""
import json
from django.contrib.auth.models import Group
from portal.models import User
from releases.audit import audit_verify
from releases.models import GatePolicy
admin = User.objects.get(username="admin")
policy = GatePolicy.objects.get(portfolio=None)
print(json.dumps({{
    "admin": admin.check_password({acme.admin_password!r}) and admin.is_superuser,
    "admin_roles": [g.name for g in admin.groups.all()],
    "roles": sorted(Group.objects.values_list("name", flat=True)),
    "policy": policy.name, "requirements": sorted(policy.requirements.values_list("name", flat=True)),
    "audit_ok": audit_verify().ok,
}}))
""",
    )
    assert state == {
        "admin": True,
        "admin_roles": ["Admin"],
        "roles": sorted(ROLE_PERMISSIONS),
        "policy": "Release policy",
        "requirements": ["CAB approval", "QA sign-off", "Security review"],
        "audit_ok": True,
    }
    assert instance.status()["migrations_pending"] == []
    # The password was printed once and is stored nowhere in plain text (its hash is in the database).
    password = acme.admin_password.encode()
    assert not [p for p in instance.folder.rglob("*") if p.is_file() and password in p.read_bytes()]


@pytest.mark.parametrize(
    "name",
    [
        "",
        "Acme",
        "../acme",
        "acme/x",
        "a b",
        "acme\n",
        "a\rb",
        "a\nb",
        "-acme",
        "acme-",
        "a--b",
        "1acme",
        "acme.",
        "ácme",
        "a" * 31,
        "acme\x00",
    ],
)
def test_stamp_refuses_a_bad_name_and_makes_nothing(tmp_path, name):
    with pytest.raises(core.InstanceError, match="name"):
        core.stamp(name, root=tmp_path / "root")
    assert not (tmp_path / "root").exists() or not any((tmp_path / "root").iterdir())


def test_the_command_line_refuses_a_name_with_a_line_break(tmp_path, capsys):
    assert cli.main(["--root", str(tmp_path), "stamp", "acme\r\nX-Evil: 1"]) == 1
    assert "is not a valid instance name" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_a_name_of_the_longest_length_is_accepted():
    assert core.name_check("a" * core.MAX_NAME) == "a" * core.MAX_NAME


def test_stamp_refuses_an_existing_name_and_leaves_it_alone(acme):
    before = acme.instance.env_file.read_text()
    with pytest.raises(core.InstanceError, match="already exists"):
        core.stamp(acme.instance.name, root=acme.instance.root, server_url=SERVER, redis_url=REDIS)
    assert acme.instance.env_file.read_text() == before
    assert acme.instance.status()["database"]["ok"]


@pytest.mark.postgres
@pytest.mark.skipif(not SERVER, reason="needs DATABASE_URL=postgres://...")
def test_stamp_refuses_a_name_whose_database_exists_on_the_server(tmp_path):
    from instances import stores

    name = unique("taken")
    database = core.PG_PREFIX + name.replace("-", "_")
    with stores.server_connect(SERVER) as db:
        db.execute(f'CREATE DATABASE "{database}"')
    try:
        with pytest.raises(core.InstanceError, match=f"already has database {database}"):
            core.stamp(name, root=tmp_path, server_url=SERVER)
        assert stores.pg_exists(SERVER, database, database) == [f"database {database}"]  # not dropped
        assert not (tmp_path / name).exists()
    finally:
        stores.pg_drop_database(SERVER, database)


@pytest.mark.skipif(not REDIS, reason="needs FLIGHTDECK_TEST_REDIS_URL=redis://...")
def test_stamp_refuses_a_name_whose_prefix_holds_keys_in_redis(tmp_path):
    import redis

    name = unique("busy")
    client = redis.Redis.from_url(REDIS)
    client.set(f"{name}:something", "theirs")
    try:
        with pytest.raises(core.InstanceError, match=f"Redis already holds 1 keys under {name}:"):
            core.stamp(name, root=tmp_path, redis_url=REDIS)
        assert client.get(f"{name}:something") == b"theirs"
        assert not (tmp_path / name).exists()
    finally:
        client.delete(f"{name}:something")
        client.close()


def test_a_failed_stamp_leaves_nothing_half_made(root, monkeypatch):
    name = unique("broken")
    seen = {}

    def fail_after_migrating(instance, *args):
        seen.update(leftovers(instance), migrated=instance.status()["migrations_pending"] == [])
        raise RuntimeError("the disk filled up")

    monkeypatch.setattr(core, "_initialise", fail_after_migrating)
    with pytest.raises(core.InstanceError, match="the disk filled up"):
        core.stamp(name, root=root, server_url=SERVER, redis_url=REDIS)
    # Control: the failure came after the folder, the database (and role) were made and migrated.
    assert seen["folder"] and seen["migrated"]
    assert bool(seen["postgres"]) == bool(SERVER)
    assert leftovers(core.Instance(root, name)) == NOTHING
    assert name not in core.instance_names(root)


# --- list ----------------------------------------------------------------------------------------


def test_list_shows_version_migrations_size_and_health(acme, capsys):
    (row,) = [r for r in core.instance_list(acme.instance.root) if r["name"] == acme.instance.name]
    assert row["version"] == core.version()
    assert row["migrations"] == "applied" and row["migrations_pending"] == []
    assert row["migrations_applied"] > 50
    assert row["database_bytes"] > 0 and row["files_bytes"] > 0
    assert row["healthy"] and row["database"] == ("postgresql" if SERVER else "sqlite")
    assert cli.main(["--root", str(acme.instance.root), "list"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith(acme.instance.name + " "))
    assert " applied " in line and " ok;" in line


def test_list_marks_an_unfinished_stamp(tmp_path):
    (tmp_path / "halfway").mkdir()
    assert core.instance_list(tmp_path) == [{"name": "halfway", "state": "incomplete", "healthy": False}]


# --- backup, restore, retire ---------------------------------------------------------------------


def test_backup_restores_to_a_new_name_with_its_data_files_and_a_verified_audit_chain(acme):
    instance = acme.instance
    run_in(
        instance,
        """
import json
from portal.models import User
from releases.planning.services.portfolios import portfolio_create
portfolio_create(name="Backed up", slug="backed-up", by=User.objects.get(username="admin"))
print("{}")
""",
    )
    (instance.var_dir / "media" / "evidence.txt").write_text("kept with the instance")
    folder = core.backup(instance.name, root=instance.root)
    assert sorted(p.name for p in folder.iterdir()) == [
        "database.pgdump" if SERVER else "database.sqlite3",
        "files.tar.gz",
        "keys.env",
        "manifest.json",
    ]
    copy_name = unique("copy")
    copy = core.restore(folder, copy_name, root=instance.root, server_url=SERVER, redis_url=REDIS)
    try:
        assert copy.meta()["audit_verified"].startswith("Audit chain OK")
        assert (copy.var_dir / "media" / "evidence.txt").read_text() == "kept with the instance"
        ours, theirs = copy.settings(), instance.settings()
        assert ours["FIELD_ENCRYPTION_KEY"] == theirs["FIELD_ENCRYPTION_KEY"]  # credentials stay readable
        assert ours["FLIGHTDECK_AUDIT_KEY"] == theirs["FLIGHTDECK_AUDIT_KEY"]
        assert ours["SECRET_KEY"] != theirs["SECRET_KEY"]
        assert ours["DATABASE_URL"] != theirs["DATABASE_URL"]
        assert ours["FLIGHTDECK_INSTANCE"] == copy_name
        found = run_in(
            copy,
            """
import json
from releases.models import Portfolio
print(json.dumps({"portfolios": list(Portfolio.objects.values_list("slug", flat=True))}))
""",
        )
        assert found == {"portfolios": ["backed-up"]}
        with pytest.raises(core.InstanceError, match="already exists"):
            core.restore(folder, copy_name, root=instance.root, server_url=SERVER, redis_url=REDIS)
    finally:
        retire_quietly(copy)


def test_restore_refuses_a_backup_whose_audit_chain_does_not_verify_and_leaves_nothing(acme, tmp_path):
    folder = core.backup(acme.instance.name, root=acme.instance.root, to=tmp_path / "backup")
    # Someone edits the signed checkpoint in the backup's files (the chain's anchor outside the database).
    members = {}
    with tarfile.open(folder / "files.tar.gz") as tar:
        for member in tar.getmembers():
            members[member] = tar.extractfile(member).read() if member.isfile() else None
    with tarfile.open(folder / "files.tar.gz", "w:gz") as tar:
        for member, data in members.items():
            if member.name == "audit-checkpoints.jsonl":
                line = json.loads(data.decode().splitlines()[0])
                data = (json.dumps(line | {"hash": "0" * len(line["hash"])}) + "\n").encode()
                member.size = len(data)
            tar.addfile(member, io.BytesIO(data) if data is not None else None)
    name = unique("forged")
    with pytest.raises(core.InstanceError, match="does not verify"):
        core.restore(folder, name, root=acme.instance.root, server_url=SERVER, redis_url=REDIS)
    assert leftovers(core.Instance(acme.instance.root, name)) == NOTHING


def test_retire_takes_a_final_backup_then_removes_database_role_queues_and_files(acme):
    folder = core.backup(acme.instance.name, root=acme.instance.root)
    doomed = core.restore(
        folder, unique("doomed"), root=acme.instance.root, server_url=SERVER, redis_url=REDIS
    )
    run_in(
        doomed, "from portal.tasks import worker_heartbeat_task; worker_heartbeat_task.delay(); print('{}')"
    )
    before = leftovers(doomed)
    assert (
        before["folder"] and bool(before["postgres"]) == bool(SERVER) and bool(before["redis"]) == bool(REDIS)
    )

    final = core.retire(doomed.name, root=doomed.root, server_url=SERVER)

    assert leftovers(doomed) == NOTHING
    assert json.loads((final / "manifest.json").read_text())["name"] == doomed.name
    assert (final / "RETIRED").is_file()
    assert final.is_relative_to(doomed.root / core.BACKUPS / doomed.name)


def test_retire_asks_for_confirmation(acme, capsys):
    assert cli.main(["--root", str(acme.instance.root), "retire", acme.instance.name]) == 2
    assert "--yes" in capsys.readouterr().err
    assert acme.instance.complete


# --- upgrade all ---------------------------------------------------------------------------------


PROBE = ["upgrade_probe.0001_probe_table", "upgrade_probe.0002_may_fail"]


def test_upgrade_all_stops_at_the_first_failure_and_leaves_the_failed_one_as_it_was(acme, tmp_path, capsys):
    """Three instances a, b, c with two new migrations each; b's second one fails."""
    root = tmp_path / "fleet"
    backup = core.backup(acme.instance.name, root=acme.instance.root, to=tmp_path / "backup")
    prefix = unique("up")
    fleet = [
        core.restore(backup, f"{prefix}-{x}", root=root, server_url=SERVER, redis_url=REDIS) for x in "abc"
    ]
    a, b, c = fleet
    try:
        for instance in fleet:
            env_set(instance, DJANGO_SETTINGS_MODULE="tests.instances.upgrade_settings")
        env_set(b, FLIGHTDECK_TEST_MIGRATION_FAILS="1")
        assert [i.status()["migrations_pending"] for i in fleet] == [PROBE, PROBE, PROBE]

        assert cli.main(["--root", str(root), "upgrade", "--database-server", SERVER]) == 1

        out = capsys.readouterr().out
        assert f"{a.name}: 2 migrations applied" in out
        assert f"{b.name}: FAILED at upgrade_probe.0002_may_fail" in out
        assert "this migration fails on purpose" in out
        assert f"{b.name}: put back as it was before the upgrade" in out
        assert f"{c.name}: not attempted" in out
        assert a.status()["migrations_pending"] == []
        assert b.status()["migrations_pending"] == PROBE  # 0001 ran, and was put back
        tables = run_in(
            b,
            "import json; from django.db import connection; "
            "print(json.dumps({'tables': connection.introspection.table_names()}))",
        )["tables"]
        assert "upgrade_probe_row" not in tables and "releases_release" in tables
        assert c.status()["migrations_pending"] == PROBE  # after the failure: untouched

        env_set(b, FLIGHTDECK_TEST_MIGRATION_FAILS="")
        report = core.upgrade_all(root=root, server_url=SERVER)
        assert report.ok, report.error
        assert report.upgraded == [
            f"{a.name}: up to date",
            f"{b.name}: 2 migrations applied",
            f"{c.name}: 2 migrations applied",
        ]
        assert all(i.status()["migrations_pending"] == [] for i in fleet)
    finally:
        for instance in fleet:
            retire_quietly(instance)


def test_upgrade_reports_an_instance_it_cannot_read(tmp_path, acme):
    backup = core.backup(acme.instance.name, root=acme.instance.root, to=tmp_path / "backup")
    broken = core.restore(backup, unique("gone"), root=tmp_path / "fleet", server_url=SERVER, redis_url=REDIS)
    url = broken.settings()["DATABASE_URL"]
    try:
        env_set(broken, DATABASE_URL="postgres://nobody@127.0.0.1:1/none")
        report = core.upgrade_all(root=broken.root)
        assert report.failed == broken.name and "cannot read its migrations" in report.error
    finally:
        env_set(broken, DATABASE_URL=url)
        retire_quietly(broken)


def test_stamp_prints_the_password_once_and_how_to_start_web_and_workers(tmp_path, monkeypatch, capsys):
    instance = core.Instance(tmp_path, "acme")
    made = core.Stamped(instance, "admin", "pw-shown-once", core.start_commands(instance, 8301))
    monkeypatch.setattr(core, "stamp", lambda name, **options: made if options["port"] == 8301 else None)
    assert cli.main(["--root", str(tmp_path), "stamp", "acme", "--port", "8301"]) == 0
    out = capsys.readouterr().out
    assert "--bind 127.0.0.1:8301" in out
    assert out.count("pw-shown-once") == 1
    assert "gunicorn portal.wsgi" in out and "celery -A portal worker -Q default,sync" in out
    assert "celery -A portal beat" in out and str(instance.env_file) in out


def test_a_half_made_instance_is_refused_with_what_to_remove(tmp_path):
    (tmp_path / "halfway").mkdir()
    with pytest.raises(core.InstanceError, match=r"not stamped completely.*fdi_halfway"):
        core.backup("halfway", root=tmp_path)
