"""Shared fixtures: users in a role, logged-in clients, a superuser, manage.py in a subprocess."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
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
