"""specs/hardening.md: the catalogue table and the tests agree.

Every HARD-0xx row names the tests that prove it; each named test file and test function
exists, and each ID is cited in the docstrings of the tests.
"""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SPEC = REPO / "specs" / "hardening.md"
TESTS = REPO / "tests"


def _rows() -> dict[str, str]:
    rows = {}
    for line in SPEC.read_text().splitlines():
        match = re.match(r"^\| (HARD-\d{3}) \|", line)
        if match:
            rows[match.group(1)] = line.rsplit("|", 2)[-2]
    return rows


def _resolve(name: str) -> Path:
    path = REPO / name
    if path.is_file():
        return path
    found = sorted(TESTS.rglob(Path(name).name))
    assert len(found) == 1, f"{name} names {len(found)} test files"
    return found[0]


def _cited(cell: str) -> list[tuple[Path, str | None]]:
    """(file, test name or None) for every backticked reference in a 'tests' cell."""
    cited: list[tuple[Path, str | None]] = []
    current: Path | None = None
    for token in re.findall(r"`([^`]+)`", cell):
        file_part, _, test = token.partition("::")
        if file_part.endswith(".py"):
            current = _resolve(file_part)
            cited.append((current, test or None))
        elif token.startswith("test_"):
            assert current is not None, f"{token} is cited before its file"
            cited.append((current, token))
    return cited


def test_catalogue_lists_hard_001_to_016_in_order() -> None:
    """The catalogue is one table with the IDs HARD-001 .. HARD-016."""
    assert list(_rows()) == [f"HARD-{i:03d}" for i in range(1, 17)]


def test_every_cited_test_exists() -> None:
    """Each test file and function named in the table exists."""
    for hard_id, cell in _rows().items():
        cited = _cited(cell)
        assert cited, f"{hard_id} names no test"
        for path, test in cited:
            if test is not None:
                assert re.search(rf"^def {test}\(", path.read_text(), re.MULTILINE), (
                    f"{hard_id}: {path.relative_to(REPO)} has no {test}"
                )


def test_every_id_is_cited_by_a_test_docstring() -> None:
    """Each HARD ID appears in the tests (the docstrings cite the requirement they prove)."""
    others = [p for p in TESTS.rglob("test_*.py") if p.name != Path(__file__).name]
    text = "\n".join(p.read_text() for p in others)
    for hard_id in _rows():
        assert hard_id in text, f"no test cites {hard_id}"
