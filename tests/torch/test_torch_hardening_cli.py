"""python -m ptycho_torch.train / ptycho_torch.inference against bad input and interrupts
(specs/hardening.md).

Errors are one line with exit status 1 and leave no output directory; Ctrl-C saves the model of
the last finished epoch (archive + history.csv) and exits with 130; a ``kill -9`` during
training leaves no top-level history.csv (the running one lives beside ``last.ckpt``), and the
model search then prefers the newer of the archive and ``checkpoints/last.ckpt``, saying why.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ptycho.archive import find_model_file
from ptycho.backend import ModelBundle
from ptycho.config.config import ModelConfig, TrainingConfig
from ptycho_torch import inference, train

QUIET_TRAIN = ["--n_filters_scale", "1", "--nphotons", "1e6", "--batch_size", "16"]


@pytest.fixture(scope="module")
def untrained_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A PyTorch archive of an untrained network (enough to exercise the input checks)."""
    from ptycho_torch.network import PtychoPINNNet
    from ptycho_torch.persistence import save_bundle

    model = ModelConfig(N=64, n_filters_scale=1)
    net = PtychoPINNNet(model, intensity_scale=10.0)
    bundle = ModelBundle(
        "pytorch",
        model,
        TrainingConfig(model=model, backend="pytorch"),
        10.0,
        net.probe.detach().numpy().astype(np.complex64),
        {"loss": [1.0]},
        net,
    )
    return save_bundle(bundle, tmp_path_factory.mktemp("model") / "wts.h5.zip")


def _only_line(err: str, prefix: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith(prefix)]
    assert len(lines) == 1, err
    assert "Traceback" not in err, err
    return lines[0]


def _infer(model: Path, scan: Path, out: Path) -> int:
    return inference.main(
        [
            "--model_path",
            str(model),
            "--test_data",
            str(scan),
            "--output_dir",
            str(out),
            "--accelerator",
            "cpu",
            "--quiet",
        ]
    )


@pytest.mark.parametrize("cli", ["train", "inference"])
def test_output_dir_that_is_a_file_is_one_line_and_exit_1(
    cli: str, tiny_npz: Path, untrained_archive: Path, tmp_path: Path, capsys: Any
) -> None:
    """HARD-008 (issue case 4): --output_dir naming a file was a FileExistsError traceback; now
    one line and exit 1; the file is untouched."""
    taken = tmp_path / "taken"
    taken.write_text("keep me")
    if cli == "train":
        code = train.main(
            ["--train_data_file", str(tiny_npz), "--output_dir", str(taken), "--quiet"]
        )
        prefix = "ptycho-torch-train: error:"
    else:
        code = _infer(untrained_archive, tiny_npz, taken)
        prefix = "ptycho-torch-infer: error:"
    line = _only_line(capsys.readouterr().err, prefix)
    assert code == 1 and f"--output_dir {taken} is an existing file, not a directory" in line
    assert taken.read_text() == "keep me"


def test_too_many_groups_names_only_flags_this_cli_has(
    tiny_npz: Path, tmp_path: Path, capsys: Any
) -> None:
    """HARD-015 (issue case 9, DATA-009): --n_groups 1000 on 48 positions at --gridsize 2 is an
    error that suggests --n_groups 48 (this CLI has no oversampling flag, so it is not named; it
    used to suggest enable_oversampling=True); nothing is created."""
    out = tmp_path / "out"
    code = train.main(
        [
            "--train_data_file",
            str(tiny_npz),
            "--output_dir",
            str(out),
            "--gridsize",
            "2",
            "--n_groups",
            "1000",
            "--accelerator",
            "cpu",
            "--quiet",
        ]
    )
    line = _only_line(capsys.readouterr().err, "ptycho-torch-train: error:")
    assert code == 1 and "--n_groups 1000 asks for more groups than the 48 scan positions" in line
    assert "pass --n_groups 48 or fewer" in line and "oversampling" not in line
    assert not out.exists()


def test_positions_outside_the_object_are_refused_before_writing(
    tiny_npz: Path, untrained_archive: Path, tmp_path: Path, capsys: Any
) -> None:
    """HARD-005 (issue case 3): positions entirely outside the objectGuess used to give exit 0
    and an all-zero reconstruction.npz; now one line, exit 1, nothing written."""
    with np.load(tiny_npz) as data:
        content = {k: data[k] for k in data.files}
    content["xcoords"] = content["xcoords"] + 5000.0
    scan = tmp_path / "outside.npz"
    np.savez(scan, **content)
    out = tmp_path / "out"
    code = _infer(untrained_archive, scan, out)
    line = _only_line(capsys.readouterr().err, "ptycho-torch-infer: error:")
    assert code == 1 and "48 of 48 probe positions lie outside the object" in line
    assert not out.exists()


def test_bad_manifest_value_is_one_line(
    tiny_npz: Path, untrained_archive: Path, tmp_path: Path, capsys: Any
) -> None:
    """HARD-002 (issue case 5): "intensity_scale": {"a": 1} was a TypeError traceback."""
    with zipfile.ZipFile(untrained_archive) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    manifest = json.loads(members["manifest.json"])
    manifest["intensity_scale"] = {"a": 1}
    members["manifest.json"] = json.dumps(manifest).encode()
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    code = _infer(bad, tiny_npz, tmp_path / "out")
    line = _only_line(capsys.readouterr().err, "ptycho-torch-infer: error:")
    assert code == 1 and "manifest key 'intensity_scale' is {'a': 1} but must be" in line
    assert not (tmp_path / "out").exists()


def test_model_search_prefers_the_newer_of_archive_and_last_checkpoint(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """HARD-012 (issue case 7): in a run directory the newer of wts.h5.zip and
    checkpoints/last.ckpt is used; a newer checkpoint (a later run that did not finish) wins
    with a WARNING saying why; the TensorFlow backend, which cannot read checkpoints, keeps the
    archive and says so."""
    (tmp_path / "checkpoints").mkdir()
    archive = tmp_path / "wts.h5.zip"
    last = tmp_path / "checkpoints" / "last.ckpt"
    archive.write_bytes(b"a")
    last.write_bytes(b"c")
    now = time.time()
    os.utime(archive, (now - 100, now - 100))
    os.utime(last, (now, now))
    with caplog.at_level(logging.INFO, logger="ptycho.archive"):
        assert find_model_file(tmp_path) == last
        assert find_model_file(tmp_path, checkpoints=False) == archive
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "is newer than wts.h5.zip" in warnings[0] and "using the checkpoint" in warnings[0]
    assert "only the pytorch backend reads checkpoints" in warnings[1]
    os.utime(archive, (now + 10, now + 10))
    assert find_model_file(tmp_path) == archive


# ------------------------------------------------------------------------------------------------
# Interrupts (subprocesses)
# ------------------------------------------------------------------------------------------------


def _sigint_default() -> None:
    """In the child before exec: SIGINT at its default, so Python turns it into
    KeyboardInterrupt even when the test runs in a background job (which ignores SIGINT and
    passes that on to its children)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start(train_npz: Path, out: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    args = [
        sys.executable,
        "-m",
        "ptycho_torch.train",
        "--train_data_file",
        str(train_npz),
        "--output_dir",
        str(out),
        "--max_epochs",
        "1000",
        "--n_groups",
        "16",
        "--validation_fraction",
        "0",
        "--early-stop-patience",
        "1000",
        "--accelerator",
        "cpu",
        "--logger",
        "none",
        "--quiet",
        *QUIET_TRAIN,
    ]
    return subprocess.Popen(
        args,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**env, "OMP_NUM_THREADS": "1"},
        preexec_fn=_sigint_default,
    )


def _wait_for_epochs(
    running: Path, epochs: int, child: subprocess.Popen[bytes], timeout: float = 600
) -> None:
    """Wait until the running history (written after every epoch) holds ``epochs`` rows and
    the checkpoint of that epoch exists."""
    deadline = time.monotonic() + timeout
    last = running.parent / "last.ckpt"
    while time.monotonic() < deadline:
        if running.is_file() and len(running.read_text().splitlines()) > epochs:
            if last.is_file():
                return
        if child.poll() is not None:
            pytest.fail(f"training ended early ({child.returncode}): {child.stderr.read()!r}")
        time.sleep(0.2)
    child.kill()
    pytest.fail(f"{epochs} epochs did not finish in {timeout} s")


@pytest.mark.integration
def test_kill_leaves_no_stray_history_and_ctrl_c_saves_the_last_finished_epoch(
    tiny_npz: Path, tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    """HARD-010/012/014 (issue cases 7, 8). SIGKILL during training leaves checkpoints (with the
    running history beside last.ckpt) but no top-level history.csv or archive. A second run in
    the same directory stopped with SIGINT saves the model of the last finished epoch and its
    history as a set, prints one line and exits with 130 (it used to exit 1 with Lightning's
    line only); that archive is then newer than last.ckpt, so the model search picks it."""
    out = tmp_path / "run"
    running = out / "checkpoints" / "history.csv"
    child = _start(tiny_npz, out, subprocess_env)
    _wait_for_epochs(running, 1, child)
    child.send_signal(signal.SIGKILL)
    child.communicate(timeout=120)
    assert not (out / "history.csv").exists() and not (out / "wts.h5.zip").exists()
    assert (out / "checkpoints" / "last.ckpt").is_file()
    assert find_model_file(out) == out / "checkpoints" / "last.ckpt"

    running.unlink()
    child = _start(tiny_npz, out, subprocess_env)
    _wait_for_epochs(running, 2, child)
    child.send_signal(signal.SIGINT)
    _, err = child.communicate(timeout=300)
    stderr = err.decode(errors="replace")
    assert child.returncode == 130, stderr[-3000:]
    line = _only_line(stderr, "ptycho-torch-train: interrupted")
    manifest = json.loads(zipfile.ZipFile(out / "wts.h5.zip").read("manifest.json"))
    epochs = manifest["training_summary"]["epochs"]
    assert epochs >= 2 and line == (
        f"ptycho-torch-train: interrupted; the model of the last finished epoch ({epochs}) is "
        f"saved in {out / 'wts.h5.zip'}"
    )
    assert len((out / "history.csv").read_text().splitlines()) == epochs + 1
    assert not [p for p in out.rglob("*.tmp")]
    assert find_model_file(out) == out / "wts.h5.zip"
