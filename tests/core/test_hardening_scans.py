"""HARD-005 .. HARD-007 (specs/hardening.md): scan geometry before any allocation.

Positions off the object grid, outliers far from the rest of the scan, and canvases above the
limit are refused by :func:`ptycho.inference.reconstruct_scan` (the flow both inference CLIs
run) before it groups, predicts or allocates a canvas; the messages name the positions. The
adapter uses the same check (ADAPT-009). A 1e6 px outlier is refused within a 200 MB
address-space limit.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ptycho.backend import ModelBundle
from ptycho.config.config import InferenceConfig, ModelConfig
from ptycho.inference import reconstruct_scan
from ptycho.raw_data import RawData
from ptycho.scan_geometry import (
    MAX_CANVAS_PIXELS,
    check_canvas_size,
    check_positions_on_object,
    check_scan_canvas,
    find_outliers,
)

REPO = Path(__file__).resolve().parents[2]
N = 64


def _raster(side: int = 8, step: float = 6.0, origin: float = 40.0) -> tuple[np.ndarray, ...]:
    grid = origin + step * np.arange(side, dtype=float)
    x, y = np.meshgrid(grid, grid)
    return x.ravel(), y.ravel()


def test_positions_off_the_object_name_count_extent_indices_and_fix() -> None:
    """HARD-005 (issue case 3): K of M positions outside the object grid are an error listing
    the grid, the span of the positions, their indices and the caller's fix."""
    x, y = _raster()
    x[[3, 10]] = [-5.0, 500.0]
    with pytest.raises(ValueError) as info:
        check_positions_on_object(x, y, (128, 128), fix="do this")
    message = str(info.value)
    assert message.startswith("2 of 64 probe positions lie outside the object (128 x 128 px;")
    assert "indices 3, 10" in message and message.endswith("; do this")
    check_positions_on_object(*_raster(), (128, 128))  # all on it: fine


def test_uniform_scans_have_no_outliers_and_far_positions_are_found() -> None:
    """HARD-006: raster, random and two-region scans have no outliers; one position (or a few
    together) far beyond the bulk of the scan are outliers; tiny scans are not judged."""
    x, y = _raster()
    assert find_outliers(x, y, N).size == 0
    rng = np.random.default_rng(0)
    assert find_outliers(rng.uniform(0, 300, 500), rng.uniform(0, 50, 500), N).size == 0
    two = np.concatenate([x, x + 400.0]), np.concatenate([y, y])
    assert find_outliers(*two, N).size == 0
    far_x = x.copy()
    far_x[[5, 6]] = [4000.0, 4003.0]
    assert find_outliers(far_x, y, N).tolist() == [5, 6]
    assert find_outliers([0.0, 1e6, 2.0], [0.0, 0.0, 1.0], N).size == 0  # < 8 positions


def test_outlier_is_an_error_naming_it_and_the_canvas_it_would_need() -> None:
    """HARD-006 (issue case 2): without an object grid, an outlier is refused naming its index,
    its position, the span of the others and the canvas size it would cause."""
    x, y = _raster()
    x[63] = 4000.0
    with pytest.raises(ValueError) as info:
        check_scan_canvas(x, y, N, 20)
    message = str(info.value)
    assert message.startswith("1 of 64 scan positions lie far from the rest of the scan")
    assert "indices 63; e.g. index 63 at x=4000.0, y=82.0 px" in message
    assert "x 40.0..82.0" in message and "almost empty" in message


def test_canvas_above_the_limit_is_refused_before_allocation() -> None:
    """HARD-007: a scan whose canvas exceeds MAX_CANVAS_PIXELS (8192 x 8192) is refused with its
    size and the limit, even without outliers."""
    x, y = _raster(side=10, step=1000.0)
    with pytest.raises(ValueError, match=r"would be 9023 x 9023 px \(81 Mpx\), above the limit"):
        check_scan_canvas(x, y, N, 20)
    check_canvas_size((8192, 8192))
    with pytest.raises(ValueError, match="8193 x 8192 px"):
        check_canvas_size((8192, 8193))
    assert MAX_CANVAS_PIXELS == 8192 * 8192


def test_reassemble_position_refuses_a_huge_canvas_before_allocating_it() -> None:
    """HARD-007: the historical reassemble_position (Ptychodus's built-in client calls it) checks
    its canvas size first, so one offset at 1e6 px is an error, not a 21.8 TiB allocation."""
    from ptycho.stitching import reassemble_position

    x, y = _raster()
    x[0] = 1e6
    offsets = np.stack([x, y], axis=1)[:, None, :, None]
    with pytest.raises(ValueError, match=r"would be 999983 x 999983 px \(999966 Mpx\), above"):
        reassemble_position(np.ones((64, N, N, 1), np.complex64), offsets, M=20)


def _scan(x: np.ndarray, y: np.ndarray, object_shape: tuple[int, int] | None) -> RawData:
    m = x.size
    diff = np.ones((m, N, N), np.float32)
    obj = None if object_shape is None else np.ones(object_shape, np.complex64)
    return RawData.from_coords_without_pc(
        x, y, diff, np.ones((N, N), np.complex64), np.zeros(m, int), objectGuess=obj
    )


def _bundle() -> ModelBundle:
    return ModelBundle("pytorch", ModelConfig(N=N), None, 1.0, np.ones((N, N), np.complex64))


def _predict(calls: list[int]) -> Any:
    def predict(
        bundle: Any, container: Any, batch_size: int, *, probe: Any = None, precision: str = ""
    ) -> np.ndarray:
        calls.append(len(container))
        return np.ones((len(container), N, N, 1), np.complex64)

    return predict


@pytest.mark.parametrize(
    ("shift", "object_shape", "words"),
    [
        (1000.0, (128, 128), "64 of 64 probe positions lie outside the object"),
        (0.0, None, None),
    ],
)
def test_reconstruct_scan_checks_geometry_before_predicting(
    shift: float, object_shape: tuple[int, int] | None, words: str | None
) -> None:
    """HARD-005: reconstruct_scan (both inference CLIs) refuses positions off the objectGuess
    before predicting anything (it used to write an all-zero object), with the CLIs' fix."""
    x, y = _raster()
    calls: list[int] = []
    raw = _scan(x + shift, y, object_shape)
    config = InferenceConfig(model=ModelConfig(N=N))
    if words is None:
        recon = reconstruct_scan(_bundle(), raw, config, _predict(calls))
        assert calls == [64] and recon.object.shape[0] < 100
        return
    with pytest.raises(ValueError) as info:
        reconstruct_scan(_bundle(), raw, config, _predict(calls))
    assert words in str(info.value) and "remove objectGuess from the NPZ" in str(info.value)
    assert calls == []


_BOUNDED = """
import json, resource, sys
import numpy as np
sys.path.insert(0, sys.argv[1])
from tests.core.test_hardening_scans import _bundle, _predict, _raster, _scan
from ptycho.config.config import InferenceConfig, ModelConfig
from ptycho.inference import reconstruct_scan
from ptycho.stitching import reassemble_position

def vm_bytes():
    for line in open('/proc/self/status'):
        if line.startswith('VmSize:'):
            return int(line.split()[1]) * 1024

x, y = _raster()
x[63] = float(sys.argv[2])
raw = _scan(x, y, None)
limit = vm_bytes() + 200 * 1024 * 1024
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
result = {}
calls = []
try:
    reconstruct_scan(_bundle(), raw, InferenceConfig(model=ModelConfig(N=64)), _predict(calls))
except ValueError as exc:
    result['error'] = str(exc)
except MemoryError:
    result['memory_error'] = True
result['predicted'] = calls
try:  # control: stitching these positions naively does not fit the limit
    patches = np.ones((64, 64, 64, 1), np.complex64)
    offsets = np.stack([x, y], axis=1)[:, None, :, None]
    reassemble_position(patches, offsets, M=20)
    result['naive'] = 'ok'
except MemoryError:
    result['naive'] = 'MemoryError'
except ValueError as exc:  # the canvas limit of reassemble_position itself
    result['naive'] = 'canvas limit' if 'above the limit' in str(exc) else str(exc)
print(json.dumps(result))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc and RLIMIT_AS")
@pytest.mark.parametrize(("outlier", "naive"), [(4000.0, "MemoryError"), (1e6, "canvas limit")])
def test_outlier_is_refused_within_bounded_memory(outlier: float, naive: str) -> None:
    """HARD-006 (issue case 2): one outlier at x = 4000 px (a 3990 px canvas, ~0.4 GB to stitch)
    or 1e6 px (21.8 TiB) is refused by reconstruct_scan naming index 63, before predicting,
    within a 200 MB address-space limit. Stitching those positions directly exceeds that limit
    (4000 px) or is refused by the canvas limit of reassemble_position (1e6 px, HARD-007)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", _BOUNDED, str(REPO), str(outlier)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert "memory_error" not in result, result
    assert "1 of 64 scan positions lie far from the rest" in result["error"]
    assert "indices 63" in result["error"] and result["predicted"] == []
    assert result["naive"] == naive
