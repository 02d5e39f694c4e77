"""Size limits of an archive's members, so a small archive never makes us allocate gigabytes.

``manifest.json`` may hold at most :data:`MANIFEST_MAX_BYTES`; the weights and the probe at most
what the manifest's architecture needs plus a margin (:func:`member_limits`, from
:func:`ptycho.weights.expected_weight_shapes`). :mod:`ptycho.archive.reading` checks each limit
against the zip directory before anything is decompressed and again while the member is
streamed, and :func:`check_hdf5_payload` bounds what an HDF5 weights member decompresses to
(HARD-001). Sizes are in bytes.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ptycho.config.config import ModelConfig

__all__ = [
    "MANIFEST_MAX_BYTES",
    "MAX_MEMBERS",
    "PROBE_SIZE_SLACK",
    "WEIGHTS_SIZE_FACTOR",
    "WEIGHTS_SIZE_SLACK",
    "ArchiveTooLargeError",
    "MemberLimits",
    "check_hdf5_payload",
    "member_limits",
]


#: Largest ``manifest.json`` that is read (bytes). A manifest holds configs, the history and the
#: weight names: a few kB, or a few MB after very long trainings.
MANIFEST_MAX_BYTES = 32 * 1024 * 1024
#: The weights member may be this factor times the size of the expected float32 parameters ...
WEIGHTS_SIZE_FACTOR = 1.25
#: ... plus this many bytes (HDF5 / safetensors headers: measured <= 160 kB).
WEIGHTS_SIZE_SLACK = 1024 * 1024
#: Bytes allowed beyond the probe's ``N * N * 8`` (the ``.npy`` header is 128 bytes).
PROBE_SIZE_SLACK = 4096
#: An archive with more members than this is refused without reading any of them.
MAX_MEMBERS = 64


class ArchiveTooLargeError(ValueError):
    """An archive member is larger than the manifest's architecture allows (HARD-001)."""


@dataclass(frozen=True)
class MemberLimits:
    """Largest uncompressed size, in bytes, of each member an archive may hold (HARD-001)."""

    manifest: int
    weights: int
    probe: int

    @property
    def total(self) -> int:
        """Limit on the three members together."""
        return self.manifest + self.weights + self.probe


def member_limits(model_config: ModelConfig) -> MemberLimits:
    """Size limits of an archive for ``model_config``'s network.

    The weights may be :data:`WEIGHTS_SIZE_FACTOR` times the float32 parameters of
    :func:`ptycho.weights.expected_weight_shapes` plus :data:`WEIGHTS_SIZE_SLACK`; the probe
    ``N * N * 8`` bytes (complex64) plus :data:`PROBE_SIZE_SLACK`; the manifest
    :data:`MANIFEST_MAX_BYTES`.
    """
    from ptycho.weights import expected_weight_shapes

    shapes = expected_weight_shapes(model_config)
    parameters = sum(math.prod(shape) for shape in shapes.values())
    n = int(model_config.N)
    return MemberLimits(
        manifest=MANIFEST_MAX_BYTES,
        weights=int(4 * parameters * WEIGHTS_SIZE_FACTOR) + WEIGHTS_SIZE_SLACK,
        probe=8 * n * n + PROBE_SIZE_SLACK,
    )


def check_hdf5_payload(data: bytes, limit: int, source: str) -> None:
    """Decompressed size of every dataset of an HDF5 weights member, from its metadata.

    HDF5 datasets may be compressed inside the file, so the member's size does not bound what
    reading them allocates; their shapes and types do, and are read without reading the data.
    """
    import h5py

    total = 0
    try:
        with h5py.File(io.BytesIO(data), "r") as handle:
            datasets: list[Any] = []
            handle.visititems(
                lambda _name, obj: datasets.append(obj) if isinstance(obj, h5py.Dataset) else None
            )
            for dataset in datasets:
                if dataset.dtype.kind not in "iufcb":
                    raise ValueError(
                        f"model archive {source}: weights dataset {dataset.name!r} has type "
                        f"{dataset.dtype}, expected numbers; re-train or copy the archive again"
                    )
                total += int(dataset.size) * int(dataset.dtype.itemsize)
    except OSError as exc:
        raise ValueError(
            f"model archive {source}: cannot load its weights: the weights member is not a "
            f"readable HDF5 file ({exc}); the archive is damaged: re-train or copy it again"
        ) from exc
    if total > limit:
        raise ArchiveTooLargeError(
            f"model archive {source}: the weights hold {total:,} bytes once decompressed, more "
            f"than the {limit:,} bytes the model described by its manifest can need; re-train "
            "or copy the archive again"
        )
