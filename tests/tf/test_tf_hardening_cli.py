"""ptycho-train / ptycho-infer against bad input and interrupts (specs/hardening.md).

Each case asserts the one-line message, the exit status and what is left on disk: errors exit
with 1 and leave no output directory; Ctrl-C during training saves the model of the last
finished epoch as a set (archive, history.csv, loss curve) and exits with 130; a ``kill -9``
leaves the previous set as it was.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ptycho.cli import infer as infer_cli
from ptycho.cli import train as train_cli

TRAIN_FAST = ["--nphotons", "1e6", "--n_filters_scale", "1", "--batch_size", "8"]


@pytest.fixture(scope="module")
def archive_g1(trained_g1: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A trained gridsize-1 TensorFlow archive."""
    from ptycho.tf import api

    path = tmp_path_factory.mktemp("model") / "wts.h5.zip"
    api.save_bundle(trained_g1, path)
    return path


def _rewrite_manifest(source: Path, target: Path, **changes: Any) -> Path:
    with zipfile.ZipFile(source) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    manifest = json.loads(members["manifest.json"])
    manifest.update(changes)
    members["manifest.json"] = json.dumps(manifest).encode()
    with zipfile.ZipFile(target, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return target


def _rewrite_scan(source: Path, target: Path, drop: tuple[str, ...] = (), **arrays: Any) -> Path:
    with np.load(source) as data:
        content = {k: data[k] for k in data.files if k not in drop}
    content.update(arrays)
    np.savez(target, **content)
    return target


def _only_line(err: str, prefix: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith(prefix)]
    assert len(lines) == 1, err
    assert "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize("cli", ["train", "infer"])
def test_output_dir_that_is_a_file_is_one_line_and_exit_1(
    cli: str, npz_pair: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """HARD-008 (issue case 4): --output_dir naming an existing file: one line, exit 1, the file
    is untouched."""
    taken = tmp_path / "taken"
    taken.write_text("keep me")
    if cli == "train":
        code = train_cli.main(["--train_data_file", str(npz_pair[0]), "--output_dir", str(taken)])
    else:
        code = infer_cli.main(
            [
                "--test_data_file",
                str(npz_pair[1]),
                "--output_dir",
                str(taken),
                "--model_path",
                str(tmp_path / "none"),
            ]
        )
    line = _only_line(capsys.readouterr().err, f"ptycho-{cli}: error:")
    assert code == 1 and f"--output_dir {taken} is an existing file, not a directory" in line
    assert taken.read_text() == "keep me"


def test_input_errors_leave_no_output_directory(
    npz_pair: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """HARD-009/HARD-003 (issue cases 6, 10): a text file given as the training NPZ is one line
    saying what it is (never allow_pickle), exit 1, and --output_dir is not created."""
    text = tmp_path / "notes.npz"
    text.write_text("x,y\n1,2\n")
    out = tmp_path / "out"
    code = train_cli.main(["--train_data_file", str(text), "--output_dir", str(out)])
    line = _only_line(capsys.readouterr().err, "ptycho-train: error:")
    assert code == 1 and "is not a readable NPZ dataset (it looks like a text file)" in line
    assert "allow_pickle" not in line and not out.exists()


def test_too_many_groups_is_an_error_naming_ptycho_train_flags(
    npz_pair: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """HARD-015 (issue case 9, DATA-009): --n_groups 1000 on 40 positions at --gridsize 2 is an
    error (it was capped silently) suggesting --n_groups 40 or --enable_oversampling; nothing is
    created."""
    out = tmp_path / "out"
    code = train_cli.main(
        [
            "--train_data_file",
            str(npz_pair[0]),
            "--output_dir",
            str(out),
            "--gridsize",
            "2",
            "--n_groups",
            "1000",
        ]
    )
    line = _only_line(capsys.readouterr().err, "ptycho-train: error:")
    assert code == 1 and "--n_groups 1000 asks for more groups than the 40 scan positions" in line
    assert "pass --n_groups 40 or fewer" in line and "--enable_oversampling" in line
    assert not out.exists()


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        (
            {"intensity_scale": {"a": 1}},
            "manifest key 'intensity_scale' is {'a': 1} but must be a finite number > 0",
        ),
        ({"N": "abc"}, "manifest key 'N' is 'abc' but must be the integer 64"),
    ],
)
def test_bad_manifest_value_is_one_line_naming_archive_and_key(
    archive_g1: Path,
    npz_pair: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    changes: dict[str, Any],
    words: str,
) -> None:
    """HARD-002 (issue case 5): ptycho-infer with a manifest value of the wrong type: one line
    naming the archive, the key, the value and the expected type; exit 1; no output dir."""
    bad = _rewrite_manifest(archive_g1, tmp_path / "bad.h5.zip", **changes)
    out = tmp_path / "out"
    code = infer_cli.main(
        ["--model_path", str(bad), "--test_data_file", str(npz_pair[1]), "--output_dir", str(out)]
    )
    line = _only_line(capsys.readouterr().err, "ptycho-infer: error:")
    assert code == 1 and f"model archive {bad}" in line and words in line
    assert not out.exists()


def test_weights_bomb_is_refused_by_ptycho_infer(
    archive_g1: Path,
    npz_pair: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """HARD-001 (issue case 1): a weights member larger than the architecture allows is refused
    before it is decompressed: one line naming the member, exit 1."""
    with zipfile.ZipFile(archive_g1) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    members["weights.weights.h5"] = bytes(64 * 1024 * 1024)
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    code = infer_cli.main(
        [
            "--model_path",
            str(bomb),
            "--test_data_file",
            str(npz_pair[1]),
            "--output_dir",
            str(tmp_path / "out"),
        ]
    )
    line = _only_line(capsys.readouterr().err, "ptycho-infer: error:")
    assert code == 1 and "member 'weights.weights.h5' declares 67,108,864 bytes" in line


@pytest.mark.parametrize("case", ["outside", "outlier"])
def test_bad_scan_geometry_is_refused_before_anything_is_written(
    case: str,
    archive_g1: Path,
    npz_pair: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """HARD-005/006 (issue cases 2, 3): positions off the objectGuess (they used to give all-zero
    outputs and then an internal error) and an outlier 1e6 px away without objectGuess (it used
    to allocate 21.8 TiB) are one-line errors naming the positions; exit 1; nothing written."""
    with np.load(npz_pair[1]) as data:
        x = data["xcoords"].copy()
    if case == "outside":
        scan = _rewrite_scan(npz_pair[1], tmp_path / "scan.npz", xcoords=x + 1000.0)
        words = "24 of 24 probe positions lie outside the object"
    else:
        x[5] = 1e6
        scan = _rewrite_scan(npz_pair[1], tmp_path / "scan.npz", drop=("objectGuess",), xcoords=x)
        words = "1 of 24 scan positions lie far from the rest of the scan (indices 5;"
    out = tmp_path / "out"
    code = infer_cli.main(
        ["--model_path", str(archive_g1), "--test_data_file", str(scan), "--output_dir", str(out)]
    )
    line = _only_line(capsys.readouterr().err, "ptycho-infer: error:")
    assert code == 1 and words in line
    assert not out.exists()


# ------------------------------------------------------------------------------------------------
# Interrupts (subprocesses)
# ------------------------------------------------------------------------------------------------


def _sigint_default() -> None:
    """In the child before exec: SIGINT at its default, so Python turns it into
    KeyboardInterrupt even when the test runs in a background job (which ignores SIGINT and
    passes that on to its children)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start_training(
    train_npz: Path, out: Path, log: Path, env: dict[str, str]
) -> subprocess.Popen[bytes]:
    args = [
        sys.executable,
        "-m",
        "ptycho.cli.train",
        "--train_data_file",
        str(train_npz),
        "--output_dir",
        str(out),
        "--nepochs",
        "1000",
        "--validation_fraction",
        "0",
        "--early_stopping_patience",
        "1000",
        "--lr_plateau_patience",
        "1000",
        *TRAIN_FAST,
    ]
    with open(log, "wb") as handle:
        return subprocess.Popen(
            args,
            stdout=handle,
            stderr=subprocess.PIPE,
            env={**env, "OMP_NUM_THREADS": "1"},
            preexec_fn=_sigint_default,
        )


def _wait_for(log: Path, text: str, child: subprocess.Popen[bytes], timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in log.read_text(errors="replace"):
            return
        if child.poll() is not None:
            pytest.fail(f"training ended early ({child.returncode}): {child.stderr.read()!r}")
        time.sleep(0.2)
    child.kill()
    pytest.fail(f"{text!r} did not appear in {timeout} s")


def _history_rows(path: Path) -> int:
    return len(path.read_text().splitlines()) - 1


@pytest.mark.integration
def test_ctrl_c_saves_the_last_finished_epoch_and_kill_keeps_that_set(
    npz_pair: tuple[Path, Path], tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    """HARD-010/HARD-014 (issue cases 7, 8): SIGINT during ptycho-train saves the model of the
    last finished epoch with its history and loss curve, prints one line saying where, and exits
    with 130 (it used to print a 60-line traceback and save nothing). A second run in the same
    directory killed with SIGKILL during training leaves that set exactly as it was (no
    history.csv of the killed run beside it) and no temporary file."""
    out = tmp_path / "out"
    log = tmp_path / "first.log"
    child = _start_training(npz_pair[0], out, log, subprocess_env)
    _wait_for(log, "epoch 2/1000", child)
    child.send_signal(signal.SIGINT)
    _, err = child.communicate(timeout=300)
    stderr = err.decode(errors="replace")
    assert child.returncode == 130, stderr[-3000:]
    line = _only_line(stderr, "ptycho-train: interrupted")
    manifest = json.loads(zipfile.ZipFile(out / "wts.h5.zip").read("manifest.json"))
    epochs = manifest["training_summary"]["epochs"]
    assert epochs >= 2
    assert line == (
        f"ptycho-train: interrupted; the model of the last finished epoch ({epochs}) is saved "
        f"in {out / 'wts.h5.zip'}"
    )
    assert _history_rows(out / "history.csv") == epochs
    assert sorted(p.name for p in out.iterdir()) == ["history.csv", "loss_curve.png", "wts.h5.zip"]

    before = {p.name: p.read_bytes() for p in out.iterdir()}
    log = tmp_path / "second.log"
    child = _start_training(npz_pair[0], out, log, subprocess_env)
    _wait_for(log, "epoch 1/1000", child)
    child.send_signal(signal.SIGKILL)
    child.communicate(timeout=120)
    assert child.returncode == -signal.SIGKILL
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


@pytest.mark.parametrize(
    ("cli", "raised", "words"),
    [
        ("infer", KeyboardInterrupt(), "ptycho-infer: interrupted; nothing more was written"),
        (
            "train",
            "no epoch",
            "ptycho-train: interrupted before the first epoch finished; no model was saved",
        ),
    ],
)
def test_ctrl_c_outside_a_finished_epoch_is_one_line_and_exit_130(
    cli: str, raised: Any, words: str, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """HARD-011: Ctrl-C while loading or inferring, or before the first epoch finished: one line,
    exit 130, no traceback."""
    from ptycho.backend import TrainingInterrupted

    module = infer_cli if cli == "infer" else train_cli
    error = TrainingInterrupted(0) if raised == "no epoch" else raised

    def interrupted(args: Any) -> None:
        raise error

    monkeypatch.setattr(module, "run", interrupted)
    argv = (
        ["--test_data_file", "x.npz", "--output_dir", "o"]
        if cli == "infer"
        else ["--train_data_file", "x.npz", "--output_dir", "o"]
    )
    assert module.main(argv) == 130
    assert _only_line(capsys.readouterr().err, f"ptycho-{cli}: interrupted") == words
