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
import subprocess
import sys
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.conftest import CONFIG_VARIABLES
from tests.releases.booking_race_worker import http_round, race_server, run_worker

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
    env["RACE_TOKENS"] = json.dumps(run_worker(env, "prepare", "--contenders", str(CONTENDERS))["tokens"])
    return env


def _assert_one_winner_per_round(result: dict, rounds: int) -> None:
    assert result["rounds"] == rounds
    assert result["per_round"] == [{"approved": 1, "conflict": CONTENDERS - 1}] * rounds, result


def test_fifty_requests_through_the_service_book_the_slot_once(instance):
    _assert_one_winner_per_round(run_worker(instance, "service", "--rounds", str(ROUNDS)), ROUNDS)
    assert run_worker(instance, "verify")["overlaps"] == 0


def test_fifty_admins_approving_requests_for_one_slot_approve_one(instance):
    _assert_one_winner_per_round(run_worker(instance, "approve", "--rounds", "2"), 2)
    assert run_worker(instance, "verify")["overlaps"] == 0


@pytest.fixture(scope="module")
def server(instance):
    with race_server(instance) as base:
        yield base


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
    assert run_worker(instance, "verify")["overlaps"] == 0
