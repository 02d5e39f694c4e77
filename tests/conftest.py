"""Shared pytest configuration.

- Puts the repository root first on ``sys.path`` so the checkout (not an older installed copy)
  is tested.
- Marks tests by directory (``tf``, ``torch``, ``ptychodus``).
- With ``PTYCHOPINN_FAIL_ON_SKIP=1`` (set by ``.ci/run``) every skipped test fails the run, so a
  missing dependency can never hide behind a skip.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

SHARED_DATA = REPO_ROOT.parent / "shared" / "data"

_DIRECTORY_MARKERS = {"tf": "tf", "torch": "torch", "reconstructor": "ptychodus"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        parts = Path(str(item.fspath)).relative_to(REPO_ROOT).parts
        if len(parts) > 1 and parts[0] == "tests" and parts[1] in _DIRECTORY_MARKERS:
            item.add_marker(getattr(pytest.mark, _DIRECTORY_MARKERS[parts[1]]))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if os.environ.get("PTYCHOPINN_FAIL_ON_SKIP") != "1":
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter is not None else []
    if skipped:
        reporter.write_line(
            f"PTYCHOPINN_FAIL_ON_SKIP: {len(skipped)} test(s) were skipped; in CI every "
            "dependency must be installed, so a skip is a failure",
            red=True,
        )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture
def repo_root() -> Path:
    """The repository root (for subprocess tests: use as PYTHONPATH)."""
    return REPO_ROOT


@pytest.fixture
def subprocess_env(tmp_path: Path) -> dict[str, str]:
    """Environment for CLI subprocess tests: the checkout on PYTHONPATH, few threads."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")]).rstrip(
        os.pathsep
    )
    env.setdefault("OMP_NUM_THREADS", "2")
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    env["MPLBACKEND"] = "Agg"
    return env
