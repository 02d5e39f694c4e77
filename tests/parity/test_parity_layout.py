"""The parity harness's layout (issue 12): a framework-free orchestrator in the core, one worker
module of the same name in each backend, launched by module name from one table.

No framework is imported here: the checks run in a fresh interpreter or read source files.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from ptycho.backend import BACKENDS
from ptycho.parity import PARITY_WORKERS
from ptycho.parity.orchestrator import run_worker

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "ptycho" / "parity"
HEAVY = ("tensorflow", "keras", "torch", "lightning")


def _module_path(module: str) -> Path:
    return REPO.joinpath(*module.split(".")).with_suffix(".py")


def test_orchestrator_package_imports_no_framework_and_no_backend() -> None:
    """Issue 12: every module of ``ptycho.parity`` imports (in a fresh interpreter) without
    TensorFlow, torch, a backend package or the dispatch layer."""
    names = sorted(f"ptycho.parity.{p.stem}" for p in PACKAGE.glob("*.py") if p.stem != "__main__")
    code = (
        "import importlib, json, sys\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    loaded = json.loads(proc.stdout.strip().splitlines()[-1])
    assert not {m.split(".")[0] for m in loaded} & set(HEAVY)
    above_core = [
        m
        for m in loaded
        if m.startswith(("ptycho.tf", "ptycho_torch", "ptycho.workflows", "ptycho_reconstructor"))
    ]
    assert above_core == []


def test_one_worker_module_per_backend_with_the_same_functions() -> None:
    """Issue 12: ``PARITY_WORKERS`` covers every backend; each worker lives in its backend under
    the same module name and exports the same functions."""
    assert set(PARITY_WORKERS) == set(BACKENDS)
    exported = {}
    for backend, module in PARITY_WORKERS.items():
        assert module.rsplit(".", 1)[1] == "parity_worker", module
        path = _module_path(module)
        assert path.is_file(), path
        tree = ast.parse(path.read_text())
        (names,) = [
            ast.literal_eval(node.value)
            for node in tree.body
            if isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets)
        ]
        functions = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
        assert set(names) <= functions, (backend, names)
        exported[backend] = sorted(names)
    assert len({tuple(v) for v in exported.values()}) == 1, exported
    assert {"main", "run_task", "model_outputs", "physics_outputs"} <= set(
        next(iter(exported.values()))
    )


def test_orchestrator_never_branches_on_a_backend_name() -> None:
    """Issue 12: no ``== 'tensorflow'`` (or any backend name) comparison in ``ptycho.parity``;
    what differs between backends is in the tables of :mod:`ptycho.parity.settings`."""
    offenders = []
    for path in sorted(PACKAGE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Compare):
                operands = [node.left, *node.comparators]
                if any(isinstance(o, ast.Constant) and o.value in BACKENDS for o in operands):
                    offenders.append(f"{path.name}:{node.lineno}")
    assert offenders == []


def test_a_failing_worker_is_reported_with_its_stderr(tmp_path: Path) -> None:
    """Issue 5/12: a worker that exits non-zero raises RuntimeError naming the backend, the phase
    and the exit code, with the tail of its stderr."""
    with pytest.raises(RuntimeError, match=r"parity worker \(a\) failed with exit code 1") as exc:
        run_worker(
            "fake",
            {"phase": "a"},
            tmp_path,
            timeout=120,
            workers={"fake": "ptycho_parity_no_such_worker_module"},
        )
    assert "No module named ptycho_parity_no_such_worker_module" in str(exc.value)
    task = json.loads((tmp_path / "task_fake_a.json").read_text())
    assert task["phase"] == "a" and task["work"] == str(tmp_path)
    assert task["result"] == str(tmp_path / "result_fake_a.json")
