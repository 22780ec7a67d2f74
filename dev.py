#!/usr/bin/env python3
"""Flightdeck's two commands. Needs nothing but Python 3.11+ (standard library only).

    python3 dev.py run    create .venv, install, migrate, seed the demo, start web + Celery worker + beat
                          + the tool sandbox (Jira, Jenkins, GitHub, GitLab-shaped APIs on loopback that the
                          demo connections sync; on free ports unless --sandbox-port says which)
    python3 dev.py test   create .venv, install, run the whole test suite

Installing is skipped when pyproject.toml and constraints.txt have not changed since the last install.
"""

import argparse
import contextlib
import hashlib
import os
import queue
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / "bin"
PYTHON = BIN / "python"
CHROMIUM = Path("/usr/bin/chromium")
# The tool sandbox the demo connections point at (demo/catalogue.py SANDBOX_*). It serves Jira, Jenkins,
# GitHub and GitLab on free ports (or --sandbox-port and the three after it), and announces each on a
# line ending with its URL; its Jira versions and issues, Jenkins builds, GitHub deployments and GitLab
# projects are the demo's plan (sandbox_plan()), which replaces the generated issues --issues and
# --projects describe.
SANDBOX_PLAN = ROOT / "var" / "sandbox-plan.json"
SANDBOX_ARGS = ("--issues", "3000", "--projects", "MOBILE,PORTAL", "--plan", SANDBOX_PLAN)
# A line's first word → the tool.
SANDBOX_TOOLS = {"Jira": "jira", "Jenkins": "jenkins", "GitHub": "github", "GitLab": "gitlab"}
# integrations/sandbox/proof.py SECRET_ENV: the sandbox reads the run's secret there.
SANDBOX_SECRET_ENV = "FLIGHTDECK_SANDBOX_SECRET"  # noqa: S105 - the variable's name, not a secret


def say(message: str) -> None:
    print(f"\033[1;34m==>\033[0m {message}", flush=True)


def fail(message: str) -> None:
    sys.exit(f"dev.py: {message}")


def run(*args, **kwargs) -> None:
    result = subprocess.run([str(a) for a in args], cwd=ROOT, check=False, **kwargs)
    if result.returncode != 0:
        fail(f"{' '.join(str(a) for a in args[:3])} ... exited with {result.returncode}")


def install() -> None:
    """Create the virtual environment and install the pinned packages; a no-op when nothing changed."""
    if sys.version_info < (3, 11):  # noqa: UP036 (this script may be started by an older Python)
        fail(f"Python 3.11 or newer is needed; this is {sys.version.split()[0]}")
    if not PYTHON.exists():
        say("creating the virtual environment in .venv")
        run(sys.executable, "-m", "venv", VENV)
    stamp = VENV / ".flightdeck-installed"
    wanted = hashlib.sha256(b"".join((ROOT / f).read_bytes() for f in ("pyproject.toml", "constraints.txt")))
    if stamp.exists() and stamp.read_text() == wanted.hexdigest():
        return
    say("installing Flightdeck and its pinned dependencies")
    # -qq: errors only (a machine's pip configuration may add noisy warnings of its own).
    pip = [PYTHON, "-m", "pip", "install", "-qq", "--disable-pip-version-check"]
    run(*pip, "-c", "constraints.txt", "-e", ".[dev]")
    stamp.write_text(wanted.hexdigest())


def manage(*args, **kwargs) -> None:
    run(PYTHON, "manage.py", *args, **kwargs)


# --- run -------------------------------------------------------------------------------------------


def command_run(options) -> None:
    install()
    say("migrating the database")
    manage("migrate", "--noinput", "-v", "0")
    say(f"seeding demo data ({options.scale} scale)")
    manage("seed_demo", "--scale", options.scale)
    manage("demo_api_examples", stdout=subprocess.DEVNULL)  # the release the README's API examples name
    write_sandbox_plan()
    stop_on_signals()
    processes: dict[str, subprocess.Popen] = {}
    try:
        # Until the sandbox this run starts has proved itself, nothing syncs from those addresses.
        manage("demo_sandbox_connect", "--disable", stdout=subprocess.DEVNULL)
        secret = secrets.token_urlsafe(32)  # this run's: the sandbox serves only who sends it
        say("starting the tool sandbox")
        urls = sandbox_start(options.sandbox_port, secret, processes)
        refused = sandbox_refusals(urls, secret)
        if refused:
            fail(
                f"the server at {', '.join(urls[tool] for tool in refused)} is not the sandbox this run "
                "started (it cannot prove the run's secret); the demo connections stay disabled"
            )
        say("pointing the demo connections at the sandbox")
        manage("demo_sandbox_connect", *sandbox_connect_args(urls), env=sandbox_env(secret))
        start_processes(options.port, processes)
        wait_until_up(f"http://127.0.0.1:{options.port}/healthz", processes)
        print_welcome(options.port)
        supervise(processes)
    except KeyboardInterrupt:
        print()
        say("stopping")
    finally:
        stop(processes)


WRITE_PLAN = """
import json
from demo.sandbox import sandbox_plan
print(json.dumps(sandbox_plan(), indent=1))
"""


def write_sandbox_plan() -> None:
    """The Jira versions, Jenkins builds and GitHub deployments the sandbox serves, made of the seeded
    releases."""
    result = subprocess.run(
        [str(PYTHON), "manage.py", "shell", "-v", "0", "-c", WRITE_PLAN],
        cwd=ROOT,
        check=False,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        fail(f"the sandbox plan could not be read from the demo data:\n{result.stderr}")
    SANDBOX_PLAN.parent.mkdir(exist_ok=True)
    SANDBOX_PLAN.write_text(result.stdout)


def sandbox_env(secret: str) -> dict[str, str]:
    return {**os.environ, SANDBOX_SECRET_ENV: secret}


def sandbox_start(
    port: int,
    secret: str,
    processes: dict[str, subprocess.Popen],
    *,
    args=SANDBOX_ARGS,
    timeout: float = 60,
) -> dict[str, str]:
    """Start the sandbox with this run's secret (0: each tool on a free port; else Jira on `port`,
    Jenkins, GitHub and GitLab on the three after it) and read the URL of each tool from the line it
    prints:
    {"jira": "http://127.0.0.1:41234", "jenkins": ..., "github": ...}."""
    command = [PYTHON, "-m", "integrations.sandbox", "--port", port, *args]
    process = subprocess.Popen(
        [str(c) for c in command],
        cwd=ROOT,
        env=sandbox_env(secret),  # not on the command line, where `ps` would show it
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,  # Ctrl-C reaches it only through stop()
    )
    processes["sandbox"] = process
    printed: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        """Passes the sandbox's lines on, and hands them to the reader (a pipe read cannot time out)."""
        for line in process.stdout:
            print(f"    {line}", end="", flush=True)
            printed.put(line.strip())
        printed.put(None)  # the sandbox closed its stdout: it has ended

    threading.Thread(target=pump, daemon=True, name="sandbox-stdout").start()
    urls: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    while len(urls) < len(SANDBOX_TOOLS):
        try:
            line = printed.get(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            fail(f"the tool sandbox did not say where it listens within {timeout:.0f} s")
        if line is None:
            process.wait()
            fail(f"the tool sandbox stopped during start-up ({process.returncode}; see its message above)")
        tool = SANDBOX_TOOLS.get(line.split(" ", 1)[0])
        if tool and " on http://" in line:
            urls[tool] = line.rsplit(" ", 1)[-1]
    return urls


def sandbox_refusals(urls: dict[str, str], secret: str) -> list[str]:
    """The tools whose server does not prove that it knows this run's secret (a foreign process on
    the port, or a sandbox of another run); the secret itself is never sent to them."""
    from integrations.sandbox.proof import proof_verify  # standard library only, like this script

    return [tool for tool, url in urls.items() if not proof_verify(url, secret, tool)]


def sandbox_connect_args(urls: dict[str, str]) -> list[str]:
    """demo_sandbox_connect's options: the demo connections to each tool go to its URL."""
    return [arg for tool in SANDBOX_TOOLS.values() for arg in (f"--{tool}", urls[tool])]


# The demo's terminal keeps to what a person needs (the URLs, the accounts, errors): the e-mails the
# portal sends go to files in var/mail/ instead of the terminal, and Celery's warning about running as
# root (this machine's demo runs as root) is not repeated by every worker start.
DEMO_QUIET = {
    "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
    "EMAIL_FILE_PATH": str(ROOT / "var" / "mail"),
    "PYTHONWARNINGS": "ignore:You're running the worker with superuser privileges",
}


def start_processes(port: int, processes: dict[str, subprocess.Popen]) -> None:
    """Web, worker and beat; links in their e-mails start with the address the portal answers at."""
    celery = BIN / "celery"
    env = {**os.environ, "FLIGHTDECK_BASE_URL": f"http://127.0.0.1:{port}", **DEMO_QUIET}
    commands = {
        "web": [
            BIN / "gunicorn",
            "portal.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--threads",
            "4",
            "--log-level",
            "warning",
        ],
        "worker": [
            celery,
            "-A",
            "portal",
            "--quiet",  # no banner: the terminal keeps to URLs, accounts and errors
            "worker",
            "-Q",
            "default,sync",
            "--concurrency",
            "2",
            "--without-mingle",
            "--without-gossip",
            "--loglevel",
            "warning",
        ],
        "beat": [celery, "-A", "portal", "--quiet", "beat", "--loglevel", "warning"],
    }
    for name, command in commands.items():
        say(f"starting {name}")
        # Each child gets its own process group so Ctrl-C reaches it only through stop().
        processes[name] = subprocess.Popen(
            [str(c) for c in command], cwd=ROOT, env=env, start_new_session=True
        )


def wait_until_up(url: str, processes: dict[str, subprocess.Popen], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        dead = [name for name, process in processes.items() if process.poll() is not None]
        if dead:
            fail(f"{', '.join(dead)} stopped during start-up (see the messages above)")
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 (our own loopback URL)
                return
        except OSError:
            time.sleep(0.5)
    fail(f"the web server did not answer on {url} within {timeout:.0f} s")


def print_welcome(port: int) -> None:
    print(f"\n  Flightdeck is running at \033[1mhttp://127.0.0.1:{port}/\033[0m\n", flush=True)
    # The accounts are defined with the demo data; read them through Django in the virtual environment.
    subprocess.run(
        [str(PYTHON), "manage.py", "shell", "-v", "0", "-c", PRINT_ACCOUNTS], cwd=ROOT, check=False
    )
    print(
        f"\n  E-mails the portal sends are written to {DEMO_QUIET['EMAIL_FILE_PATH']}/ (one file each).\n"
        "  Web, Celery worker, beat and the tool sandbox are running. Press Ctrl-C to stop all of them.\n",
        flush=True,
    )


PRINT_ACCOUNTS = """
from demo.catalogue import DEMO_USERS
print("  Demo accounts (username / password / role):")
for u in DEMO_USERS:
    print(f"    {u['username']:<10}  {u['password']:<24}  {u['role']}")
from integrations.models import Connection
print()
print("  Connections to the tool sandbox (Sync now at /integrations/):")
for c in Connection.objects.filter(base_url__startswith="http://127.0.0.1:"):
    print(f"    {c.name:<20}  {c.base_url}")
"""


def supervise(processes: dict[str, subprocess.Popen]) -> None:
    while True:
        for name, process in processes.items():
            if process.poll() is not None:
                fail(f"{name} exited with {process.returncode}; stopping the rest")
        time.sleep(1)


def stop(processes: dict[str, subprocess.Popen]) -> None:
    """SIGTERM to each main process, which stops its own children (gunicorn workers, Celery's pool);
    then whatever is left in its process group is killed."""
    for process in processes.values():
        if process.poll() is None:
            process.terminate()
    deadline = time.monotonic() + 20
    for name, process in processes.items():
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            say(f"{name} did not stop in time; killing it")
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def stop_on_signals() -> None:
    """Ctrl-C and SIGTERM both end in a clean stop (a background start may have inherited SIGINT ignored)."""

    def interrupted(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupted)
    signal.signal(signal.SIGTERM, interrupted)


# --- test ------------------------------------------------------------------------------------------


def browser_available() -> bool:
    """Chromium from Debian drives the browser tests; install it when this machine allows."""
    if CHROMIUM.exists():
        return True
    if os.geteuid() == 0 and shutil.which("apt-get"):
        say("installing Chromium from Debian for the browser tests")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=False, env=env, stdout=subprocess.DEVNULL)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "chromium"], check=False, env=env, stdout=subprocess.DEVNULL
        )
    return CHROMIUM.exists()


def command_test(options) -> None:
    install()
    args = [PYTHON, "-m", "pytest", "-n", os.environ.get("PYTEST_WORKERS", "2"), *options.pytest_args]
    if not browser_available():
        if os.environ.get("FLIGHTDECK_REQUIRE_BROWSER"):
            fail("the browser tests are required here, but /usr/bin/chromium is missing")
        say(
            "\033[1;33mChromium is not installed: the browser tests will NOT run "
            "(apt-get install chromium to run them)\033[0m"
        )
        args += ["-m", "not browser"]
    database = os.environ.get("DATABASE_URL", "embedded SQLite")
    say(f"running the test suite on {database.split('@')[-1]}")
    sys.exit(subprocess.run([str(a) for a in args], cwd=ROOT, check=False).returncode)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="run the portal with demo data")
    run_parser.add_argument("--scale", choices=["small", "medium", "enterprise"], default="medium")
    run_parser.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("PORT", 8000)),
        help="the portal's port; e-mail links point there too (default: 8000)",
    )
    run_parser.add_argument(
        "--sandbox-port",
        type=int,
        default=0,
        help="the tool sandbox's Jira port, Jenkins, GitHub, GitLab on the three after (default: free ports)",
    )
    test_parser = commands.add_parser("test", help="install and run the whole test suite")
    test_parser.add_argument("pytest_args", nargs=argparse.REMAINDER, help="passed on to pytest")
    commands.add_parser("install", help="only create .venv and install")
    return parser


def main() -> None:
    parser = build_parser()
    # parse_known_args: pytest's own options (-x, -k ...) may come first, before any path.
    options, unknown = parser.parse_known_args()
    if unknown and options.command != "test":
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    if options.command == "test":
        options.pytest_args = [*unknown, *options.pytest_args]
    {"run": command_run, "test": command_test, "install": lambda _: install()}[options.command](options)


if __name__ == "__main__":
    main()
