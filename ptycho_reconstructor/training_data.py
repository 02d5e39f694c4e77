"""Training data for the trainable reconstructors: export, discovery, containers, outputs.

This module owns ``specs/ptychodus_api_spec.md`` §5.6 (ADAPT-050 .. ADAPT-055):

* :func:`export_training_data` writes a ``ReconstructInput`` as our NPZ contract
  (``specs/data_contracts.md`` DATA-001): float32 amplitude ``diff3d``, positions in our object
  pixels (ARCH-002), probe, object (the supervised target), scan index and bad-pixel mask.
* :func:`find_training_inputs` discovers what ``train(input_dir, output_dir)`` trains on:

  1. ``train_data.npz`` (with ``test_data.npz`` as validation when present), else
  2. every other ``*.npz`` in the directory (our exports, or Ptychodus's built-in exporter's,
     which hold integer counts and ``(modes, N, N)`` probes; ``test_data.npz`` is validation),
     else
  3. ``diffraction.h5`` + ``product.h5`` (Ptychodus's batch layout: the scan itself),

  and raises ``FileNotFoundError`` naming what it looked for when none is there.
  NPZ files whose ``diff3d`` holds integers were written by Ptychodus's own exporter, whose
  positions use Ptychodus's centred ``(N-1)/2`` pixel convention; they are moved by +0.5 px to
  ours (ARCH-002). Our exporter always writes float amplitude.
* :func:`build_training_containers` groups and normalises every training file (each dataset
  normalised on its own, ARCH-007) and concatenates them; validation comes from ``test_data.npz``
  or a seeded split.
* :func:`write_training_outputs` writes ``history.csv`` and ``loss.png`` atomically;
  :func:`write_training_set` writes them with the model archive, as one set.
"""

from __future__ import annotations

import io
import logging
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final

import numpy as np

from ptycho.history import format_history_csv
from ptycho_reconstructor.convert import ARCH002_OFFSET_PX, mean_photons_per_pattern

if TYPE_CHECKING:
    from ptychodus.api.reconstruct import ReconstructInput

    from ptycho.backend import BackendAPI, ModelBundle
    from ptycho.config.config import TrainingConfig
    from ptycho.loader import PtychoDataContainer
    from ptycho.raw_data import RawData

__all__ = [
    "HISTORY_CSV",
    "LOSS_PNG",
    "TrainingInputs",
    "build_training_containers",
    "export_training_data",
    "find_training_inputs",
    "load_training_npz",
    "write_training_outputs",
    "write_training_set",
]

logger = logging.getLogger(__name__)

TRAIN_NPZ: Final[str] = "train_data.npz"
TEST_NPZ: Final[str] = "test_data.npz"
DIFFRACTION_H5: Final[str] = "diffraction.h5"
PRODUCT_H5: Final[str] = "product.h5"
#: Training history written next to the model archive.
HISTORY_CSV: Final[str] = "history.csv"
#: Loss-curve plot written next to the model archive.
LOSS_PNG: Final[str] = "loss.png"


@dataclass
class TrainingInputs:
    """What a training run reads.

    Attributes
    ----------
    train : list of RawData
        Training scans (at least one).
    test : RawData or None
        Validation scan (``test_data.npz``), if any.
    sources : list of Path
        Files the training scans came from (for logs and the history).
    source_kind : str
        ``'npz'`` or ``'ptychodus-batch'``.
    """

    train: list[RawData]
    test: RawData | None = None
    sources: list[Path] = field(default_factory=list)
    source_kind: str = "npz"

    @property
    def N(self) -> int:
        """Pattern size shared by every scan."""
        return int(self.train[0].N)

    @property
    def mean_photons(self) -> float:
        """Mean photon count per pattern over the training scans."""
        return float(np.mean([mean_photons_per_pattern(r.diff3d) for r in self.train]))


def export_training_data(file_path: Path, parameters: ReconstructInput) -> Path:
    """Write ``parameters`` as a training NPZ (our contract) at ``file_path``.

    ``.npz`` is appended when ``file_path`` has another suffix (as ``numpy.savez`` does), so
    :func:`find_training_inputs` finds the file. Returns the path written.

    The object written as ``objectGuess`` is the product's current object: for a supervised
    model it is the target, so export a product whose object is a good reconstruction.

    Raises
    ------
    ValueError
        The input cannot be converted (see :func:`ptycho_reconstructor.convert.
        raw_data_from_input`); nothing is written.
    FileNotFoundError
        The target folder does not exist.
    """
    from ptycho_reconstructor.convert import raw_data_from_input

    raw = raw_data_from_input(parameters)
    target = Path(file_path)
    if target.suffix.lower() != ".npz":
        target = target.with_name(target.name + ".npz")  # as numpy.savez does
    raw.to_file(target)
    logger.info("exported %d patterns (N=%d) as training data to %s", len(raw), raw.N, target)
    return target


def _diff_dtype(path: Path) -> np.dtype | None:
    """The dtype of ``diff3d`` (or ``diffraction``) in an NPZ, read from its header only."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            for key in ("diff3d.npy", "diffraction.npy"):
                if key in names:
                    with archive.open(key) as handle:
                        version = np.lib.format.read_magic(handle)
                        if version == (1, 0):
                            header = np.lib.format.read_array_header_1_0(handle)
                        else:
                            header = np.lib.format.read_array_header_2_0(handle)
                    return np.dtype(header[2])
    except (zipfile.BadZipFile, OSError, ValueError):
        return None
    return None


def load_training_npz(path: Path) -> RawData:
    """Read one training NPZ (ours or Ptychodus's built-in export).

    Raises
    ------
    FileNotFoundError, ValueError
        From :meth:`ptycho.raw_data.RawData.from_file`, with the file name.
    """
    from ptycho.raw_data import RawData

    dtype = _diff_dtype(path)
    raw = RawData.from_file(path)
    if dtype is not None and np.issubdtype(dtype, np.integer):
        logger.info(
            "%s holds integer counts (Ptychodus's exporter): converting positions from the "
            "centred (N-1)/2 convention (+%.1f px)",
            path.name,
            ARCH002_OFFSET_PX,
        )
        raw.xcoords = raw.xcoords + ARCH002_OFFSET_PX
        raw.ycoords = raw.ycoords + ARCH002_OFFSET_PX
        raw.xcoords_start = raw.xcoords_start + ARCH002_OFFSET_PX
        raw.ycoords_start = raw.ycoords_start + ARCH002_OFFSET_PX
    return raw


def _load_batch_layout(directory: Path) -> RawData:
    from ptychodus.api.io import load_diffraction_data, load_product
    from ptychodus.api.reconstruct import prepare_reconstruct_input

    from ptycho_reconstructor.convert import raw_data_from_input

    assembled = load_diffraction_data(directory / DIFFRACTION_H5)
    product = load_product(directory / PRODUCT_H5)
    return raw_data_from_input(prepare_reconstruct_input(assembled, product))


def find_training_inputs(input_dir: Path) -> TrainingInputs:
    """Discover and load the training data in ``input_dir`` (ADAPT-050).

    Raises
    ------
    FileNotFoundError
        ``input_dir`` is not a directory, or holds no training data.
    ValueError
        A training file is unreadable or inconsistent (message names the file), or the scans
        differ in pattern size.
    """
    directory = Path(input_dir)
    if not directory.is_dir():
        raise FileNotFoundError(
            f"training data directory {directory} does not exist; choose the directory that "
            "holds the exported training data"
        )
    npz_files = sorted(
        p for p in directory.glob("*.npz") if p.is_file() and not p.name.startswith(".")
    )
    names = {p.name: p for p in npz_files}
    test_path = names.get(TEST_NPZ)
    if TRAIN_NPZ in names:
        train_paths = [names[TRAIN_NPZ]]
    else:
        train_paths = [p for p in npz_files if p.name != TEST_NPZ]
        if not train_paths and test_path is not None:
            train_paths, test_path = [test_path], None
    if train_paths:
        train = []
        for path in train_paths:
            try:
                train.append(load_training_npz(path))
            except ValueError as exc:
                raise ValueError(f"cannot train on {path}: {exc}") from exc
        test = load_training_npz(test_path) if test_path is not None else None
        inputs = TrainingInputs(train=train, test=test, sources=list(train_paths))
    elif (directory / DIFFRACTION_H5).is_file() and (directory / PRODUCT_H5).is_file():
        logger.info("no training NPZ in %s: training on its diffraction.h5 + product.h5", directory)
        inputs = TrainingInputs(
            train=[_load_batch_layout(directory)],
            sources=[directory / DIFFRACTION_H5, directory / PRODUCT_H5],
            source_kind="ptychodus-batch",
        )
    else:
        raise FileNotFoundError(
            f"no training data in {directory}: expected *.npz training files (Export Training "
            f"Data...), {TRAIN_NPZ}/{TEST_NPZ}, or {DIFFRACTION_H5} + {PRODUCT_H5} (Ptychodus "
            "batch layout)"
        )
    sizes = {r.N for r in inputs.train} | ({inputs.test.N} if inputs.test is not None else set())
    if len(sizes) > 1:
        raise ValueError(
            f"the training files in {directory} have different pattern sizes "
            f"{sorted(sizes)}; train on files of one size"
        )
    logger.info(
        "training data: %d file(s), %d patterns, N=%d%s",
        len(inputs.train),
        sum(len(r) for r in inputs.train),
        inputs.N,
        ", validation from test_data.npz" if inputs.test is not None else "",
    )
    return inputs


def _concatenate(
    containers: Sequence[PtychoDataContainer], n_positions: Sequence[int]
) -> PtychoDataContainer:
    from ptycho.loader import PtychoDataContainer

    if len(containers) == 1:
        return containers[0]
    first = containers[0]
    if any(not np.allclose(c.probe, first.probe, rtol=1e-4, atol=1e-6) for c in containers[1:]):
        logger.warning(
            "the training files have different probes; the model uses the first file's probe"
        )
    has_y = all(c.Y is not None for c in containers)
    offset = 0
    nn = []
    for c, m in zip(containers, n_positions, strict=True):
        idx = c.nn_indices.copy()
        idx[idx >= 0] += offset  # position indices count through the files in order
        nn.append(idx)
        offset += int(m)
    return PtychoDataContainer(
        X=np.concatenate([c.X for c in containers]),
        coords_nominal=np.concatenate([c.coords_nominal for c in containers]),
        global_offsets=np.concatenate([c.global_offsets for c in containers]),
        probe=first.probe,
        Y=np.concatenate([c.Y for c in containers]) if has_y else None,
        coords_true=np.concatenate([c.coords_true for c in containers]),
        nn_indices=np.concatenate(nn),
        norm_factor=first.norm_factor,
    )


def build_training_containers(
    inputs: TrainingInputs, config: TrainingConfig
) -> tuple[PtychoDataContainer, PtychoDataContainer | None]:
    """Group and normalise the training scans (ADAPT-052).

    Every training scan gives up to ``config.n_groups`` groups (seeded; at most one per scan
    position, so a small scan never asks for more groups than positions), normalised on its own
    (ARCH-007); the groups of all scans are concatenated. Validation is ``test_data.npz`` (all
    positions) when present, else a seeded split of ``config.validation_fraction``; None when
    that leaves no validation group.

    Raises
    ------
    ValueError
        Too few positions for the gridsize, or a supervised model without ground truth.
    """
    from ptycho.loader import container_from_raw, split_container
    from ptycho.refine import refined_training_data

    model = config.model
    c = model.gridsize**2
    # ARCH-013: with refined targets, train towards each scan's refined object, not its object
    iterations = config.refined_target_iterations
    train_scans = [refined_training_data(raw, iterations) for raw in inputs.train]
    test_scan = refined_training_data(inputs.test, iterations)
    requested = config.n_groups
    assert requested is not None  # TrainingConfig.__post_init__ fills in the default
    containers = []
    for i, raw in enumerate(train_scans):
        if len(raw) < c:
            raise ValueError(
                f"a training scan has {len(raw)} positions but GridSize {model.gridsize} needs "
                f"at least {c}; use a smaller GridSize or more data"
            )
        n_groups = min(int(requested), len(raw))  # up to NumGroups: DATA-009, HARD-015
        if n_groups < requested:
            logger.info(
                "training scan %d has %d positions: %d groups (NumGroups = %d)",
                i,
                len(raw),
                n_groups,
                config.n_groups,
            )
        containers.append(
            container_from_raw(
                raw,
                model.N,
                gridsize=model.gridsize,
                n_groups=n_groups,
                K=max(config.neighbor_count, c),
                seed=config.seed + i,
            )
        )
    train = _concatenate(containers, [len(r) for r in train_scans])
    if model.model_type == "supervised" and train.Y is None:
        raise ValueError(
            "the Supervised reconstructor needs the true object in the training data "
            "(objectGuess); export training data from a product whose object is a finished "
            "reconstruction"
        )
    if test_scan is not None:
        validation = container_from_raw(
            test_scan,
            model.N,
            gridsize=model.gridsize,
            n_groups=None,
            K=max(config.neighbor_count, c),
            seed=config.seed,
        )
        return train, validation
    train_part, validation = split_container(train, config.validation_fraction, config.seed)
    return train_part, (validation if len(validation) > 0 else None)


def _history_csv_bytes(history: Mapping[str, Sequence[float]]) -> bytes:
    """``history.csv`` content: ``epoch`` column from 1, then ``loss``, ``val_loss``, the rest."""
    keys = [k for k in ("loss", "val_loss") if history.get(k)]
    keys += sorted(k for k in history if k not in keys and history.get(k))
    return format_history_csv(history, keys, lineterminator="\n").encode("utf-8")


def _loss_png_bytes(history: Mapping[str, Sequence[float]]) -> bytes | None:
    """``loss.png`` content, or None when matplotlib is not installed (a warning is logged)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        logger.warning("matplotlib is not installed: no %s written", LOSS_PNG)
        return None
    keys = [k for k in ("loss", "val_loss") if history.get(k)]
    figure = Figure(figsize=(6, 4), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    for key in keys:
        values = np.asarray(history[key], dtype=np.float64)
        axes.plot(np.arange(1, values.size + 1), values, marker="o", label=key)
    if any(np.all(np.asarray(history[k]) > 0) for k in keys):
        axes.set_yscale("log")
    axes.set_xlabel("epoch")
    axes.set_ylabel("loss")
    axes.set_title("PtychoPINN training")
    axes.legend()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def write_training_outputs(
    output_dir: Path, history: Mapping[str, Sequence[float]]
) -> tuple[Path, Path | None]:
    """Write ``history.csv`` (``epoch`` column from 1) and ``loss.png`` into ``output_dir``.

    ADAPT-054. The CSV has the same layout as the backends' own ``history.csv``.

    Returns
    -------
    (csv_path, png_path)
        ``png_path`` is None when matplotlib is not installed (a warning is logged).
    """
    from ptycho.atomic import atomic_write_bytes

    directory = Path(output_dir)
    directory.mkdir(parents=True, exist_ok=True)
    csv_path = directory / HISTORY_CSV
    atomic_write_bytes(csv_path, _history_csv_bytes(history))
    png = _loss_png_bytes(history)
    if png is None:
        return csv_path, None
    png_path = directory / LOSS_PNG
    atomic_write_bytes(png_path, png)
    return csv_path, png_path


def write_training_set(
    output_dir: Path, bundle: ModelBundle, api: BackendAPI, archive_name: str
) -> tuple[Path, Path, Path | None]:
    """Write the model archive, ``history.csv`` and ``loss.png`` as one set (ADAPT-003, HARD-014).

    Every file is complete before any is moved into place
    (:func:`ptycho.atomic.atomic_output_set`), so an interrupted save leaves the previous set
    untouched and never a history beside a model it does not describe.

    Returns
    -------
    (archive_path, csv_path, png_path)
        ``png_path`` is None when matplotlib is not installed.
    """
    from ptycho.atomic import atomic_output_set

    directory = Path(output_dir)
    directory.mkdir(parents=True, exist_ok=True)
    contents = {HISTORY_CSV: _history_csv_bytes(bundle.history)}
    png = _loss_png_bytes(bundle.history)
    if png is not None:
        contents[LOSS_PNG] = png
    targets = [directory / archive_name, *(directory / name for name in contents)]
    with atomic_output_set(targets) as (archive_tmp, *others):
        api.save_bundle(bundle, archive_tmp)
        for tmp, data in zip(others, contents.values(), strict=True):
            tmp.write_bytes(data)
    return targets[0], directory / HISTORY_CSV, (directory / LOSS_PNG if png is not None else None)
