"""The package's layout: imports point downward only, so no module of python/logitcore is part
of an import cycle.

The import graph is read from the source (``ast``), imports inside functions and under
``TYPE_CHECKING`` included: a cycle hidden behind a lazy import is still a cycle. An edge goes
from a module to every module of the package that its import statements execute: the
imported module and the packages on the way to it (``from .bench import harness`` runs
``logitcore.bench`` and ``logitcore.bench.harness``), except the importing module's own
enclosing packages, which are already initialized whenever a submodule of theirs runs. A
module that names one of its enclosing packages explicitly (``import logitcore``,
``from .. import softmax``, ``from . import name`` for a name that is not a submodule) does
depend on that package's ``__init__``, and that edge counts.
"""
from __future__ import annotations

import ast
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path
from typing import Dict, List, Optional, Set

PACKAGE_DIR = Path(__file__).resolve().parents[1] / "python" / "logitcore"


def _module_names(pkg_dir: Path) -> Dict[str, Optional[Path]]:
    """{dotted module name: file} of every .py file under ``pkg_dir`` (a package __init__
    under the package's name), and {name: None} for the extension modules (a ``.pyi`` stub or
    a compiled file), which import nothing of the package."""
    mods: Dict[str, Optional[Path]] = {}
    for f in sorted(pkg_dir.rglob("*")):
        suffix = next((s for s in (".pyi", *EXTENSION_SUFFIXES) if f.name.endswith(s)), None)
        if f.suffix != ".py" and suffix is None:
            continue
        rel = f.relative_to(pkg_dir.parent)
        parts = rel.with_suffix("").parts if f.suffix == ".py" else (*rel.parts[:-1], f.name[: -len(suffix)])
        if parts[-1] == "__init__":
            parts = parts[:-1]
        name = ".".join(parts)
        if f.suffix == ".py" or name not in mods:
            mods[name] = f if f.suffix == ".py" else None
    return mods


def import_graph(pkg_dir: Path) -> Dict[str, Set[str]]:
    """{module: the package's modules its imports execute} (see the module docstring)."""
    mods = _module_names(pkg_dir)
    root = pkg_dir.name
    graph: Dict[str, Set[str]] = {}
    for name, path in mods.items():
        if path is None:
            graph[name] = set()
            continue
        is_pkg = path.name == "__init__.py"
        here = name if is_pkg else name.rpartition(".")[0]  # the package relative imports start from
        enclosing = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
        if is_pkg:
            enclosing.add(name)

        def executed(target: str, explicit: bool) -> Set[str]:
            """``target`` and its enclosing packages that are not ours; ``target`` itself even
            when it encloses us if it is named explicitly (its __init__ namespace is used)."""
            parts = target.split(".")
            out = {p for p in (".".join(parts[:i]) for i in range(1, len(parts))) if p not in enclosing}
            if target not in enclosing or explicit:
                out.add(target)
            return {m for m in out if m in mods and m != name}

        deps: Set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name == root or alias.name.startswith(root + "."):
                        deps |= executed(alias.name, explicit=True)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = here.split(".")
                    base = base[: len(base) - (node.level - 1)]
                    target = ".".join(base + ([node.module] if node.module else []))
                elif node.module and (node.module == root or node.module.startswith(root + ".")):
                    target = node.module
                else:
                    continue
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    if sub in mods:  # a submodule: it runs, and the packages on the way
                        deps |= executed(sub, explicit=False) | executed(target, explicit=False)
                    else:  # a name defined by target's code
                        deps |= executed(target, explicit=True)
        graph[name] = deps
    return graph


def find_cycles(graph: Dict[str, Set[str]]) -> List[List[str]]:
    """One cycle per strongly connected component of more than one module, as a path
    ``[a, b, ..., a]`` (Tarjan's algorithm, then a shortest way round)."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: Set[str] = set()
    components: List[Set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                components.append(comp)

    for v in sorted(graph):
        if v not in index:
            visit(v)

    cycles = []
    for comp in components:
        start = min(comp)
        prev = {start: None}
        frontier = [start]
        found = None
        while frontier and found is None:
            nxt = []
            for v in frontier:
                for w in sorted(graph[v] & comp):
                    if w == start:
                        found = v
                        break
                    if w not in prev:
                        prev[w] = v
                        nxt.append(w)
                if found is not None:
                    break
            frontier = nxt
        path = [start]
        v = found
        while v is not None and v != start:
            path.append(v)
            v = prev[v]
        cycles.append([start] + path[:0:-1] + [start])
    return cycles


def _describe(cycles: List[List[str]]) -> str:
    return "; ".join(" -> ".join(c) for c in cycles)


def test_no_import_cycles():
    graph = import_graph(PACKAGE_DIR)
    # the walk sees the subpackages and the edges that must be there
    assert {"logitcore", "logitcore.reference", "logitcore.reference.losses", "logitcore.bench",
            "logitcore.bench.harness", "logitcore.bench.losses"} <= set(graph)
    assert "logitcore.reference" in graph["logitcore"]
    assert "logitcore.reference.family" in graph["logitcore.reference.losses"]
    assert "logitcore.bench.harness" in graph["logitcore.bench.losses"]
    cycles = find_cycles(graph)
    assert not cycles, f"import cycles: {_describe(cycles)}"


def test_case_and_reference_modules_import_downward():
    """The harness imports no case module; no module below a subpackage's __init__ imports it."""
    graph = import_graph(PACKAGE_DIR)
    assert not {m for m in graph["logitcore.bench.harness"] if m.startswith("logitcore.bench")}
    for pkg in ("logitcore.bench", "logitcore.reference"):
        importers = sorted(m for m, deps in graph.items() if pkg in deps and m.startswith(pkg + "."))
        assert not importers, f"{importers} import their package {pkg}"


def _write(root: Path, files: Dict[str, str]) -> Path:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return root / "pkg"


def test_the_cycle_check_finds_planted_cycles(tmp_path):
    clean = {
        "pkg/__init__.py": "from . import sub\nfrom .a import f\n",
        "pkg/a.py": "import numpy\nfrom . import _ext\nfrom .b import g\ndef f():\n    from . import c\n",
        "pkg/_ext.pyi": "def e() -> None: ...\n",  # an extension module's stub: a module, not a name
        "pkg/b.py": "def g(): pass\n",
        "pkg/c.py": "from .b import g\n",
        "pkg/sub/__init__.py": "from .x import h\n",
        "pkg/sub/x.py": "from ..b import g\nfrom . import y\n",
        "pkg/sub/y.py": "from pkg.b import g\n",
        "pkg/tool.py": "import pkg\nfrom pkg.sub import x\n",  # imported by nothing in pkg
    }
    assert find_cycles(import_graph(_write(tmp_path / "clean", clean))) == []
    planted = {
        # siblings, one import hidden in a function
        "b.py": ("def g():\n    from .a import f\n", ["pkg.a", "pkg.b", "pkg.a"]),
        # a submodule importing its package __init__, which imports it
        "sub/y.py": ("from . import h\n", ["pkg.sub", "pkg.sub.x", "pkg.sub.y", "pkg.sub"]),
        # an absolute import of the top package from a module it imports
        "sub/x.py": ("import pkg.b\nimport pkg\n", ["pkg", "pkg.sub", "pkg.sub.x", "pkg"]),
    }
    for i, (rel, (text, want)) in enumerate(planted.items()):
        files = dict(clean, **{f"pkg/{rel}": text})
        cycles = find_cycles(import_graph(_write(tmp_path / f"cycle{i}", files)))
        assert cycles == [want], rel
