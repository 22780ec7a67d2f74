"""docs/deployment.md documents every environment variable the settings and the production files read,
and the documentation's index and the README link to it."""

import ast
import re
from pathlib import Path

import pytest

from tests.conftest import REPO

GUIDE = REPO / "docs" / "deployment.md"
READERS = {"os.environ.get", "os.getenv", "env_bool", "env_list", "_positive_int"}


def variables_read(path: Path) -> set[str]:
    """The names a Python file reads from the environment: os.environ.get("X"), os.environ["X"],
    os.getenv("X"), and the settings' helpers env_bool("X"), env_list("X") and _positive_int("X")."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and ast.unparse(node.func) in READERS and node.args:
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                names.add(first.value)
        is_subscript = isinstance(node, ast.Subscript) and ast.unparse(node.value) == "os.environ"
        if is_subscript and isinstance(node.slice, ast.Constant):
            names.add(node.slice.value)
    return names


def documented() -> set[str]:
    return set(re.findall(r"`([A-Z][A-Z0-9_]+)`", GUIDE.read_text()))


def test_the_reader_finds_each_way_of_reading_a_variable(tmp_path):
    source = tmp_path / "example.py"
    source.write_text(
        'import os\nA = os.environ.get("ONE")\nB = os.environ["TWO"]\nC = env_bool("THREE")\n'
        'D = env_list("FOUR", [])\nE = os.getenv("FIVE")\nF = int(os.environ.get("SIX") or 0)\n'
    )
    assert variables_read(source) == {"ONE", "TWO", "THREE", "FOUR", "FIVE", "SIX"}


def test_the_settings_read_the_variables_this_test_expects():
    """A floor, so that a broken reader cannot pass by finding nothing."""
    found = variables_read(REPO / "portal" / "settings.py")
    assert {
        "FLIGHTDECK_ENV",
        "SECRET_KEY",
        "FIELD_ENCRYPTION_KEY",
        "FLIGHTDECK_SESSION_IDLE_MINUTES",
    } <= found
    assert len(found) >= 35


@pytest.mark.parametrize(
    "path",
    ["portal/settings.py", "deploy/gunicorn.conf.py", "deploy/healthcheck.py"],
)
def test_every_variable_read_is_documented_in_the_deployment_guide(path):
    missing = variables_read(REPO / path) - documented()
    assert not missing, f"{path} reads {sorted(missing)}, which docs/deployment.md does not describe"


def test_the_units_and_compose_variables_are_documented():
    text = (REPO / "deploy" / "systemd" / "flightdeck-worker@.service").read_text()
    text += (REPO / "deploy" / "compose.yaml").read_text()
    used = set(re.findall(r"\$\{([A-Z][A-Z0-9_]+)", text))
    assert used and not used - documented()


def test_the_guide_is_linked_from_the_documentation_index_and_the_readme():
    assert "(deployment.md)" in (REPO / "docs" / "README.md").read_text()
    readme = (REPO / "README.md").read_text()
    documentation = readme.split("## Documentation", 1)[1].split("\n## ", 1)[0]
    assert "(docs/deployment.md)" in documentation
