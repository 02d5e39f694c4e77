"""The training and inference CLIs: python -m ptycho_torch.train / ptycho_torch.inference."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from ptycho.metrics import compare, scanned_roi
from ptycho_torch import inference, train

QUIET_TRAIN = ["--n_filters_scale", "1", "--nphotons", "1e6"]


def _run(module: str, args: list[str], env: dict[str, str], timeout: int = 600):
    """Run a CLI in a subprocess (one intra-op thread: the test process waits meanwhile)."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        env={**env, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.integration
def test_train_then_infer_in_subprocesses_reconstructs_better_than_a_constant_object(
    tiny_npz, tiny_scan, tmp_path, subprocess_env
):
    """Issue 4 train -> save -> load -> infer cycle through the real CLIs (Lightning trainer):
    checkpoints (last + best), csv logs, history.csv, the wts.h5.zip archive with a 'pytorch'
    manifest, the two PNGs and reconstruction.npz; the reconstruction beats a constant object
    (amplitude and phase SSIM, phase PSNR against the ground truth over the scanned region;
    measured here: amp SSIM 0.44 vs 0.34, phase SSIM 0.30 vs 0.22, phase PSNR 16.1 vs 13.6 dB)."""
    out = tmp_path / "run"
    args = (
        f"--train_data_file {tiny_npz} --test_data_file {tiny_npz} --output_dir {out} "
        "--max_epochs 20 --n_groups 48 --batch_size 8 --accelerator cpu --logger csv "
        "--early-stop-patience 50"
    )
    result = _run("ptycho_torch.train", [*args.split(), *QUIET_TRAIN], subprocess_env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "model saved to" in result.stdout
    assert (out / "checkpoints" / "last.ckpt").is_file()
    assert list((out / "checkpoints").glob("best-epoch*.ckpt"))
    assert list((out / "lightning_logs").glob("version_*/metrics.csv"))
    assert (out / "history.csv").read_text().count("\n") == 20 + 1, result.stdout[-2000:]
    manifest = json.loads(zipfile.ZipFile(out / "wts.h5.zip").read("manifest.json"))
    assert manifest["backend"] == "pytorch" and manifest["N"] == 64
    assert manifest["training_config"]["nepochs"] == 20

    inferred = tmp_path / "inference"
    result = _run(
        "ptycho_torch.inference",
        [
            "--model_path",
            str(out),
            "--test_data",
            str(tiny_npz),
            "--output_dir",
            str(inferred),
            "--accelerator",
            "cpu",
            "--inference-batch-size",
            "16",
        ],
        subprocess_env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for name in ("reconstructed_amplitude.png", "reconstructed_phase.png"):
        assert (inferred / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with np.load(inferred / "reconstruction.npz") as data:
        obj = data["object"]
    truth = tiny_scan.object
    assert obj.shape == truth.shape and obj.dtype == np.complex64
    # central 20x20 of each patch is stitched: compare where it covers (N/4 - 10 = 6 px margin)
    roi = scanned_roi(tiny_scan.raw.xcoords, tiny_scan.raw.ycoords, 64, truth.shape, margin=6)
    ours = compare(obj, truth, roi)
    constant = compare(np.full(truth.shape, np.abs(truth).mean(), np.complex64), truth, roi)
    keys = ("amp_ssim", "amp_psnr", "phase_ssim", "phase_psnr")
    print("reconstruction", {k: round(ours[k], 4) for k in keys})
    print("constant object", {k: round(constant[k], 4) for k in keys})
    assert ours["amp_ssim"] > constant["amp_ssim"] + 0.02
    assert ours["phase_ssim"] > constant["phase_ssim"] + 0.02
    assert ours["phase_psnr"] > constant["phase_psnr"] + 0.5


@pytest.mark.integration
def test_multi_device_cpu_training_with_ddp_produces_the_same_artefacts(
    tiny_npz, tmp_path, subprocess_env
):
    """--accelerator cpu --devices 2 --strategy ddp trains one short epoch in two processes and
    writes the checkpoints, history and archive."""
    if (os.cpu_count() or 1) < 2:
        pytest.skip("needs 2 CPU cores")
    out = tmp_path / "ddp"
    result = _run(
        "ptycho_torch.train",
        [
            "--train_data_file",
            str(tiny_npz),
            "--output_dir",
            str(out),
            "--max_epochs",
            "1",
            "--n_groups",
            "16",
            "--accelerator",
            "cpu",
            "--devices",
            "2",
            "--strategy",
            "ddp",
            "--logger",
            "none",
            "--quiet",
            *QUIET_TRAIN,
        ],
        subprocess_env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (out / "checkpoints" / "last.ckpt").is_file()
    assert (out / "history.csv").is_file()
    manifest = json.loads(zipfile.ZipFile(out / "wts.h5.zip").read("manifest.json"))
    assert manifest["backend"] == "pytorch" and manifest["training_summary"]["epochs"] == 1


def test_quiet_run_without_logger_prints_no_progress_bar(tiny_npz, tmp_path, capfd):
    """--logger none --quiet: no progress bar, no Lightning banner, no lightning_logs."""
    out = tmp_path / "quiet"
    code = train.main(
        [
            "--train_data_file",
            str(tiny_npz),
            "--output_dir",
            str(out),
            "--max_epochs",
            "1",
            "--n_groups",
            "16",
            "--accelerator",
            "cpu",
            "--logger",
            "none",
            "--quiet",
            *QUIET_TRAIN,
        ]
    )
    captured = capfd.readouterr()
    assert code == 0, captured.err
    text = captured.out + captured.err
    for marker in ("Epoch 0", "it/s", "━", "GPU available", "%|"):
        assert marker not in text
    assert not (out / "lightning_logs").exists()
    assert (out / "wts.h5.zip").is_file()


@pytest.mark.parametrize(
    ("flag", "value", "choices"),
    [
        ("--logger", "wandb", "'csv', 'tensorboard', 'mlflow', 'none'"),
        ("--scheduler", "cosine", "'none', 'exponential', 'warmup_cosine', 'reduce_on_plateau'"),
        ("--accelerator", "tpu", "'auto', 'cpu', 'gpu', 'cuda', 'mps'"),
        ("--strategy", "fsdp", "'auto', 'ddp', 'ddp_spawn', 'ddp_fork'"),
    ],
)
def test_unknown_flag_values_list_the_choices(flag, value, choices, tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        train.main(["--train_data_file", "x.npz", "--output_dir", str(tmp_path), flag, value])
    assert info.value.code == 2
    assert f"invalid choice: '{value}' (choose from {choices})" in capsys.readouterr().err


def test_inference_flag_values_are_validated(tmp_path, capsys):
    with pytest.raises(SystemExit):
        inference.main(
            [
                "--model_path",
                "m",
                "--test_data",
                "t",
                "--output_dir",
                str(tmp_path),
                "--accelerator",
                "tpu",
            ]
        )
    assert "invalid choice: 'tpu'" in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a CUDA GPU")
def test_gpu_accelerator_without_a_gpu_fails_fast_with_a_clear_message(tiny_npz, tmp_path, capsys):
    """--accelerator gpu on a CPU-only machine: exit 1 with a clear message, nothing trained."""
    out = tmp_path / "gpu"
    code = train.main(
        ["--train_data_file", str(tiny_npz), "--output_dir", str(out), "--accelerator", "gpu"]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert "no CUDA GPU is available" in err and "--accelerator cpu" in err
    assert not (out / "wts.h5.zip").exists()
    code = inference.main(
        [
            "--model_path",
            str(out),
            "--test_data",
            str(tiny_npz),
            "--output_dir",
            str(out),
            "--accelerator",
            "cuda",
        ]
    )
    assert code == 1 and "no CUDA GPU is available" in capsys.readouterr().err


def test_too_many_devices_and_missing_files_are_clear_errors(tiny_npz, tmp_path, capsys):
    code = train.main(
        [
            "--train_data_file",
            str(tiny_npz),
            "--output_dir",
            str(tmp_path),
            "--accelerator",
            "cpu",
            "--devices",
            "4096",
        ]
    )
    assert code == 1 and "--devices 4096 was requested" in capsys.readouterr().err
    code = train.main(["--train_data_file", str(tmp_path / "nope.npz"), "--output_dir", "o"])
    assert code == 1 and "training data file not found" in capsys.readouterr().err
    code = inference.main(
        [
            "--model_path",
            str(tmp_path / "nothing"),
            "--test_data",
            str(tiny_npz),
            "--output_dir",
            str(tmp_path / "o"),
        ]
    )
    assert code == 1 and "model path not found" in capsys.readouterr().err


def test_deprecated_flags_print_a_visible_notice(monkeypatch, capsys, tmp_path):
    """--device -> --accelerator and --disable_mlflow -> --logger none, each with a notice on
    stderr (and a DeprecationWarning)."""
    seen = {}

    def fake_run(config, execution, **_):
        seen["execution"] = execution
        raise ValueError("stop here")

    monkeypatch.setattr(train, "run_training", fake_run)
    with pytest.warns(DeprecationWarning):
        train.main(
            [
                "--train_data_file",
                "x.npz",
                "--output_dir",
                str(tmp_path),
                "--device",
                "cpu",
                "--disable_mlflow",
            ]
        )
    err = capsys.readouterr().err
    assert "DEPRECATION: --device is deprecated; use --accelerator cpu" in err
    assert "DEPRECATION: --disable_mlflow is deprecated; use --logger none" in err
    assert seen["execution"].accelerator == "cpu"
    assert seen["execution"].logger_backend is None
    with pytest.warns(DeprecationWarning):
        train.main(
            [
                "--train_data_file",
                "x.npz",
                "--output_dir",
                str(tmp_path),
                "--device",
                "cuda",
                "--accelerator",
                "cpu",
            ]
        )
    assert "ignored because --accelerator cpu is given" in capsys.readouterr().err
    assert seen["execution"].accelerator == "cpu"


def test_cli_flags_reach_the_execution_and_training_configs():
    """Every execution flag of issue 4 lands in PyTorchExecutionConfig / TrainingConfig."""
    parser = train.build_parser()
    args = parser.parse_args(
        [
            "--train_data_file",
            "t.npz",
            "--output_dir",
            "o",
            "--max_epochs",
            "7",
            "--n_images",
            "99",
            "--gridsize",
            "2",
            "--batch_size",
            "8",
            "--accelerator",
            "cpu",
            "--devices",
            "2",
            "--strategy",
            "ddp_spawn",
            "--no-deterministic",
            "--num-workers",
            "3",
            "--learning-rate",
            "5e-4",
            "--scheduler",
            "exponential",
            "--accumulate-grad-batches",
            "4",
            "--disable-checkpointing",
            "--checkpoint-save-top-k",
            "3",
            "--checkpoint-monitor",
            "train_loss",
            "--checkpoint-mode",
            "max",
            "--early-stop-patience",
            "9",
            "--logger",
            "tensorboard",
            "--seed",
            "11",
            "--realspace_weight",
            "20",
            "--refined_target_iterations",
            "50",
        ]
    )
    args.accelerator = "cpu"
    config, execution = train.build_configs(args)
    assert (config.realspace_weight, config.refined_target_iterations) == (20.0, 50)
    assert (config.nepochs, config.n_groups, config.model.gridsize, config.batch_size) == (
        7,
        99,
        2,
        8,
    )
    assert (config.learning_rate, config.seed, config.early_stopping_patience) == (5e-4, 11, 9)
    assert config.backend == "pytorch" and config.model.N == 0
    assert (execution.devices, execution.strategy, execution.deterministic) == (
        2,
        "ddp_spawn",
        False,
    )
    assert (execution.num_workers, execution.learning_rate, execution.scheduler) == (
        3,
        5e-4,
        "exponential",
    )
    assert (execution.accumulate_grad_batches, execution.enable_checkpointing) == (4, False)
    assert (execution.checkpoint_save_top_k, execution.checkpoint_monitor) == (3, "train_loss")
    assert (execution.checkpoint_mode, execution.early_stop_patience) == ("max", 9)
    assert execution.logger_backend == "tensorboard" and execution.enable_progress_bar is True


def test_console_scripts_are_declared_in_pyproject(repo_root: Path):
    text = (repo_root / "pyproject.toml").read_text()
    assert 'ptycho-torch-train = "ptycho_torch.train:main"' in text
    assert 'ptycho-torch-infer = "ptycho_torch.inference:main"' in text


@pytest.mark.parametrize(
    ("module", "argv"),
    [
        (train, ["--train_data_file", "t.npz", "--output_dir", "o"]),
        (inference, ["--model_path", "m", "--test_data", "t.npz", "--output_dir", "o"]),
    ],
)
def test_accelerator_defaults_to_auto_which_is_the_cpu_on_a_machine_without_a_gpu(module, argv):
    """Issue 11: both torch CLIs default to --accelerator auto; here (no GPU) it is the CPU."""
    from ptycho_torch.accelerators import resolve_accelerator
    from ptycho_torch.cli_shared import resolve_accelerator_flags

    args = module.build_parser().parse_args(argv)
    assert resolve_accelerator_flags(args) == "auto"
    assert resolve_accelerator("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
