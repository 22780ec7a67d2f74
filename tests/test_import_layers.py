"""The import graph of integrations/, releases/ and portal/ keeps its layers: no circle among the
integrations modules, and nothing in releases reaches integrations, however indirectly.

Every import counts, those inside functions too (a lazy import hides a circle, it does not break one).
Run as a script to print the graph's circles: `.venv/bin/python tests/test_import_layers.py`.
"""

import ast
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("integrations", "releases", "portal")
Graph = dict[str, set[str]]


def module_name(path: Path, root: Path = REPO) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_names(node: ast.AST, module: str, is_package: bool) -> list[str]:
    """The dotted names an import statement (or `import_module("...")`) may load, most specific first."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:
            anchor = module.split(".") if is_package else module.split(".")[:-1]
            anchor = anchor[: len(anchor) - (node.level - 1)]
            base = ".".join([*anchor, base] if base else anchor)
        return [f"{base}.{alias.name}" for alias in node.names] + [base]
    if (
        isinstance(node, ast.Call)
        and getattr(node.func, "attr", getattr(node.func, "id", None)) in ("import_module", "__import__")
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    ):
        return [node.args[0].value]
    return []


def import_graph(packages=PACKAGES, root: Path = REPO) -> Graph:
    """module -> the modules of `packages` it imports (anywhere in its body)."""
    paths = {module_name(p, root): p for package in packages for p in (root / package).rglob("*.py")}
    graph: Graph = {}
    for module, path in paths.items():
        is_package = path.name == "__init__.py"
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names = imported_names(node, module, is_package)
            if isinstance(node, ast.ImportFrom):
                # `from pkg import sub` loads the submodule; `from pkg.mod import name` loads pkg.mod.
                found = [n for n in names[:-1] if n in paths] or [names[-1]] * (names[-1] in paths)
                targets.update(found)
            else:
                targets.update(name for name in names if name in paths)
        graph[module] = targets - {module}
    return graph


def circles(graph: Graph) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def reachable(graph: Graph, start: str) -> dict[str, str]:
    """Every module `start` reaches, each with the module that first led to it."""
    seen, frontier = {start: ""}, [start]
    while frontier:
        node = frontier.pop()
        for target in sorted(graph.get(node, ())):
            if target not in seen:
                seen[target] = node
                frontier.append(target)
    return seen


def path_to(came_from: dict[str, str], end: str) -> list[str]:
    chain = [end]
    while came_from[chain[-1]]:
        chain.append(came_from[chain[-1]])
    return chain[::-1]


def in_package(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def test_a_circle_closed_by_an_import_inside_a_function_is_found(tmp_path):
    (tmp_path / "app" / "sync").mkdir(parents=True)
    for name, text in {
        "app/__init__.py": "",
        "app/sync/__init__.py": "",
        "app/sync/base.py": "def queue():\n    from app import tasks\n",
        "app/tasks.py": "from .sync import runner\n",
        "app/sync/runner.py": "from app.sync.base import queue\nimport app.models\n",
        "app/models.py": "import importlib\nimportlib.import_module('other.thing')\n",
    }.items():
        (tmp_path / name).write_text(text)
    graph = import_graph(("app",), root=tmp_path)
    assert graph["app.sync.base"] == {"app.tasks"}
    assert graph["app.tasks"] == {"app.sync.runner"}
    assert graph["app.sync.runner"] == {"app.sync.base", "app.models"}
    assert circles(graph) == [["app.sync.base", "app.sync.runner", "app.tasks"]]


def test_no_circle_among_the_integrations_modules():
    graph = import_graph()
    inside = {
        module: {t for t in targets if in_package(t, "integrations")}
        for module, targets in graph.items()
        if in_package(module, "integrations")
    }
    assert circles(inside) == []


def test_releases_never_reaches_integrations():
    """DESIGN.md: imports run integrations -> releases; the domain does not know where its facts come
    from, not even through portal."""
    graph = import_graph()
    offenders = []
    for module in sorted(m for m in graph if in_package(m, "releases")):
        came_from = reachable(graph, module)
        offenders += [
            " -> ".join(path_to(came_from, target))
            for target in sorted(came_from)
            if in_package(target, "integrations")
        ][:1]
    assert offenders == []


if __name__ == "__main__":
    whole = import_graph()
    for circle in circles(whole):
        print(f"circle of {len(circle)}:", ", ".join(circle))
    for module in sorted(m for m in whole if in_package(m, "releases")):
        came_from = reachable(whole, module)
        hits = [t for t in came_from if in_package(t, "integrations")]
        if hits:
            print("releases reaches integrations:", " -> ".join(path_to(came_from, sorted(hits)[0])))
    sys.exit(0)
