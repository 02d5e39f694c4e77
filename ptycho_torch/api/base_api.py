"""The object API that Ptychodus 1.7's built-in *PtychoPINN-Torch* reconstructor calls.

Ptychodus's child process (``ptychodus.model.ptychopinn_torch._subprocess``) uses exactly these
names (``reference/ptychopinn_torch.md`` §5.2-5.3): :class:`ConfigManager`,
:class:`DataloaderFormats`, :class:`PtychoDataLoader` (also ``from_np``), :class:`PtychoModel`
(``_new_model``, ``_extract_configs_from_checkpoint``), :class:`Trainer` (``_from_lightning``,
``train``, ``_trainer``) and :class:`InferenceEngine` (``predict_and_stitch``), together with
``ptycho_torch.model.PtychoPINN_Lightning`` and
``ptycho_torch.lightning_utils.find_best_checkpoint``.

This module is a thin facade over the clean backend: the original configs
(:mod:`ptycho_torch.config_params`) are bridged to the core configs
(:mod:`ptycho_torch.config_bridge`), data are grouped by the core
(:func:`ptycho.loader.container_from_raw`), training is the backend's Lightning setup
(:func:`ptycho_torch.trainer.build_trainer`) and stitching the core's
(:func:`ptycho.stitching.stitch_patches`). Differences from the original, on purpose:

* a CPU-only host trains on the CPU (``device='cuda'`` means "a GPU when present");
* ``strategy='ddp_spawn'`` with one device trains in-process, so callbacks that Ptychodus appends
  to ``Trainer._trainer.callbacks`` see every epoch;
* grouping is seeded (one group per scan position), so inference is deterministic;
* :meth:`InferenceEngine.predict_and_stitch` returns the object on a grid centred on the scan
  (the size Ptychodus gives an object centred on the scan), positions converted from
  Ptychodus's centred pixel convention with the +0.5 px of ARCH-002.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ptycho.backend import ModelBundle
from ptycho.loader import PtychoDataContainer
from ptycho_torch import config_params as pt
from ptycho_torch.config_bridge import (
    _as_config,
    core_configs_from_pt,
    pt_configs_from_core,
    to_execution_config,
)

if TYPE_CHECKING:
    from ptycho.raw_data import RawData

__all__ = [
    "ConfigManager",
    "DataloaderFormats",
    "InferenceEngine",
    "PtychoDataLoader",
    "PtychoModel",
    "Trainer",
]

logger = logging.getLogger(__name__)

#: Ptychodus's pixel convention is centred on ``(N-1)/2``; ours on ``N/2`` (ARCH-002).
PTYCHODUS_OFFSET_PX = 0.5


class DataloaderFormats(Enum):
    """Data-loader flavours of the original API (all give a Lightning data module here)."""

    LIGHTNING_ONLY_MODULE = "lightning_only_module"
    LIGHTNING_MODULE = "lightning_module"
    TENSORDICT = "tensordict"
    PYTORCH = "pytorch"
    NUMPY = "numpy"


class ConfigManager:
    """The five original configs of one run (defaults for those not given)."""

    def __init__(
        self,
        data_config: pt.DataConfig | dict[str, Any] | None = None,
        model_config: pt.ModelConfig | dict[str, Any] | None = None,
        training_config: pt.TrainingConfig | dict[str, Any] | None = None,
        inference_config: pt.InferenceConfig | dict[str, Any] | None = None,
        datagen_config: pt.DatagenConfig | dict[str, Any] | None = None,
    ) -> None:
        self.data_config = _as_config(data_config, pt.DataConfig)
        self.model_config = _as_config(model_config, pt.ModelConfig)
        self.training_config = _as_config(training_config, pt.TrainingConfig)
        self.inference_config = _as_config(inference_config, pt.InferenceConfig)
        self.datagen_config = _as_config(datagen_config, pt.DatagenConfig)
        self.architecture_frozen = False

    @classmethod
    def from_loaded_model(cls, ptycho_model: PtychoModel) -> ConfigManager:
        """The configs of a loaded :class:`PtychoModel` (architecture frozen)."""
        manager = cls(
            data_config=ptycho_model.data_config,
            model_config=ptycho_model.model_config,
            training_config=ptycho_model.training_config,
            inference_config=ptycho_model.inference_config,
        )
        manager.architecture_frozen = True
        return manager

    def core_configs(self) -> tuple[Any, Any]:
        """The core ``(ModelConfig, TrainingConfig)`` these configs describe."""
        return core_configs_from_pt(self.data_config, self.model_config, self.training_config)

    def validate_arch_compatibility(self, ptycho_model: PtychoModel) -> None:
        """Raise ``ValueError`` listing the architecture fields that differ from the model's."""
        from ptycho_torch.model import config_differences

        module = ptycho_model.model
        if module is None:
            raise ValueError("the PtychoModel has no network loaded")
        diffs = config_differences(module.model_config, self.core_configs()[0])
        if diffs:
            raise ValueError(
                "the configuration does not match the loaded model's architecture: "
                + "; ".join(diffs)
            )


def _concatenate(containers: list[PtychoDataContainer]) -> PtychoDataContainer:
    if len(containers) == 1:
        return containers[0]
    with_y = all(c.Y is not None for c in containers)
    return PtychoDataContainer(
        X=np.concatenate([c.X for c in containers]),
        coords_nominal=np.concatenate([c.coords_nominal for c in containers]),
        global_offsets=np.concatenate([c.global_offsets for c in containers]),
        probe=containers[0].probe,
        Y=np.concatenate([c.Y for c in containers]) if with_y else None,
        coords_true=np.concatenate([c.coords_true for c in containers]),
        nn_indices=np.concatenate([c.nn_indices for c in containers]),
    )


class PtychoDataLoader:
    """Grouped data for training (``data_dir`` of NPZ files) or inference (:meth:`from_np`).

    Attributes
    ----------
    output_dir : str or None
        ``<output_dir>/run_<YYYYmmdd_HHMMSS>`` (where checkpoints go).
    container : PtychoDataContainer
        The grouped data (one group per scan position, seeded).
    data_module : ptycho_torch.datamodule.PtychoDataModule
        Lightning data module with a seeded 5 % validation split.
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str] | None,
        config_manager: ConfigManager,
        data_format: DataloaderFormats = DataloaderFormats.LIGHTNING_ONLY_MODULE,
        output_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        from ptycho.raw_data import RawData

        self.config_manager = config_manager
        self.data_format = DataloaderFormats(data_format)
        stamp = datetime.now().strftime("%Y%m%d_%H%M%S")
        self.output_dir = os.path.join(output_dir, f"run_{stamp}") if output_dir else None
        self.raw: RawData | None = None
        self.container: PtychoDataContainer | None = None
        #: The same groups as ``container`` (a name kept for the original API's callers).
        self.dataset: PtychoDataContainer | None = None
        self.data_module: Any = None
        if data_dir is None:
            return
        files = sorted(Path(data_dir).glob("*.npz"))
        if not files:
            raise FileNotFoundError(
                f"no training data (*.npz) in {data_dir}; export training data from Ptychodus first"
            )
        raws = [RawData.from_file(f) for f in files]
        self.container = _concatenate([self._group(raw) for raw in raws])
        self.raw = raws[0]
        self.data_module = self._data_module(self.container)

    def _group(self, raw: Any) -> PtychoDataContainer:
        from ptycho.loader import container_from_raw

        model, training = self.config_manager.core_configs()
        if raw.N != model.N:
            raise ValueError(
                f"the diffraction patterns are {raw.N}x{raw.N} but DataConfig.N is {model.N}; set "
                f"the model size to {raw.N}"
            )
        return container_from_raw(
            raw,
            model.N,
            gridsize=model.gridsize,
            n_groups=self.config_manager.training_config.n_groups,
            K=max(training.neighbor_count, model.gridsize**2),
            seed=training.subsample_seed or training.seed,
        )

    def _data_module(self, container: PtychoDataContainer) -> Any:
        from ptycho_torch.datamodule import PtychoDataModule

        training = self.config_manager.training_config
        model, core_training = self.config_manager.core_configs()
        return PtychoDataModule(
            container,
            batch_size=int(training.batch_size),
            num_workers=0,
            seed=core_training.seed,
            validation_fraction=0.05,
            with_truth=model.model_type == "supervised",
        )

    @classmethod
    def from_np(
        cls,
        diff_patterns: np.ndarray,
        probe: np.ndarray,
        positions: np.ndarray,
        config_manager: ConfigManager,
        **kwargs: Any,
    ) -> PtychoDataLoader:
        """Data for inference from arrays as Ptychodus passes them.

        Parameters
        ----------
        diff_patterns : (M, N, N)
            Detector **counts** (converted to amplitude ``sqrt``, design D1).
        probe : (modes, N, N) or (N, N) complex
            The first mode is used.
        positions : (M, 2) float
            ``[y, x]`` object pixels in Ptychodus's centred convention (+0.5 px here).
        """
        from ptycho.raw_data import RawData

        loader = cls(None, config_manager, output_dir=kwargs.get("output_dir"))
        counts = np.asarray(diff_patterns, dtype=np.float64)
        if counts.ndim != 3:
            raise ValueError(f"diff_patterns must be (M, N, N), got {counts.shape}")
        pos = np.asarray(positions, dtype=np.float64)
        if pos.shape != (counts.shape[0], 2):
            raise ValueError(
                f"positions must be (M, 2) [y, x] with M={counts.shape[0]}, got {pos.shape}"
            )
        amplitude = np.sqrt(np.clip(counts, 0.0, None)).astype(np.float32)
        raw = RawData.from_coords_without_pc(
            pos[:, 1] + PTYCHODUS_OFFSET_PX,
            pos[:, 0] + PTYCHODUS_OFFSET_PX,
            amplitude,
            np.asarray(probe),
            np.zeros(counts.shape[0], dtype=np.int64),
        )
        loader.raw = raw
        loader.container = loader._group(raw)
        loader.dataset = loader.container
        return loader


class PtychoModel:
    """A network (``model``: :class:`~ptycho_torch.model.PtychoPINN_Lightning`) with its
    original configs."""

    def __init__(
        self,
        model_config: pt.ModelConfig | dict[str, Any] | None = None,
        data_config: pt.DataConfig | dict[str, Any] | None = None,
        training_config: pt.TrainingConfig | dict[str, Any] | None = None,
        inference_config: pt.InferenceConfig | dict[str, Any] | None = None,
    ) -> None:
        self.model_config = _as_config(model_config, pt.ModelConfig)
        self.data_config = _as_config(data_config, pt.DataConfig)
        self.training_config = _as_config(training_config, pt.TrainingConfig)
        self.inference_config = _as_config(inference_config, pt.InferenceConfig)
        self.model: Any = None

    @classmethod
    def _new_model(cls, model: type, config_manager: ConfigManager) -> PtychoModel:
        """A new, untrained ``model(model_config, data_config, training_config,
        inference_config)``."""
        ptycho_model = cls(
            model_config=config_manager.model_config,
            data_config=config_manager.data_config,
            training_config=config_manager.training_config,
            inference_config=config_manager.inference_config,
        )
        ptycho_model.model = model(
            config_manager.model_config,
            config_manager.data_config,
            config_manager.training_config,
            config_manager.inference_config,
        )
        return ptycho_model

    @staticmethod
    def _extract_configs_from_checkpoint(
        path: str | os.PathLike[str],
    ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], dict[str, Any]]:
        """``(data, model, training, inference)`` original-config dicts stored in a checkpoint.

        Checkpoints trained through this API hold the original configs; others (e.g. from
        ``ptycho-torch-train``) are described by the inverse bridge of their core configs.
        The file is read with ``weights_only=True``.
        """
        from ptycho_torch.model import ORIGINAL_CONFIGS_KEY
        from ptycho_torch.persistence import load_checkpoint

        checkpoint = torch.load(Path(path), map_location="cpu", weights_only=True)
        original = checkpoint.get(ORIGINAL_CONFIGS_KEY)
        if original and all(original.get(k) for k in ("data_config", "model_config")):
            data = dict(original["data_config"])
            model = dict(original["model_config"])
            training = dict(original.get("training_config") or {})
            inference = dict(original.get("inference_config") or {})
            return data, model, training, inference
        bundle = load_checkpoint(path)
        configs = pt_configs_from_core(bundle.model_config, bundle.training_config)
        data, model, training, inference = (dataclasses.asdict(c) for c in configs)
        return data, model, training, inference


class Trainer:
    """Lightning training of a :class:`PtychoModel` on a :class:`PtychoDataLoader`."""

    def __init__(self, model: PtychoModel, dataloader: PtychoDataLoader, trainer: Any) -> None:
        self.model = model
        self.dataloader = dataloader
        self._trainer = trainer

    @classmethod
    def _from_lightning(
        cls,
        model: PtychoModel,
        dataloader: PtychoDataLoader,
        orchestration: str = "lightning",
        config_manager: ConfigManager | None = None,
    ) -> Trainer:
        """Build the Lightning ``Trainer`` (checkpoints in ``<run dir>/checkpoints``)."""
        from ptycho_torch.trainer import build_trainer

        del orchestration
        manager = config_manager or ConfigManager(
            model.data_config, model.model_config, model.training_config, model.inference_config
        )
        execution = to_execution_config(manager.training_config)
        if execution.devices == 1 and execution.strategy in ("ddp_spawn", "ddp", "ddp_fork"):
            execution = dataclasses.replace(execution, strategy="auto")
        execution = dataclasses.replace(execution, num_workers=0, logger_backend="csv")
        run_dir = _run_dir(dataloader)
        run_dir.mkdir(parents=True, exist_ok=True)
        module = model.model
        training = module.training_config
        epochs = int(manager.training_config.epochs) + int(manager.training_config.epochs_fine_tune)
        training = dataclasses.replace(training, nepochs=max(epochs, 1))
        module.training_config = training
        module.scheduler_name = execution.scheduler
        module.learning_rate = float(execution.learning_rate or training.learning_rate)
        trainer, _ = build_trainer(
            training,
            execution,
            module,
            dataloader.data_module.has_validation,
            run_dir,
        )
        return cls(model, dataloader, trainer)

    def train(self, orchestration: str = "lightning", experiment_name: str = "") -> None:
        """Fit, then also write ``wts.h5.zip`` into the run directory."""
        from ptycho_torch.loggers import quiet_lightning
        from ptycho_torch.persistence import save_bundle

        del orchestration, experiment_name
        module = self.model.model
        with quiet_lightning(False):
            self._trainer.fit(module, datamodule=self.dataloader.data_module)
        if self._trainer.is_global_zero:
            bundle = _bundle_of(module)
            save_bundle(bundle, _run_dir(self.dataloader) / "wts.h5.zip")


def _run_dir(loader: PtychoDataLoader) -> Path:
    """The loader's run directory (``ValueError`` when it was built without ``output_dir``)."""
    if loader.output_dir is None:
        raise ValueError("the data loader has no output_dir for the checkpoints")
    return Path(loader.output_dir)


def _loaded(loader: PtychoDataLoader) -> tuple[RawData, PtychoDataContainer]:
    """The loader's scan and its groups (``ValueError`` for a loader holding no data)."""
    if loader.raw is None or loader.container is None:
        raise ValueError(
            "the data loader holds no data; build it from a data directory or with from_np"
        )
    return loader.raw, loader.container


def _bundle_of(module: Any) -> ModelBundle:
    net = module.net.to("cpu").eval()
    return ModelBundle(
        backend="pytorch",
        model_config=module.model_config,
        training_config=module.training_config,
        intensity_scale=float(net.intensity_scale.detach()),
        probe=net.probe.detach().numpy().astype(np.complex64),
        history={},
        network=net,
    )


class InferenceEngine:
    """Prediction with a loaded :class:`PtychoModel`."""

    def __init__(self, config_manager: ConfigManager, ptycho_model: PtychoModel) -> None:
        self.config_manager = config_manager
        self.ptycho_model = ptycho_model

    def _bundle(self) -> ModelBundle:
        if self.ptycho_model.model is None:
            raise ValueError("no network is loaded in the PtychoModel")
        return _bundle_of(self.ptycho_model.model)

    def predict(self, loader: PtychoDataLoader, device: str = "cuda") -> np.ndarray:
        """Object patches at the group centres, ``(B, N, N, 1)`` complex64."""
        from ptycho_torch.prediction import predict_patches

        accelerator = "cpu" if device == "cpu" else "auto"
        batch = int(self.config_manager.inference_config.batch_size)
        _, container = _loaded(loader)
        return predict_patches(self._bundle(), container, batch, accelerator=accelerator)

    def predict_and_stitch(self, data_loader: PtychoDataLoader) -> np.ndarray:
        """The stitched object, ``(H, W)`` complex64, on a grid centred on the scan.

        ``H, W`` are chosen so that the grid centre is the scan centre (what Ptychodus assumes
        when it places the result at the input object's centre); patches contribute their
        central ``middle_trim`` pixels (default 32; 20 when 0).
        """
        from ptycho.stitching import stitch_patches

        patches = self.predict(data_loader, device="auto")
        raw, container = _loaded(data_loader)
        offsets = np.asarray(container.global_offsets, dtype=np.float64).reshape(-1, 2)
        x_all = raw.xcoords - PTYCHODUS_OFFSET_PX
        y_all = raw.ycoords - PTYCHODUS_OFFSET_PX
        height = round(float(y_all.min() + y_all.max())) + 1
        width = round(float(x_all.min() + x_all.max())) + 1
        n = patches.shape[1]
        trim = int(self.config_manager.inference_config.middle_trim) or 20
        return stitch_patches(
            patches[..., 0], offsets[:, 0], offsets[:, 1], (height, width), crop=min(trim, n)
        )
