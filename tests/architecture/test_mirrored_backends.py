"""Mirrored backends: ``ptycho/tf/`` and ``ptycho_torch/`` use the same module names (issue 12).

The physics, the network, the training entry point and its callbacks, persistence, prediction
and the backend contract live in modules of the same name in both backend folders, with the same
public names for the same operations (:data:`SHARED_NAMES`). A shared function takes the same
positional parameters in the same order; a backend adds parameters only with defaults, after them.
Every other module of either folder is listed, with the reason, in :data:`TF_ONLY` or
:data:`TORCH_ONLY`, so a new module that is not mirrored fails
:func:`test_every_module_is_mirrored_or_listed` until someone decides where it belongs.

An AST scan: nothing is imported, so the test needs neither TensorFlow nor torch.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

from ptycho.backend import BACKEND_OPERATIONS
from ptycho.physics import MIRRORED_PHYSICS

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = {"tf": ROOT / "ptycho" / "tf", "torch": ROOT / "ptycho_torch"}
PACKAGES = {"tf": "ptycho.tf", "torch": "ptycho_torch"}

#: Modules present in both backend folders under the same name.
MIRRORED = (
    "api",
    "callbacks",
    "network",
    "parity_worker",
    "persistence",
    "physics",
    "prediction",
    "tensors",
    "training",
)

#: Public names that each mirrored module defines (or re-exports) in both backends.
SHARED_NAMES: dict[str, tuple[str, ...]] = {
    # The backend contract (ptycho.backend.BackendAPI) plus its result type.
    "api": (*BACKEND_OPERATIONS, "Reconstruction"),
    # A new, independent network from configs, probe and intensity scale; the precision its
    # convolution trunk runs in on this backend's device (ARCH-016).
    "network": ("build_model", "resolve_network_precision"),
    # wts.h5.zip archives; WEIGHTS_FILE is the archive member holding the weights.
    "persistence": ("WEIGHTS_FILE", "load_bundle", "save_bundle"),
    # The framework mirror of ptycho.physics (ARCH-003..010, ARCH-014).
    "physics": MIRRORED_PHYSICS,
    # The NumPy <-> tensor bridge and the backend's group layout (tests/contract uses it).
    "tensors": (
        "GROUP_LAYOUT",
        "from_numpy",
        "gradient",
        "group_from_numpy",
        "group_to_numpy",
        "to_complex",
        "to_numpy",
    ),
    # The parity harness's worker (python -m <backend>.parity_worker TASK_JSON).
    "parity_worker": ("main", "model_outputs", "physics_outputs", "run_task"),
    # Batched patch prediction and stitched reconstruction.
    "prediction": (
        "DEFAULT_BATCH_SIZE",
        "DEFAULT_STITCH_CROP",
        "Reconstruction",
        "predict_patches",
        "reconstruct",
    ),
    # The backend's train entry point.
    "training": ("HISTORY_FILENAME", "TrainingDivergedError", "train"),
    # Per-epoch callbacks of the training loop. No public name is shared: TF's are the Keras-style
    # monitors its own loop calls (ReduceOnPlateau, EarlyStopping), torch's is the Lightning
    # callback for history, the epoch callback and the NaN guard (EpochCallbackBridge).
    "callbacks": (),
}

#: Modules only in ptycho/tf/, and why.
TF_ONLY: dict[str, str] = {
    "layers": "custom Keras layers; Keras serialises each custom operation as a registered Layer "
    "class, while the torch network composes plain nn.Modules inside ptycho_torch.network",
    "loop": "the hand-written epoch loop (fit); the torch backend fits with Lightning's Trainer "
    "(ptycho_torch.trainer)",
    "steps": "the loss and the compiled tf.function train / eval steps; in torch they are "
    "PtychoPINN_Lightning.training_step / validation_step (ptycho_torch.model, a fixed name)",
    "data_checks": "check_container, shared by the TF loop and TF prediction; the torch backend "
    "checks its training data inside training.train",
}

#: Modules only in ptycho_torch/, and why (fixed-name entry points first).
TORCH_ONLY: dict[str, str] = {
    # Fixed names that external code imports (Ptychodus's built-in PtychoPINN-Torch client, the
    # PyTorch plan, console scripts); each stays a thin entry point or a compatibility module.
    "model": "fixed name: PtychoPINN_Lightning, the thin LightningModule (Ptychodus imports it)",
    "api.base_api": "fixed name: the object API of Ptychodus's built-in PtychoPINN-Torch client",
    "lightning_utils": "fixed name: find_best_checkpoint for Ptychodus's built-in client",
    "config_params": "fixed name: the original backend's config dataclasses (Ptychodus 1.7)",
    "config_bridge": "fixed name: config_params <-> ptycho.config.config dataclasses",
    "train": "fixed name: the CLI python -m ptycho_torch.train",
    "inference": "fixed name: the CLI python -m ptycho_torch.inference (ptycho-torch-infer)",
    # Backend-specific extras.
    "trainer": "Lightning Trainer construction from PyTorchExecutionConfig (checkpoints, early "
    "stopping, strategy, precision); the TensorFlow backend runs its own epoch loop",
    "accelerators": "torch device selection and device-count checks (CUDA / MPS / CPU); "
    "TensorFlow places its operations itself",
    "loggers": "Lightning experiment loggers (csv / tensorboard / mlflow) and Lightning's console "
    "messages; the TensorFlow loop logs through the logging module only",
    "interrupts": "a SIGINT handler around Trainer.fit, because Lightning turns KeyboardInterrupt "
    "into sys.exit(1); the TensorFlow loop catches KeyboardInterrupt itself",
    "pretrain": "CLI that builds the shipped pretrained model (PyTorch only)",
    "datasets": "tensor views of grouped data for torch DataLoaders (Lightning-free, so prediction "
    "does not import Lightning); TensorFlow slices NumPy arrays in its loop",
    "stored_configs": "model configs stored in Lightning checkpoints (original config_params forms "
    "included), read without importing Lightning; TensorFlow archives store only core configs",
    "cli_shared": "flags and deprecation notices shared by the torch CLIs",
    "blocks": "the network's nn.Module building blocks (Encoder, Decoder, BackpropUNet); Keras "
    "builds the same layers functionally inside ptycho.tf.network",
    "datamodule": "the LightningDataModule over PtychoDataContainer (Lightning only)",
    "workflows": "package of the dispatch-layer workflow module",
    "workflows.components": "the registry's workflow_module for PyTorch (the TensorFlow one is "
    "ptycho.workflows.components, outside ptycho/tf/)",
}


def _modules(backend: str) -> set[str]:
    """Dotted module names inside a backend folder (packages by their own name)."""
    folder = FOLDERS[backend]
    found: set[str] = set()
    for path in folder.rglob("*.py"):
        parts = list(path.relative_to(folder).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        if parts:
            found.add(".".join(parts))
    return found


def _path(backend: str, module: str) -> Path:
    base = FOLDERS[backend].joinpath(*module.split("."))
    return base / "__init__.py" if base.is_dir() else base.with_suffix(".py")


@cache
def _tree(backend: str, module: str) -> ast.Module:
    return ast.parse(_path(backend, module).read_text(encoding="utf-8"))


def _dunder_all(tree: ast.Module) -> list[str] | None:
    for node in tree.body:
        target = node.targets[0] if isinstance(node, ast.Assign) else getattr(node, "target", None)
        if isinstance(target, ast.Name) and target.id == "__all__":
            value = getattr(node, "value", None)
            return list(ast.literal_eval(value)) if value is not None else None
    return None


def _definition(backend: str, module: str, name: str) -> ast.AST | None:
    """The top-level statement binding ``name``; a ``from`` import of the same backend is
    followed to the module it names."""
    prefix = PACKAGES[backend] + "."
    for node in _tree(backend, module).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name == name:
            return node
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                return node
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if (alias.asname or alias.name) != name:
                    continue
                source = node.module or ""
                if source.startswith(prefix) and source[len(prefix) :] in _modules(backend):
                    return _definition(backend, source[len(prefix) :], alias.name) or node
                return node
    return None


def _positional(node: ast.FunctionDef) -> list[str]:
    return [a.arg for a in (*node.args.posonlyargs, *node.args.args)]


def _optional_positional(node: ast.FunctionDef) -> list[str]:
    """Positional parameters that have a default."""
    names = _positional(node)
    return names[len(names) - len(node.args.defaults) :]


def _required_keywords(node: ast.FunctionDef) -> list[str]:
    return [
        a.arg
        for a, default in zip(node.args.kwonlyargs, node.args.kw_defaults, strict=True)
        if default is None
    ]


def test_mirrored_modules_exist_in_both_backends() -> None:
    for backend in FOLDERS:
        missing = [m for m in MIRRORED if m not in _modules(backend)]
        assert not missing, f"{FOLDERS[backend]} lacks the mirrored modules {missing}"


def test_every_module_is_mirrored_or_listed() -> None:
    """A module in one backend folder only must be listed (with its reason) as backend-specific."""
    tf, torch = _modules("tf"), _modules("torch")
    unlisted_tf = sorted(tf - set(MIRRORED) - set(TF_ONLY))
    unlisted_torch = sorted(torch - set(MIRRORED) - set(TORCH_ONLY))
    assert not unlisted_tf, (
        f"ptycho/tf/ modules {unlisted_tf} are neither mirrored in ptycho_torch/ nor listed in "
        "TF_ONLY; mirror them or list them with the reason"
    )
    assert not unlisted_torch, (
        f"ptycho_torch/ modules {unlisted_torch} are neither mirrored in ptycho/tf/ nor listed in "
        "TORCH_ONLY; mirror them or list them with the reason"
    )
    stale = sorted((set(TF_ONLY) - tf) | (set(TORCH_ONLY) - torch))
    assert not stale, f"listed backend-specific modules that no longer exist: {stale}"
    both = sorted((set(TF_ONLY) | set(TORCH_ONLY)) & tf & torch)
    assert not both, f"{both} exist in both folders: move them to MIRRORED"


def test_only_fixed_name_entry_points_are_called_model() -> None:
    """The network is ``network`` in both backends; ``model`` is the Lightning entry point only."""
    named_model = sorted(
        f"{PACKAGES[b]}.{m}" for b in FOLDERS for m in _modules(b) if m.split(".")[-1] == "model"
    )
    assert named_model == ["ptycho_torch.model"]


@pytest.mark.parametrize("module", MIRRORED)
def test_shared_names_exist_in_both_modules(module: str) -> None:
    for backend in FOLDERS:
        missing = [n for n in SHARED_NAMES[module] if _definition(backend, module, n) is None]
        assert not missing, f"{PACKAGES[backend]}.{module} does not define {missing}"
        exported = _dunder_all(_tree(backend, module))
        if exported is not None:
            unexported = [n for n in SHARED_NAMES[module] if n not in exported]
            assert not unexported, f"{PACKAGES[backend]}.{module}.__all__ lacks {unexported}"


@pytest.mark.parametrize("module", MIRRORED)
def test_shared_functions_take_the_same_positional_parameters(module: str) -> None:
    """Same positional parameters in the same order; a backend's extras have defaults."""
    for name in SHARED_NAMES[module]:
        tf_def = _definition("tf", module, name)
        torch_def = _definition("torch", module, name)
        if not (isinstance(tf_def, ast.FunctionDef) and isinstance(torch_def, ast.FunctionDef)):
            continue
        where = f"{module}.{name}"
        short, long = sorted((tf_def, torch_def), key=lambda d: len(_positional(d)))
        common = len(_positional(short))
        assert _positional(long)[:common] == _positional(short), where
        extras = _positional(long)[common:]
        assert set(extras) <= set(_optional_positional(long)), f"{where}: {extras} need defaults"
        assert _required_keywords(tf_def) == _required_keywords(torch_def) == [], where
