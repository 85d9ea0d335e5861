"""The package's imports form no circle (issue 14, layout): neither those that run at import
time nor, counting them too, those inside functions (lazy loading goes from a higher module to a
lower one only).

Every module of ``src/torchinit`` is parsed with ``ast``; an edge A -> B means A's body, as it
runs at import time (top level, class bodies, ``if``/``try`` blocks, but not function bodies nor
``if TYPE_CHECKING:``), imports B. ``from .pkg.mod import x`` is an edge to ``pkg`` (its
``__init__`` runs first) and to ``pkg.mod``; ``from .pkg import mod`` to ``pkg.mod`` when ``mod``
is a module. Packages that contain the importing module are left out: they are already being
imported when it runs, unless a name is taken from their ``__init__`` (``from .. import name``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import torchinit

ROOT = Path(torchinit.__file__).parent
Graph = dict[str, set[str]]


def module_names() -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its own name)."""
    names = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = ("torchinit", *path.relative_to(ROOT).with_suffix("").parts)
        names[".".join(parts).removesuffix(".__init__")] = path
    return names


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def import_time_statements(body: list[ast.stmt]) -> list[ast.Import | ast.ImportFrom]:
    """The import statements that run when a module (or class) body with these statements runs."""
    found: list[ast.Import | ast.ImportFrom] = []
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        elif isinstance(node, ast.If):
            if not _is_type_checking(node.test):
                found += import_time_statements(node.body)
            found += import_time_statements(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, *(h.body for h in node.handlers), node.orelse, node.finalbody):
                found += import_time_statements(block)
        elif isinstance(node, ast.With):
            found += import_time_statements(node.body)
        elif isinstance(node, ast.ClassDef):
            found += import_time_statements(node.body)
    return found


def all_statements(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement of a module, in functions too (not under ``if TYPE_CHECKING:``)."""
    typing_only = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and _is_type_checking(node.test)
        for stmt in node.body
        for inner in ast.walk(stmt)
    }
    return [n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom) and id(n) not in typing_only]


def import_graph(in_functions: bool = False) -> Graph:
    """Module -> the package modules its import-time statements import (``in_functions``: and
    the imports inside its functions)."""
    modules = module_names()
    graph: Graph = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        ancestors = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
        tree = ast.parse(path.read_text(), str(path))
        for node in all_statements(tree) if in_functions else import_time_statements(tree.body):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
                attributes: list[tuple[str, str]] = []
            else:
                base = package.rsplit(".", node.level - 1)[0] if node.level else ""
                source = ".".join(p for p in (base, node.module or "") if p)
                targets = [source]
                attributes = [(source, alias.name) for alias in node.names]
            for target in targets:
                parts = target.split(".")
                for i in range(1, len(parts) + 1):
                    prefix = ".".join(parts[:i])
                    if prefix in modules and prefix not in ancestors and prefix != name:
                        graph[name].add(prefix)
            for source, attribute in attributes:
                if f"{source}.{attribute}" == name:  # a module looking itself up (a patched name)
                    continue
                if f"{source}.{attribute}" in modules:
                    graph[name].add(f"{source}.{attribute}")
                elif source in ancestors:  # a name from the __init__ of a package this module is in
                    graph[name].add(source)
    return graph


def find_cycle(graph: Graph) -> list[str] | None:
    """One circle of the graph as a list of modules (first == last), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_module_level_imports_of_the_package_form_no_circle() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import circle: " + " -> ".join(cycle or ())


def test_imports_inside_functions_close_no_circle_either() -> None:
    cycle = find_cycle(import_graph(in_functions=True))
    assert cycle is None, "import circle through a function-level import: " + " -> ".join(cycle or ())


def test_the_full_graph_sees_lazy_imports_but_not_typing_only_ones() -> None:
    graph = import_graph(in_functions=True)
    assert "torchinit.openmmlab.defaults" in graph["torchinit._default_rules"]  # on the first default looked up
    assert "torchinit.report" not in graph["torchinit.module"]  # under TYPE_CHECKING


def test_the_graph_sees_imports_at_module_level_and_in_class_bodies_but_not_in_functions() -> None:
    graph = import_graph()
    assert "torchinit.engine" in graph["torchinit"]
    assert "torchinit.distributed.sharded" in graph["torchinit.distributed"]
    assert "torchinit.errors" in graph["torchinit.registry"]
    # module.py imports mmcv's default table only inside a function, and report.py under TYPE_CHECKING
    assert "torchinit.openmmlab.defaults" not in graph["torchinit.module"]
    assert "torchinit.report" not in graph["torchinit.module"]


def test_a_circle_is_found_and_named() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
