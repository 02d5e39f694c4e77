"""Imports flow one way: core <- backends <- dispatch/workflows <- CLIs and adapter (issue 12).

An AST scan of every module of ``ptycho``, ``ptycho_torch`` and ``ptycho_reconstructor``:
module-level and function-level ``import`` / ``from`` statements (relative imports resolved)
and ``importlib.import_module("...")`` string literals. Nothing is imported, so the scan is fast
and needs no framework.

Layer map (lowest first; a module may import its own layer or lower ones):

* ``core``: every ``ptycho.*`` module not named below; no TensorFlow, Keras, torch, Lightning
  or Ptychodus.
* ``backend_tf``: ``ptycho.tf.*`` and the legacy name ``ptycho.tf_helper``.
* ``backend_torch``: ``ptycho_torch.*`` except its workflows and CLI entry points. A backend
  never imports the other backend (nor its framework), nor Ptychodus.
* ``dispatch``: ``ptycho.workflows.*``, ``ptycho_torch.workflows.*`` and ``ptycho.model_manager``
  (``ptycho.weights`` is framework-free NumPy tables that backends import: core).
* ``top``: ``ptycho.cli.*``, the torch CLI entry points (``ptycho_torch.train``,
  ``ptycho_torch.inference``, ``ptycho_torch.pretrain`` and their shared ``cli_shared``) and the
  adapter ``ptycho_reconstructor.*``.

Known violations owned by other steps of issue 12 are in :data:`ALLOWED_EDGES` and
:data:`ALLOWED_CYCLES`; an entry no longer needed fails
:func:`test_allowlists_are_not_stale`,
so the lists only shrink.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("ptycho", "ptycho_torch", "ptycho_reconstructor")

RANK = {"core": 0, "backend_tf": 1, "backend_torch": 1, "dispatch": 2, "top": 3}
TF_LIBS = frozenset({"tensorflow", "keras", "tf_keras"})
TORCH_LIBS = frozenset({"torch", "lightning", "pytorch_lightning", "torchvision"})
HOST_LIBS = frozenset({"ptychodus"})

TOP_MODULES = frozenset(
    {
        "ptycho_torch.train",
        "ptycho_torch.inference",
        "ptycho_torch.pretrain",
        "ptycho_torch.cli_shared",
    }
)
# ptycho.weights is framework-free (name/shape tables, NumPy conversions); the backends and
# ptycho.archive import it, so it is core by what it does.
DISPATCH_MODULES = frozenset({"ptycho.model_manager"})

# (importer, imported) pairs that break the layer rules today and are fixed by another step of
# issue 12. Each entry says why it is still here.
ALLOWED_EDGES: frozenset[tuple[str, str]] = frozenset({})

# Sets of modules that import each other at module level (a circle) and are fixed by another
# step of issue 12.
ALLOWED_CYCLES: frozenset[frozenset[str]] = frozenset()


@dataclass(frozen=True)
class Edge:
    """One import statement: ``source`` imports ``target`` at ``line`` (module level or not)."""

    source: str
    target: str
    line: int
    module_level: bool


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def modules() -> dict[str, Path]:
    """Every module of the three packages, by dotted name."""
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            found[_module_name(path)] = path
    return found


def _resolve(name: str) -> str:
    """The longest known module that ``name`` starts with (``a.b.attr`` -> ``a.b``)."""
    known = modules()
    parts = name.split(".")
    if parts[0] not in PACKAGES:
        return parts[0]
    while parts and ".".join(parts) not in known:
        parts.pop()
    return ".".join(parts) if parts else name


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk(
    node: ast.AST, module_level: bool, type_only: bool
) -> Iterator[tuple[ast.AST, bool, bool]]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            yield from _walk(child, False, type_only)
        elif isinstance(child, ast.If) and _is_type_checking(child):
            yield child, module_level, True
            for sub in child.body:
                yield sub, module_level, True
                yield from _walk(sub, module_level, True)
            for sub in child.orelse:
                yield sub, module_level, type_only
                yield from _walk(sub, module_level, type_only)
        else:
            yield child, module_level, type_only
            yield from _walk(child, module_level, type_only)


@cache
def edges() -> tuple[Edge, ...]:
    """Every import of every module; type-only imports (``if TYPE_CHECKING``) count as not
    module level (they never run)."""
    known = modules()
    found: list[Edge] = []
    for name, path in known.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node, module_level, type_only in _walk(tree, True, False):
            at_load = module_level and not type_only
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[: len(base) - (node.level - 1)]
                    stem = ".".join(base + ([node.module] if node.module else []))
                else:
                    stem = node.module or ""
                for alias in node.names:
                    full = f"{stem}.{alias.name}"
                    targets.append(full if full in known else stem)
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "import_module"
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                targets = [node.args[0].value]
            for target in targets:
                resolved = _resolve(target)
                if resolved != name:
                    found.append(Edge(name, resolved, node.lineno, at_load))
    return tuple(found)


def layer(module: str) -> str:
    """The layer of one of our modules (see the module docstring)."""
    if module.startswith("ptycho_reconstructor"):
        return "top"
    if module.startswith("ptycho_torch"):
        if module in TOP_MODULES:
            return "top"
        if module == "ptycho_torch.workflows" or module.startswith("ptycho_torch.workflows."):
            return "dispatch"
        return "backend_torch"
    if module == "ptycho.cli" or module.startswith("ptycho.cli."):
        return "top"
    if module == "ptycho.workflows" or module.startswith("ptycho.workflows."):
        return "dispatch"
    if module in DISPATCH_MODULES:
        return "dispatch"
    if module == "ptycho.tf" or module.startswith("ptycho.tf.") or module == "ptycho.tf_helper":
        return "backend_tf"
    return "core"


def _violation(edge: Edge) -> str | None:
    """Why ``edge`` breaks the layer map, or None."""
    src = layer(edge.source)
    top_name = edge.target.split(".")[0]
    if top_name not in PACKAGES:
        if src == "core" and top_name in TF_LIBS | TORCH_LIBS | HOST_LIBS:
            return "the core imports a framework or the host application"
        if src == "backend_tf" and top_name in TORCH_LIBS | HOST_LIBS:
            return "the TensorFlow backend imports torch or the host application"
        if src == "backend_torch" and top_name in TF_LIBS | HOST_LIBS:
            return "the torch backend imports TensorFlow or the host application"
        if src == "dispatch" and top_name in HOST_LIBS:
            return "the dispatch layer imports the host application"
        return None
    dst = layer(edge.target)
    if {src, dst} == {"backend_tf", "backend_torch"}:
        return "a backend imports the other backend"
    if RANK[dst] > RANK[src]:
        return f"upward import ({src} -> {dst})"
    return None


def violations() -> dict[tuple[str, str], list[str]]:
    """Every (importer, imported) pair that breaks the layer map, with line and reason."""
    found: dict[tuple[str, str], list[str]] = {}
    for edge in edges():
        why = _violation(edge)
        if why is not None:
            found.setdefault((edge.source, edge.target), []).append(f"line {edge.line}: {why}")
    return found


def cycles() -> list[frozenset[str]]:
    """Strongly connected components (more than one module) of the module-level import graph."""
    graph: dict[str, set[str]] = {name: set() for name in modules()}
    for edge in edges():
        if edge.module_level and edge.target in graph:
            graph[edge.source].add(edge.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        # iterative Tarjan: (node, iterator over its successors)
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, successors = work[-1]
            advanced = False
            for nxt in successors:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                    advanced = True
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(frozenset(component))
    return found


def _report(found: dict[tuple[str, str], list[str]]) -> str:
    return "\n".join(f"{s} -> {t}: {'; '.join(why)}" for (s, t), why in sorted(found.items()))


def _new(kind: str) -> dict[tuple[str, str], list[str]]:
    return {
        pair: why
        for pair, why in violations().items()
        if pair not in ALLOWED_EDGES and any(kind in w for w in why)
    }


def test_scan_finds_the_packages() -> None:
    names = modules()
    assert "ptycho.loader" in names and "ptycho_torch.train" in names
    assert any(
        e.source == "ptycho.raw_data.grouped" and e.target == "ptycho.grouping" for e in edges()
    )


def test_core_imports_no_framework() -> None:
    bad = _new("the core imports a framework")
    assert not bad, "move framework code to a backend:\n" + _report(bad)


def test_backends_never_import_each_other() -> None:
    bad = {
        **_new("a backend imports the other backend"),
        **_new("backend imports torch"),
        **_new("backend imports TensorFlow"),
    }
    assert not bad, "backends must stay independent:\n" + _report(bad)


def test_no_upward_imports() -> None:
    bad = {**_new("upward import"), **_new("dispatch layer imports the host")}
    assert not bad, (
        "a module imports a higher layer; move the shared piece down to the core:\n" + _report(bad)
    )


def test_no_import_cycles_at_module_level() -> None:
    bad = [sorted(c) for c in cycles() if c not in ALLOWED_CYCLES]
    assert not bad, f"module-level import circles: {bad}; move the shared piece to one side"


def test_allowlists_are_not_stale() -> None:
    current = violations()
    stale_edges = sorted(pair for pair in ALLOWED_EDGES if pair not in current)
    stale_cycles = [sorted(c) for c in ALLOWED_CYCLES if c not in cycles()]
    assert not stale_edges and not stale_cycles, (
        f"remove these fixed entries from the allowlists: {stale_edges} {stale_cycles}"
    )
