"""How long seeding the demo takes, on a fresh instance; prints one JSON object.

    .venv/bin/python bench/seed.py [--scale enterprise] [--seed 1] [--anchor YYYY-MM-DD]
    .venv/bin/python bench/seed.py --database-url postgres://postgres@127.0.0.1:5432/flightdeck_bench

Each run uses a fresh FLIGHTDECK_VAR_DIR (SQLite file, secret, broker) in a temporary folder; with
--database-url the PostgreSQL database named in the URL is dropped and created first. It migrates, times
`manage.py seed_demo` alone (the target: 60 s for enterprise scale on the project's 2-core machine),
then counts the rows of every table and the busiest week of releases straight from the database.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

REPO = Path(__file__).resolve().parent.parent
TARGET_SECONDS = 60

# Runs inside the seeded instance; prints the facts as JSON.
COUNT_SCRIPT = """
import json
from collections import Counter
from datetime import timedelta
from django.apps import apps
from django.db import connection
from releases.models import AuditEvent, Release
rows = {m._meta.label: m.objects.count() for m in apps.get_models(include_auto_created=True)}
targets = Release.objects.values_list("target_date", flat=True)
weeks = Counter(d - timedelta(days=d.weekday()) for d in targets)
start, releases = weeks.most_common(1)[0] if weeks else (None, 0)
seeded = AuditEvent.objects.filter(action="demo.seed").values_list("after", flat=True).first() or {}
print(json.dumps({
    "database": connection.vendor,
    "rows": {label: count for label, count in sorted(rows.items()) if count},
    "peak_week": {"start": start.isoformat() if start else None, "releases": releases},
    "recorded_peak_week": seeded.get("peak_week"),
}))
"""
STAGE_LINE = re.compile(r"^\s+(?P<stage>\S.*?)\s+[\d,]+\s+(?P<seconds>[\d.]+) s$")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="enterprise", choices=["small", "medium", "enterprise"])
    parser.add_argument("--seed", default="1")
    parser.add_argument("--anchor", default=None, help="YYYY-MM-DD (default: today)")
    parser.add_argument(
        "--database-url", default="", help="postgres://... (dropped and created); default SQLite"
    )
    options = parser.parse_args()

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="flightdeck-bench-seed-") as var_dir:
        env = {**os.environ, "FLIGHTDECK_VAR_DIR": var_dir, "DATABASE_URL": options.database_url}
        if options.database_url:
            recreate_database(options.database_url)
        manage(env, "migrate", "--noinput", "-v", "0")
        seed_args = ["seed_demo", "--scale", options.scale, "--seed", options.seed]
        if options.anchor:
            seed_args += ["--anchor", options.anchor]
        seed_started = time.perf_counter()
        seed_output = manage(env, *seed_args)
        seed_seconds = time.perf_counter() - seed_started
        facts = json.loads(manage(env, "shell", "-v", "0", "-c", COUNT_SCRIPT))
    result = {
        "scale": options.scale,
        "database": facts["database"],
        "seed_seconds": round(seed_seconds, 2),
        "total_seconds": round(time.perf_counter() - started, 2),
        "target_seconds": TARGET_SECONDS,
        "meets_target": seed_seconds <= TARGET_SECONDS,
        "rows": facts["rows"],
        "peak_week": facts["peak_week"],
        "peak_week_matches_seed_record": facts["peak_week"] == facts["recorded_peak_week"],
        "stage_seconds": stage_seconds(seed_output),
    }
    print(json.dumps(result, indent=2))


def manage(env: dict, *args: str) -> str:
    """Run one manage.py command; its output goes to stderr as it runs and is returned."""
    result = subprocess.run(
        [sys.executable, str(REPO / "manage.py"), *args], cwd=REPO, env=env, capture_output=True, text=True
    )
    sys.stderr.write(result.stderr)
    if result.returncode:
        sys.stderr.write(result.stdout)
        sys.exit(f"manage.py {args[0]} failed with exit code {result.returncode}")
    if args[0] != "shell":
        sys.stderr.write(result.stdout)
    return result.stdout


def recreate_database(url: str) -> None:
    _maintain(url, "DROP DATABASE IF EXISTS {name} WITH (FORCE)", "CREATE DATABASE {name}")


def drop_database(url: str) -> None:
    _maintain(url, "DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _maintain(url: str, *statements: str) -> None:
    """Run statements about the database `url` names from the server's maintenance database."""
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        sys.exit(f"refusing to drop a database with an unusual name: {name!r}")
    maintenance = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
    with psycopg.connect(maintenance, autocommit=True) as connection:
        for statement in statements:
            connection.execute(statement.format(name=f'"{name}"'))


def stage_seconds(output: str) -> dict:
    """The seed command's progress lines, as {stage: seconds}."""
    return {m["stage"]: float(m["seconds"]) for line in output.splitlines() if (m := STAGE_LINE.match(line))}


if __name__ == "__main__":
    main()
