"""HARD-001 .. HARD-003 (specs/hardening.md): untrusted archives and array files.

Crafted archives (size bombs in known and unknown members, a lying zip directory, bad manifest
values, pickled or damaged ``probe.npy``) and crafted NPZ files are refused with a message that
names the archive, the member or key and the fix, never NumPy's hint to unpickle, and reading
them stays within a hard address-space limit (``resource.setrlimit(RLIMIT_AS)`` in a
subprocess).
"""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ptycho import archive
from ptycho.backend import ModelBundle
from ptycho.config.config import ModelConfig, TrainingConfig
from ptycho.raw_data import RawData

REPO = Path(__file__).resolve().parents[2]
MiB = 1024 * 1024
#: Size of the zero-filled "bomb" members: far more than the address-space headroom below.
BOMB_BYTES = 384 * MiB
#: Address space the reading subprocess may grow by once its imports are done.
HEADROOM_BYTES = 160 * MiB


def _bundle() -> ModelBundle:
    model = ModelConfig(N=64, gridsize=1, n_filters_scale=1)
    return ModelBundle(
        backend="pytorch",
        model_config=model,
        training_config=TrainingConfig(model=model, nepochs=2),
        intensity_scale=10.0,
        probe=np.ones((64, 64), np.complex64),
        history={"loss": [2.0, 1.0]},
    )


def _manifest(**changes: Any) -> dict[str, Any]:
    manifest = archive.build_manifest(_bundle(), weights_file="weights.safetensors")
    manifest.update(changes)
    return manifest


def _write_zip(path: Path, members: dict[str, bytes], bombs: dict[str, int] | None = None) -> Path:
    """A zip with ``members`` and, for each name in ``bombs``, that many zero bytes (streamed)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        for name, size in (bombs or {}).items():
            block = bytes(MiB)
            with zf.open(name, "w", force_zip64=True) as handle:
                for _ in range(size // MiB):
                    handle.write(block)
    return path


def _good_members(manifest: dict[str, Any] | None = None) -> dict[str, bytes]:
    return {
        archive.MANIFEST_NAME: json.dumps(manifest or _manifest()).encode(),
        "weights.safetensors": b"\x00" * 1000,
        archive.PROBE_NAME: archive.probe_to_bytes(np.ones((64, 64))),
    }


@pytest.fixture(scope="module")
def bombs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Crafted archives of a few MB that expand to hundreds of MB (made once per module)."""
    folder = tmp_path_factory.mktemp("bombs")
    extra = _write_zip(folder / "extra.zip", _good_members(), {"extra.bin": BOMB_BYTES})
    members = _good_members()
    del members["weights.safetensors"]
    weights = _write_zip(folder / "weights.zip", members, {"weights.safetensors": BOMB_BYTES})
    lying = folder / "lying.zip"
    lying.write_bytes(_shrink_declared_size(weights.read_bytes(), b"weights.safetensors", 1000))
    members = _good_members()
    del members[archive.MANIFEST_NAME]
    manifest = _write_zip(folder / "manifest.zip", members, {archive.MANIFEST_NAME: 64 * MiB})
    return {"extra": extra, "weights": weights, "lying": lying, "manifest": manifest}


def _shrink_declared_size(data: bytes, name: bytes, size: int) -> bytes:
    """Rewrite the uncompressed size that the zip directory declares for ``name`` (a lie)."""
    buffer = bytearray(data)
    start = buffer.find(b"PK\x01\x02")  # central directory
    while start != -1:
        name_length = struct.unpack_from("<H", buffer, start + 28)[0]
        extra_length = struct.unpack_from("<H", buffer, start + 30)[0]
        entry_name = bytes(buffer[start + 46 : start + 46 + name_length])
        if entry_name == name:
            extra_start = start + 46 + name_length
            field = extra_start
            while field < extra_start + extra_length:  # the zip64 field holds the real sizes
                header_id, length = struct.unpack_from("<HH", buffer, field)
                if header_id == 0x0001:
                    struct.pack_into("<Q", buffer, field + 4, size)
                field += 4 + length
            if struct.unpack_from("<I", buffer, start + 24)[0] != 0xFFFFFFFF:
                struct.pack_into("<I", buffer, start + 24, size)
        start = buffer.find(b"PK\x01\x02", start + 4)
    return bytes(buffer)


_BOUNDED_READER = """
import json, resource, sys
from ptycho import archive

def vm_bytes():
    for line in open('/proc/self/status'):
        if line.startswith('VmSize:'):
            return int(line.split()[1]) * 1024

limit = vm_bytes() + int(sys.argv[2])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
result = {}
try:
    contents = archive.read_archive(sys.argv[1])
    result['loaded'] = sorted(contents.files)
except MemoryError:
    result['memory_error'] = True
except Exception as exc:
    result['error'] = type(exc).__name__
    result['message'] = str(exc)
if len(sys.argv) > 3:  # control: reading that member naively does exceed the limit
    import zipfile
    try:
        zipfile.ZipFile(sys.argv[1]).read(sys.argv[3])
        result['naive'] = 'read'
    except MemoryError:
        result['naive'] = 'MemoryError'
print(json.dumps(result))
"""


def _read_bounded(path: Path, control_member: str | None = None) -> dict[str, Any]:
    """read_archive(path) in a subprocess whose address space may grow by HEADROOM_BYTES."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    args = [sys.executable, "-c", _BOUNDED_READER, str(path), str(HEADROOM_BYTES)]
    if control_member is not None:
        args.append(control_member)
    done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return {**json.loads(done.stdout.strip().splitlines()[-1]), "stderr": done.stderr}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc and RLIMIT_AS")
def test_unknown_member_bomb_is_never_read_and_memory_stays_bounded(bombs) -> None:
    """HARD-001 (issue case 1): an archive with an extra member of hundreds of MB of zeros loads,
    that member is not read (a WARNING names it), within a 160 MB address-space limit that
    reading the member naively exceeds."""
    result = _read_bounded(bombs["extra"], control_member="extra.bin")
    assert result.get("loaded") == [archive.PROBE_NAME, "weights.safetensors"], result
    assert "ignoring 1 unknown member(s) ('extra.bin')" in result["stderr"]
    assert result["naive"] == "MemoryError"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc and RLIMIT_AS")
@pytest.mark.parametrize(
    ("bomb", "member", "words"),
    [
        ("weights", "weights.safetensors", "declares 402,653,184 bytes, more than the"),
        ("manifest", archive.MANIFEST_NAME, "declares 67,108,864 bytes, more than the 33,554,432"),
        ("lying", "weights.safetensors", "is corrupt (member 'weights.safetensors'"),
    ],
)
def test_oversized_known_member_is_refused_within_bounded_memory(
    bombs, bomb: str, member: str, words: str
) -> None:
    """HARD-001: a weights or manifest member larger than the manifest's architecture allows is
    refused from the zip directory, before decompressing; a directory that lies about the size
    is caught while streaming (the data fail their checksum at the declared size). Each error
    names the archive and the member; memory stays within the limit."""
    result = _read_bounded(bombs[bomb])
    assert "memory_error" not in result, result
    assert result["error"] in ("ArchiveTooLargeError", "ValueError"), result
    assert str(bombs[bomb]) in result["message"] and repr(member) in result["message"]
    assert words in result["message"], result["message"]


def test_member_limits_follow_the_architecture() -> None:
    """HARD-001: limits = 1.25 x the float32 parameters of expected_weight_shapes + 1 MiB, the
    complex64 probe + 4 KiB, a 32 MiB manifest; a bigger network is allowed more."""
    from ptycho.weights import expected_weight_shapes

    small = ModelConfig(N=64, n_filters_scale=1)
    parameters = sum(int(np.prod(s)) for s in expected_weight_shapes(small).values())
    limits = archive.member_limits(small)
    assert limits.weights == int(4 * parameters * 1.25) + MiB
    assert limits.probe == 64 * 64 * 8 + 4096
    assert limits.total == limits.manifest + limits.weights + limits.probe
    bigger = archive.member_limits(ModelConfig(N=128, n_filters_scale=2, architecture="cnn"))
    assert bigger.weights > 4 * limits.weights and bigger.probe > limits.probe


@pytest.mark.parametrize(
    ("changes", "key", "expected"),
    [
        ({"intensity_scale": {"a": 1}}, "intensity_scale", "a finite number > 0"),
        ({"intensity_scale": -2.0}, "intensity_scale", "a finite number > 0"),
        ({"N": "abc"}, "N", "the integer 64 (model_config.N)"),
        ({"gridsize": 2.5}, "gridsize", "the integer 1 (model_config.gridsize)"),
        ({"model_type": ["pinn"]}, "model_type", "one of pinn, supervised"),
        ({"weights_file": 3}, "weights_file", "the name of an archive member"),
        ({"history": {"loss": "low"}}, "history.loss", "a list of numbers"),
        ({"history": [1, 2]}, "history", "an object of per-epoch number lists"),
        ({"model_config": "cnn"}, "model_config", "an object of ModelConfig fields"),
    ],
)
def test_bad_manifest_value_names_archive_key_value_and_type(
    tmp_path: Path, changes: dict[str, Any], key: str, expected: str
) -> None:
    """HARD-002 (issue case 5): a manifest value of the wrong type or range is a ManifestError
    (a ValueError, so every CLI reports it in one line) naming the archive, the key, the value
    and what it must be; never a TypeError."""
    path = _write_zip(tmp_path / "bad.zip", _good_members(_manifest(**changes)))
    with pytest.raises(archive.ManifestError) as info:
        archive.read_archive(path)
    error = info.value
    assert (error.key, error.expected) == (key, expected)
    assert str(path) in str(error) and repr(key) in str(error) and expected in str(error)


@pytest.mark.parametrize(
    ("field", "value", "key", "words"),
    [
        ("N", "abc", "model_config.N", "one of 64, 128, 256"),
        ("architecture", "transformer", "model_config.architecture", "'backprop_unet', 'cnn'"),
        ("n_filters_scale", 0, "model_config.n_filters_scale", "an integer >= 1"),
    ],
)
def test_bad_model_config_field_is_named(
    tmp_path: Path, field: str, value: Any, key: str, words: str
) -> None:
    """HARD-002: a bad field inside the stored model config is named as model_config.<field>."""
    manifest = _manifest()
    manifest["model_config"] = dict(manifest["model_config"], **{field: value})
    path = _write_zip(tmp_path / "bad.zip", _good_members(manifest))
    with pytest.raises(archive.ManifestError, match="model_config") as info:
        archive.read_archive(path)
    assert info.value.key == key and info.value.value == value and words in str(info.value)


def test_bad_training_config_field_is_named(tmp_path: Path) -> None:
    """HARD-002: the same for the stored training config (training_config.<field>)."""
    manifest = _manifest()
    manifest["training_config"] = dict(manifest["training_config"], nepochs="many")
    path = _write_zip(tmp_path / "bad.zip", _good_members(manifest))
    with pytest.raises(archive.ManifestError) as info:
        archive.read_archive(path)
    assert info.value.key == "training_config.nepochs" and info.value.value == "many"


def test_unreadable_and_non_object_manifests_are_clear_errors(tmp_path: Path) -> None:
    """HARD-002: a manifest that is not JSON, or not a JSON object, names the archive."""
    members = _good_members()
    members[archive.MANIFEST_NAME] = b"\xff\xfe not json"
    path = _write_zip(tmp_path / "a.zip", members)
    with pytest.raises(ValueError, match="has an unreadable manifest"):
        archive.read_archive(path)
    members[archive.MANIFEST_NAME] = b"[1, 2, 3]"
    path = _write_zip(tmp_path / "b.zip", members)
    with pytest.raises(ValueError, match="malformed manifest"):
        archive.read_archive(path)


def _pickled_npy() -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"probe": 1}], dtype=object), allow_pickle=True)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("probe", "words"),
    [
        (_pickled_npy(), "holds a pickled object, which is never loaded"),
        (archive.probe_to_bytes(np.ones((64, 64)))[:-100], "is a damaged .npy array"),
        (b"just text", "is not a .npy array (it looks like a text file)"),
        (archive.probe_to_bytes(np.ones((32, 32))), "shape (32, 32), expected (64, 64)"),
        (archive.probe_to_bytes(np.full((64, 64), np.nan)), "holds NaN/Inf values"),
    ],
)
def test_damaged_probe_member_names_archive_and_member_never_allow_pickle(
    tmp_path: Path, probe: bytes, words: str
) -> None:
    """HARD-003 (issue case 6): a pickled, truncated, non-.npy, mis-shaped or non-finite
    probe.npy is a ValueError naming the archive and the member; the text never suggests
    allow_pickle (NumPy's unsafe fix)."""
    members = _good_members()
    members[archive.PROBE_NAME] = probe
    path = _write_zip(tmp_path / "probe.zip", members)
    with pytest.raises(ValueError) as info:
        archive.read_archive(path)
    message = str(info.value)
    assert words in message and str(path) in message and "'probe.npy'" in message
    assert "allow_pickle" not in message


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"xcoords,ycoords\n1,2\n", "it looks like a text file"),
        (b"", "the file is empty"),
        (b"\x80\x04\x95 pickle", "it looks like a Python pickle"),
    ],
)
def test_file_that_is_not_an_npz_names_what_it_is(
    tmp_path: Path, content: bytes, words: str
) -> None:
    """HARD-003 (issue case 6): a text file (or an empty file, or a pickle) passed as an NPZ
    dataset says what it looks like and how to write one, never allow_pickle."""
    path = tmp_path / "scan.npz"
    path.write_bytes(content)
    with pytest.raises(ValueError) as info:
        RawData.from_file(path)
    message = str(info.value)
    assert f"{path} is not a readable NPZ dataset ({words})" in message
    assert "numpy.savez" in message and "allow_pickle" not in message


def test_pickled_or_damaged_npz_key_never_suggests_allow_pickle(tmp_path: Path) -> None:
    """HARD-003: a pickled required key and a damaged key name the file and the key."""
    from ptycho.npy_io import npz_array, open_npz

    path = tmp_path / "scan.npz"
    np.savez(path, xcoords=np.array([object()], dtype=object), ycoords=np.zeros(3))
    with open_npz(path) as npz, pytest.raises(ValueError) as info:
        npz_array(npz, "xcoords", str(path))
    assert "key 'xcoords' holds a pickled object" in str(info.value)
    assert "allow_pickle" not in str(info.value)
    data = path.read_bytes()
    start = data.find(b"ycoords.npy")
    broken = tmp_path / "broken.npz"
    broken.write_bytes(data[: start + 120] + b"\x00" * 40 + data[start + 160 :])
    with pytest.raises(ValueError) as info:
        with open_npz(broken) as npz:
            npz_array(npz, "ycoords", str(broken))
    assert "allow_pickle" not in str(info.value) and str(broken) in str(info.value)
