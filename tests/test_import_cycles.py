"""No import cycles in the package.

Every ``.py`` file under ``spacenas/`` is parsed with :mod:`ast`; every ``import`` / ``from ...
import`` of a spacenas module counts, at module level AND inside functions (a lazy import still
couples the two modules), except imports under ``if TYPE_CHECKING:`` (never run). ``from pkg
import name`` counts as an import of ``pkg.name`` when that is a module, else of ``pkg``. Importing
``a.b.c`` also runs ``a/__init__`` and ``a.b/__init__``, but those edges are not added: a package
``__init__`` re-exporting its submodules would otherwise form a "cycle" with each of them.
A cycle fails the test with its modules named in order.
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest
from support import ROOT



def module_names(root: Path, package: str) -> dict[str, Path]:
    out = {}
    for f in sorted((root / package).rglob("*.py")):
        parts = list(f.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = f
    return out


def is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or \
        (isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING")


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package modules that module ``name`` (file ``path``) imports."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    is_pkg = path.name == "__init__.py"
    found: set[str] = set()

    def resolve(target: str) -> str | None:  # longest prefix that is a module of the package
        while target:
            if target in modules:
                return target
            target = target.rpartition(".")[0]
        return None

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            for a in node.names:
                found.add(resolve(a.name))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_pkg else name.split(".")[:-1]
                base = base[:len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            for a in node.names:
                sub = f"{mod}.{a.name}"
                found.add(sub if sub in modules else resolve(mod))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    found.discard(None)
    found.discard(name)
    return found  # type: ignore[return-value]


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle ``[a, b, ..., a]`` of the directed graph, or None (iterative DFS)."""
    WHITE, GREY, BLACK = 0, 1, 2
    color = {n: WHITE for n in graph}
    for start in sorted(graph):
        if color[start] != WHITE:
            continue
        stack = [(start, iter(sorted(graph[start])))]
        path = [start]
        color[start] = GREY
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                color[node] = BLACK
                stack.pop()
                path.pop()
            elif color.get(nxt, BLACK) == GREY:
                return path[path.index(nxt):] + [nxt]
            elif color.get(nxt) == WHITE:
                color[nxt] = GREY
                path.append(nxt)
                stack.append((nxt, iter(sorted(graph[nxt]))))
    return None


def import_graph(root: Path, package: str) -> dict[str, set[str]]:
    modules = module_names(root, package)
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def test_the_package_has_no_import_cycle():
    graph = import_graph(ROOT, "spacenas")
    assert len(graph) > 50
    assert "spacenas.cli.options" in graph["spacenas.cli.search"]  # the walk sees imports at all
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_nothing_outside_cli_imports_cli():
    graph = import_graph(ROOT, "spacenas")
    entry = {"spacenas.__main__"}  # python -m spacenas is the command line
    bad = sorted(f"{a} -> {b}" for a, bs in graph.items() if not a.startswith("spacenas.cli") and a not in entry
                 for b in bs if b == "spacenas.cli" or b.startswith("spacenas.cli."))
    assert not bad, bad


def write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)


@pytest.mark.parametrize("files, cycle", [
    # module level, absolute
    ({"pkg/__init__.py": "", "pkg/a.py": "import pkg.b\n", "pkg/b.py": "from pkg import a\n"},
     ["pkg.a", "pkg.b", "pkg.a"]),
    # inside a function, relative imports, three modules
    ({"pkg/__init__.py": "", "pkg/sub/__init__.py": "",
      "pkg/sub/x.py": "def f():\n    from . import y\n",
      "pkg/sub/y.py": "from ..z import g\n",
      "pkg/z.py": "def g():\n    from pkg.sub.x import f\n"},
     ["pkg.sub.x", "pkg.sub.y", "pkg.z", "pkg.sub.x"]),
])
def test_a_cycle_is_found_and_named(tmp_path, files, cycle):
    write(tmp_path, files)
    assert find_cycle(import_graph(tmp_path, "pkg")) == cycle


def test_no_false_cycles(tmp_path):
    # TYPE_CHECKING imports, a package __init__ re-exporting its submodule, a one-way chain
    write(tmp_path, {"pkg/__init__.py": "from pkg.a import A\n",
                     "pkg/a.py": "from typing import TYPE_CHECKING\nimport os\nfrom pkg import b\nA = 1\n"
                                 "if TYPE_CHECKING:\n    from pkg.c import C\n",
                     "pkg/b.py": "import pkg.c\n",
                     "pkg/c.py": "C = 1\n"})
    graph = import_graph(tmp_path, "pkg")
    assert graph["pkg.a"] == {"pkg.b"} and graph["pkg.b"] == {"pkg.c"} and graph["pkg"] == {"pkg.a"}
    assert find_cycle(graph) is None


def private_imports(root: Path, package: str) -> list[str]:
    """``from package.x import _y`` anywhere in the package (private names stay in their module)."""
    out = []
    for name, path in module_names(root, package).items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").split(".")[0] == package):
                out += [f"{name}: {node.module}.{a.name}" for a in node.names
                        if a.name.startswith("_") and not a.name.startswith("__")]
    return out


def test_no_private_names_imported_across_modules(tmp_path):
    assert private_imports(ROOT, "spacenas") == []
    write(tmp_path, {"pkg/__init__.py": "", "pkg/a.py": "def _f(): pass\n", "pkg/b.py": "from pkg.a import _f\n"})
    assert private_imports(tmp_path, "pkg") == ["pkg.b: pkg.a._f"]


if __name__ == "__main__":  # print the package's first import cycle, if any
    print(find_cycle(import_graph(ROOT, "spacenas")) or "no cycle", file=sys.stderr)
