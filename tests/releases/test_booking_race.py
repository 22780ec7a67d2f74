"""50 contenders for one slot at once, for real: threads calling the service and an HTTP race against a
gunicorn server with several worker processes. Exactly one booking is approved per round, every other
contender gets a conflict (HTTP 409 naming the winner), nothing answers 500, and no two approved
bookings overlap afterwards.

The race runs on its own instance (tests/releases/booking_race_worker.py): a SQLite file with
BEGIN IMMEDIATE by default, or a scratch PostgreSQL database next to DATABASE_URL's when that is a
postgres URL (where the service locks the environment row with SELECT ... FOR UPDATE).
"""

import json
import os
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from tests.conftest import CONFIG_VARIABLES
from tests.releases.booking_race_worker import http_round

REPO = Path(__file__).resolve().parents[2]
CONTENDERS = 50
ROUNDS = 3


def _scratch_postgres(url: str) -> str:
    """A fresh database beside the configured one, so the race never touches the test database."""
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/") + "_booking_race"
    admin = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as db:
        db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        db.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture(scope="module")
def instance(tmp_path_factory) -> dict:
    """The environment variables of a migrated race instance (SQLite file, or scratch PostgreSQL)."""
    env = {name: value for name, value in os.environ.items() if name not in CONFIG_VARIABLES}
    env |= {
        "FLIGHTDECK_VAR_DIR": str(tmp_path_factory.mktemp("race")),
        "DJANGO_SETTINGS_MODULE": "portal.settings",
    }
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://")):
        env["DATABASE_URL"] = _scratch_postgres(url)
    if os.environ.get("CELERY_BROKER_URL"):
        env["CELERY_BROKER_URL"] = os.environ["CELERY_BROKER_URL"]
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"], cwd=REPO, env=env, check=True, timeout=300
    )
    env["RACE_TOKENS"] = json.dumps(worker(env, "prepare", "--contenders", str(CONTENDERS))["tokens"])
    return env


def worker(env: dict, *args: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "tests.releases.booking_race_worker", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _assert_one_winner_per_round(result: dict, rounds: int) -> None:
    assert result["rounds"] == rounds
    assert result["per_round"] == [{"approved": 1, "conflict": CONTENDERS - 1}] * rounds, result


def test_fifty_requests_through_the_service_book_the_slot_once(instance):
    _assert_one_winner_per_round(worker(instance, "service", "--rounds", str(ROUNDS)), ROUNDS)
    assert worker(instance, "verify")["overlaps"] == 0


def test_fifty_admins_approving_requests_for_one_slot_approve_one(instance):
    _assert_one_winner_per_round(worker(instance, "approve", "--rounds", "2"), 2)
    assert worker(instance, "verify")["overlaps"] == 0


@pytest.fixture(scope="module")
def server(instance):
    """gunicorn with three worker processes of twenty threads on the race instance."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "portal.wsgi",
            "-b",
            f"127.0.0.1:{port}",
            "-w",
            "3",
            "--threads",
            "20",
        ],
        cwd=REPO,
        env=instance,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(base, process)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


def _wait_until_up(base: str, process) -> None:
    for _ in range(100):
        if process.poll() is not None:
            pytest.fail(f"gunicorn did not start: {process.stderr.read().decode()[-2000:]}")
        try:
            httpx.get(f"{base}/healthz", timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    pytest.fail("gunicorn did not answer")


def test_fifty_simultaneous_api_requests_get_one_201_and_409s_naming_the_winner(instance, server):
    tokens = json.loads(instance["RACE_TOKENS"])
    for round_no in range(2000, 2000 + ROUNDS):
        responses = http_round(server, tokens, round_no)
        statuses = Counter(r.status_code for r in responses)
        assert statuses == {201: 1, 409: CONTENDERS - 1}, [
            r.text[:200] for r in responses if r.status_code >= 500
        ]
        winner = next(r.json()["booking"]["id"] for r in responses if r.status_code == 201)
        conflicts = [r.json() for r in responses if r.status_code == 409]
        assert {c["winner"]["id"] for c in conflicts} == {winner}
        assert all(f"booking #{winner}" in c["detail"] for c in conflicts)
    assert worker(instance, "verify")["overlaps"] == 0
