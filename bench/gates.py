"""Sign-off, reviewer queue, audit chain and can-deploy against the targets of issue 4, as one JSON object.

    .venv/bin/python bench/gates.py [--var-dir /tmp/fd-gates] [--signings 30] [--events 1000000]
    .venv/bin/python bench/gates.py --database-url postgres://postgres@127.0.0.1:5432/flightdeck_gates

Each part runs in its own process on its own instance (a temporary folder, removed after):
- "small": `seed_demo --scale small`; the reviewer queue's query count.
- "enterprise": `seed_demo --scale enterprise` (--var-dir keeps that SQLite instance for the next run;
  --database-url uses PostgreSQL, dropped and created first). The queue's query count and timings as
  the demo reviewer `sec`; --signings HTMX sign-off POSTs through django.test.Client on different gates
  (the state hash read as the panel shows it, then the timed POST), once with the password hashed by the
  instance's own hasher (Argon2id, portal/hashers.py) and once, on other gates, with a cheap
  hasher, which is the action without the password check; `GET /api/can-deploy` with an API token.
- "audit": an empty SQLite instance; --events valid chained events bulk-inserted (hashed with the
  instance's key by releases.audit.event_hash, HMAC-SHA256), a signed checkpoint written half-way,
  then `audit_verify` timed (keyed hashes, the checkpoint, sign-offs), then one row changed and
  verified again (it must be named).
Query counts are every query of the request, the session, user, role badge and permissions included.
"""

import argparse
import json
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

from common import REPO, bench_instance, percentiles

TARGETS = {"signoff_p95_ms": 100, "queue_queries": 10, "audit_verify_seconds": 30, "can_deploy_p95_ms": 30}
QUEUES = {"waiting_for_me": "", "all_pending": "?show=pending", "decided": "?show=decided"}
CHEAP_HASHER = "django.contrib.auth.hashers.MD5PasswordHasher"
REVIEWER, REVIEWER_PASSWORD = "sec", "flightdeck-sec"


def main() -> None:
    options = parse_args()
    if options.part:
        # No --reuse here: a database URL (the enterprise part's) is dropped and created every run.
        with bench_instance(options, f"flightdeck-bench-gates-{options.part}-"):
            result = PARTS[options.part](options)
        print(json.dumps(result))
        return
    small = _run_part("small", options)
    enterprise = _run_part("enterprise", options)
    audit = _run_part("audit", options)
    print(json.dumps(_report(small, enterprise, audit), indent=2))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--var-dir", default="", help="enterprise instance kept between runs (SQLite)")
    parser.add_argument("--database-url", default="", help="postgres://... for the enterprise part")
    parser.add_argument("--signings", type=int, default=30)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--part", choices=["small", "enterprise", "audit"], help=argparse.SUPPRESS)
    return parser.parse_args()


def _run_part(part: str, options) -> dict:
    args = [sys.executable, __file__, "--part", part, "--signings", str(options.signings)]
    args += ["--requests", str(options.requests), "--events", str(options.events)]
    if part == "enterprise":
        args += ["--var-dir", options.var_dir, "--database-url", options.database_url]
    done = subprocess.run(args, cwd=REPO, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return {"error": done.stderr[-2000:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def _seed(scale: str) -> float:
    from django.core.management import call_command

    started = time.perf_counter()
    call_command("migrate", "--noinput", verbosity=0)
    call_command("seed_demo", "--scale", scale, stdout=sys.stderr)
    return round(time.perf_counter() - started, 1)


# --- parts ----------------------------------------------------------------------------------------


def part_small(options) -> dict:
    seed_seconds = _seed("small")
    return {"setup_seconds": seed_seconds, **_measure_queues(n=5), **_counts()}


def part_enterprise(options) -> dict:
    from django.db import connection

    seed_seconds = _seed("enterprise")
    result = {"database": connection.vendor, "setup_seconds": seed_seconds, **_counts()}
    result |= _measure_queues(n=options.requests)
    result["signoff"] = _measure_signoffs(options.signings)
    result["can_deploy"] = _measure_can_deploy(options.requests)
    return result


def part_audit(options) -> dict:
    from django.core.management import call_command

    call_command("migrate", "--noinput", verbosity=0)
    return _measure_audit(options.events)


PARTS = {"small": part_small, "enterprise": part_enterprise, "audit": part_audit}


def _counts() -> dict:
    from releases.models import Gate, Release

    return {"releases": Release.objects.count(), "gates": Gate.objects.count()}


# --- the reviewer queue ---------------------------------------------------------------------------


def _reviewer_client():
    from django.test import Client

    from portal.models import User

    client = Client(raise_request_exception=False)
    client.force_login(User.objects.get(username=REVIEWER))
    return client


def _measure_queues(*, n: int) -> dict:
    client = _reviewer_client()
    queues = {}
    for name, query in QUEUES.items():
        queues[name] = _measure_get(client, "/gates/" + query, n=n)
        queues[name]["meets_target"] = queues[name]["queries"] <= TARGETS["queue_queries"]
    return {"queue": queues}


def _measure_get(client, url: str, *, n: int, **headers) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.get(url, headers=headers)  # warm-up: session and permission caches
    times = []
    for _ in range(n):
        started = time.perf_counter()
        response = client.get(url, headers=headers)
        times.append((time.perf_counter() - started) * 1000)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, headers=headers)
    rows = response.content.count(b'<tr id="queue-gate-')
    return {
        "url": url,
        "status": response.status_code,
        "rows": rows,
        **percentiles(times),
        "queries": len(queries),
    }


# --- signing --------------------------------------------------------------------------------------


def _measure_signoffs(signings: int) -> dict:
    from django.conf import settings
    from django.contrib.auth.hashers import check_password, make_password
    from django.test import override_settings

    from portal.models import User
    from releases.gates.selectors.gate_panel import gate_queue

    reviewer = User.objects.get(username=REVIEWER)
    gate_ids = list(gate_queue(reviewer, "mine").values_list("pk", flat=True)[: 2 * signings])
    if len(gate_ids) < 2 * signings:
        return {"error": f"only {len(gate_ids)} gates wait for {REVIEWER}; need {2 * signings}"}
    reviewer.set_password(REVIEWER_PASSWORD)  # the instance's own hasher at full strength
    reviewer.save(update_fields=["password"])
    encoded = make_password(REVIEWER_PASSWORD)
    hash_times = [_timed(lambda: check_password(REVIEWER_PASSWORD, encoded)) for _ in range(5)]
    full = _sign_each(gate_ids[:signings])
    with override_settings(PASSWORD_HASHERS=[CHEAP_HASHER]):
        reviewer.set_password(REVIEWER_PASSWORD)
        reviewer.save(update_fields=["password"])
        cheap = _sign_each(gate_ids[signings:])
    return {
        "signings": signings,
        "hasher": f"{settings.PASSWORD_HASHERS[0].rsplit('.', 1)[-1]}",
        "password_check_ms": round(statistics.median(hash_times), 1),
        "with_instance_hasher": full | {"meets_target": full["p95_ms"] <= TARGETS["signoff_p95_ms"]},
        "without_password_hashing": cheap | {"meets_target": cheap["p95_ms"] <= TARGETS["signoff_p95_ms"]},
    }


def _sign_each(gate_ids: list[int]) -> dict:
    from releases.gates.services.signoffs import gate_state_hash
    from releases.models import Gate

    client = _reviewer_client()
    times, statuses = [], {}
    for pk in gate_ids:
        gate = Gate.objects.select_related("release__application").get(pk=pk)
        data = {
            "decision": "approve",
            "agree": "on",
            "password": REVIEWER_PASSWORD,
            "state_hash": gate_state_hash(gate),
        }
        started = time.perf_counter()
        response = client.post(
            f"/gates/{pk}/sign/", data, headers={"HX-Request": "true", "HX-Target": f"gate-{pk}"}
        )
        times.append((time.perf_counter() - started) * 1000)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
    return {"statuses": statuses, **percentiles(times)}


def _timed(work) -> float:
    started = time.perf_counter()
    work()
    return (time.perf_counter() - started) * 1000


# --- can-deploy -----------------------------------------------------------------------------------


def _measure_can_deploy(n: int) -> dict:
    from django.test import Client
    from django.urls import NoReverseMatch, reverse

    from portal.models import User
    from releases.models import Environment, Release

    try:
        from portal.api_tokens import api_token_create

        url = reverse("api:can-deploy")
    except (ImportError, NoReverseMatch):
        return {"measured": False, "why": "the can-deploy endpoint is not built in this checkout"}
    release = Release.objects.open().select_related("application").order_by("target_date", "pk").first()
    environment = Environment.objects.filter(kind="prod").order_by("pk").first()
    _, secret = api_token_create(user=User.objects.get(username=REVIEWER), name="bench")
    query = f"?application={release.application.key}&version={release.version}&environment={environment.name}"
    timing = _measure_get(Client(), url + query, n=n, authorization=f"Bearer {secret}")
    timing.pop("rows")
    answer = Client().get(url + query, headers={"authorization": f"Bearer {secret}"})
    return {
        "measured": True,
        **timing,
        "answer": answer.json(),
        "meets_target": timing["p95_ms"] <= TARGETS["can_deploy_p95_ms"],
    }


# --- the audit chain ------------------------------------------------------------------------------


def _measure_audit(events: int) -> dict:
    from django.db import connection, transaction

    from releases.audit import audit_checkpoint, audit_verify

    started = time.perf_counter()
    bad_seq = events // 2 + 1
    _insert_chain(events // 2)
    audit_checkpoint()  # an anchor half-way, compared by every verification after
    _insert_chain(events, start=events // 2 + 1)
    insert_seconds = time.perf_counter() - started
    started = time.perf_counter()
    intact = audit_verify()
    verify_seconds = time.perf_counter() - started
    with transaction.atomic(), connection.cursor() as cursor:  # tamper as a database owner would
        cursor.execute("DROP TRIGGER releases_auditevent_append_only")  # (SQLite)
        cursor.execute("UPDATE releases_auditevent SET actor_label = 'mallory' WHERE seq = %s", [bad_seq])
    started = time.perf_counter()
    tampered = audit_verify()
    return {
        "events": events,
        "keyed": True,
        "checkpoints_compared": intact.checkpoints,
        "insert_seconds": round(insert_seconds, 1),
        "verify_seconds": round(verify_seconds, 1),
        "verify": intact.as_dict(),
        "tampered_row": bad_seq,
        "tampered_verify": tampered.as_dict(),
        "tampered_verify_seconds": round(time.perf_counter() - started, 1),
        "names_the_tampered_row": tampered.bad_seq == bad_seq,
        "meets_target": intact.ok and verify_seconds <= TARGETS["audit_verify_seconds"],
    }


def _insert_chain(events: int, *, start: int = 1, batch: int = 20_000) -> None:
    """A valid keyed chain up to event `events` from `start`, written by raw executemany (the ORM would
    take minutes), each hash an HMAC with the instance's key."""
    from django.db import connection, transaction

    from releases.audit import GENESIS_HASH, chain_mac, event_hash
    from releases.models import AuditChainHead

    columns = (
        "seq, actor_id, actor_label, action, object_type, object_id, object_repr, before, after, "
        "release_id, portfolio_id, created_at, prev_hash, hash"
    )
    sql = f"INSERT INTO releases_auditevent ({columns}) VALUES ({', '.join(['%s'] * 14)})"
    base = datetime(2020, 1, 1, tzinfo=UTC)
    head = AuditChainHead.objects.filter(pk=1).first()
    prev, rows, mac = head.hash if head else GENESIS_HASH, [], chain_mac()
    with transaction.atomic(), connection.cursor() as cursor:
        for seq in range(start, events + 1):
            content = {
                "actor_id": None,
                "actor_label": "system",
                "action": "release.update",
                "object_type": "releases.release",
                "object_id": str(seq % 5000),
                "object_repr": f"APP{seq % 35} 1.{seq % 5000}.0",
                "before": {"status": "planned", "target_date": "2030-02-01"},
                "after": {"status": "in_progress", "target_date": "2030-02-0" + str(1 + seq % 9)},
                "release_id": seq % 5000 or None,
                "portfolio_id": 1 + seq % 12,
                "created_at": base + timedelta(seconds=seq),
            }
            digest = event_hash(prev_hash=prev, seq=seq, **content, mac=mac)
            rows.append(
                (
                    seq,
                    *(content[k] for k in ("actor_id", "actor_label", "action", "object_type")),
                    content["object_id"],
                    content["object_repr"],
                    json.dumps(content["before"]),
                    json.dumps(content["after"]),
                    content["release_id"],
                    content["portfolio_id"],
                    connection.ops.adapt_datetimefield_value(content["created_at"]),
                    prev,
                    digest,
                )
            )
            prev = digest
            if len(rows) == batch:
                cursor.executemany(sql, rows)
                rows = []
        cursor.executemany(sql, rows)
        AuditChainHead.objects.update_or_create(pk=1, defaults={"seq": events, "hash": prev})


# --- the report -----------------------------------------------------------------------------------


def _report(small: dict, enterprise: dict, audit: dict) -> dict:
    queue_counts = {
        size: {name: q.get("queries") for name, q in part.get("queue", {}).items()}
        for size, part in (("small", small), ("enterprise", enterprise))
    }
    signoff = enterprise.get("signoff", {})
    verdicts = {
        "signoff_p95_with_instance_hasher": signoff.get("with_instance_hasher", {}).get("meets_target"),
        "signoff_p95_without_password_hashing": signoff.get("without_password_hashing", {}).get(
            "meets_target"
        ),
        "queue_queries_at_every_size": all(
            c is not None and c <= TARGETS["queue_queries"] for q in queue_counts.values() for c in q.values()
        ),
        "audit_verify": audit.get("meets_target"),
        "can_deploy_p95": enterprise.get("can_deploy", {}).get("meets_target"),
    }
    return {
        "targets": TARGETS,
        "queue_queries": queue_counts,
        "small": small,
        "enterprise": enterprise,
        "audit": audit,
        "verdicts": verdicts,
    }


if __name__ == "__main__":
    main()
