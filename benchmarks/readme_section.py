"""Replace one ``## ...`` section of ``benchmarks/README.md`` with fresh figures (atomically).

Shared by ``bench_tf.py`` and ``bench_torch.py`` (``--readme PATH``).
"""

from __future__ import annotations

from pathlib import Path

from ptycho.atomic import atomic_write_text


def replace_section(path: Path, heading: str, section: str) -> None:
    """Replace the section that starts with the line ``heading`` (or append it) in ``path``."""
    text = path.read_text() if path.is_file() else "# Benchmarks\n\n"
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.rstrip() == heading), None)
    if start is None:
        new = text.rstrip("\n") + "\n\n" + section
    else:
        end = next(
            (i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines)
        )
        rest = "".join(lines[end:])
        new = "".join(lines[:start]) + section + ("\n" + rest if rest else "")
    atomic_write_text(path, new)
