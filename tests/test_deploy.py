"""The production files under deploy/ are read by the parsers of their own formats and name real things:
the compose file's services and health checks, the systemd units' commands and options (resolved
against this checkout's virtual environment), gunicorn's settings, the Containerfile's instructions. No
file names a registry or download address."""

import configparser
import importlib.util
import re
import runpy
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from django.conf import settings
from django.core.management import get_commands

from tests.conftest import REPO

DEPLOY = REPO / "deploy"
UNITS = DEPLOY / "systemd"
VENV_BIN = REPO / ".venv" / "bin"
INSTALLED_VENV = "/opt/flightdeck/venv/bin/"
INSTALLED_APP = "/opt/flightdeck/app"


def queues_used() -> set[str]:
    """The queues the settings route tasks to: the default one and every route's."""
    return {settings.CELERY_TASK_DEFAULT_QUEUE} | {
        route["queue"] for route in settings.CELERY_TASK_ROUTES.values()
    }


def test_the_settings_route_to_the_two_queues_the_files_name():
    assert queues_used() == {"sync", "default"}


# --- Celery and gunicorn command lines ------------------------------------------------------------------


def celery_options(subcommand: str) -> set[str]:
    from celery.bin.celery import celery

    command = celery.commands[subcommand]
    return {
        opt
        for param in [*celery.params, *command.params]
        for opt in getattr(param, "opts", [])
        if opt.startswith("-")
    }


def check_command(argv: list[str]) -> None:
    """The program exists in this checkout's virtual environment (for the installed path), and what it
    is asked to do exists: a management command, a Celery subcommand with known options, a WSGI module."""
    program = argv[0]
    if program.startswith(INSTALLED_VENV):
        program = program.removeprefix(INSTALLED_VENV)
    executable = VENV_BIN / program
    assert executable.exists(), f"{argv[0]} does not exist in a virtual environment of this project"
    if program == "python":
        if argv[1] == "manage.py":
            assert argv[2] in get_commands(), f"no management command {argv[2]}"
        elif argv[1] == "-m":
            assert importlib.util.find_spec(argv[2]), argv
        else:
            assert (REPO / argv[1]).is_file(), argv
    elif program == "celery":
        assert argv[1:3] == ["--app", "portal"], "the app is portal (portal/celery.py)"
        subcommand = argv[3]
        known = celery_options(subcommand)
        for word in argv[4:]:
            if word.startswith("-"):
                assert word in known, f"celery {subcommand} has no option {word}"
        if subcommand == "worker":
            queues = argv[argv.index("--queues") + 1]
            assert set(queues.split(",")) <= queues_used(), queues
    elif program == "gunicorn":
        config = argv[argv.index("--config") + 1]
        assert (REPO / config).is_file()
        assert importlib.util.find_spec(argv[-1]), "the WSGI module"
        assert argv[-1] == settings.WSGI_APPLICATION.rsplit(".", 1)[0]
    else:
        pytest.fail(f"unexpected program {program}")


def test_the_checker_refuses_what_does_not_exist():
    """The control cases: each kind of wrong command fails."""
    for argv in (
        ["/opt/flightdeck/venv/bin/uwsgi", "x"],
        ["python", "manage.py", "no_such_command"],
        ["celery", "--app", "portal", "worker", "--queues", "sync", "--no-such-option"],
        ["celery", "--app", "portal", "worker", "--queues", "nightly"],
    ):
        with pytest.raises(AssertionError):
            check_command(argv)


# --- systemd units ----------------------------------------------------------------------------------


class _Repeated(dict):
    """configparser's section: a key given twice (ExecStart=, Environment=) keeps both lines."""

    def __setitem__(self, key, value):
        if key in self and isinstance(value, list) and isinstance(self[key], list):
            self[key].extend(value)
        else:
            super().__setitem__(key, value)


def read_unit(path: Path) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=False, dict_type=_Repeated, interpolation=None)
    parser.optionxform = str  # systemd's keys are case-sensitive
    parser.read_string(path.read_text(), source=str(path))
    return parser


def unit_commands(unit: configparser.RawConfigParser, instance: str) -> list[list[str]]:
    environment = {}
    for line in unit["Service"].get("Environment", "").splitlines():
        name, _, value = line.partition("=")
        environment[name] = value
    commands = []
    for key in ("ExecStartPre", "ExecStart"):
        for line in unit["Service"].get(key, "").splitlines():
            line = line.replace("%i", instance).replace("%H", "host")
            line = re.sub(r"\$\{(\w+)\}", lambda m: environment[m.group(1)], line)
            commands.append(shlex.split(line))
    return commands


UNIT_FILES = sorted(UNITS.glob("*.service"))


def test_there_are_units_for_web_workers_beat_and_migrations():
    assert {path.name for path in UNIT_FILES} == {
        "flightdeck-web.service",
        "flightdeck-worker@.service",
        "flightdeck-beat.service",
        "flightdeck-migrate.service",
    }


@pytest.mark.parametrize("path", UNIT_FILES, ids=lambda path: path.name)
def test_each_unit_runs_real_commands_as_the_service_user(path):
    unit = read_unit(path)
    assert unit["Unit"]["Description"]
    service = unit["Service"]
    assert service["User"] == "flightdeck" and service["Group"] == "flightdeck"
    assert service["WorkingDirectory"] == INSTALLED_APP
    assert service["EnvironmentFile"] == "/etc/flightdeck/flightdeck.env"
    assert service["NoNewPrivileges"] == "true" and service["ProtectSystem"] == "strict"
    assert service["ReadWritePaths"] == "/var/lib/flightdeck"
    instances = ["sync", "default"] if path.name.endswith("@.service") else [""]
    for instance in instances:
        commands = unit_commands(unit, instance)
        assert commands
        for argv in commands:
            assert argv[0].startswith(INSTALLED_VENV), argv
            check_command(argv)
    if path.name != "flightdeck-migrate.service":
        assert unit["Install"]["WantedBy"] == "multi-user.target"
        assert service["Restart"] == "on-failure"


def test_the_worker_unit_serves_one_queue_per_instance_and_beat_runs_beat():
    worker = unit_commands(read_unit(UNITS / "flightdeck-worker@.service"), "sync")[-1]
    assert worker[3] == "worker" and worker[worker.index("--queues") + 1] == "sync"
    beat = unit_commands(read_unit(UNITS / "flightdeck-beat.service"), "")[-1]
    assert beat[3] == "beat"
    web = read_unit(UNITS / "flightdeck-web.service")
    assert web["Service"]["Type"] == "notify"  # gunicorn tells systemd when it is ready


# --- gunicorn -----------------------------------------------------------------------------------------


def test_the_gunicorn_configuration_sets_only_gunicorn_settings_with_valid_values(monkeypatch):
    from gunicorn.config import Config

    monkeypatch.delenv("FLIGHTDECK_BIND", raising=False)
    monkeypatch.delenv("GUNICORN_WORKERS", raising=False)
    values = {
        name: value
        for name, value in runpy.run_path(str(DEPLOY / "gunicorn.conf.py")).items()
        if not name.startswith("_") and not callable(value) and not isinstance(value, type(re))
    }
    config = Config()
    for name, value in values.items():
        assert name in config.settings, f"{name} is not a gunicorn setting"
        config.set(name, value)  # gunicorn's own validation
    assert config.bind == ["0.0.0.0:8000"]
    assert 2 <= config.workers <= 8 and config.threads == 4
    assert config.worker_class_str == "gthread"
    assert config.settings["forwarded_allow_ips"].get() == ["127.0.0.1", "::1"]


def test_gunicorn_reads_its_numbers_and_proxies_from_the_environment(monkeypatch):
    monkeypatch.setenv("GUNICORN_WORKERS", "3")
    monkeypatch.setenv("FLIGHTDECK_BIND", "127.0.0.1:8401")
    monkeypatch.setenv("FLIGHTDECK_TRUSTED_PROXIES", "10.0.0.0/8")
    values = runpy.run_path(str(DEPLOY / "gunicorn.conf.py"))
    assert values["workers"] == 3 and values["bind"] == ["127.0.0.1:8401"]
    assert values["forwarded_allow_ips"] == "10.0.0.0/8"


# --- compose ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def test_compose_has_web_worker_beat_postgres_and_redis_with_health_checks(compose):
    services = compose["services"]
    assert {"web", "worker", "beat", "postgres", "redis"} <= set(services)
    for name in ("web", "worker", "beat", "postgres", "redis"):
        check = services[name]["healthcheck"]
        assert check["test"][0] in ("CMD", "CMD-SHELL") and len(check["test"]) > 1, name
        assert check["interval"] and check["retries"] >= 3
    assert services["postgres"]["image"] == "postgres:16"
    assert services["redis"]["image"] == "redis:7"


def test_compose_redis_persists_append_only(compose):
    command = compose["services"]["redis"]["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    assert "redisdata:/data" in compose["services"]["redis"]["volumes"]


def test_compose_runs_real_commands_against_its_own_postgres_and_redis(compose):
    services = compose["services"]
    for name in ("migrate", "web", "worker", "beat"):
        service = services[name]
        check_command(service["command"])
        environment = service["environment"]
        assert environment["FLIGHTDECK_ENV"] == "production"
        assert "@postgres:5432/" in environment["DATABASE_URL"]
        assert environment["CELERY_BROKER_URL"].startswith("redis://redis:6379/")
        assert service["build"]["dockerfile"] == "deploy/Containerfile"
        assert (DEPLOY / service["build"]["context"] / service["build"]["dockerfile"]).is_file()
    worker = services["worker"]["command"]
    assert set(worker[worker.index("--queues") + 1].split(",")) == queues_used()
    assert services["beat"]["deploy"]["replicas"] == 1
    assert services["web"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    web_check = services["web"]["healthcheck"]["test"]
    assert (REPO / web_check[2]).is_file() and "/healthz" in (REPO / web_check[2]).read_text()


# --- Containerfile -----------------------------------------------------------------------------------


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments), continuation lines joined, comments dropped."""
    lines, current = [], ""
    for raw in path.read_text().splitlines():
        if not current and (not raw.strip() or raw.lstrip().startswith("#")):
            continue
        current += raw.rstrip()
        if current.endswith("\\"):
            current = current[:-1] + " "
            continue
        lines.append(current)
        current = ""
    parsed = []
    for line in lines:
        keyword, _, arguments = line.strip().partition(" ")
        assert keyword.isupper(), f"not an instruction: {line[:40]}"
        parsed.append((keyword, arguments.strip()))
    return parsed


def test_the_containerfile_builds_a_pinned_debian_python_image_run_by_an_unprivileged_user():
    steps = instructions(DEPLOY / "Containerfile")
    keywords = [keyword for keyword, _ in steps]
    assert set(keywords) <= {
        "FROM",
        "ENV",
        "RUN",
        "WORKDIR",
        "COPY",
        "USER",
        "VOLUME",
        "EXPOSE",
        "HEALTHCHECK",
        "CMD",
    }
    assert keywords[0] == "FROM"
    assert re.fullmatch(r"python:3\.1[1-9]-slim-bookworm", steps[0][1])
    runs = [arguments for keyword, arguments in steps if keyword == "RUN"]
    assert any("pip install --constraint constraints.txt" in run for run in runs)
    user_at = keywords.index("USER")
    assert steps[user_at][1] == "flightdeck" and "RUN" not in keywords[user_at:]
    for keyword, arguments in steps:
        if keyword == "COPY":
            *sources, _target = arguments.split()
            for source in sources:
                assert (REPO / source).exists(), f"COPY {source}: not in the repository"
    command = yaml.safe_load(dict(steps)["CMD"])  # the exec form is a JSON array
    check_command(command)
    assert "deploy/healthcheck.py" in dict(steps)["HEALTHCHECK"]


def test_the_image_never_receives_the_environment_file():
    ignored = (REPO / ".dockerignore").read_text().split()
    assert "deploy/flightdeck.env" in ignored and ".venv" in ignored and "var" in ignored


# --- no addresses to fetch from -----------------------------------------------------------------------


def test_the_production_files_name_no_registry_or_download_address():
    for path in sorted(DEPLOY.rglob("*")):
        if path.is_file():
            for url in re.findall(r"https?://[^\s\"'`)]+", path.read_text()):
                host = re.match(r"https?://([^/:]+)", url).group(1)
                assert host in {"127.0.0.1", "localhost"} or host.endswith("example.com"), (path, url)


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze is not installed")
def test_systemd_itself_accepts_the_units(tmp_path):
    """systemd-analyze verify on copies whose paths point at this checkout (so it can also check that
    each command is executable): no unknown key, no bad value, nothing missing."""
    for path in UNIT_FILES:
        text = path.read_text().replace(INSTALLED_VENV, f"{VENV_BIN}/").replace(INSTALLED_APP, str(REPO))
        (tmp_path / path.name).write_text(text)
    (tmp_path / "flightdeck-worker@sync.service").write_text(
        (tmp_path / "flightdeck-worker@.service").read_text()
    )
    names = [p.name for p in UNIT_FILES if not p.name.endswith("@.service")] + [
        "flightdeck-worker@sync.service"
    ]
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *(f"./{name}" for name in names)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0 and not result.stderr.strip() and not result.stdout.strip(), result.stderr
    # The control case: systemd does report a key it does not know.
    (tmp_path / "flightdeck-beat.service").write_text(
        (tmp_path / "flightdeck-beat.service").read_text() + "Bogus=1\n"
    )
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", "./flightdeck-beat.service"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "Unknown key" in result.stderr
