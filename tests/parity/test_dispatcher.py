"""The dispatcher (design D7/D8, issue 5): routing, import isolation, errors, conversion on load.

Import isolation and missing packages are checked in fresh interpreters (``subprocess``), so the
state of this test process never matters.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from ptycho import params
from ptycho.config.config import ModelConfig, PyTorchExecutionConfig, TrainingConfig
from ptycho.weights import expected_weight_shapes
from ptycho.workflows import backend_selector
from ptycho.workflows.backend_selector import (
    INSTALL_COMMANDS,
    get_backend,
    load_inference_bundle_with_backend,
    validate_backend,
)

REPO = Path(__file__).resolve().parents[2]
CONFIG = ModelConfig(N=64, gridsize=2, n_filters_scale=1)


def _python(code: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, OMP_NUM_THREADS="2", TF_CPP_MIN_LOG_LEVEL="2")
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _last_json(proc: subprocess.CompletedProcess[str]) -> Any:
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------------------------
# Unknown and missing backends
# ------------------------------------------------------------------------------------------------


def test_unknown_backend_is_a_value_error_listing_the_choices(tmp_path: Path) -> None:
    """D7: an unknown backend name is a ValueError that lists 'tensorflow' and 'pytorch'."""
    for call in (
        lambda: validate_backend("jax"),
        lambda: get_backend("jax"),
        lambda: load_inference_bundle_with_backend(tmp_path, backend="jax"),
        lambda: backend_selector.convert_bundle_to_backend(SimpleNamespace(backend="x"), "jax"),
    ):
        with pytest.raises(ValueError, match=r"unknown backend 'jax'.*'tensorflow', 'pytorch'"):
            call()


@pytest.mark.parametrize(
    ("backend", "blocked", "label"),
    [
        ("pytorch", "torch", "PyTorch"),
        ("pytorch", "lightning", "PyTorch"),
        ("tensorflow", "tensorflow", "TensorFlow"),
    ],
)
def test_missing_backend_package_is_a_runtime_error_with_the_install_command(
    backend: str, blocked: str, label: str
) -> None:
    """D7 / issue 4 item 6: selecting a backend whose package is missing fails fast with the
    exact pip command, through every dispatcher entry point (import blocked in a subprocess)."""
    proc = _python(
        f"""
        import json, sys
        sys.modules[{blocked!r}] = None  # the package cannot be imported
        from ptycho.config.config import TrainingConfig
        from ptycho.workflows import backend_selector as bs
        messages = []
        config = TrainingConfig(backend={backend!r})
        calls = [
            lambda: bs.get_backend({backend!r}),
            lambda: bs.load_inference_bundle_with_backend('unused.h5.zip', backend={backend!r}),
            lambda: bs.run_cdi_example_with_backend(None, None, config),
            lambda: bs.train_cdi_model_with_backend(None, None, config),
        ]
        for call in calls:
            try:
                call()
            except RuntimeError as exc:
                messages.append(str(exc))
        print(json.dumps(messages))
        """
    )
    messages = _last_json(proc)
    assert len(messages) == 4
    for message in messages:
        assert f"{label} backend selected" in message
        assert INSTALL_COMMANDS[backend] in message
        assert blocked in message


# ------------------------------------------------------------------------------------------------
# Routing of the workflow API (no framework needed: the workflow module is replaced)
# ------------------------------------------------------------------------------------------------


class _FakeComponents:
    """Records which workflow function the dispatcher called and what params.cfg held then."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any], tuple[Any, ...], dict[str, Any]]] = []

    def _record(self, name: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        self.calls.append((name, dict(params.cfg), args, kwargs))
        return {"history": {"loss": [1.0]}}

    def train_cdi_model(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return self._record("train_cdi_model", *args, **kwargs)

    def run_cdi_example(self, *args: Any, **kwargs: Any) -> tuple[Any, Any, dict[str, Any]]:
        return "amp", "phase", self._record("run_cdi_example", *args, **kwargs)


@pytest.fixture
def fake_workflows(monkeypatch: pytest.MonkeyPatch) -> dict[str, _FakeComponents]:
    fakes = {"tensorflow": _FakeComponents(), "pytorch": _FakeComponents()}
    monkeypatch.setattr(backend_selector, "get_workflows", lambda name: fakes[name])
    params.reset()
    yield fakes
    params.reset()


@pytest.mark.parametrize("backend", ["tensorflow", "pytorch"])
def test_run_cdi_example_routes_on_config_backend_after_the_legacy_bridge(
    fake_workflows: dict[str, _FakeComponents], backend: str
) -> None:
    """CONFIG-001 / D7: params.cfg is updated before the backend runs; results name the backend."""
    config = TrainingConfig(model=ModelConfig(N=128, gridsize=2), nepochs=7, backend=backend)
    execution = PyTorchExecutionConfig(accelerator="cpu")
    amp, phase, results = backend_selector.run_cdi_example_with_backend(
        "train", "test", config, M=12, torch_execution_config=execution
    )
    ((name, cfg, args, kwargs),) = fake_workflows[backend].calls
    assert fake_workflows["tensorflow" if backend == "pytorch" else "pytorch"].calls == []
    assert name == "run_cdi_example" and (amp, phase) == ("amp", "phase")
    assert results["backend"] == backend
    assert cfg["N"] == 128 and cfg["gridsize"] == 2 and cfg["nepochs"] == 7
    assert args[:3] == ("train", "test", config)
    # the same call for every backend (one workflow contract); TensorFlow ignores the execution
    assert kwargs["execution_config"] is execution and kwargs["M"] == 12


@pytest.mark.parametrize("backend", ["tensorflow", "pytorch"])
def test_train_cdi_model_routes_on_config_backend(
    fake_workflows: dict[str, _FakeComponents], backend: str
) -> None:
    """D7: train_cdi_model_with_backend calls only the selected backend's workflow."""
    config = TrainingConfig(nepochs=3, backend=backend)
    results = backend_selector.train_cdi_model_with_backend("train", None, config)
    ((name, cfg, _, _),) = fake_workflows[backend].calls
    assert name == "train_cdi_model" and cfg["nepochs"] == 3 and results["backend"] == backend


def test_lightning_checkpoint_cannot_be_loaded_by_tensorflow(tmp_path: Path) -> None:
    """Issue 5: a .ckpt (torch-only format) asked of TensorFlow gets an error naming the fix; a
    directory without an archive is FileNotFoundError."""
    pytest.importorskip("tensorflow")
    with pytest.raises(ValueError, match="checkpoint, which only the pytorch backend reads"):
        load_inference_bundle_with_backend(tmp_path / "last.ckpt", backend="tensorflow")
    with pytest.raises(FileNotFoundError, match="no model archive found"):
        load_inference_bundle_with_backend(tmp_path, backend="tensorflow")


# ------------------------------------------------------------------------------------------------
# Import isolation and conversion on load, in fresh interpreters
# ------------------------------------------------------------------------------------------------

_MAKE_ARCHIVE = """
    import json, sys
    import numpy as np
    from ptycho.config.config import ModelConfig, TrainingConfig
    from ptycho.workflows.backend_selector import get_backend
    backend, weights_path, out = sys.argv[1], sys.argv[2], sys.argv[3]
    model = ModelConfig(N=64, gridsize=2, n_filters_scale=1)
    with np.load(weights_path) as f:
        weights = {k.replace('|', '/'): f[k] for k in f.files}
    probe = (weights['probe_real'] + 1j * weights['probe_imag']).astype(np.complex64)
    scale = float(np.exp(weights['log_intensity_scale']))
    api = get_backend(backend)
    bundle = api.bundle_from_weights(
        model, TrainingConfig(model=model, backend=backend), weights, probe, scale)
    api.save_bundle(bundle, out)
    print(json.dumps(bundle.backend))
"""

_LOAD_BOTH = """
    import json, sys
    import numpy as np
    from ptycho.loader import container_from_raw
    from ptycho.simulation import simulate_dataset
    from ptycho.workflows.backend_selector import get_backend, load_inference_bundle_with_backend
    backend, tf_archive, torch_archive, out = sys.argv[1:5]
    api = get_backend(backend)
    raw = simulate_dataset(N=64, n_positions=16, nphotons=1e6, seed=3).raw
    container = container_from_raw(raw, 64, gridsize=2, n_groups=8, K=4, seed=0)
    bundles = {
        'tensorflow': load_inference_bundle_with_backend(tf_archive, backend=backend),
        'pytorch': load_inference_bundle_with_backend(torch_archive, backend=backend),
    }
    np.savez(out, **{k: api.predict_patches(b, container) for k, b in bundles.items()})
    heavy = ('tensorflow', 'keras', 'torch', 'lightning')
    print(json.dumps({
        'loaded': sorted(m for m in heavy if m in sys.modules),
        'backends': {k: b.backend for k, b in bundles.items()},
        'scales': {k: b.intensity_scale for k, b in bundles.items()},
    }))
"""


def _canonical_weights(seed: int) -> dict[str, np.ndarray]:
    """Glorot-scaled random canonical weights, a normalised probe and log(s)."""
    from ptycho.probe import default_probe, normalize_probe

    rng = np.random.default_rng(seed)
    weights = {}
    for name, shape in expected_weight_shapes(CONFIG).items():
        if name.endswith("/kernel"):
            limit = np.sqrt(6.0 / (9 * shape[2] + 9 * shape[3]))
            weights[name] = rng.uniform(-limit, limit, size=shape).astype(np.float32)
        elif name.endswith("/bias"):
            weights[name] = rng.normal(0.0, 0.05, size=shape).astype(np.float32)
    probe = normalize_probe(default_probe(64), 4.0)
    weights["probe_real"] = probe.real.astype(np.float32)
    weights["probe_imag"] = probe.imag.astype(np.float32)
    weights["log_intensity_scale"] = np.asarray(np.log(31.25), dtype=np.float32)
    return weights


@pytest.fixture(scope="module")
def loaded_by_each_backend(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Archives of both backends holding the same weights, each loaded by both backends, each
    backend in its own fresh interpreter."""
    work = tmp_path_factory.mktemp("selector")
    weights_path = work / "weights.npz"
    np.savez(weights_path, **{k.replace("/", "|"): v for k, v in _canonical_weights(7).items()})
    archives = {b: work / f"{b}.h5.zip" for b in ("tensorflow", "pytorch")}
    for backend, path in archives.items():
        code = _MAKE_ARCHIVE
        assert (
            _last_json(
                subprocess.run(
                    [
                        sys.executable,
                        "-c",
                        textwrap.dedent(code),
                        backend,
                        str(weights_path),
                        str(path),
                    ],
                    cwd=REPO,
                    capture_output=True,
                    text=True,
                    timeout=600,
                    check=False,
                    env=dict(os.environ, OMP_NUM_THREADS="2", TF_CPP_MIN_LOG_LEVEL="2"),
                )
            )
            == backend
        )
    results: dict[str, Any] = {}
    for backend in ("tensorflow", "pytorch"):
        out = work / f"pred_{backend}.npz"
        proc = subprocess.run(
            [
                sys.executable,
                "-c",
                textwrap.dedent(_LOAD_BOTH),
                backend,
                str(archives["tensorflow"]),
                str(archives["pytorch"]),
                str(out),
            ],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
            env=dict(os.environ, OMP_NUM_THREADS="2", TF_CPP_MIN_LOG_LEVEL="2"),
        )
        info = _last_json(proc)
        with np.load(out) as f:
            info["predictions"] = {k: f[k] for k in f.files}
        results[backend] = info
    return results


@pytest.mark.integration
def test_selecting_tensorflow_never_imports_torch(loaded_by_each_backend: dict[str, Any]) -> None:
    """D8: loading (and converting) archives with backend='tensorflow' imports no torch."""
    info = loaded_by_each_backend["tensorflow"]
    assert "torch" not in info["loaded"] and "lightning" not in info["loaded"]
    assert "tensorflow" in info["loaded"]
    assert info["backends"] == {"tensorflow": "tensorflow", "pytorch": "tensorflow"}


@pytest.mark.integration
def test_selecting_pytorch_never_imports_tensorflow(loaded_by_each_backend: dict[str, Any]) -> None:
    """D8: loading (and converting) archives with backend='pytorch' imports no tensorflow."""
    info = loaded_by_each_backend["pytorch"]
    assert "tensorflow" not in info["loaded"] and "keras" not in info["loaded"]
    assert "torch" in info["loaded"]
    assert info["backends"] == {"tensorflow": "pytorch", "pytorch": "pytorch"}


@pytest.mark.integration
def test_an_archive_of_either_backend_predicts_the_same_patches_in_both(
    loaded_by_each_backend: dict[str, Any],
) -> None:
    """Issue 5: the same weights archived by either backend give the same object patches in
    either backend (converted on load), to float32 precision."""
    predictions = [
        loaded_by_each_backend[loader]["predictions"][writer]
        for loader in ("tensorflow", "pytorch")
        for writer in ("tensorflow", "pytorch")
    ]
    reference = predictions[0]
    assert reference.shape == (8, 64, 64, 1) and np.all(np.isfinite(reference))
    scale = float(np.abs(reference).max())
    assert scale > 0
    for other in predictions[1:]:
        assert float(np.abs(other - reference).max()) <= 1e-4 * scale
    for loader in ("tensorflow", "pytorch"):
        scales = loaded_by_each_backend[loader]["scales"]
        assert scales["tensorflow"] == pytest.approx(31.25, rel=1e-6)
        assert scales["pytorch"] == pytest.approx(31.25, rel=1e-6)
