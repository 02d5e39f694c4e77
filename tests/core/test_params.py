"""Tests of ptycho.params, the legacy global dict for external callers
(specs/ptychodus_api_spec.md CFG-012, CFG-013, CONFIG-001)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ptycho import params
from ptycho.config.config import (
    KEY_MAPPINGS,
    InferenceConfig,
    ModelConfig,
    TrainingConfig,
    dataclass_to_legacy_dict,
    update_legacy_dict,
)

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _restore_cfg() -> Iterator[None]:
    """Every test leaves params.cfg exactly as it found it."""
    saved = dict(params.cfg)
    yield
    params.cfg.clear()
    params.cfg.update(saved)


def test_defaults_agree_with_training_config_defaults() -> None:
    """CFG-012: every legacy default equals the TrainingConfig dataclass default."""
    for key, value in dataclass_to_legacy_dict(TrainingConfig()).items():
        assert params.DEFAULTS[key] == value, key


def test_inference_only_keys_take_inference_config_defaults() -> None:
    """CFG-012: keys only InferenceConfig has (model_path, debug, refine_*, probe_source) take
    its defaults."""
    training_keys = set(dataclass_to_legacy_dict(TrainingConfig()))
    inference = dataclass_to_legacy_dict(InferenceConfig())
    extra = {key: value for key, value in inference.items() if key not in training_keys}
    assert extra == {
        "model_path": None,
        "debug": False,
        "refine_iterations": 0,
        "refine_probe": False,
        "probe_source": "auto",
    }
    for key, value in extra.items():
        assert params.DEFAULTS[key] == value


def test_defaults_do_not_repeat_the_original_disagreeing_values() -> None:
    """CFG-012: the values where the original's dict disagreed now follow the dataclasses."""
    expected = {
        "N": 64,
        "gridsize": 1,
        "probe.big": True,
        "probe.mask": False,
        "probe_scale": 4.0,
        "intensity_scale.trainable": True,
        "positions.provided": True,
        "nepochs": 50,
        "output_prefix": "training_outputs",
    }
    assert {key: params.DEFAULTS[key] for key in expected} == expected


def test_defaults_hold_exactly_the_bridged_keys_plus_two_constants() -> None:
    """CFG-012: no undocumented legacy keys; the only extras are offset and jitter."""
    bridged = set(dataclass_to_legacy_dict(TrainingConfig())) | set(
        dataclass_to_legacy_dict(InferenceConfig())
    )
    assert set(params.DEFAULTS) == bridged | {"offset", "max_position_jitter"}
    assert (params.DEFAULTS["offset"], params.DEFAULTS["max_position_jitter"]) == (4, 10)
    assert set(KEY_MAPPINGS.values()) <= set(params.DEFAULTS)


def test_defaults_are_read_only_and_json_safe() -> None:
    """CFG-012: DEFAULTS cannot be modified and holds plain JSON values (no Paths)."""
    with pytest.raises(TypeError):
        params.DEFAULTS["N"] = 128  # type: ignore[index]
    json.dumps(dict(params.DEFAULTS))


def test_cfg_starts_equal_to_defaults_after_reset() -> None:
    """CFG-012: reset() restores the defaults in place (the same dict object)."""
    original = params.cfg
    params.set("N", 256)
    params.set("intensity_scale", 3.0)
    params.reset()
    assert params.cfg is original
    assert params.cfg == dict(params.DEFAULTS)


def test_set_then_get_returns_the_value() -> None:
    """CFG-012: set(key, value) then get(key) returns it, also for new keys."""
    params.set("gridsize", 2)
    params.set("intensity_scale", 123.5)
    assert params.get("gridsize") == 2
    assert params.get("intensity_scale") == 123.5
    assert params.cfg["intensity_scale"] == 123.5


def test_get_missing_key_raises_key_error_naming_the_key() -> None:
    """CFG-012: a missing key without default raises KeyError naming it (Ptychodus turns the
    KeyError for 'intensity_scale' into its own RuntimeError)."""
    assert "intensity_scale" not in params.cfg
    with pytest.raises(KeyError, match="intensity_scale"):
        params.get("intensity_scale")
    with pytest.raises(KeyError, match="no_such_key"):
        params.get("no_such_key")


def test_get_missing_key_with_default_returns_default() -> None:
    """CFG-012: get(key, default) returns the default for a missing key, even None."""
    assert params.get("no_such_key", 7) == 7
    assert params.get("no_such_key", None) is None
    assert params.get("N", 7) == 64


@pytest.mark.parametrize(
    ("n", "gridsize", "big_n", "padding", "padded"),
    [(64, 1, 64, 10, 74), (64, 2, 68, 14, 78), (128, 3, 136, 18, 146)],
)
def test_derived_sizes_follow_n_gridsize_and_offset(
    n: int, gridsize: int, big_n: int, padding: int, padded: int
) -> None:
    """CFG-012: bigN = N + (g-1)*offset; padding = (g-1)*offset + jitter; padded = bigN +
    jitter (74 for N=64, g=1; 78 for g=2, as in the original)."""
    params.set("N", n)
    params.set("gridsize", gridsize)
    assert params.get("bigN") == params.get_bigN() == big_n
    assert params.get("padding_size") == params.get_padding_size() == padding
    assert params.get("padded_size") == params.get_padded_size() == padded
    assert params.get_bigN({"N": n, "gridsize": gridsize, "offset": 4}) == big_n


def test_padded_size_agrees_with_the_object_big_physics() -> None:
    """CFG-012, ARCH-010: the legacy padded_size equals physics.object_big.padded_size."""
    object_big = pytest.importorskip("ptycho.physics.object_big")
    for gridsize in (1, 2, 3):
        params.set("gridsize", gridsize)
        assert params.get("padded_size") == object_big.padded_size(64, gridsize)


def test_derived_keys_cannot_be_set() -> None:
    """CFG-012: derived keys are computed, so setting one is an error that says what to set."""
    for key in params.DERIVED_KEYS:
        with pytest.raises(ValueError, match="set those instead"):
            params.set(key, 1)
    with pytest.raises(ValueError, match="non-empty"):
        params.set("", 1)


def test_params_returns_a_copy_with_derived_values() -> None:
    """CFG-012: params() is a copy of cfg with bigN (and the other derived sizes) added."""
    params.set("gridsize", 2)
    snapshot = params.params()
    assert snapshot["bigN"] == 68 and snapshot["padded_size"] == 78
    snapshot["N"] = 999
    assert params.cfg["N"] == 64
    assert "bigN" not in params.cfg


def test_update_legacy_dict_drives_get_and_derived_values() -> None:
    """CONFIG-001: after update_legacy_dict(params.cfg, config) legacy reads see the config."""
    config = TrainingConfig(model=ModelConfig(N=128, gridsize=2), output_dir=Path("runs/a"))
    update_legacy_dict(params.cfg, config)
    assert params.get("N") == 128
    assert params.get("gridsize") == 2
    assert params.get("output_prefix") == "runs/a"
    assert params.get("bigN") == 132


def test_importing_params_loads_no_framework_and_writes_no_file(tmp_path: Path) -> None:
    """CFG-012 (design D8): importing ptycho.params / ptycho.config.config loads neither
    TensorFlow nor torch (nor NumPy) and writes nothing to the working directory."""
    code = (
        "import sys, ptycho.params, ptycho.config.config\n"
        "bad = sorted(m for m in ('tensorflow', 'keras', 'torch', 'lightning', 'numpy') "
        "if m in sys.modules)\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env={"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------------------------
# CFG-013 (design D5): our own modules never read the legacy dict
# ------------------------------------------------------------------------------------------------

_ALLOWED_FILES = {Path("ptycho/params.py"), Path("ptycho/config/config.py")}
#: Legacy entry points whose documented contract with external callers (the Ptychodus built-in
#: client, spec section 6) is to read the legacy dict; each is listed in the spec under CFG-013.
_LEGACY_ENTRY_POINTS = {(Path("ptycho/probe.py"), "set_probe_guess")}


def _is_params_ref(node: ast.AST) -> bool:
    """``params`` or ``<anything>.params`` (e.g. ``ptycho.params``)."""
    return (isinstance(node, ast.Name) and node.id == "params") or (
        isinstance(node, ast.Attribute) and node.attr == "params"
    )


def _is_cfg_ref(node: ast.AST) -> bool:
    """``params.cfg`` / ``ptycho.params.cfg``."""
    return isinstance(node, ast.Attribute) and node.attr == "cfg" and _is_params_ref(node.value)


def _legacy_reads(tree: ast.AST) -> list[tuple[int, str]]:
    reads: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            func = node.func
            if func.attr in ("get", "params") and _is_params_ref(func.value):
                reads.append((node.lineno, f"params.{func.attr}()"))
            if func.attr == "get" and _is_cfg_ref(func.value):
                reads.append((node.lineno, "params.cfg.get()"))
        if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load):
            if _is_cfg_ref(node.value):
                reads.append((node.lineno, "params.cfg[...]"))
        if isinstance(node, ast.ImportFrom) and node.module == "ptycho.params":
            for alias in node.names:
                if alias.name in ("get", "params"):
                    reads.append((node.lineno, f"from ptycho.params import {alias.name}"))
    return sorted(reads)


def _legacy_entry_point_lines(tree: ast.AST, relative: Path) -> set[int]:
    """Line numbers inside the allow-listed legacy entry points of this file."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if (relative, node.name) in _LEGACY_ENTRY_POINTS:
                lines.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
    return lines


def test_legacy_read_detector_finds_reads_and_ignores_writes() -> None:
    """CFG-013: the source scan below flags reads and accepts writes and bridge calls."""
    reads = _legacy_reads(
        ast.parse(
            "import ptycho.params as params\n"
            "a = params.get('N')\n"
            "b = ptycho.params.cfg['gridsize']\n"
            "c = params.cfg.get('x')\n"
            "from ptycho.params import get\n"
        )
    )
    assert [line for line, _ in reads] == [2, 3, 4, 5]
    writes = (
        "import ptycho.params\n"
        "ptycho.params.cfg['intensity_scale'] = 1.0\n"
        "update_legacy_dict(ptycho.params.cfg, config)\n"
        "ptycho.params.set('probe', p)\n"
        "'''docs may mention params.get('N')'''\n"
    )
    assert _legacy_reads(ast.parse(writes)) == []
    shim = ast.parse("def set_probe_guess():\n    return params.cfg['probe_scale']\n")
    assert _legacy_reads(shim) == [(2, "params.cfg[...]")]
    assert 2 in _legacy_entry_point_lines(shim, Path("ptycho/probe.py"))
    assert _legacy_entry_point_lines(shim, Path("ptycho/loader.py")) == set()


def test_package_modules_never_read_the_legacy_dict() -> None:
    """CFG-013 (design D5): no module of ptycho, ptycho_torch or ptycho_reconstructor reads
    params.cfg / params.get / params.params, except params.py and config.py (which own the dict)
    and the allow-listed legacy entry points whose external contract is to read it."""
    offenders: list[str] = []
    for package in ("ptycho", "ptycho_torch", "ptycho_reconstructor"):
        for path in sorted((REPO_ROOT / package).rglob("*.py")):
            relative = path.relative_to(REPO_ROOT)
            if relative in _ALLOWED_FILES:
                continue
            try:
                tree = ast.parse(path.read_text(encoding="utf-8"))
            except SyntaxError:
                continue  # a file being edited; its own tests report syntax errors
            allowed = _legacy_entry_point_lines(tree, relative)
            offenders.extend(
                f"{relative}:{line}: {what}"
                for line, what in _legacy_reads(tree)
                if line not in allowed
            )
    assert offenders == [], "modules read the legacy dict (design D5):\n" + "\n".join(offenders)
