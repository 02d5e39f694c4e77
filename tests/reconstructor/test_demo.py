"""The README's main command (``make demo`` = ``python -m ptycho_reconstructor.demo``).

Runs the real thing at a tiny size: simulate, stock ``ptychodus -b train``, stock
``ptychodus -b reconstruct``, compare with the ground truth.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.integration
def test_demo_runs_the_whole_mission_and_reports_quality(
    tmp_path: Path, installed_hook: Path, subprocess_env: dict[str, str]
) -> None:
    """Issue 6 item 9: the demo trains and reconstructs through stock Ptychodus batch mode,
    once with the network alone, once with physics refinement (RefineIterations), and once
    with no model at all (the pretrained model, issue 10)."""
    out = tmp_path / "demo"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "ptycho_reconstructor.demo",
            "--output_dir",
            str(out),
            "--n_positions",
            "128",
            "--epochs",
            "2",
            "--refine_iterations",
            "5",
        ],
        cwd=tmp_path,
        env=subprocess_env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for step in ("[1/4]", "[2/4]", "[3/4]", "[4/4]"):
        assert step in result.stdout
    assert "fine-tuning the pretrained model" in result.stdout  # the default (issue 11)
    # issue 11: the training's per-epoch progress is streamed while it runs
    for epoch in ("epoch 1/2: ", "epoch 2/2: "):
        line = next((s for s in result.stdout.splitlines() if epoch in s), "")
        assert "loss=" in line and "s elapsed, about" in line, result.stdout[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    assert Path(summary["product"]).is_file() and Path(summary["png"]).is_file()
    assert (out / "model" / "wts.h5.zip").is_file()
    assert set(summary["metrics"]) == {
        "PtychoPINN (network)",
        "PtychoPINN + 5 refinement iterations",
        "pretrained model, no training (network)",
        "constant object (baseline)",
    }
    # D13: the shipped model reconstructs the held-out scan without training, far above the
    # constant object (it was trained on scans of this simulator's families)
    pretrained = summary["metrics"]["pretrained model, no training (network)"]
    constant = summary["metrics"]["constant object (baseline)"]
    assert pretrained["amp_ssim"] >= constant["amp_ssim"] + 0.2, summary["metrics"]
    for metrics in summary["metrics"].values():
        assert 0.0 < metrics["amp_ssim"] <= 1.0 and metrics["amp_psnr"] > 0.0
    assert "reconstruction_refined" in summary["product"]
    # nothing outside --output_dir
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo"]
