"""Model-ready data: dataset normalisation, :class:`PtychoDataContainer` and the legacy ``load``.

This module owns ``specs/data_contracts.md`` DATA-012 (normalisation, ARCH-007), DATA-013 (the
container and :func:`load`) and DATA-014 (:func:`split_container`). It is framework-free: every
array in a container is a NumPy array; backends convert to tensors themselves.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ptycho.atomic import atomic_savez
from ptycho.normalization import normalize_diffraction
from ptycho.probe import first_mode

if TYPE_CHECKING:
    from ptycho.raw_data import RawData

__all__ = [
    "PtychoDataContainer",
    "container_from_raw",
    "load",
    "normalize_diffraction",
    "split_container",
]

logger = logging.getLogger(__name__)


def _require_shape(name: str, arr: np.ndarray, shape: Sequence[int | None]) -> None:
    ok = arr.ndim == len(shape) and all(
        s is None or s == d for s, d in zip(shape, arr.shape, strict=False)
    )
    if not ok:
        want = "(" + ", ".join("?" if s is None else str(s) for s in shape) + ")"
        raise ValueError(f"{name} must have shape {want}, got {arr.shape}")


class PtychoDataContainer:
    """Grouped, normalised data ready for a model (DATA-013). All arrays are NumPy.

    Parameters
    ----------
    X : (B, N, N, C) float32
        Normalised diffraction amplitudes (ARCH-007).
    coords_nominal : (B, 1, 2, C) float64
        Nominal ``coords_relative`` = ``-(position - group centre)`` (ARCH-005); also
        ``local_offsets``.
    global_offsets : (B, 1, 2, 1) float64
        Group centres in object pixels, axis 2 = ``[x, y]``.
    probe : (N, N) complex
        Probe as given (unnormalised). ``(modes, N, N)`` or ``(N, N, 1)`` are reduced to the
        first mode.
    Y : (B, N, N, C) complex64, optional
        Ground-truth object patches, cut at each channel's own position; None when unknown.
    coords_true : (B, 1, 2, C) float64, optional
        Relative offsets from the "start" (true / position-corrected) coordinates; defaults to
        ``coords_nominal``.
    nn_indices : (B, C) int64, optional
        Scan-position index of every channel; defaults to ``-1`` (unknown).
    norm_factor : float
        Factor applied by :func:`normalize_diffraction` (NaN when unknown).
    """

    def __init__(
        self,
        X: np.ndarray,
        coords_nominal: np.ndarray,
        global_offsets: np.ndarray,
        probe: np.ndarray,
        Y: np.ndarray | None = None,
        coords_true: np.ndarray | None = None,
        nn_indices: np.ndarray | None = None,
        norm_factor: float = float("nan"),
    ) -> None:
        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 4:
            raise ValueError(f"X must have shape (B, N, N, C), got {X.shape}")
        b, n, n2, c = X.shape
        if n != n2:
            raise ValueError(f"diffraction patterns must be square, got {n}x{n2}")
        coords_nominal = np.asarray(coords_nominal, dtype=np.float64)
        _require_shape("coords_nominal (local_offsets)", coords_nominal, (b, 1, 2, c))
        global_offsets = np.asarray(global_offsets, dtype=np.float64)
        _require_shape("global_offsets", global_offsets, (b, 1, 2, 1))
        if coords_true is None:
            coords_true = coords_nominal.copy()
        coords_true = np.asarray(coords_true, dtype=np.float64)
        _require_shape("coords_true", coords_true, (b, 1, 2, c))
        if nn_indices is None:
            nn_indices = np.full((b, c), -1, dtype=np.int64)
        nn_indices = np.asarray(nn_indices, dtype=np.int64)
        _require_shape("nn_indices", nn_indices, (b, c))
        if Y is not None:
            Y = np.asarray(Y)
            if Y.ndim == 4 and Y.shape[:3] == (b, n, n) and Y.shape[3] != c:
                raise ValueError(
                    f"Y has {Y.shape[3]} channels but X has {c}; ground-truth patches must be "
                    "grouped like the diffraction (same gridsize)"
                )
            _require_shape("Y", Y, (b, n, n, c))
            Y = Y.astype(np.complex64)
        self._X = X
        self._Y = Y
        self._coords_nominal = coords_nominal
        self._coords_true = coords_true
        self._global_offsets = global_offsets
        self._nn_indices = nn_indices
        self._probe = first_mode(probe, N=n, name="probe")
        self._norm_factor = float(norm_factor)

    # --- read-only views -------------------------------------------------------------------
    @property
    def X(self) -> np.ndarray:
        """(B, N, N, C) float32 normalised diffraction amplitudes."""
        return self._X

    @property
    def Y(self) -> np.ndarray | None:
        """(B, N, N, C) complex64 ground-truth patches, or None."""
        return self._Y

    @property
    def Y_I(self) -> np.ndarray | None:
        """(B, N, N, C) float32 ``|Y|``, or None without ground truth (no placeholder)."""
        return None if self._Y is None else np.abs(self._Y).astype(np.float32)

    @property
    def Y_phi(self) -> np.ndarray | None:
        """(B, N, N, C) float32 ``angle(Y)``, or None without ground truth."""
        return None if self._Y is None else np.angle(self._Y).astype(np.float32)

    @property
    def coords_nominal(self) -> np.ndarray:
        """(B, 1, 2, C) float64 nominal relative offsets (= ``local_offsets``)."""
        return self._coords_nominal

    @property
    def coords(self) -> np.ndarray:
        """Alias of :attr:`coords_nominal`."""
        return self._coords_nominal

    @property
    def local_offsets(self) -> np.ndarray:
        """(B, 1, 2, C) float64 ``-(position - group centre)``; the model's second input."""
        return self._coords_nominal

    @property
    def coords_true(self) -> np.ndarray:
        """(B, 1, 2, C) float64 relative offsets from the start (true) coordinates."""
        return self._coords_true

    @property
    def global_offsets(self) -> np.ndarray:
        """(B, 1, 2, 1) float64 group centres in object pixels ``[x, y]``."""
        return self._global_offsets

    @property
    def nn_indices(self) -> np.ndarray:
        """(B, C) int64 scan-position indices of every channel."""
        return self._nn_indices

    @property
    def probe(self) -> np.ndarray:
        """(N, N) complex64 probe as given (unnormalised, first mode)."""
        return self._probe

    @property
    def norm_factor(self) -> float:
        """Factor applied to the raw amplitudes by :func:`normalize_diffraction`."""
        return self._norm_factor

    @property
    def N(self) -> int:
        """Pattern side in pixels."""
        return int(self._X.shape[1])

    @property
    def gridsize(self) -> int:
        """``sqrt(C)`` (channels per group)."""
        return round(float(np.sqrt(self._X.shape[3])))

    def __len__(self) -> int:
        return int(self._X.shape[0])

    def __repr__(self) -> str:
        return (
            f"PtychoDataContainer(B={len(self)}, N={self.N}, C={self._X.shape[3]}, "
            f"Y={'yes' if self._Y is not None else 'no'}, norm_factor={self._norm_factor:.6g})"
        )

    def subset(self, indices: np.ndarray | Sequence[int]) -> PtychoDataContainer:
        """Return a new container holding the groups ``indices`` (ints or a boolean mask).

        The probe and ``norm_factor`` are shared (the normalisation is not recomputed).
        """
        idx = np.asarray(indices)
        if idx.dtype == np.bool_:
            if idx.shape != (len(self),):
                raise ValueError(
                    f"a boolean subset mask must have shape ({len(self)},), got {idx.shape}"
                )
            idx = np.flatnonzero(idx)
        idx = idx.astype(np.int64).reshape(-1)
        if idx.size and (idx.min() < -len(self) or idx.max() >= len(self)):
            raise ValueError(
                f"subset indices must lie in [0, {len(self)}), got {idx.min()}..{idx.max()}"
            )
        return PtychoDataContainer(
            X=self._X[idx],
            coords_nominal=self._coords_nominal[idx],
            global_offsets=self._global_offsets[idx],
            probe=self._probe,
            Y=None if self._Y is None else self._Y[idx],
            coords_true=self._coords_true[idx],
            nn_indices=self._nn_indices[idx],
            norm_factor=self._norm_factor,
        )

    def to_npz(self, path: str | os.PathLike[str]) -> None:
        """Write every array to an ``.npz`` file atomically (temp file, then ``os.replace``).

        Keys: ``X, coords_nominal, coords_true, global_offsets, local_offsets, nn_indices,
        probe, norm_factor`` and ``Y`` when present. Read back with :meth:`from_npz`.
        """
        arrays: dict[str, np.ndarray] = {
            "X": self._X,
            "coords_nominal": self._coords_nominal,
            "coords_true": self._coords_true,
            "global_offsets": self._global_offsets,
            "local_offsets": self._coords_nominal,
            "nn_indices": self._nn_indices,
            "probe": self._probe,
            "norm_factor": np.asarray(self._norm_factor, dtype=np.float64),
        }
        if self._Y is not None:
            arrays["Y"] = self._Y
        atomic_savez(Path(path), arrays)

    @classmethod
    def from_npz(cls, path: str | os.PathLike[str]) -> PtychoDataContainer:
        """Read a container written by :meth:`to_npz` (no pickle)."""
        from ptycho.npy_io import open_npz

        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"container file not found: {p}")
        with open_npz(p, what="container NPZ", fix="write it with PtychoDataContainer.to_npz") as f:
            missing = [
                k for k in ("X", "coords_nominal", "global_offsets", "probe") if k not in f.files
            ]
            if missing:
                raise ValueError(
                    f"{p} is missing container keys: {', '.join(missing)}; write it with "
                    "PtychoDataContainer.to_npz"
                )
            return cls(
                X=f["X"],
                coords_nominal=f["coords_nominal"],
                global_offsets=f["global_offsets"],
                probe=f["probe"],
                Y=f["Y"] if "Y" in f.files else None,
                coords_true=f["coords_true"] if "coords_true" in f.files else None,
                nn_indices=f["nn_indices"] if "nn_indices" in f.files else None,
                norm_factor=float(f["norm_factor"]) if "norm_factor" in f.files else float("nan"),
            )


def _slice_dset(dset: Mapping[str, Any], sl: slice, n: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in dset.items():
        if isinstance(v, np.ndarray) and v.ndim >= 1 and v.shape[0] == n and k != "objectGuess":
            out[k] = v[sl]
        else:
            out[k] = v
    return out


def load(
    cb: Callable[[], Any],
    probeGuess: np.ndarray,
    which: str | None = None,
    create_split: bool = False,
) -> PtychoDataContainer:
    """Build a :class:`PtychoDataContainer` from a grouped-data dict (legacy signature).

    Parameters
    ----------
    cb : callable
        Returns the dict of :meth:`ptycho.raw_data.RawData.generate_grouped_data`, or, with
        ``create_split=True``, a pair ``(dict, train_fraction)``.
    probeGuess : (N, N), (N, N, 1) or (modes, N, N) complex
        Probe stored on the container as given (first mode).
    which : {'train', 'test'}, optional
        With ``create_split``: ``'train'`` keeps the first ``int(B * train_fraction)`` groups,
        ``'test'`` the rest. Ignored otherwise.
    create_split : bool
        See ``cb`` and ``which``.

    Returns
    -------
    PtychoDataContainer
        ``X`` from ``X_full`` (or normalised ``diffraction``), ``coords_nominal`` from
        ``coords_relative``, ``coords_true`` from ``coords_start_relative``,
        ``global_offsets`` from ``coords_offsets``, ``Y`` as given (None when absent).
    """
    if create_split:
        result = cb()
        if not (isinstance(result, tuple) and len(result) == 2):
            raise ValueError(
                "with create_split=True the callback must return (grouped_data, train_fraction)"
            )
        dset, frac = result
        if which not in ("train", "test"):
            raise ValueError(
                f"with create_split=True, which must be 'train' or 'test', got {which!r}"
            )
        frac = float(frac)
        if not 0.0 <= frac <= 1.0:
            raise ValueError(f"train_fraction must lie in [0, 1], got {frac}")
    else:
        dset = cb()
    if not isinstance(dset, Mapping):
        raise ValueError(
            f"the callback must return the grouped-data dict of generate_grouped_data, got "
            f"{type(dset).__name__}"
        )
    norm_factor = dset.get("norm_factor")
    if dset.get("X_full") is not None:
        X = np.asarray(dset["X_full"], dtype=np.float32)
        if norm_factor is None and dset.get("diffraction") is not None:
            norm_factor = normalize_diffraction(np.asarray(dset["diffraction"]), axes=(1, 2))[1]
    elif dset.get("diffraction") is not None:
        X, norm_factor = normalize_diffraction(np.asarray(dset["diffraction"]), axes=(1, 2))
    else:
        raise ValueError(
            "the grouped-data dict has neither 'X_full' nor 'diffraction'; build it with "
            "RawData.generate_grouped_data"
        )
    missing = [k for k in ("coords_relative", "coords_offsets") if dset.get(k) is None]
    if missing:
        raise ValueError(
            f"the grouped-data dict is missing {', '.join(missing)}; build it with "
            "RawData.generate_grouped_data"
        )
    if create_split:
        n = X.shape[0]
        n_train = int(n * frac)
        sl = slice(0, n_train) if which == "train" else slice(n_train, n)
        dset = _slice_dset({**dset, "X_full": X}, sl, n)
        X = dset["X_full"]
    coords_true = dset.get("coords_start_relative")
    return PtychoDataContainer(
        X=X,
        coords_nominal=dset["coords_relative"],
        global_offsets=dset["coords_offsets"],
        probe=probeGuess,
        Y=dset.get("Y"),
        coords_true=coords_true,
        nn_indices=dset.get("nn_indices"),
        norm_factor=float("nan") if norm_factor is None else float(norm_factor),
    )


def container_from_raw(
    raw: RawData,
    N: int,
    gridsize: int = 1,
    n_groups: int | None = None,
    K: int = 4,
    seed: int | np.random.Generator | None = None,
    sequential_sampling: bool = False,
    enable_oversampling: bool = False,
    neighbor_pool_size: int | None = None,
) -> PtychoDataContainer:
    """Group a :class:`~ptycho.raw_data.RawData` and wrap it in a container.

    Parameters are those of :meth:`~ptycho.raw_data.RawData.generate_grouped_data`
    (``n_groups`` = its ``nsamples``; None = one group per scan position). ``N`` must equal the
    data's pattern size (``ValueError`` naming both otherwise).
    """
    grouped = raw.generate_grouped_data(
        N,
        K=K,
        nsamples=n_groups,
        seed=seed,
        sequential_sampling=sequential_sampling,
        gridsize=gridsize,
        enable_oversampling=enable_oversampling,
        neighbor_pool_size=neighbor_pool_size,
    )
    return load(lambda: grouped, raw.probeGuess, which=None, create_split=False)


def split_container(
    container: PtychoDataContainer,
    validation_fraction: float,
    seed: int | np.random.Generator | None,
) -> tuple[PtychoDataContainer, PtychoDataContainer]:
    """Seeded random split into training and validation groups (DATA-014).

    ``n_val = floor(B * validation_fraction)``, capped at ``B - 1`` so training keeps at least one
    group. The validation container is **empty** (``len == 0``) when the fraction is 0 or the data
    are too small (``B * fraction < 1``). Both parts keep the original group order. With
    ``gridsize > 1`` neighbouring groups share scan positions, so train and validation are not
    independent at the position level.

    Returns
    -------
    (train, val) : tuple of PtychoDataContainer
    """
    frac = float(validation_fraction)
    if not np.isfinite(frac) or not 0.0 <= frac < 1.0:
        raise ValueError(f"validation_fraction must lie in [0, 1), got {validation_fraction!r}")
    b = len(container)
    if b == 0:
        raise ValueError("cannot split an empty container (0 groups)")
    n_val = min(int(np.floor(b * frac)), b - 1)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    perm = rng.permutation(b)
    val_idx = np.sort(perm[:n_val])
    train_idx = np.sort(perm[n_val:])
    if frac > 0 and n_val == 0:
        logger.info(
            "validation_fraction=%g of %d groups gives no validation group; validation is empty",
            frac,
            b,
        )
    return container.subset(train_idx), container.subset(val_idx)
