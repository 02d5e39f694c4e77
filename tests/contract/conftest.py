"""Fixtures of the backend contract suite (see ``backends.py``)."""

from __future__ import annotations

import pytest

from ptycho.workflows.registry import backend_names
from tests.contract.backends import Backend, load_backend


@pytest.fixture(params=backend_names(), scope="module")
def backend(request: pytest.FixtureRequest) -> Backend:
    """Each registered backend in turn."""
    return load_backend(str(request.param))
