"""flightdeck-instances (or python -m instances): stamp, list, upgrade, back up, restore and retire
customer instances. See docs/instances.md.

    python -m instances stamp acme [--database-server postgres://postgres@db:5432/postgres]
                                   [--redis-url redis://redis:6379/0] [--production --host acme.example.com]
    python -m instances list [--json]
    python -m instances upgrade
    python -m instances backup acme [--to folder]
    python -m instances restore <backup folder> acme-copy [--database-server ...] [--redis-url ...]
    python -m instances retire acme --yes

The instances live under --root (or FLIGHTDECK_INSTANCES_ROOT; default var/instances/ in the repository).
"""

import argparse
import json
import os
import sys
from pathlib import Path

from instances import core
from instances.stores import StoreError


def main(argv: list[str] | None = None) -> int:
    options = parser().parse_args(argv)
    try:
        return options.run(options) or 0
    except (core.InstanceError, StoreError) as error:
        print(f"instances: {error}", file=sys.stderr)
        return 1


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="python -m instances", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    top.add_argument("--root", type=Path, default=None, help=f"where instances live (${core.ROOT_VARIABLE})")
    commands = top.add_subparsers(dest="command", required=True)

    stamp = commands.add_parser("stamp", help="make a new instance")
    stamp.add_argument("name")
    _server_options(stamp)
    stamp.add_argument("--admin", default="admin", help="the first admin's username (default: admin)")
    stamp.add_argument("--admin-email", default="")
    stamp.add_argument("--production", action="store_true", help="FLIGHTDECK_ENV=production (needs --host)")
    stamp.add_argument("--host", action="append", default=[], help="a host name it answers to (repeatable)")
    stamp.add_argument("--port", type=int, default=8000, help="its web server's port (default 8000)")
    stamp.add_argument(
        "--base-url", default="", help="the address in its e-mails (default http://127.0.0.1:<port>)"
    )
    stamp.add_argument(
        "--demo",
        choices=["small", "medium", "enterprise"],
        default="",
        help="seed the demo data and its accounts instead of a first admin and the default policy",
    )
    stamp.set_defaults(run=_stamp)

    listing = commands.add_parser("list", help="instances with version, migrations, size and health")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(run=_list)

    upgrade = commands.add_parser("upgrade", help="migrate every instance; stop at the first failure")
    upgrade.add_argument("--database-server", default=os.environ.get(core.SERVER_VARIABLE, ""))
    upgrade.set_defaults(run=_upgrade)

    backup = commands.add_parser("backup", help="database dump, files and keys of one instance")
    backup.add_argument("name")
    backup.add_argument(
        "--to", type=Path, default=None, help="a new folder (default: <root>/.backups/<name>/)"
    )
    backup.set_defaults(run=_backup)

    restore = commands.add_parser("restore", help="a backup to a new instance; the audit chain is verified")
    restore.add_argument("backup", type=Path)
    restore.add_argument("name")
    _server_options(restore)
    restore.set_defaults(run=_restore)

    retire = commands.add_parser("retire", help="final backup, then remove database, role, queues, files")
    retire.add_argument("name")
    retire.add_argument("--yes", action="store_true", help="really retire it")
    retire.add_argument("--database-server", default=os.environ.get(core.SERVER_VARIABLE, ""))
    retire.set_defaults(run=_retire)
    return top


def _server_options(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--database-server",
        default=os.environ.get(core.SERVER_VARIABLE, ""),
        help="a PostgreSQL server URL with a role that may create roles and databases; "
        "default: a SQLite file in the instance's folder",
    )
    command.add_argument(
        "--redis-url", default="", help="Redis for the broker (default: the filesystem broker)"
    )


def _stamp(options) -> None:
    made = core.stamp(
        options.name,
        root=options.root,
        server_url=options.database_server,
        redis_url=options.redis_url,
        admin_username=options.admin,
        admin_email=options.admin_email,
        production=options.production,
        hosts=options.host,
        base_url=options.base_url,
        demo=options.demo,
        port=options.port,
    )
    print(f"Instance {made.instance.name} stamped in {made.instance.folder}")
    print(f"  environment file: {made.instance.env_file}")
    if options.demo:
        print(f"  seeded with the {options.demo} demo: its accounts are the README's demo accounts")
        _print_start(made.commands)
        return
    print(f"  first admin:      {made.admin_username}")
    print(f"  password:         {made.admin_password}")
    print("  (the password is shown this once and stored nowhere: keep it now, or reset it with")
    print(
        f"   `env $(grep -v '^#' {made.instance.env_file} | xargs) python manage.py changepassword "
        f"{made.admin_username}`)"
    )
    _print_start(made.commands)


def _print_start(commands: dict[str, str]) -> None:
    print("\nStart it (each command reads the instance's environment file; give each web its own port):")
    for role, command in commands.items():
        print(f"  {role:<6}  {command}")


def _list(options) -> None:
    rows = core.instance_list(options.root)
    if options.json:
        print(json.dumps(rows, indent=2))
        return
    if not rows:
        print(f"No instances under {options.root or core.default_root()}.")
        return
    print(f"{'name':<24} {'version':<9} {'database':<10} {'migrations':<16} {'size':>10}  health")
    for row in rows:
        if row["state"] != "ready":
            print(f"{row['name']:<24} {'-':<9} {'-':<10} {'-':<16} {'-':>10}  INCOMPLETE stamp")
            continue
        pending = row["migrations_pending"] or []
        migrations = f"{len(pending)} pending" if pending else row["migrations"]
        size = _size((row["database_bytes"] or 0) + row["files_bytes"])
        health = "ok" if row["healthy"] else f"DOWN ({row['error'] or 'broker'})"
        worker = row["worker_seen_at"] or "never"
        print(
            f"{row['name']:<24} {row['version']:<9} {row['database']:<10} {migrations:<16} {size:>10}  "
            f"{health}; worker seen {worker}"
        )


def _upgrade(options) -> int:
    report = core.upgrade_all(root=options.root, server_url=options.database_server)
    for line in report.upgraded:
        print(f"  {line}")
    if report.ok:
        print("All instances are up to date.")
        return 0
    print(f"  {report.failed}: FAILED at {report.failed_migration}")
    for line in report.error.splitlines():
        print(f"      {line}")
    if report.restored:
        print(f"  {report.failed}: put back as it was before the upgrade (its database from the snapshot)")
    for name in report.not_attempted:
        print(f"  {name}: not attempted")
    print(f"Upgrade stopped at {report.failed}; fix the failing migration and run upgrade again.")
    return 1


def _backup(options) -> None:
    folder = core.backup(options.name, root=options.root, to=options.to)
    print(f"Backup of {options.name}: {folder}")
    print("  keys.env holds its encryption and audit keys: store it apart from the rest.")


def _restore(options) -> None:
    instance = core.restore(
        options.backup,
        options.name,
        root=options.root,
        server_url=options.database_server,
        redis_url=options.redis_url,
    )
    print(f"Restored to a new instance {instance.name} in {instance.folder}")
    print(f"  {instance.meta()['audit_verified']}")
    for role, command in core.start_commands(instance).items():
        print(f"  {role:<6}  {command}")


def _retire(options) -> int:
    if not options.yes:
        print(
            f"Retiring removes {options.name}'s database, role, queues and files after a final backup. "
            "Stop its web and workers, then run again with --yes.",
            file=sys.stderr,
        )
        return 2
    final = core.retire(options.name, root=options.root, server_url=options.database_server)
    print(f"{options.name} retired. Its final backup: {final}")
    return 0


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024:
            return f"{n:.0f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"
