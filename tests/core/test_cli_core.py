"""Tests of the ptycho-simulate and ptycho-compare command-line tools (D11, issue 2 items 7-8)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ptycho.cli import compare as compare_cli
from ptycho.cli import simulate as simulate_cli
from ptycho.raw_data import RawData

REPO = Path(__file__).resolve().parents[2]


def _env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["OMP_NUM_THREADS"] = "2"
    env["MPLCONFIGDIR"] = str(tmp_path_factory.mktemp("mplconfig"))
    return env


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize(
    ("module", "flags"),
    [
        (
            "ptycho.cli.simulate",
            [
                "--output_dir",
                "--N",
                "--n_positions",
                "--n_test",
                "--nphotons",
                "--seed",
                "--format",
                "--split",
                "--probe",
                "--scan",
                "--overlap",
                "--step_px",
                "--jitter_px",
                "--object_size",
                "--detector_pixel_m",
                "--distance_m",
                "--energy_eV",
                "--no_patches",
                "--no_plot",
                "--log_level",
            ],
        ),
        (
            "ptycho.cli.compare",
            ["--reconstruction", "--truth", "--roi", "--margin", "--name", "--json", "--log_level"],
        ),
    ],
)
def test_help_documents_every_flag(
    module: str, flags: list[str], tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """CLI: `python -m <cli> --help` exits 0 and lists every flag; it writes nothing."""
    result = _run([module, "--help"], tmp_path, _env(tmp_path_factory))
    assert result.returncode == 0, result.stderr
    for flag in flags:
        assert flag in result.stdout, flag
    assert list(tmp_path.iterdir()) == []


@pytest.mark.integration
def test_simulate_split_both_formats_writes_only_under_output_dir(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """D11: ptycho-simulate --split --format both writes train/test NPZ, Ptychodus batch folders,
    overview PNGs and summary.json under --output_dir and nothing in the working directory."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    out = tmp_path / "out"
    result = _run(
        [
            "ptycho.cli.simulate",
            "--output_dir",
            str(out),
            "--N",
            "64",
            "--n_positions",
            "16",
            "--n_test",
            "9",
            "--nphotons",
            "1e5",
            "--seed",
            "3",
            "--format",
            "both",
            "--split",
        ],
        cwd,
        _env(tmp_path_factory),
    )
    assert result.returncode == 0, result.stderr
    assert "mean counts/pattern" in result.stdout
    assert list(cwd.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cwd", "out"]
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert written == [
        "overview.png",
        "overview_test.png",
        "ptychodus/test/diffraction.h5",
        "ptychodus/test/product.h5",
        "ptychodus/train/diffraction.h5",
        "ptychodus/train/product.h5",
        "summary.json",
        "test_data.npz",
        "train_data.npz",
    ]
    assert (out / "overview.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["datasets"]["train"]["diff3d_shape"] == [16, 64, 64]
    assert summary["datasets"]["test"]["diff3d_shape"] == [9, 64, 64]
    assert summary["datasets"]["train"]["mean_counts_per_pattern"] == pytest.approx(1e5, rel=0.02)
    train = RawData.from_file(out / "train_data.npz")
    test = RawData.from_file(out / "test_data.npz")
    assert len(train) == 16 and len(test) == 9
    assert train.objectGuess is not None and test.objectGuess is not None


@pytest.mark.integration
def test_simulate_is_reproducible_and_compare_scores_truth_perfectly(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """D11/ARCH-011: two runs with one seed give identical NPZ arrays; ptycho-compare of the
    truth times a global phase factor prints SSIM 1, a huge PSNR and the removed offset."""
    env = _env(tmp_path_factory)
    for name in ("a", "b"):
        result = _run(
            [
                "ptycho.cli.simulate",
                "--output_dir",
                str(tmp_path / name),
                "--n_positions",
                "12",
                "--seed",
                "5",
                "--no_plot",
                "--scan",
                "spiral",
                "--probe",
                "zone_plate",
            ],
            tmp_path,
            env,
        )
        assert result.returncode == 0, result.stderr
        assert not (tmp_path / name / "overview.png").exists()
    with (
        np.load(tmp_path / "a" / "simulated_data.npz") as a,
        np.load(tmp_path / "b" / "simulated_data.npz") as b,
    ):
        assert a.files == b.files
        for key in a.files:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)
        truth = a["objectGuess"]
    np.savez(tmp_path / "recon.npz", object=truth * np.exp(1j * 0.8))
    result = _run(
        [
            "ptycho.cli.compare",
            "--reconstruction",
            str(tmp_path / "recon.npz"),
            "--truth",
            str(tmp_path / "a" / "simulated_data.npz"),
        ],
        tmp_path,
        env,
    )
    assert result.returncode == 0, result.stderr
    row = next(line for line in result.stdout.splitlines() if line.startswith("| recon |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1] == "1.0000" and cells[3] == "1.0000"  # amplitude and phase SSIM
    # float32 round-off only: PSNR far above any real reconstruction (inf if exact)
    assert float(cells[2]) > 150 and float(cells[4]) > 150
    assert cells[5] == "0.500"  # FRC never drops below 0.5 before Nyquist
    assert "removed phase offset +0.8000 rad" in result.stdout


def _truth_npz(tmp_path: Path) -> tuple[Path, np.ndarray]:
    from ptycho.simulation import save_npz, simulate_dataset

    ds = simulate_dataset(N=64, n_positions=16, nphotons=1e4, seed=1)
    return save_npz(ds, tmp_path / "truth.npz"), ds.object


def test_compare_prints_table_and_writes_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Metrics CLI: the table has one row; --roi auto is the scanned region; --json writes the
    metrics (inf as a string)."""
    truth_path, obj = _truth_npz(tmp_path)
    rng = np.random.default_rng(0)
    noisy = obj + 0.05 * (rng.standard_normal(obj.shape) + 1j * rng.standard_normal(obj.shape))
    np.savez(tmp_path / "r.npz", reconstructed_object=noisy[None])
    code = compare_cli.main(
        [
            "--reconstruction",
            str(tmp_path / "r.npz"),
            "--truth",
            str(truth_path),
            "--name",
            "noisy",
            "--json",
            str(tmp_path / "m.json"),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "| noisy |" in out and "amp SSIM" in out
    metrics = json.loads((tmp_path / "m.json").read_text())["noisy"]
    assert 0 < metrics["amp_ssim"] < 1
    h, w = obj.shape
    assert metrics["roi_rows"][0] > 0 and metrics["roi_rows"][1] < h
    code = compare_cli.main(
        ["--reconstruction", str(tmp_path / "r.npz"), "--truth", str(truth_path), "--roi", "full"]
    )
    assert code == 0
    assert f"ROI rows 0:{h}, cols 0:{w}" in capsys.readouterr().out


def test_compare_reports_bad_input_clearly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Bad input: missing key, shape mismatch, missing file and a bad --roi exit 1 with a
    message that names the problem."""
    truth_path, obj = _truth_npz(tmp_path)
    np.savez(tmp_path / "nokey.npz", image=obj)
    np.savez(tmp_path / "small.npz", object=obj[:10, :10])
    np.savez(tmp_path / "ok.npz", object=obj)
    cases = [
        (["--reconstruction", str(tmp_path / "nokey.npz")], "'object' or 'reconstructed_object'"),
        (["--reconstruction", str(tmp_path / "small.npz")], "differs from the ground truth"),
        (["--reconstruction", str(tmp_path / "missing.npz")], "not found"),
        (["--reconstruction", str(tmp_path / "ok.npz"), "--roi", "1:2:3"], "cannot parse --roi"),
    ]
    for args, message in cases:
        assert compare_cli.main([*args, "--truth", str(truth_path)]) == 1
        assert message in capsys.readouterr().err


def test_simulate_rejects_bad_flags_before_writing(tmp_path: Path) -> None:
    """Bad input: odd N, non-positive photons, --n_test without --split are usage errors (exit
    2) and create no output folder."""
    out = tmp_path / "out"
    for extra in (["--N", "63"], ["--nphotons", "0"], ["--n_test", "5"], ["--overlap", "1.5"]):
        with pytest.raises(SystemExit) as info:
            simulate_cli.main(["--output_dir", str(out), *extra])
        assert info.value.code == 2
    assert not out.exists()


def test_simulate_in_process_npz_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """D11: the default format writes simulated_data.npz (+ overview, summary) only;
    --no_patches leaves Y out of the NPZ."""
    out = tmp_path / "o"
    code = simulate_cli.main(
        [
            "--output_dir",
            str(out),
            "--n_positions",
            "9",
            "--nphotons",
            "1e4",
            "--no_plot",
            "--no_patches",
        ]
    )
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == ["simulated_data.npz", "summary.json"]
    with np.load(out / "simulated_data.npz") as f:
        assert "Y" not in f.files and "objectGuess" in f.files
    assert "data: diff3d (9, 64, 64)" in capsys.readouterr().out


def test_train_and_infer_clis_default_to_the_recommended_settings() -> None:
    """Issue 11 / D14: ptycho-train groups by 2, ptycho-infer refines and falls back to the
    pretrained model; the torch CLIs agree."""
    from ptycho import defaults
    from ptycho.cli import infer, train

    args = train.build_parser().parse_args(["--train_data_file", "x.npz", "--output_dir", "o"])
    assert args.gridsize == defaults.GRIDSIZE and args.architecture == "backprop_unet"
    args = infer.build_parser().parse_args(["--test_data_file", "x.npz", "--output_dir", "o"])
    assert args.model_path is None
    assert args.refine_iterations == defaults.REFINE_ITERATIONS
    assert args.probe_source == "auto"
    assert args.precision == defaults.PRECISION == "auto"


def test_precision_flag_reaches_the_training_and_inference_configs() -> None:
    """ARCH-016: ``--precision`` of ptycho-train / ptycho-infer ends up in the configs."""
    from ptycho.cli import infer, train

    args = train.build_parser().parse_args(
        ["--train_data_file", "x.npz", "--output_dir", "o", "--precision", "bfloat16"]
    )
    assert train._training_config(args, n=64, n_groups=16).precision == "bfloat16"
    args = infer.build_parser().parse_args(
        ["--test_data_file", "x.npz", "--output_dir", "o", "--precision", "float32"]
    )
    assert args.precision == "float32"
    with pytest.raises(SystemExit):
        train.build_parser().parse_args(
            ["--train_data_file", "x.npz", "--output_dir", "o", "--precision", "float16"]
        )
