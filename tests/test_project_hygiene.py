"""The repository stays clean: models and migrations agree, and ruff finds nothing."""

import ast
import subprocess
import sys

import pytest
from django.core.management import call_command

from tests.conftest import REPO


@pytest.mark.django_db
def test_migrations_match_the_models():
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


@pytest.mark.parametrize("command", [["check", "."], ["format", "--check", "."]], ids=["lint", "format"])
def test_ruff_is_clean(command):
    result = subprocess.run(
        [sys.executable, "-m", "ruff", *command], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


# DESIGN.md: imports run one way, integrations -> releases; portal wires both. The domain never
# knows where its facts come from or how the site is put together; the product never imports the demo.
FORBIDDEN_IMPORTS = {
    "releases": ("integrations", "portal", "demo"),
    "integrations": ("portal", "demo"),
    "portal": ("demo",),
}


@pytest.mark.parametrize("package", sorted(FORBIDDEN_IMPORTS))
def test_imports_run_one_way(package):
    offenders = []
    for path in sorted((REPO / package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            offenders += [
                f"{path.relative_to(REPO)}:{node.lineno} imports {name}"
                for name in names
                if name.split(".")[0] in FORBIDDEN_IMPORTS[package]
            ]
    assert offenders == []
