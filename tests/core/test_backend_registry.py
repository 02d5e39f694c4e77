"""The backend registry (ARCH-015): one contract, selected by name, checked once.

Framework-free: the real backends are never imported here; fake backend modules written to
``tmp_path`` stand in for them (the real ones are checked in tests/parity/test_backend_contract.py).
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ptycho.backend import BACKEND_OPERATIONS, BACKENDS, BackendAPI
from ptycho.workflows import registry
from ptycho.workflows.registry import BackendSpec

REPO = Path(__file__).resolve().parents[2]

_FAKE_API = """
BACKEND = {name!r}


def train(train, config, *, validation=None, on_epoch_end=None, execution=None, initial=None,
          verbose=0, output_dir=None):
    return "trained"


def predict_patches(bundle, container, batch_size=64, *, probe=None, precision="float32"):
    return None


def reconstruct(bundle, raw, inference_config, *, M=20):
    return None


def save_bundle(bundle, path):
    return None


def load_bundle(path):
    return None


def weights_of(bundle):
    return {{}}


def bundle_from_weights(model_config, training_config, weights, probe, intensity_scale):
    return None
"""


@pytest.fixture
def fake_modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A directory on sys.path for fake backend modules; the registry is restored afterwards."""
    monkeypatch.syspath_prepend(str(tmp_path))
    saved = dict(registry._REGISTRY)
    saved_checked = dict(registry._CHECKED)
    yield tmp_path
    registry._REGISTRY.clear()
    registry._REGISTRY.update(saved)
    registry._CHECKED.clear()
    registry._CHECKED.update(saved_checked)
    for name in [m for m in sys.modules if m.startswith("fakebackend_")]:
        del sys.modules[name]


def _spec(name: str, **kwargs: object) -> BackendSpec:
    fields: dict[str, object] = {
        "name": name,
        "label": name.title(),
        "api_module": f"fakebackend_{name}_api",
        "workflow_module": f"fakebackend_{name}_workflows",
        "packages": (),
        "install_command": f"pip install {name}",
        "physics_module": f"fakebackend_{name}_physics",
        "tensors_module": f"fakebackend_{name}_tensors",
    }
    fields.update(kwargs)
    return BackendSpec(**fields)  # type: ignore[arg-type]


def test_every_configurable_backend_name_is_registered() -> None:
    """The names configs accept (ptycho.backend.BACKENDS) are exactly the built-in backends."""
    assert set(BACKENDS) == set(registry.backend_names())
    assert registry.backend_names()[0] == "tensorflow"  # the default when nothing says otherwise


def test_unknown_backend_name_lists_the_choices() -> None:
    with pytest.raises(ValueError, match=r"unknown backend 'jax'; choose one of 'tensorflow'"):
        registry.get_backend("jax")
    with pytest.raises(ValueError, match="unknown backend None"):
        registry.validate_backend(None)


def test_a_registered_backend_is_reached_by_name_with_its_workflows(fake_modules: Path) -> None:
    (fake_modules / "fakebackend_demo_api.py").write_text(_FAKE_API.format(name="demo"))
    workflows = "def train(*args, **kwargs):\n    return 1\n"
    (fake_modules / "fakebackend_demo_workflows.py").write_text(workflows)
    registry.register_backend(_spec("demo"))
    api = registry.get_backend("demo")
    assert isinstance(api, BackendAPI)  # every operation of the protocol is there
    assert api.train(None, None) == "trained"
    assert registry.get_workflows("demo").train() == 1
    assert registry.get_backend("demo") is api  # imported and checked once


def test_a_backend_missing_operations_is_rejected_naming_them(fake_modules: Path) -> None:
    source = _FAKE_API.format(name="partial").replace("def weights_of", "def _weights_of")
    source = source.replace("def reconstruct(", "def _reconstruct(")
    (fake_modules / "fakebackend_partial_api.py").write_text(source)
    registry.register_backend(_spec("partial"))
    with pytest.raises(RuntimeError, match=r"missing reconstruct, weights_of"):
        registry.get_backend("partial")


def test_a_backend_whose_module_names_another_backend_is_rejected(fake_modules: Path) -> None:
    (fake_modules / "fakebackend_twin_api.py").write_text(_FAKE_API.format(name="other"))
    registry.register_backend(_spec("twin"))
    with pytest.raises(RuntimeError, match=r"BACKEND is 'other', but it is registered as 'twin'"):
        registry.get_backend("twin")


def test_a_backend_with_a_missing_package_names_the_install_command(fake_modules: Path) -> None:
    registry.register_backend(_spec("needy", packages=("no_such_package_xyz",)))
    with pytest.raises(RuntimeError) as info:
        registry.get_backend("needy")
    message = str(info.value)
    assert "Needy backend selected (backend='needy')" in message
    assert "no_such_package_xyz is not installed" in message
    assert message.endswith("install it with: pip install needy")


def test_backend_names_must_be_identifiers() -> None:
    with pytest.raises(ValueError, match="identifier"):
        registry.register_backend(_spec("two words"))


def test_the_protocol_lists_every_operation() -> None:
    """BACKEND_OPERATIONS (what the registry checks) is exactly the protocol's members."""
    members = {
        node.name if isinstance(node, ast.FunctionDef) else node.target.id  # type: ignore[union-attr]
        for cls in ast.parse((REPO / "ptycho" / "backend.py").read_text()).body
        if isinstance(cls, ast.ClassDef) and cls.name == "BackendAPI"
        for node in cls.body
        if isinstance(node, ast.FunctionDef)
        or (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name))
    }
    assert members == set(BACKEND_OPERATIONS)


_DISPATCH_FILES = [
    *sorted((REPO / "ptycho" / "workflows").glob("*.py")),
    *sorted((REPO / "ptycho" / "cli").glob("*.py")),
    REPO / "ptycho" / "model_manager.py",
    *sorted((REPO / "ptycho_reconstructor").glob("*.py")),
]


@pytest.mark.parametrize("path", _DISPATCH_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_dispatch_code_never_branches_on_a_backend_name(path: Path) -> None:
    """What differs between backends lives in their BackendSpec, not in `if name == ...`."""
    if path.name == "registry.py":
        return  # the one place that names the backends
    offenders = [
        f"line {node.lineno}"
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Compare)
        and any(
            isinstance(part, ast.Constant) and part.value in BACKENDS
            for part in [node.left, *node.comparators]
        )
    ]
    assert not offenders, f"{path.name} compares with a backend name at {', '.join(offenders)}"


def test_only_backends_that_read_it_get_an_execution_config() -> None:
    """uses_execution_config: the PyTorch backend's train reads a PyTorchExecutionConfig, the
    TensorFlow backend's ignores it, and a new backend reads none unless it says so."""
    assert registry.backend_spec("pytorch").uses_execution_config
    assert not registry.backend_spec("tensorflow").uses_execution_config
    assert not _spec("newcomer").uses_execution_config


def test_the_adapter_builds_an_execution_config_only_where_the_registry_says(
    fake_modules: Path,
) -> None:
    """The adapter asks the registry, not the backend's name, whether to read the execution
    settings (a bad Accelerator setting must not stop a backend that ignores it)."""
    pytest.importorskip("ptychodus")
    from ptychodus.api.settings import SettingsRegistry

    from ptycho.config.config import PyTorchExecutionConfig
    from ptycho_reconstructor.reconstructors import execution_config_for
    from ptycho_reconstructor.settings import PtychoPINNxSettings

    settings = PtychoPINNxSettings(SettingsRegistry())
    registry.register_backend(_spec("reads", uses_execution_config=True))
    registry.register_backend(_spec("ignores"))
    assert isinstance(execution_config_for(settings, "reads"), PyTorchExecutionConfig)
    assert execution_config_for(settings, "ignores") is None
    settings.execution.accelerator.set_value("tpu")
    with pytest.raises(ValueError, match="Accelerator"):
        execution_config_for(settings, "reads")
    assert execution_config_for(settings, "ignores") is None


def test_a_package_removed_after_the_first_import_is_still_reported(
    fake_modules: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The protocol check is cached, the package check is not (a missing package must never
    turn into a traceback from inside the backend)."""
    (fake_modules / "fakebackend_cached_api.py").write_text(_FAKE_API.format(name="cached"))
    (fake_modules / "fakebackend_dep.py").write_text("")
    registry.register_backend(_spec("cached", packages=("fakebackend_dep",)))
    registry.get_backend("cached")
    monkeypatch.setitem(sys.modules, "fakebackend_dep", None)  # `import fakebackend_dep` fails
    with pytest.raises(RuntimeError, match="fakebackend_dep is not installed"):
        registry.get_backend("cached")
