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

#: The team's shared data folder (``../shared/data`` next to the checkout, or
#: ``$PTYCHOPINN_SHARED_DATA``); read-only, never copied into the repository.
SHARED_DATA = Path(os.environ.get("PTYCHOPINN_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
#: Skip reason of tests whose shared data file is absent (see ``shared_data_file``).
SHARED_DATA_ABSENT = "shared data absent"

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
    # A missing *dependency* must fail CI; the shared data folder is not installed by us (it is
    # provided next to the checkout), so a clone elsewhere reports those skips but passes.
    data_skips = [r for r in skipped if SHARED_DATA_ABSENT in str(r.longrepr)]
    skipped = [r for r in skipped if r not in data_skips]
    if data_skips and reporter is not None:
        reporter.write_line(
            f"PTYCHOPINN_FAIL_ON_SKIP: {len(data_skips)} real-data test(s) skipped because "
            f"{SHARED_DATA} is absent (set PTYCHOPINN_SHARED_DATA to run them)",
            yellow=True,
        )
    if skipped:
        reporter.write_line(
            f"PTYCHOPINN_FAIL_ON_SKIP: {len(skipped)} test(s) were skipped; in CI every "
            "dependency must be installed, so a skip is a failure",
            red=True,
        )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture
def siemens_star() -> Path:
    """The real Siemens-star scan in the shared data folder (the test skips when it is absent)."""
    path = SHARED_DATA / "siemens-star-small.npz.bz2"
    if not path.is_file():
        pytest.skip(f"{SHARED_DATA_ABSENT}: {path}")
    return path


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
