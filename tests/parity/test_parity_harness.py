"""The parity harness (issue 5 item 3): ``python -m ptycho.parity`` at the tiny size.

The harness itself imports neither framework (each backend runs in its own worker subprocess);
the tiny run must pass every stated tolerance and write the report, the figure and the JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ptycho.parity import SIZES, TOLERANCES, main, relative_difference

REPO = Path(__file__).resolve().parents[2]


def test_relative_difference_is_max_abs_over_max_reference() -> None:
    """Issue 5: relative difference = max|a - ref| / max|ref| (complex modulus)."""
    ref = np.array([1.0 + 0j, -4.0, 2j])
    value = ref + np.array([0.0, 0.5j, 0.0])
    assert relative_difference(value, ref) == pytest.approx((0.5, 0.125))
    assert relative_difference(np.zeros(3), np.zeros(3)) == (0.0, 0.0)
    with pytest.raises(ValueError, match="shapes differ"):
        relative_difference(np.zeros(2), np.zeros(3))


def test_tolerances_are_the_stated_ones() -> None:
    """Issue 5: physics 1e-5, same weights 1e-4 (relative), trained SSIM within 0.02."""
    assert TOLERANCES == {"physics": 1e-5, "same_weights": 1e-4, "ssim": 0.02}
    assert set(SIZES) == {"tiny", "full"}


def test_bad_arguments_are_rejected_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 5: --epochs below 2 and unknown sizes are usage errors (exit 2), nothing written."""
    with pytest.raises(SystemExit) as exc:
        main(["--output_dir", str(tmp_path / "out"), "--epochs", "1"])
    assert exc.value.code == 2
    assert "--epochs must be >= 2" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--output_dir", str(tmp_path / "out"), "--size", "huge"])
    assert not (tmp_path / "out").exists()


@pytest.mark.integration
def test_tiny_parity_run_passes_every_tolerance(tmp_path: Path) -> None:
    """Issue 5: on the same seeded data the backends agree within the stated tolerances
    (physics <= 1e-5, same weights <= 1e-4, trained SSIM within 0.02); report, figure and JSON
    are written and the command exits 0."""
    out = tmp_path / "parity"
    env = dict(os.environ, OMP_NUM_THREADS="2", TF_CPP_MIN_LOG_LEVEL="2")
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run(
        [sys.executable, "-m", "ptycho.parity", "--output_dir", str(out), "--size", "tiny"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert "parity PASS" in proc.stdout
    data = json.loads((out / "parity.json").read_text())
    assert data["passed"] is True
    sections = {c["section"] for c in data["checks"]}
    assert sections == {"physics", "same_weights", "same_training"}
    for check in data["checks"]:
        assert (
            check["passed"]
            and check["value"]
            <= TOLERANCES[
                {"physics": "physics", "same_weights": "same_weights", "same_training": "ssim"}[
                    check["section"]
                ]
            ]
        ), check
    # every physics operation was compared for both backends (patch extraction: torch only)
    for key, row in data["physics"].items():
        assert row["pytorch"]["rel"] <= TOLERANCES["physics"], key
        if key != "extract_patches":
            assert row["tensorflow"]["rel"] <= TOLERANCES["physics"], key
    assert len(data["physics"]) == 11
    # both conversion directions, four outputs each
    assert set(data["same_weights"]) == {"tf_to_torch", "torch_to_tf"}
    # the same training: per-epoch losses of both backends, and quality metrics
    for backend in ("tensorflow", "pytorch"):
        history = data["same_training"][backend]["history"]
        assert len(history["loss"]) == SIZES["tiny"].epochs
        assert len(history["val_loss"]) == SIZES["tiny"].epochs
        assert 0.0 < data["same_training"][backend]["metrics"]["amp_ssim"] <= 1.0
        assert data["speed"][backend]["train_groups_per_s"] > 0
        assert data["speed"][backend]["inference_groups_per_s"] > 0
    # each worker imported only its own framework
    assert not any(data["environment"]["foreign_imports"].values())
    report = (out / "parity_report.md").read_text()
    assert report.startswith("# TensorFlow / PyTorch parity report: PASS")
    for heading in ("## 1. Physics", "## 2. Same weights", "## 3. Same training", "## 4. Speed"):
        assert heading in report
    assert (out / "parity.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert list(tmp_path.iterdir()) == [out]  # nothing written to the working directory
