"""HARD-008, HARD-009, HARD-013 .. HARD-016 (specs/hardening.md): what is left on disk.

Output directories are validated before anything is created; temporary files of a killed
writer are recognisable and removed by the next write in their folder; a training's archive,
history and loss curve are written as one set (a ``kill -9`` while saving leaves the previous
set untouched); DATA-009 errors name the CLI's own flags; an ``(N, N, N)`` diffraction array
warns that its layout cannot be checked.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from ptycho import atomic
from ptycho.cli.common import check_group_request, check_output_dir, create_output_dir
from ptycho.raw_data import RawData

REPO = Path(__file__).resolve().parents[2]


# ------------------------------------------------------------------------------------------------
# HARD-008 / HARD-009: output directories
# ------------------------------------------------------------------------------------------------


def test_output_dir_that_is_a_file_is_a_clear_error(tmp_path: Path) -> None:
    """HARD-008 (issue case 4): --output_dir naming an existing file (or a path under one) is a
    ValueError saying so; nothing is created."""
    existing = tmp_path / "taken"
    existing.write_text("x")
    with pytest.raises(ValueError, match="is an existing file, not a directory"):
        check_output_dir(existing)
    with pytest.raises(ValueError, match=f"cannot be created because {existing} is a file"):
        check_output_dir(existing / "sub" / "dir")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]


def test_output_dir_is_only_checked_until_created(tmp_path: Path) -> None:
    """HARD-009: check_output_dir creates nothing; create_output_dir creates the directory."""
    target = tmp_path / "a" / "b"
    assert check_output_dir(target) == target
    assert not (tmp_path / "a").exists()
    assert create_output_dir(target).is_dir()


def test_output_dir_in_a_read_only_folder_is_a_permission_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HARD-008: a directory that cannot be created names the folder that is not writable
    (os.access is patched: the tests may run as root, who may write anywhere)."""
    import ptycho.cli.common as common

    locked = tmp_path / "locked"
    locked.mkdir()
    monkeypatch.setattr(common.os, "access", lambda path, mode: Path(path) != locked)
    with pytest.raises(PermissionError, match=f"cannot be created: {locked} is not writable"):
        check_output_dir(locked / "out")
    with pytest.raises(PermissionError, match=f"--output_dir {locked} is not writable"):
        check_output_dir(locked)


# ------------------------------------------------------------------------------------------------
# HARD-015: DATA-009 at the CLIs
# ------------------------------------------------------------------------------------------------


def test_too_many_groups_names_only_the_flags_a_cli_has() -> None:
    """HARD-015 (issue case 9, DATA-009): more groups than positions at gridsize > 1 is an error
    suggesting the CLI's --n_groups limit, and --enable_oversampling only when it exists."""
    with pytest.raises(ValueError) as info:
        check_group_request(1000, 64, 2, oversampling_flag="--enable_oversampling")
    assert "--n_groups 1000 asks for more groups than the 64 scan positions" in str(info.value)
    assert "pass --n_groups 64 or fewer" in str(info.value)
    assert "--enable_oversampling" in str(info.value)
    with pytest.raises(ValueError) as info:
        check_group_request(1000, 64, 2)
    assert "oversampling" not in str(info.value)
    check_group_request(1000, 64, 2, enable_oversampling=True)  # allowed
    check_group_request(1000, 64, 1)  # gridsize 1: capped by the grouping (DATA-008)
    check_group_request(None, 64, 2)


def test_core_grouping_raises_a_typed_data009_error() -> None:
    """DATA-009: the core grouping's error is a TooManyGroupsError (a ValueError) with the
    numbers, so callers can word it for their own interface."""
    from ptycho.grouping import TooManyGroupsError, group_positions

    x = np.arange(16, dtype=float)
    with pytest.raises(TooManyGroupsError) as info:
        group_positions(x, x, gridsize=2, n_groups=40, K=4, seed=0)
    assert (info.value.requested, info.value.positions, info.value.gridsize) == (40, 16, 2)


# ------------------------------------------------------------------------------------------------
# HARD-013: temporary files
# ------------------------------------------------------------------------------------------------


def test_temporary_files_are_named_so_a_user_can_tell_what_they_are(tmp_path: Path) -> None:
    """HARD-013: .<target>.ptychopinn-incomplete.<host>.<pid>.<hex>.tmp next to the target."""
    tmp = atomic.temporary_sibling(tmp_path / "wts.h5.zip")
    assert tmp.parent == tmp_path
    assert tmp.name.startswith(".wts.h5.zip.ptychopinn-incomplete.")
    assert f".{os.getpid()}." in tmp.name and tmp.name.endswith(".tmp")


def test_stale_temporaries_of_dead_writers_are_removed_by_the_next_write(tmp_path: Path) -> None:
    """HARD-013 (issue case 8): the next atomic write in a folder removes temporaries left by
    processes that no longer exist (ours and the earlier .<name>.<pid>.<hex>.tmp naming); those
    of live processes, of other hosts (until a day old) and unrelated files stay."""
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead_pid = int(dead.stdout)
    host = atomic._host()
    stale = [
        tmp_path / f".wts.h5.zip.ptychopinn-incomplete.{host}.{dead_pid}.0123456789ab.tmp",
        tmp_path / f".wts.h5.zip.{dead_pid}.0123456789ab.tmp",
    ]
    kept = [
        tmp_path / f".history.csv.ptychopinn-incomplete.{host}.{os.getpid()}.abcdef.tmp",
        tmp_path / f".x.ptychopinn-incomplete.otherhost.{dead_pid}.abcdef.tmp",
        tmp_path / "notes.tmp",
        tmp_path / "wts.h5.zip",
    ]
    for path in stale + kept:
        path.write_bytes(b"partial")
    atomic.atomic_write_text(tmp_path / "summary.txt", "done")
    assert {p.name for p in tmp_path.iterdir()} == {p.name for p in kept} | {"summary.txt"}
    old = time.time() - atomic.FOREIGN_TEMPORARY_AGE_S - 60
    os.utime(kept[1], (old, old))
    assert atomic.remove_stale_temporaries(tmp_path) == [kept[1]]


# ------------------------------------------------------------------------------------------------
# HARD-014: one set
# ------------------------------------------------------------------------------------------------


def test_output_set_moves_nothing_unless_every_file_is_complete(tmp_path: Path) -> None:
    """HARD-014: an error while writing the set leaves every previous file and no temporary."""
    (tmp_path / "wts.h5.zip").write_text("old archive")
    (tmp_path / "history.csv").write_text("old history")
    targets = [tmp_path / "wts.h5.zip", tmp_path / "history.csv"]
    with pytest.raises(RuntimeError, match="plot failed"):
        with atomic.atomic_output_set(targets) as (archive_tmp, history_tmp):
            archive_tmp.write_text("new archive")
            history_tmp.write_text("new history")
            raise RuntimeError("plot failed")
    assert [p.read_text() for p in targets] == ["old archive", "old history"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["history.csv", "wts.h5.zip"]
    with atomic.atomic_output_set(targets) as (archive_tmp, history_tmp):
        archive_tmp.write_text("new archive")
        history_tmp.write_text("new history")
    assert [p.read_text() for p in targets] == ["new archive", "new history"]


_KILLED_SAVER = """
import sys, time
from pathlib import Path
import numpy as np
from ptycho import archive
from ptycho.backend import ModelBundle
from ptycho.cli.common import save_training_set
from ptycho.config.config import ModelConfig

class SlowAPI:
    @staticmethod
    def save_bundle(bundle, path):
        manifest = archive.build_manifest(bundle, 'weights.safetensors')
        files = {'weights.safetensors': b'new weights',
                 'probe.npy': archive.probe_to_bytes(bundle.probe)}
        archive.write_archive(path, manifest, files)
        print('archive staged', flush=True)
        time.sleep(120)

bundle = ModelBundle('pytorch', ModelConfig(N=64), None, 1.0, np.ones((64, 64), np.complex64),
                     {'loss': [3.0, 2.0, 1.0]})
save_training_set(bundle, SlowAPI, Path(sys.argv[1]))
"""


def test_kill_during_save_keeps_the_previous_set_and_the_next_run_cleans_up(
    tmp_path: Path,
) -> None:
    """HARD-013/014 (issue case 8): SIGKILL while the training set is being saved leaves the
    previous archive and history untouched, a temporary named so a user can tell what it is,
    and the next write in that folder removes it."""
    out = tmp_path / "run"
    out.mkdir()
    (out / "wts.h5.zip").write_bytes(b"old archive")
    (out / "history.csv").write_bytes(b"epoch,loss\n1,5.0\n")
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    child = subprocess.Popen(
        [sys.executable, "-c", _KILLED_SAVER, str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line.strip() == "archive staged", child.stderr.read() if child.stderr else ""
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == -signal.SIGKILL
    assert (out / "wts.h5.zip").read_bytes() == b"old archive"
    assert (out / "history.csv").read_bytes() == b"epoch,loss\n1,5.0\n"
    leftovers = [p.name for p in out.iterdir() if p.name.endswith(".tmp")]
    assert leftovers and all(
        name.startswith(".wts.h5.zip.ptychopinn-incomplete.") for name in leftovers
    ), leftovers
    atomic.atomic_write_text(out / "note.txt", "next run")
    assert sorted(p.name for p in out.iterdir()) == ["history.csv", "note.txt", "wts.h5.zip"]


# ------------------------------------------------------------------------------------------------
# HARD-016: the legacy (N, N, M) layout
# ------------------------------------------------------------------------------------------------


def _cube_scan(tmp_path: Path, **extra: object) -> Path:
    n = 64
    rng = np.random.default_rng(0)
    path = tmp_path / "cube.npz"
    np.savez(
        path,
        xcoords=rng.uniform(40, 80, n),
        ycoords=rng.uniform(40, 80, n),
        diff3d=rng.uniform(0, 1, (n, n, n)).astype(np.float32),
        probeGuess=np.ones((n, n), np.complex64),
        **extra,
    )
    return path


def test_diffraction_cube_with_m_equal_n_warns_that_its_layout_cannot_be_checked(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """HARD-016 (issue case 10): (N, N, N) with M == N positions is read as (M, N, N) with a
    WARNING that names both fixes (transpose, or the diff3d_layout key)."""
    with caplog.at_level(logging.WARNING, logger="ptycho.raw_data"):
        raw = RawData.from_file(_cube_scan(tmp_path))
    assert len(raw) == 64
    text = caplog.text
    assert "its layout cannot be checked" in text and "np.transpose(diff3d, (2, 0, 1))" in text
    assert "diff3d_layout='NNM'" in text


def test_diff3d_layout_key_says_which_layout_it_is(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """HARD-016: diff3d_layout='NNM' transposes the legacy layout, 'MNN' keeps it; neither warns;
    to_file writes 'MNN' when M == N, so a round trip is silent and exact."""
    plain = np.load(_cube_scan(tmp_path))["diff3d"]
    with caplog.at_level(logging.WARNING, logger="ptycho.raw_data"):
        legacy = RawData.from_file(_cube_scan(tmp_path, diff3d_layout=np.array("NNM")))
        kept = RawData.from_file(_cube_scan(tmp_path, diff3d_layout=np.array("MNN")))
        kept.to_file(tmp_path / "again.npz")
        again = RawData.from_file(tmp_path / "again.npz")
    assert "cannot be checked" not in caplog.text
    np.testing.assert_array_equal(legacy.diff3d, np.transpose(plain, (2, 0, 1)))
    np.testing.assert_array_equal(kept.diff3d, plain)
    np.testing.assert_array_equal(again.diff3d, plain)
    with pytest.raises(ValueError, match="diff3d_layout must be the string 'MNN' or 'NNM'"):
        RawData.from_file(_cube_scan(tmp_path, diff3d_layout=np.array("XYZ")))
