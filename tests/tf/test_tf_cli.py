"""The ptycho-train / ptycho-infer CLIs, run in subprocesses (integration)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ptycho.cli import infer as infer_cli
from ptycho.cli import train as train_cli


def _run(
    module: str, args: list[str], env: dict[str, str], cwd: Path
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=600,
    )


@pytest.mark.integration
def test_train_then_infer_cli_cycle_writes_outputs_only_under_output_dir(
    npz_pair: tuple[Path, Path], subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    """ptycho-train -> wts.h5.zip, history.csv, loss curve (+ test reconstruction);
    ptycho-infer --refine_iterations 5 -> PNGs + reconstruction.npz['object'] on the objectGuess
    grid, the refinement and both qualities (network alone, refined) printed. Nothing is written
    to the working directory."""
    train_npz, test_npz = npz_pair
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    out = tmp_path / "train_out"
    result = _run(
        "ptycho.cli.train",
        [
            "--train_data_file",
            str(train_npz),
            "--test_data_file",
            str(test_npz),
            "--output_dir",
            str(out),
            "--nepochs",
            "1",
            "--batch_size",
            "8",
            "--gridsize",
            "2",
            "--n_groups",
            "40",
            "--nphotons",
            "1e6",
            "--seed",
            "3",
            "--no-probe_big",
            "--n_filters_scale",
            "1",
            "--neighbor_count",
            "6",
        ],
        subprocess_env,
        workdir,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "model archive" in result.stdout and "vs ground truth" in result.stdout
    assert {p.name for p in out.iterdir()} == {
        "wts.h5.zip",
        "history.csv",
        "loss_curve.png",
        "reconstructed_amplitude.png",
        "reconstructed_phase.png",
        "reconstruction.npz",
    }
    inf = tmp_path / "infer_out"
    result = _run(
        "ptycho.cli.infer",
        [
            "--model_path",
            str(out),
            "--test_data_file",
            str(test_npz),
            "--output_dir",
            str(inf),
            "--refine_iterations",
            "5",
        ],
        subprocess_env,
        workdir,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert str(inf / "reconstruction.npz") in result.stdout
    assert "refined 5 iterations: amplitude error" in result.stdout
    assert "network alone vs ground truth" in result.stdout
    with np.load(inf / "reconstruction.npz") as saved, np.load(test_npz) as truth:
        assert saved["object"].shape == truth["objectGuess"].shape
        assert np.iscomplexobj(saved["object"]) and saved["probe"].shape == (64, 64)
    assert {p.name for p in inf.iterdir()} == {
        "reconstructed_amplitude.png",
        "reconstructed_phase.png",
        "reconstruction.npz",
    }
    assert list(workdir.iterdir()) == []


def test_help_documents_every_flag() -> None:
    """--help lists each flag of issue 3 item 5 with booleans as --flag/--no-flag."""
    text = train_cli.build_parser().format_help()
    for flag in (
        "--train_data_file",
        "--test_data_file",
        "--output_dir",
        "--model_path",
        "--nepochs",
        "--batch_size",
        "--gridsize",
        "--N",
        "--n_groups",
        "--seed",
        "--backend",
        "--probe_trainable, --no-probe_trainable",
        "--object_big, --no-object_big",
    ):
        assert flag in text
    for action in train_cli.build_parser()._actions:
        if action.dest != "help":
            assert action.help, f"{action.dest} has no help text"
    infer_text = infer_cli.build_parser().format_help()
    for flag in (
        "--model_path",
        "--test_data_file",
        "--output_dir",
        "--N",
        "--n_groups",
        "--seed",
        "--backend",
        "--batch_size",
        "--refine_iterations",
        "--refine_probe, --no-refine_probe",
    ):
        assert flag in infer_text


def test_boolean_flags_parse_as_booleans() -> None:
    """--no-object_big gives False (the original parsed 'False' as True)."""
    args = train_cli.build_parser().parse_args(
        ["--train_data_file", "a.npz", "--output_dir", "o", "--no-object_big", "--probe_mask"]
    )
    assert args.object_big is False and args.probe_mask is True and args.N is None


@pytest.mark.integration
def test_backend_pytorch_trains_through_the_dispatcher_and_tensorflow_infers_it(
    npz_pair: tuple[Path, Path], subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    """Issue 5: ``ptycho-train --backend pytorch`` routes through the dispatcher and writes a
    PyTorch archive; ``ptycho-infer --backend tensorflow`` converts and reconstructs it."""
    import json
    import zipfile

    train_npz, test_npz = npz_pair
    out = tmp_path / "torch_run"
    result = _run(
        "ptycho.cli.train",
        [
            "--train_data_file",
            str(train_npz),
            "--output_dir",
            str(out),
            "--nepochs",
            "1",
            "--batch_size",
            "8",
            "--n_groups",
            "32",
            "--nphotons",
            "1e6",
            "--n_filters_scale",
            "1",
            "--backend",
            "pytorch",
        ],
        subprocess_env,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    with zipfile.ZipFile(out / "wts.h5.zip") as archive:
        assert json.loads(archive.read("manifest.json"))["backend"] == "pytorch"
    inf = tmp_path / "tf_infer"
    result = _run(
        "ptycho.cli.infer",
        [
            "--model_path",
            str(out),
            "--test_data_file",
            str(test_npz),
            "--output_dir",
            str(inf),
            "--backend",
            "tensorflow",
        ],
        subprocess_env,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    with np.load(inf / "reconstruction.npz") as saved:
        assert np.iscomplexobj(saved["object"]) and np.isfinite(saved["object"]).all()


def test_unknown_backend_is_rejected_with_the_choices() -> None:
    """D7: an unknown backend name lists the valid ones."""
    with pytest.raises(ValueError, match="choose one of 'tensorflow', 'pytorch'"):
        train_cli.check_backend("jax")


def test_unwritable_output_dir_is_reported_before_any_work(
    npz_pair: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """Bad input: --output_dir that cannot be created -> exit 1 with a clear message."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code = train_cli.main(
        ["--train_data_file", str(npz_pair[0]), "--output_dir", str(blocker / "out")]
    )
    assert code == 1 and "--output_dir" in capsys.readouterr().err
    code = infer_cli.main(
        [
            "--model_path",
            str(tmp_path),
            "--test_data_file",
            str(npz_pair[1]),
            "--output_dir",
            str(blocker / "out"),
        ]
    )
    assert code == 1 and "--output_dir" in capsys.readouterr().err


def test_train_cli_rejects_n_that_differs_from_the_data(
    npz_pair: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """Bad input: --N 128 on 64x64 patterns -> exit 1 naming both sizes; no model written."""
    code = train_cli.main(
        ["--train_data_file", str(npz_pair[0]), "--output_dir", str(tmp_path / "o"), "--N", "128"]
    )
    assert code == 1 and "--N 128" in capsys.readouterr().err
    assert not (tmp_path / "o" / "wts.h5.zip").exists()


def test_infer_cli_reports_a_missing_model(
    npz_pair: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """Bad input: --model_path without an archive -> exit 1, 'no model archive'."""
    code = infer_cli.main(
        [
            "--model_path",
            str(tmp_path / "none"),
            "--test_data_file",
            str(npz_pair[1]),
            "--output_dir",
            str(tmp_path / "o"),
        ]
    )
    assert code == 1 and "no model archive" in capsys.readouterr().err
