"""The booking race, run in its own process against a real database file (SQLite) or server
(PostgreSQL), so the contenders really run at once: pytest's in-memory SQLite cannot take writers
from several threads, and the HTTP race needs a server with several worker processes.

    python -m tests.releases.booking_race_worker prepare --contenders 50
    python -m tests.releases.booking_race_worker service --rounds 3 --contenders 50
    python -m tests.releases.booking_race_worker approve --rounds 3 --contenders 50
    python -m tests.releases.booking_race_worker verify

http_round() runs the HTTP race from the caller's process against a server on such an instance;
run_worker() and race_server() start a command and that server for the test and the benchmark.

The instance comes from the environment (FLIGHTDECK_VAR_DIR or DATABASE_URL), migrated beforehand.
Each command prints one JSON object. A round is one slot that every contender wants at once: through
the service (booking_request by environment admins, who book at once), or by approving (every
contender approves a different request for the slot). Outcomes are counted per round.
"""

import argparse
import itertools
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

REPO = Path(__file__).resolve().parents[2]
ENVIRONMENT = "RACE-1"
FIRST_SLOT = datetime(2040, 1, 2, 10, 0, tzinfo=UTC)


def run_worker(env: dict, *args: str) -> dict:
    """One command of this module in its own process on the instance `env` names; its JSON answer."""
    done = subprocess.run(
        [sys.executable, "-m", "tests.releases.booking_race_worker", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"booking_race_worker {' '.join(args)} failed: {done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


@contextmanager
def race_server(env: dict):
    """gunicorn with three worker processes of twenty threads on the instance; yields its base URL.

    Its log goes to gunicorn.log in the instance folder: a race logs a line per conflict, and a pipe
    that nobody reads fills up and stops the server mid-race."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "gunicorn", "portal.wsgi", "-b", f"127.0.0.1:{port}"]
    command += ["-w", "3", "--threads", "20"]
    log_path = Path(env["FLIGHTDECK_VAR_DIR"]) / "gunicorn.log"
    base = f"http://127.0.0.1:{port}"
    with log_path.open("ab") as log:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=log)
    try:
        _wait_until_up(base, process, log_path)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


def _wait_until_up(base: str, process, log_path: Path) -> None:
    for _ in range(100):
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn did not start: {log_path.read_text(errors='replace')[-2000:]}")
        try:
            httpx.get(f"{base}/healthz", timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise RuntimeError("gunicorn did not answer")


def slot(round_no: int) -> tuple[datetime, datetime]:
    start = FIRST_SLOT + timedelta(days=round_no)
    return start, start + timedelta(hours=4)


def prepare(contenders: int) -> dict:
    """The environment, one application, `contenders` environment admins each with an API token,
    and a release manager who files requests for the approval race."""
    from django.contrib.auth.models import Group

    from portal.api_tokens import api_token_create
    from portal.models import User
    from portal.roles import ENVIRONMENT_ADMIN, RELEASE_MANAGER
    from releases.models import Application, Environment, Portfolio

    Environment.objects.get_or_create(name=ENVIRONMENT, defaults={"kind": "test", "capacity": 1})
    portfolio, _ = Portfolio.objects.get_or_create(slug="race", defaults={"name": "Race"})
    Application.objects.get_or_create(key="RACE", defaults={"name": "Race", "portfolio": portfolio})
    admins = Group.objects.get(name=ENVIRONMENT_ADMIN)
    manager, _ = User.objects.get_or_create(username="race-manager")
    manager.groups.add(Group.objects.get(name=RELEASE_MANAGER))
    tokens = []
    for i in range(contenders):
        user, _ = User.objects.get_or_create(username=f"race-admin-{i}")
        user.groups.add(admins)
        tokens.append(api_token_create(user=user, name="race")[1])
    return {"tokens": tokens}


def _contenders(contenders: int) -> list:
    from portal.models import User

    return [User.objects.get(username=f"race-admin-{i}") for i in range(contenders)]


def _race(calls: list) -> list[str]:
    """Run every call at once (a barrier releases them together); each closes its connection."""
    from django.db import connections

    barrier = threading.Barrier(len(calls))

    def run(call) -> str:
        try:
            barrier.wait()
            return call()
        except Exception as error:
            return f"error: {type(error).__name__}: {error}"
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def service_race(rounds: int, contenders: int, first_round: int = 0) -> dict:
    from releases.environments.services.bookings import BookingConflict, booking_request
    from releases.models import Application, Environment

    env, app = Environment.objects.get(name=ENVIRONMENT), Application.objects.get(key="RACE")
    users = _contenders(contenders)
    for user in users:
        user.has_perm("releases.decide_booking")  # load each user's permissions before the race

    def contender(user, start, end):
        def call() -> str:
            try:
                booking_request(
                    environment=env, by=user, application=app, starts_at=start, ends_at=end, purpose="race"
                )
                return "approved"
            except BookingConflict:
                return "conflict"

        return call

    outcomes = []
    for n in range(first_round, first_round + rounds):
        start, end = slot(n)
        outcomes.append(Counter(_race([contender(user, start, end) for user in users])))
    return _summary(outcomes)


def approve_race(rounds: int, contenders: int, first_round: int = 1000) -> dict:
    """Every contender approves a different request for the same slot."""
    from portal.models import User
    from releases.environments.services.bookings import BookingConflict, booking_approve, booking_request
    from releases.models import Application, Environment

    env, app = Environment.objects.get(name=ENVIRONMENT), Application.objects.get(key="RACE")
    manager, users = User.objects.get(username="race-manager"), _contenders(contenders)
    for user in users:
        user.has_perm("releases.decide_booking")

    def approver(user, booking):
        def call() -> str:
            try:
                booking_approve(booking=booking, by=user)
                return "approved"
            except BookingConflict:
                return "conflict"

        return call

    outcomes = []
    for n in range(first_round, first_round + rounds):
        start, end = slot(n)
        requests = [
            booking_request(
                environment=env, by=manager, application=app, starts_at=start, ends_at=end, purpose="r"
            )
            for _ in users
        ]
        outcomes.append(Counter(_race([approver(u, b) for u, b in zip(users, requests, strict=True)])))
    return _summary(outcomes)


def http_round(base: str, tokens: list[str], round_no: int) -> list:
    """Every token POSTs the same slot to /api/bookings at once; returns the httpx responses."""
    import httpx

    start, end = slot(round_no)
    body = {
        "environment": ENVIRONMENT,
        "application": "RACE",
        "starts_at": start.isoformat(),
        "ends_at": end.isoformat(),
        "purpose": "HTTP race",
    }
    barrier = threading.Barrier(len(tokens))

    def post(token: str):
        with httpx.Client(base_url=base, timeout=60) as client:
            barrier.wait()
            return client.post("/api/bookings", json=body, headers={"Authorization": f"Bearer {token}"})

    with ThreadPoolExecutor(max_workers=len(tokens)) as pool:
        return list(pool.map(post, tokens))


def _summary(outcomes: list[Counter]) -> dict:
    total = sum(outcomes, Counter())
    return {
        "rounds": len(outcomes),
        "per_round": [dict(counter) for counter in outcomes],
        "totals": dict(total),
        "exactly_one_per_round": all(c["approved"] == 1 for c in outcomes),
    }


def verify() -> dict:
    """The invariant, read back from the database: no two approved bookings of the environment overlap."""
    from releases.models import Booking

    approved = list(
        Booking.objects.filter(environment__name=ENVIRONMENT, status="approved")
        .order_by("starts_at")
        .values_list("starts_at", "ends_at")
    )
    overlaps = sum(1 for (_, end), (start, _) in itertools.pairwise(approved) if start < end)
    return {"approved": len(approved), "overlaps": overlaps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["prepare", "service", "approve", "verify"])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--contenders", type=int, default=50)
    parser.add_argument("--first-round", type=int, default=None)
    options = parser.parse_args()
    sys.path.insert(0, os.getcwd())
    import django

    django.setup()
    first = {} if options.first_round is None else {"first_round": options.first_round}
    result = {
        "prepare": lambda: prepare(options.contenders),
        "service": lambda: service_race(options.rounds, options.contenders, **first),
        "approve": lambda: approve_race(options.rounds, options.contenders, **first),
        "verify": verify,
    }[options.command]()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
