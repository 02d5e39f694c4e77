"""Both real backends implement the one backend contract (ARCH-015, issue 12).

Every operation of :class:`ptycho.backend.BackendAPI` exists in both API modules with the
protocol's parameters (same names, kinds and defaults); a backend may add parameters only with a
default. The legacy workflow modules expose the same functions with the same parameters, so the
dispatcher calls them without knowing which backend it has.
"""

from __future__ import annotations

import inspect

import pytest

from ptycho.backend import BACKEND_OPERATIONS, BackendAPI
from ptycho.workflows.registry import backend_names, get_backend, get_workflows

pytest.importorskip("tensorflow")
pytest.importorskip("torch")

WORKFLOW_FUNCTIONS = ("train", "train_cdi_model", "run_cdi_example")


def _protocol_signature(name: str) -> inspect.Signature:
    signature = inspect.signature(getattr(BackendAPI, name))
    params = list(signature.parameters.values())[1:]  # drop self
    return signature.replace(parameters=params)


def _assert_accepts(function: object, expected: inspect.Signature, where: str) -> None:
    actual = inspect.signature(function)  # type: ignore[arg-type]
    for param in expected.parameters.values():
        assert param.name in actual.parameters, f"{where} lacks parameter {param.name!r}"
        got = actual.parameters[param.name]
        assert got.kind == param.kind, f"{where}: {param.name!r} is {got.kind}, not {param.kind}"
        assert got.default == param.default, f"{where}: default of {param.name!r} differs"
    extra = [p for p in actual.parameters.values() if p.name not in expected.parameters]
    for param in extra:
        assert param.default is not inspect.Parameter.empty or param.kind in (
            inspect.Parameter.VAR_POSITIONAL,
            inspect.Parameter.VAR_KEYWORD,
        ), f"{where}: extra parameter {param.name!r} has no default"


def _positional(signature: inspect.Signature) -> list[str]:
    keyword_only = inspect.Parameter.KEYWORD_ONLY
    return [p.name for p in signature.parameters.values() if p.kind is not keyword_only]


@pytest.mark.parametrize("backend", backend_names())
def test_backend_api_module_implements_every_operation(backend: str) -> None:
    api = get_backend(backend)
    assert isinstance(api, BackendAPI)
    assert api.BACKEND == backend
    for operation in BACKEND_OPERATIONS:
        if operation == "BACKEND":
            continue
        _assert_accepts(
            getattr(api, operation), _protocol_signature(operation), f"{backend}.{operation}"
        )


def test_workflow_modules_have_the_same_functions_and_parameters() -> None:
    tf_workflows, torch_workflows = (get_workflows(name) for name in backend_names())
    for name in WORKFLOW_FUNCTIONS:
        reference = inspect.signature(getattr(tf_workflows, name))
        other = inspect.signature(getattr(torch_workflows, name))
        _assert_accepts(getattr(torch_workflows, name), reference, f"pytorch workflows.{name}")
        _assert_accepts(getattr(tf_workflows, name), other, f"tensorflow workflows.{name}")
        assert _positional(reference) == _positional(other), f"{name}: positional parameters differ"
