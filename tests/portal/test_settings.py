"""Settings come from the environment: production refuses to start half-configured (one readable line,
no traceback), passes Django's deployment checks when configured, and the embedded mode needs nothing.

These run manage.py in a subprocess with a private var/ directory, as an operator would."""

import secrets
import stat

import pytest
from cryptography.fernet import Fernet
from django.conf import settings
from django.db import connection

pytestmark = pytest.mark.django_db


def test_production_without_a_secret_key_refuses_to_start_in_one_line(manage_py, tmp_path):
    result = manage_py("check", FLIGHTDECK_ENV="production", ALLOWED_HOSTS="flightdeck.example.com")
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    last_line = result.stderr.strip().splitlines()[-1]
    assert "SECRET_KEY" in last_line
    assert last_line.startswith("flightdeck: configuration error:")
    assert not (tmp_path / "secret_key").exists()  # production never invents a key


def test_a_database_url_that_names_no_database_is_a_one_line_error(manage_py):
    result = manage_py("check", DATABASE_URL="nonsense://x")
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "configuration error" in lines[0]
    assert "DATABASE_URL" in lines[0]


def test_a_configured_production_instance_passes_the_deployment_checks(manage_py):
    result = manage_py(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        FLIGHTDECK_ENV="production",
        SECRET_KEY=secrets.token_urlsafe(60),
        ALLOWED_HOSTS="flightdeck.example.com",
        FIELD_ENCRYPTION_KEY=Fernet.generate_key().decode(),
        FLIGHTDECK_AUDIT_KEY=secrets.token_urlsafe(40),
    )
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


PRINT_SECRET_KEY = "from django.conf import settings; print(settings.SECRET_KEY)"


def test_embedded_mode_generates_its_secret_key_once_and_keeps_it_private(manage_py, tmp_path):
    first = manage_py("shell", "--no-imports", "-c", PRINT_SECRET_KEY)
    second = manage_py("shell", "--no-imports", "-c", PRINT_SECRET_KEY)
    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    key = first.stdout.strip()
    assert len(key) >= 50
    assert second.stdout.strip() == key
    key_file = tmp_path / "secret_key"
    assert key_file.read_text().strip() == key
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


SQLITE_PROBE = """
import sqlite3
from django.conf import settings
from django.db import connection, transaction
with connection.cursor() as cursor:
    cursor.execute("PRAGMA journal_mode")
    print(cursor.fetchone()[0])
with transaction.atomic():
    other = sqlite3.connect(settings.DATABASES["default"]["NAME"], timeout=0)
    try:
        other.execute("BEGIN IMMEDIATE")
        print("write lock free")
    except sqlite3.OperationalError:
        print("write lock held")
    other.close()
"""


def test_embedded_sqlite_uses_wal_and_takes_the_write_lock_at_begin(manage_py, tmp_path):
    result = manage_py("shell", "--no-imports", "-c", SQLITE_PROBE)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["wal", "write", "lock", "held"]
    assert (tmp_path / "flightdeck.sqlite3").exists()


def test_sqlite_transactions_begin_immediate():
    if connection.vendor != "sqlite":
        pytest.skip("only the embedded SQLite database has a transaction mode")
    assert settings.DATABASES["default"]["OPTIONS"]["transaction_mode"] == "IMMEDIATE"


def test_production_without_an_audit_key_refuses_to_start_in_one_line(manage_py):
    result = manage_py(
        "check",
        FLIGHTDECK_ENV="production",
        SECRET_KEY=secrets.token_urlsafe(60),
        ALLOWED_HOSTS="flightdeck.example.com",
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    last_line = result.stderr.strip().splitlines()[-1]
    assert "FLIGHTDECK_AUDIT_KEY" in last_line and last_line.startswith("flightdeck: configuration error:")
