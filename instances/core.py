"""Customer instances: stamp, list, upgrade, back up, restore and retire.

An instance is a folder under the root (FLIGHTDECK_INSTANCES_ROOT, default var/instances/):

    <root>/<name>/instance.env    its whole configuration (owner-only): the variables portal/settings.py
                                  reads, so `env $(cat instance.env) manage.py ...` is that instance
    <root>/<name>/instance.json   what it was made with (database, broker, version); written last, so a
                                  folder without it is a stamp that did not finish
    <root>/<name>/var/            FLIGHTDECK_VAR_DIR: the SQLite database, filesystem broker, media,
                                  the audit checkpoints
    <root>/.backups/<name>/<UTC time>/   its backups (kept when it is retired)

plus, when a PostgreSQL server was named, a database and a role `fdi_<name>` on it, and when a Redis
URL was named, the keys under `<name>:` there (its queues `default` and `sync`). Every Django command
runs as a subprocess with the instance's environment only (the caller's DATABASE_URL and the like are
dropped), so nothing of one instance can reach another's.
"""

import base64
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from instances import stores

REPO = Path(__file__).resolve().parent.parent
ROOT_VARIABLE = "FLIGHTDECK_INSTANCES_ROOT"
SERVER_VARIABLE = "FLIGHTDECK_DATABASE_SERVER"  # the PostgreSQL server URL for stamp/retire/restore
ENV_FILE, META_FILE, VAR = "instance.env", "instance.json", "var"
BACKUPS = ".backups"
NAME = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")
MAX_NAME = 30  # fdi_ + 30 stays far below PostgreSQL's 63-byte identifiers
PG_PREFIX = "fdi_"
QUEUES = ("default", "sync")  # portal/settings.py: CELERY_TASK_DEFAULT_QUEUE and the sync route
LIST_PARALLEL = 4  # instances whose status `list` reads at once
# What the caller's environment must not lend an instance: its configuration comes from its file only.
CONFIG_VARIABLES = {
    "DATABASE_URL",
    "CELERY_BROKER_URL",
    "SECRET_KEY",
    "FIELD_ENCRYPTION_KEY",
    "ALLOWED_HOSTS",
    "CSRF_TRUSTED_ORIGINS",
    "MEDIA_ROOT",
    "DEBUG",
    "DJANGO_SETTINGS_MODULE",
    "DJANGO_ALLOW_ASYNC_UNSAFE",
    "CELERY_TASK_ALWAYS_EAGER",
}
# Left out of a backup's files: the database (dumped on its own), the broker's transient messages, the
# collected static files and beat's schedule (both rebuilt), and an upgrade's snapshot.
NOT_BACKED_UP = ("flightdeck.sqlite3", "broker", "staticfiles", "celerybeat-schedule", "upgrade-snapshot")


class InstanceError(Exception):
    """An operation refused or failed; the message says why, in words an operator can act on."""


def version() -> str:
    try:
        return metadata.version("flightdeck")
    except metadata.PackageNotFoundError:
        return "unknown"


def default_root() -> Path:
    return Path(os.environ.get(ROOT_VARIABLE) or REPO / "var" / "instances").resolve()


def name_check(name: str) -> str:
    """The name, or InstanceError saying what is wrong with it: lowercase letters, digits and single
    hyphens, starting with a letter, at most MAX_NAME characters (no paths, spaces or line breaks)."""
    if not isinstance(name, str) or not name:
        raise InstanceError("An instance needs a name.")
    if len(name) > MAX_NAME:
        raise InstanceError(f"The name is {len(name)} characters long; at most {MAX_NAME} are allowed.")
    if not NAME.fullmatch(name):
        raise InstanceError(
            f"{name!r} is not a valid instance name: use lowercase letters, digits and single hyphens, "
            "starting with a letter (for example acme or acme-eu)."
        )
    return name


# --- one instance --------------------------------------------------------------------------------


@dataclass
class Instance:
    root: Path
    name: str

    @property
    def folder(self) -> Path:
        return self.root / self.name

    @property
    def env_file(self) -> Path:
        return self.folder / ENV_FILE

    @property
    def var_dir(self) -> Path:
        return self.folder / VAR

    @property
    def complete(self) -> bool:
        return (self.folder / META_FILE).is_file()

    def meta(self) -> dict:
        return json.loads((self.folder / META_FILE).read_text())

    def meta_write(self, meta: dict) -> None:
        _write_private(self.folder / META_FILE, json.dumps(meta, indent=2) + "\n")

    def settings(self) -> dict[str, str]:
        return env_read(self.env_file)

    def environment(self, **extra: str) -> dict[str, str]:
        """The environment its processes run with: the caller's minus any instance configuration,
        then the instance's file."""
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in CONFIG_VARIABLES and not (k.startswith("FLIGHTDECK_") and k != ROOT_VARIABLE)
        }
        return env | {"DJANGO_SETTINGS_MODULE": "portal.settings"} | self.settings() | extra

    def manage(self, *args: str, check: bool = True, timeout: float = 1800, **extra: str):
        """manage.py <args> in this instance; with check, InstanceError on a non-zero exit."""
        result = subprocess.run(
            [sys.executable, str(REPO / "manage.py"), *args],
            cwd=REPO,
            env=self.environment(**extra),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise InstanceError(f"{self.name}: manage.py {args[0]} failed:\n{_tail(result)}")
        return result

    def status(self) -> dict:
        """instance_status's JSON: migrations applied and pending, database size, health."""
        result = self.manage("instance_status", check=False, timeout=120)
        try:
            return json.loads(result.stdout.strip().splitlines()[-1])
        except (IndexError, json.JSONDecodeError):
            return {"database": {"ok": False, "error": _tail(result, lines=1) or "no answer"}}


def instance_get(name: str, *, root: Path | None = None) -> Instance:
    instance = Instance(Path(root or default_root()), name_check(name))
    if not instance.folder.is_dir():
        raise InstanceError(f"There is no instance named {name} under {instance.root}.")
    if not instance.complete:
        raise InstanceError(
            f"The instance {name} was not stamped completely ({instance.folder} has no {META_FILE}): "
            f"remove the folder, and its database and role {PG_PREFIX}{name.replace('-', '_')} if the "
            "server has them."
        )
    return instance


def instance_names(root: Path | None = None) -> list[str]:
    root = Path(root or default_root())
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and NAME.fullmatch(p.name))


def env_read(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def env_text(values: dict[str, str]) -> str:
    for key, value in values.items():
        if any(c in value for c in "\r\n\0") or not re.fullmatch(r"[A-Z][A-Z0-9_]*", key):
            raise InstanceError(f"{key} cannot be written to an environment file.")
    lines = ["# A Flightdeck instance's configuration (python -m instances). Secret: owner-only."]
    return "\n".join([*lines, *(f"{k}={v}" for k, v in values.items())]) + "\n"


def _write_private(path: Path, text: str) -> None:
    """Written owner-only to a temporary file, then renamed into place (never half written)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def _tail(result: subprocess.CompletedProcess, lines: int = 12) -> str:
    text = (result.stderr.strip() or result.stdout.strip()).splitlines()
    return "\n".join(text[-lines:])


# --- making one: shared by stamp and restore -----------------------------------------------------


@dataclass
class Plan:
    """What an instance is made of, decided before anything is created."""

    instance: Instance
    server_url: str = ""  # PostgreSQL server (an admin's URL), or "" for SQLite
    redis_url: str = ""  # Redis, or "" for the filesystem broker
    production: bool = False
    hosts: list[str] = field(default_factory=list)
    base_url: str = ""
    keys: dict[str, str] = field(default_factory=dict)  # FIELD_ENCRYPTION_KEY, FLIGHTDECK_AUDIT_KEY

    @property
    def pg_name(self) -> str:
        return PG_PREFIX + self.instance.name.replace("-", "_")


class Undo:
    """What has been made so far, undone in reverse when a later step fails."""

    def __init__(self) -> None:
        self.steps: list[tuple[str, Callable[[], object]]] = []

    def add(self, what: str, step: Callable[[], object]) -> None:
        self.steps.append((what, step))

    def run(self) -> list[str]:
        problems = []
        for what, step in reversed(self.steps):
            try:
                step()
            except Exception as error:  # keep undoing the rest; report what could not be undone
                problems.append(f"{what}: {stores.first_line(error)}")
        self.steps.clear()
        return problems


@contextmanager
def _all_or_nothing(instance: Instance) -> Iterator[Undo]:
    """Claim the instance's folder (an existing name is refused), and undo every step made when
    anything fails or is interrupted, so that a failed stamp or restore leaves nothing behind."""
    instance.root.mkdir(parents=True, exist_ok=True)
    try:
        instance.folder.mkdir(mode=0o700)  # its files hold the data and the keys: owner-only
    except FileExistsError:
        raise InstanceError(
            f"An instance named {instance.name} already exists at {instance.folder}."
        ) from None
    undo = Undo()
    undo.add(f"remove {instance.folder}", lambda: shutil.rmtree(instance.folder))
    try:
        yield undo
    except BaseException as error:
        problems = undo.run()
        if problems:
            note = "\nCould not undo (remove these by hand): " + "; ".join(problems)
        else:
            note = f"\nNothing of {instance.name} was left behind."
        if isinstance(error, InstanceError):
            raise InstanceError(f"{error}{note}") from error
        if isinstance(error, Exception):
            raise InstanceError(f"{instance.name}: {stores.first_line(error)}{note}") from error
        raise  # Ctrl-C: undone all the same


def _preflight(plan: Plan) -> None:
    """Refuse before creating anything when the server already holds what the instance would get."""
    if plan.server_url and (found := stores.pg_exists(plan.server_url, plan.pg_name, plan.pg_name)):
        raise InstanceError(
            f"The PostgreSQL server already has {' and '.join(found)}: another instance (or something "
            f"else) uses the name {plan.instance.name}. Choose another name."
        )
    if plan.redis_url and (keys := stores.redis_keys(plan.redis_url, f"{plan.instance.name}:")):
        raise InstanceError(
            f"Redis already holds {len(keys)} keys under {plan.instance.name}: (for example {keys[0]}). "
            "Choose another name, or retire the instance that uses it."
        )


def _make(plan: Plan, undo: Undo) -> dict[str, str]:
    """Database, broker namespace, folders and environment file; returns the environment."""
    instance = plan.instance
    var = instance.var_dir
    (var / "media").mkdir(parents=True)
    env = {
        "FLIGHTDECK_INSTANCE": instance.name,
        "FLIGHTDECK_VAR_DIR": str(var),
        "MEDIA_ROOT": str(var / "media"),
        "SECRET_KEY": secrets.token_urlsafe(64),
        "FIELD_ENCRYPTION_KEY": plan.keys.get("FIELD_ENCRYPTION_KEY")
        or base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        "FLIGHTDECK_AUDIT_KEY": plan.keys.get("FLIGHTDECK_AUDIT_KEY") or secrets.token_urlsafe(48),
    }
    if plan.server_url:
        password = secrets.token_urlsafe(32)
        # Each is undone only once this stamp has made it (never something that was there before).
        stores.pg_create(plan.server_url, plan.pg_name, plan.pg_name, password)
        undo.add(f"drop role {plan.pg_name}", lambda: stores.pg_drop_role(plan.server_url, plan.pg_name))
        undo.add(
            f"drop database {plan.pg_name}", lambda: stores.pg_drop_database(plan.server_url, plan.pg_name)
        )
        env["DATABASE_URL"] = stores.database_url(plan.server_url, plan.pg_name, plan.pg_name, password)
    else:
        env["DATABASE_URL"] = f"sqlite:///{var / 'flightdeck.sqlite3'}"
    if plan.redis_url:
        env["CELERY_BROKER_URL"] = plan.redis_url
        prefix = f"{instance.name}:"
        undo.add(f"delete Redis keys {prefix}*", lambda: stores.redis_delete(plan.redis_url, prefix))
    else:
        env["CELERY_BROKER_URL"] = "filesystem://localhost/"
    if plan.base_url:
        env["FLIGHTDECK_BASE_URL"] = plan.base_url.rstrip("/")
    if plan.production:
        env["FLIGHTDECK_ENV"] = "production"
    if plan.hosts:
        env["ALLOWED_HOSTS"] = ",".join(plan.hosts)
        env["CSRF_TRUSTED_ORIGINS"] = ",".join(f"https://{h}" for h in plan.hosts)
    _write_private(instance.env_file, env_text(env))
    return env


def _meta(plan: Plan, **more) -> dict:
    return {
        "name": plan.instance.name,
        "version": version(),
        "database": {
            "engine": "postgresql" if plan.server_url else "sqlite",
            "name": plan.pg_name if plan.server_url else "var/flightdeck.sqlite3",
            "role": plan.pg_name if plan.server_url else "",
            # Without its password: retire and upgrade take the server's again, or FLIGHTDECK_DATABASE_SERVER.
            "server": stores.without_password(plan.server_url),
        },
        "broker": {
            "url": stores.without_password(plan.redis_url) if plan.redis_url else "filesystem://",
            "prefix": f"{plan.instance.name}:" if plan.redis_url else "",
            "queues": list(QUEUES),
        },
        **more,
    }


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- stamp ---------------------------------------------------------------------------------------


@dataclass
class Stamped:
    instance: Instance
    admin_username: str
    admin_password: str
    commands: dict[str, str]


def stamp(
    name: str,
    *,
    root: Path | None = None,
    server_url: str = "",
    redis_url: str = "",
    admin_username: str = "admin",
    admin_email: str = "",
    production: bool = False,
    hosts: list[str] | None = None,
    base_url: str = "",
    demo: str = "",
    port: int = 8000,
) -> Stamped:
    """A new instance, whole or not at all: its database (and role), broker namespace, keys, folders,
    environment file, migrations, first admin and default gate policy. With demo (a scale: small,
    medium, enterprise) it is seeded with the demo data and its accounts instead (a sales demo, a
    benchmark); its admin is then the demo's `admin` (README, Demo accounts) and no password is made."""
    instance = Instance(Path(root or default_root()), name_check(name))
    base_url = base_url or ("" if production else f"http://127.0.0.1:{port}")
    plan = Plan(instance, server_url, redis_url, production, list(hosts or []), base_url)
    if production and not plan.hosts:
        raise InstanceError("A production instance needs --host (the name it answers to).")
    if instance.folder.exists():
        raise InstanceError(f"An instance named {name} already exists at {instance.folder}.")
    _preflight(plan)
    password = secrets.token_urlsafe(18)
    with _all_or_nothing(instance) as undo:
        _make(plan, undo)
        instance.manage("migrate", "--noinput")
        if production:  # production serves hashed, compressed static files from its var/staticfiles
            instance.manage("collectstatic", "--noinput", "-v", "0")
        if demo:
            instance.manage("seed_demo", "--scale", demo)
            admin_username, password = "admin", ""
        else:
            _initialise(instance, admin_username, admin_email, password)
        instance.meta_write(_meta(plan, stamped_at=_now(), demo=demo, web_port=port))
    return Stamped(instance, admin_username, password, start_commands(instance, port))


def _initialise(instance: Instance, username: str, email: str, password: str) -> None:
    # The password reaches the command by environment, never its command line (ps would show it).
    instance.manage(
        "instance_init", "--username", username, "--email", email, FLIGHTDECK_ADMIN_PASSWORD=password
    )
    instance.manage("audit_checkpoint")


def start_commands(instance: Instance, port: int | None = None) -> dict[str, str]:
    """How to start the instance's web server (on its port), worker and beat (each reads its
    environment file)."""
    if port is None:
        port = instance.meta().get("web_port", 8000) if instance.complete else 8000
    env = f"env $(grep -v '^#' {instance.env_file} | xargs)"
    bin_dir = Path(sys.executable).parent
    return {
        "web": f"cd {REPO} && {env} {bin_dir / 'gunicorn'} portal.wsgi --bind 127.0.0.1:{port} --workers 2",
        "worker": f"cd {REPO} && {env} {bin_dir / 'celery'} -A portal worker -Q {','.join(QUEUES)} "
        f"-n {instance.name}@%h --without-mingle --without-gossip",
        "beat": f"cd {REPO} && {env} {bin_dir / 'celery'} -A portal beat",
    }


# --- list ----------------------------------------------------------------------------------------


def instance_list(root: Path | None = None) -> list[dict]:
    """One row per instance, in name order; their statuses are read LIST_PARALLEL at a time (each is
    a Django process of its own)."""
    instances = [Instance(Path(root or default_root()), name) for name in instance_names(root)]
    with ThreadPoolExecutor(max_workers=LIST_PARALLEL) as pool:
        statuses = list(pool.map(lambda i: i.status() if i.complete else None, instances))
    return [_row(instance, status) for instance, status in zip(instances, statuses, strict=True)]


def _row(instance: Instance, status: dict | None) -> dict:
    if status is None:
        return {"name": instance.name, "state": "incomplete", "healthy": False}
    meta = instance.meta()
    pending = status.get("migrations_pending")
    files = sum(p.stat().st_size for p in instance.folder.rglob("*") if p.is_file())
    if meta["database"]["engine"] == "sqlite":  # its file is already among the files
        files -= sum(p.stat().st_size for p in instance.var_dir.glob("flightdeck.sqlite3*"))
    broker_ok = status.get("broker", {}).get("ok", False)
    return {
        "name": instance.name,
        "state": "ready",
        "version": meta.get("version"),
        "database": meta["database"]["engine"],
        "migrations_applied": status.get("migrations_applied"),
        "migrations_pending": pending,
        "migrations": "unknown" if pending is None else ("pending" if pending else "applied"),
        "database_bytes": status.get("database_bytes"),
        "files_bytes": files,
        "database_ok": status["database"]["ok"],
        "broker_ok": broker_ok,
        "worker_seen_at": status.get("worker_seen_at"),
        "healthy": status["database"]["ok"] and broker_ok,
        "error": status.get("error") or status["database"].get("error", ""),
    }


# --- upgrade -------------------------------------------------------------------------------------


@dataclass
class UpgradeReport:
    upgraded: list[str] = field(default_factory=list)  # "name: n migrations" or "name: up to date"
    failed: str = ""  # the instance that failed
    failed_migration: str = ""
    error: str = ""
    restored: bool = False  # the failed instance is back as it was
    not_attempted: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed


APPLYING = re.compile(r"Applying (\S+)\.\.\.")


def upgrade_all(*, root: Path | None = None, server_url: str = "") -> UpgradeReport:
    """Migrate every instance in name order. The first failure stops the run: that instance is put
    back from the snapshot taken just before (as it was), the ones after it are not touched."""
    report = UpgradeReport()
    names = instance_names(root)
    for n, name in enumerate(names):
        instance = instance_get(name, root=root)
        status = instance.status()
        if not status["database"]["ok"] or "migrations_pending" not in status:
            report.failed, report.error = name, f"cannot read its migrations: {status.get('error') or status}"
            report.not_attempted = names[n + 1 :]
            return report
        pending = status["migrations_pending"]
        if not pending:
            report.upgraded.append(f"{name}: up to date")
            _meta_update(instance, version=version())
            continue
        snapshot = _database_snapshot(instance)
        result = instance.manage("migrate", "--noinput", check=False)
        if result.returncode != 0:
            started = APPLYING.findall(result.stdout)
            report.failed, report.error = name, _tail(result, lines=6)
            report.failed_migration = started[-1] if started else pending[0]
            report.not_attempted = names[n + 1 :]
            try:
                _database_put_back(instance, snapshot, server_url)
            except (stores.StoreError, OSError) as error:
                report.error += (
                    f"\nCould not put its database back ({stores.first_line(error)}): restore it from "
                    f"{snapshot} by hand before starting it."
                )
                return report
            report.restored = True
            shutil.rmtree(snapshot.parent)
            return report
        shutil.rmtree(snapshot.parent)
        _meta_update(instance, version=version(), upgraded_at=_now())
        report.upgraded.append(f"{name}: {len(pending)} migrations applied")
    return report


def _meta_update(instance: Instance, **values) -> None:
    instance.meta_write(instance.meta() | values)


def _database_snapshot(instance: Instance) -> Path:
    folder = instance.folder / "upgrade-snapshot"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    return _database_dump(instance, folder)


def _database_dump(instance: Instance, folder: Path) -> Path:
    url = instance.settings()["DATABASE_URL"]
    if url.startswith("sqlite"):
        target = folder / "database.sqlite3"
        stores.sqlite_copy(_sqlite_path(url), target)
    else:
        target = folder / "database.pgdump"
        stores.pg_dump(url, target)
    return target


def _sqlite_path(url: str) -> Path:
    return Path(url.removeprefix("sqlite:///"))


def _database_put_back(instance: Instance, dump: Path, server_url: str) -> None:
    """The database exactly as in `dump` (a snapshot or a backup of this engine)."""
    url = instance.settings()["DATABASE_URL"]
    if url.startswith("sqlite"):
        stores.sqlite_copy(dump, _sqlite_path(url))
    else:
        database = instance.meta()["database"]
        stores.pg_recreate_database(_server(instance, server_url), database["name"], database["role"])
        stores.pg_restore(url, dump)


def _server(instance: Instance, server_url: str) -> str:
    return server_url or os.environ.get(SERVER_VARIABLE) or instance.meta()["database"]["server"]


# --- backup and restore --------------------------------------------------------------------------


def backup(name: str, *, root: Path | None = None, to: Path | None = None) -> Path:
    """A folder with the database dump, the files (media, audit checkpoints) and the keys:

        database.sqlite3 | database.pgdump, files.tar.gz, keys.env, manifest.json

    keys.env holds FIELD_ENCRYPTION_KEY (the tool credentials) and FLIGHTDECK_AUDIT_KEY (the audit
    chain): keep it apart from the rest, as the audit key is kept apart from the database."""
    instance = instance_get(name, root=root)
    stamp_time = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    folder = Path(to) if to else instance.root / BACKUPS / name / stamp_time
    folder.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder.mkdir(mode=0o700)
    try:
        dump = _database_dump(instance, folder)
        with tarfile.open(folder / "files.tar.gz", "w:gz") as tar:
            for path in sorted(instance.var_dir.iterdir()):
                if not path.name.startswith(NOT_BACKED_UP):
                    tar.add(path, arcname=path.name)
        env = instance.settings()
        keys = {k: env[k] for k in ("FIELD_ENCRYPTION_KEY", "FLIGHTDECK_AUDIT_KEY")}
        _write_private(folder / "keys.env", env_text(keys))
        manifest = {
            "name": name,
            "version": version(),
            "created_at": _now(),
            "database": instance.meta()["database"]["engine"],
            "dump": dump.name,
            "migrations_applied": instance.status().get("migrations_applied"),
        }
        (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return folder


def restore(
    backup_folder: Path,
    name: str,
    *,
    root: Path | None = None,
    server_url: str = "",
    redis_url: str = "",
) -> Instance:
    """A new instance named `name` from a backup: same data, files and keys (credentials and the audit
    chain stay readable), its own database, broker namespace and secret key. The audit chain is
    verified before it counts as restored; a failure leaves nothing behind."""
    backup_folder = Path(backup_folder)
    try:
        manifest = json.loads((backup_folder / "manifest.json").read_text())
        keys = env_read(backup_folder / "keys.env")
    except (OSError, ValueError) as error:
        raise InstanceError(f"{backup_folder} is not a backup of an instance: {error}") from None
    if manifest["database"] == "postgresql" and not server_url:
        raise InstanceError(
            "This backup is of a PostgreSQL instance: name the server to restore it to "
            f"(--database-server or {SERVER_VARIABLE})."
        )
    if manifest["database"] == "sqlite" and server_url:
        raise InstanceError("This backup is of a SQLite instance; it restores to SQLite only.")
    instance = Instance(Path(root or default_root()), name_check(name))
    plan = Plan(instance, server_url, redis_url, keys=keys)
    if instance.folder.exists():
        raise InstanceError(
            f"An instance named {name} already exists at {instance.folder}: restore to a new name."
        )
    _preflight(plan)
    with _all_or_nothing(instance) as undo:
        _make(plan, undo)
        with tarfile.open(backup_folder / "files.tar.gz") as tar:
            tar.extractall(instance.var_dir, filter="data")
        _database_put_back_new(instance, backup_folder / manifest["dump"])
        result = instance.manage("audit_verify", check=False)
        if result.returncode != 0:
            raise InstanceError(f"The restored audit chain does not verify:\n{_tail(result, lines=4)}")
        instance.meta_write(
            _meta(
                plan,
                stamped_at=_now(),
                restored_from=str(backup_folder),
                restored_from_instance=manifest["name"],
                audit_verified=result.stdout.strip(),
            )
        )
    return instance


def _database_put_back_new(instance: Instance, dump: Path) -> None:
    url = instance.settings()["DATABASE_URL"]
    if url.startswith("sqlite"):
        stores.sqlite_copy(dump, _sqlite_path(url))
    else:
        stores.pg_restore(url, dump)


# --- retire --------------------------------------------------------------------------------------


def retire(name: str, *, root: Path | None = None, server_url: str = "") -> Path:
    """A final backup, then its database and role, its broker keys and its folder go. Returns the
    backup, which stays under <root>/.backups/<name>/."""
    instance = instance_get(name, root=root)
    meta = instance.meta()
    final = backup(name, root=root)
    if meta["database"]["engine"] == "postgresql":
        server = _server(instance, server_url)
        stores.pg_drop_database(server, meta["database"]["name"])
        stores.pg_drop_role(server, meta["database"]["role"])
    if meta["broker"]["prefix"]:
        stores.redis_delete(instance.settings()["CELERY_BROKER_URL"], meta["broker"]["prefix"])
    shutil.rmtree(instance.folder)
    with suppress(OSError):
        (final / "RETIRED").write_text(f"{name} retired at {_now()}\n")
    return final
