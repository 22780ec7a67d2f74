"""The repository stays clean: models and migrations agree, ruff finds nothing, imports run one way
and view functions are named as docs/style.md says."""

import ast
import re
import subprocess
import sys

import pytest
from django.core.management import call_command
from django.urls import URLResolver, get_resolver

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
# The instance tool (instances/) stands outside the product: it runs manage.py and imports none of it.
FORBIDDEN_IMPORTS = {
    "releases": ("integrations", "portal", "demo", "instances"),
    "integrations": ("portal", "demo", "instances"),
    "portal": ("demo", "instances"),
    "instances": ("releases", "integrations", "portal", "demo"),
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


# docs/style.md: view functions are named <noun>_<verb> (release_list, gate_sign, calendar_month),
# never after what they are (gate_queue_view, calendar_page) or a bare noun (feed, home).
NOUN_VERB = re.compile(r"[a-z]+(_[a-z]+)+")


def _views(patterns):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            if pattern.app_name != "admin":  # Django's own names (changelist_view, ...)
                yield from _views(pattern.url_patterns)
        else:
            yield getattr(pattern.callback, "func", pattern.callback)  # a functools.partial's view


def test_view_functions_are_named_noun_verb():
    ours = [
        view
        for view in _views(get_resolver().url_patterns)
        if view.__module__.split(".")[0] in FORBIDDEN_IMPORTS
    ]
    assert len(ours) > 40, "the walk found our views"
    misnamed = sorted(
        f"{view.__module__}.{view.__name__}"
        for view in ours
        if not NOUN_VERB.fullmatch(view.__name__) or view.__name__.endswith(("_view", "_page"))
    )
    assert misnamed == []


def test_template_comments_close_on_their_own_line():
    """Django's {# #} comment is one line: a {# left open runs on as page text."""
    open_comments = [
        f"{path.relative_to(REPO)}:{number}"
        for path in (REPO / "templates").rglob("*.html")
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if line.count("{#") > line.count("#}")
    ]
    assert open_comments == []
