"""Shared fixtures: users in a role, logged-in clients, a superuser, manage.py in a subprocess."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.db import transaction
from django.db.backends.sqlite3.base import DatabaseOperations as SqliteOperations
from django.test import Client

from tests.factories import UserFactory


@pytest.fixture
def user_in_role(db):
    """user_in_role("Security reviewer", first_name="Sam") -> a user in that role's group."""

    def make(role: str, **fields):
        user = UserFactory(**fields)
        user.groups.add(Group.objects.get(name=role))
        return user

    return make


@pytest.fixture
def client_for(user_in_role):
    """client_for("Auditor") -> a test client logged in as a new user in that role."""

    def make(role: str, **fields) -> Client:
        client = Client()
        client.force_login(user_in_role(role, **fields))
        return client

    return make


@pytest.fixture
def superuser(db):
    return UserFactory(username="root", first_name="Rita", last_name="Root", is_staff=True, is_superuser=True)


@pytest.fixture
def superuser_client(superuser) -> Client:
    client = Client()
    client.force_login(superuser)
    return client


REPO = Path(__file__).resolve().parents[1]
# Variables that configure an instance: a subprocess starts without the test run's own.
CONFIG_VARIABLES = (
    "FLIGHTDECK_ENV",
    "SECRET_KEY",
    "DATABASE_URL",
    "CELERY_BROKER_URL",
    "ALLOWED_HOSTS",
    "FIELD_ENCRYPTION_KEY",
    "FLIGHTDECK_AUDIT_KEY",
    "FLIGHTDECK_AUDIT_CHECKPOINTS",
    "DEBUG",
    "DJANGO_ALLOW_ASYNC_UNSAFE",  # set by the browser tests' conftest; never in a deployment
)


@pytest.fixture
def manage_py(tmp_path):
    """manage_py("check", FLIGHTDECK_ENV="production") runs manage.py as an operator would: a fresh
    process, the embedded defaults unless told otherwise, and tmp_path as the instance's var/ folder."""

    def run(*args, **variables) -> subprocess.CompletedProcess:
        env = {name: value for name, value in os.environ.items() if name not in CONFIG_VARIABLES}
        env |= {"FLIGHTDECK_VAR_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "portal.settings", **variables}
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    return run


def _flush_around_delete_guards(execute_sql_flush):
    """Django's test flush empties tables with DELETE on SQLite (PostgreSQL uses TRUNCATE, which row
    triggers do not see), and the database refuses to delete audit events, sign-offs and the chain's
    head (releases migration 0010). The suite's flush lifts those DELETE guards for its own statements
    and puts them back, as a database owner could; nothing else in the suite can delete those rows."""

    def flush(self, sql_list):
        with transaction.atomic(using=self.connection.alias), self.connection.cursor() as cursor:
            cursor.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND sql LIKE '%BEFORE DELETE%'"
            )
            guards = cursor.fetchall()
            for name, _sql in guards:
                cursor.execute(f'DROP TRIGGER "{name}"')
            execute_sql_flush(self, sql_list)
            for _name, sql in guards:
                cursor.execute(sql)

    return flush


SqliteOperations.execute_sql_flush = _flush_around_delete_guards(SqliteOperations.execute_sql_flush)


@pytest.fixture(autouse=True)
def _empty_cache():
    """Each test starts with an empty cache (the metrics keep sums per roll-up run in it)."""
    cache.clear()


@pytest.fixture(autouse=True)
def _audit_checkpoints_per_test(settings, tmp_path):
    """Each test has its own audit checkpoint file (the instance's var/ is shared by the workers)."""
    settings.AUDIT_CHECKPOINT_FILE = tmp_path / "audit-checkpoints.jsonl"
