"""The command line of the parity harness: ``python -m ptycho.parity``.

Progress goes to stderr (logging); the verdict line and each failed check go to stdout.
Exit code 0 = PASS, 1 = FAIL, 2 = usage error or a backend could not run.
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from ptycho.parity.orchestrator import run_parity
from ptycho.parity.settings import SIZES

__all__ = ["build_parser", "main"]

logger = logging.getLogger(__name__)
#: The verdict and the failed checks: written to stdout while :func:`main` runs.
_results = logging.getLogger("ptycho.parity.result")


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface of ``python -m ptycho.parity``."""
    parser = argparse.ArgumentParser(
        prog="python -m ptycho.parity",
        description=(
            "Compare the TensorFlow and PyTorch backends on the same seeded data (physics, "
            "same weights, same training, speed); writes parity_report.md, parity.png and "
            "parity.json. Exit code 0 = PASS, 1 = FAIL, 2 = a backend could not run."
        ),
    )
    parser.add_argument("--output_dir", type=Path, help="directory for the report and figure")
    parser.add_argument(
        "--size",
        choices=sorted(SIZES),
        default="tiny",
        help="problem size: tiny (about a minute) or full (a few minutes); default tiny",
    )
    parser.add_argument(
        "--epochs",
        type=int,
        default=None,
        help="training epochs (>= 2; default 2 for tiny, 8 for full)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of everything (default 0)")
    parser.add_argument(
        "--timeout",
        type=float,
        default=1800.0,
        help="seconds each backend subprocess may run (default 1800)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code (0 PASS, 1 FAIL, 2 error)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.output_dir is None:
        parser.error("--output_dir is required")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    to_stdout = logging.StreamHandler(sys.stdout)
    to_stdout.setFormatter(logging.Formatter("%(message)s"))
    _results.addHandler(to_stdout)
    _results.setLevel(logging.INFO)
    _results.propagate = False
    try:
        try:
            result = run_parity(args.output_dir, args.size, args.epochs, args.seed, args.timeout)
        except (ValueError, PermissionError) as exc:
            parser.error(str(exc))
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            logger.error("parity run failed: %s", exc)
            return 2
        failed = [c for c in result.checks if not c["passed"]]
        _results.info(
            "parity %s (%d/%d checks): %s, %s",
            "PASS" if result.passed else "FAIL",
            len(result.checks) - len(failed),
            len(result.checks),
            result.report_path,
            result.figure_path,
        )
        for c in failed:
            _results.info(
                "  FAIL %s: %s = %.3e > %g", c["section"], c["name"], c["value"], c["tolerance"]
            )
        return 0 if result.passed else 1
    finally:
        _results.removeHandler(to_stdout)
