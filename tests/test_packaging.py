"""pyproject.toml declares what the code imports, and constraints.txt pins what is installed.

A package imported but not declared installs today only because something else pulls it in; the
day that something drops it, a fresh install breaks (python-dateutil was such a package).
"""

import ast
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

from tests.conftest import REPO

# Folders that are not the project's own code.
SKIPPED_DIRS = {"var", "build", "dist", "node_modules", "__pycache__"}
# Installed with every virtual environment; no pin needed.
TOOLING = {"pip", "setuptools", "wheel"}


def normalize(name: str) -> str:
    """A distribution name as PEP 503 compares them: Django == django, factory_boy == factory-boy."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str) -> str:
    return normalize(re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement).group(1))


def declared() -> set[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    requirements = list(project.get("dependencies", []))
    for extra in project.get("optional-dependencies", {}).values():
        requirements += extra
    return {requirement_name(r) for r in requirements}


def pinned() -> dict[str, str]:
    pins = {}
    for line in (REPO / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[normalize(name)] = version.strip()
    return pins


def project_files() -> list[Path]:
    return sorted(
        path
        for path in REPO.rglob("*.py")
        if not any(
            part.startswith(".") or part in SKIPPED_DIRS or part.endswith(".egg-info")
            for part in path.relative_to(REPO).parts[:-1]
        )
    )


def first_party(path: Path) -> set[str]:
    """What `path` imports without installing anything: the repository's top-level packages and
    modules, and the modules beside it (bench scripts import bench/common.py as `common`)."""
    top = {p.name for p in REPO.iterdir() if p.is_dir()} | {p.stem for p in REPO.glob("*.py")}
    return top | {p.stem for p in path.parent.glob("*.py")}


def top_level_imports(path: Path) -> set[tuple[str, int]]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {(alias.name.split(".")[0], node.lineno) for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add((node.module.split(".")[0], node.lineno))
    return found


def test_every_third_party_import_is_declared_in_pyproject():
    distributions = metadata.packages_distributions()
    wanted, problems = declared(), []
    for path in project_files():
        local = first_party(path)
        for name, line in sorted(top_level_imports(path)):
            if name in sys.stdlib_module_names or name in local:
                continue
            where = f"{path.relative_to(REPO)}:{line} imports {name}"
            providers = {normalize(d) for d in distributions.get(name, [])}
            if not providers:
                problems.append(f"{where}, which no installed distribution provides")
            elif not providers & wanted:
                providers_text = ", ".join(sorted(providers))
                problems.append(f"{where} from {providers_text}, not declared in pyproject.toml")
    assert problems == []


def test_every_declared_package_is_pinned():
    assert sorted(declared() - set(pinned())) == []


def test_constraints_pin_names_and_versions_only():
    for name, version in pinned().items():
        assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9.+!_-]*", version), f"{name}: {version!r} is not a version"


@pytest.mark.skipif(sys.prefix == sys.base_prefix, reason="not in a virtual environment of the project")
def test_every_installed_package_is_pinned_at_its_version():
    """What `python3 dev.py install` put in .venv is what constraints.txt says, no more."""
    pins, unpinned = pinned(), []
    for distribution in metadata.distributions():
        name = normalize(distribution.metadata["Name"])
        if name in TOOLING or name == "flightdeck":
            continue
        if pins.get(name) != distribution.version:
            unpinned.append(f"{name}=={distribution.version} (constraints.txt: {pins.get(name, 'absent')})")
    assert sorted(unpinned) == []


MARKDOWN_LINK = re.compile(r"\]\(([^)\s]+)\)")


@pytest.mark.parametrize(
    "document", ["README.md", *sorted(p.relative_to(REPO).as_posix() for p in (REPO / "docs").glob("*.md"))]
)
def test_documentation_links_stay_inside_the_repository(document):
    """A clone with nothing beside it has every page its documents link to."""
    path, broken = REPO / document, []
    for target in MARKDOWN_LINK.findall(path.read_text()):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue  # a web address or an anchor on the same page
        linked = (path.parent / target.split("#", 1)[0]).resolve()
        if not linked.is_relative_to(REPO) or not linked.exists():
            broken.append(target)
    assert broken == []
