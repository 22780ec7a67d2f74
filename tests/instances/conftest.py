"""Stamped instances for the instance tests: SQLite files and the filesystem broker under a temporary
root; with DATABASE_URL=postgres://... their databases and roles are made on that PostgreSQL server
instead, and with FLIGHTDECK_TEST_REDIS_URL (for example redis://127.0.0.1:6379/3) their broker is
that Redis. Stamping runs every migration, so instances are shared by the tests of a module."""

import json
import os
import secrets
import urllib.parse
from pathlib import Path

import pytest

from instances import core, stores


def server_url() -> str:
    """The PostgreSQL server of the test run's DATABASE_URL (its maintenance database), or ""."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        return ""
    return urllib.parse.urlunsplit(urllib.parse.urlsplit(url)._replace(path="/postgres"))


SERVER = server_url()
REDIS = os.environ.get("FLIGHTDECK_TEST_REDIS_URL", "")


def unique(label: str) -> str:
    """A name no other test run on this machine uses (the PostgreSQL server and Redis are shared)."""
    return f"t{secrets.token_hex(4)}-{label}"


def stamp(root: Path, label: str) -> core.Stamped:
    return core.stamp(unique(label), root=root, server_url=SERVER, redis_url=REDIS)


def run_in(instance: core.Instance, code: str) -> dict:
    """Run Python in the instance (manage.py shell) and read the JSON object its last line prints."""
    result = instance.manage("shell", "-v", "0", "-c", code, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def leftovers(instance: core.Instance) -> dict:
    """What is left of an instance anywhere: its folder, its database and role, its Redis keys."""
    pg = core.PG_PREFIX + instance.name.replace("-", "_")
    return {
        "folder": instance.folder.exists(),
        "postgres": stores.pg_exists(SERVER, pg, pg) if SERVER else [],
        "redis": stores.redis_keys(REDIS, f"{instance.name}:") if REDIS else [],
    }


NOTHING = {"folder": False, "postgres": [], "redis": []}


def retire_quietly(instance: core.Instance) -> None:
    """Remove a test's instance from the shared servers (its folder goes with tmp_path)."""
    if instance.complete:
        core.retire(instance.name, root=instance.root, server_url=SERVER)


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("instances")
