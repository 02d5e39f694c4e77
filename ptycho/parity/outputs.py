"""Writing a parity run's outputs: the figure ``parity.png``, ``parity.json`` and the report.

The three files are one output set (:func:`ptycho.atomic.atomic_output_set`): each is written to
a temporary file in the same directory, and only when all are complete are they renamed into place.
:func:`json_default` is also how the workers serialise their results.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ptycho.atomic import atomic_output_set
from ptycho.parity.reference import PHYSICS_ROWS
from ptycho.parity.report import report_markdown
from ptycho.parity.settings import LABELS, TOLERANCES, ParityResult

__all__ = ["json_default", "write_outputs"]


def _figure(path: Path, summary: Mapping[str, Any], data: Mapping[str, Any]) -> None:
    """``parity.png``: losses per epoch, physics and same-weights relative differences (log
    scale, with the tolerances), and the phase of the ground truth and both reconstructions."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(15, 9))
    tr = summary["same_training"]
    ax = axes[0, 0]
    for backend, colour in (("tensorflow", "tab:orange"), ("pytorch", "tab:blue")):
        hist = tr[backend]["history"]
        for key, style in (("loss", "-"), ("val_loss", "--")):
            values = hist.get(key) or []
            if values:
                ax.plot(
                    range(1, len(values) + 1),
                    values,
                    style,
                    color=colour,
                    label=f"{LABELS[backend]} {key}",
                    marker="o",
                    ms=3,
                )
    ax.set_xlabel("epoch")
    ax.set_ylabel("Poisson NLL")
    ax.set_title("same training: loss per epoch")
    ax.legend(fontsize=8)

    ax = axes[0, 1]
    names = [key for key, _ in PHYSICS_ROWS]
    pos = np.arange(len(names))
    bars = ((-0.2, "tensorflow", "tab:orange"), (0.2, "pytorch", "tab:blue"))
    for offset, backend, colour in bars:
        vals = [(summary["physics"][k].get(backend) or {}).get("rel", np.nan) for k in names]
        vals = [max(v, 1e-12) if v is not None and math.isfinite(v) else np.nan for v in vals]
        ax.bar(pos + offset, vals, width=0.4, color=colour, label=LABELS[backend])
    ax.axhline(TOLERANCES["physics"], color="red", ls="--", label="tolerance")
    ax.set_yscale("log")
    ax.set_xticks(pos)
    ax.set_xticklabels(names, rotation=60, ha="right", fontsize=8)
    ax.set_title("physics: relative difference to NumPy")
    ax.legend(fontsize=8)

    ax = axes[0, 2]
    labels, vals = [], []
    for direction, rows in summary["same_weights"].items():
        for key in ("object", "patches", "diffraction", "stitched"):
            labels.append(f"{direction}\n{key}")
            vals.append(max(rows[key]["rel"], 1e-12))
    ax.bar(np.arange(len(vals)), vals, color="tab:green")
    ax.axhline(TOLERANCES["same_weights"], color="red", ls="--", label="tolerance")
    ax.set_yscale("log")
    ax.set_xticks(np.arange(len(vals)))
    ax.set_xticklabels(labels, rotation=60, ha="right", fontsize=7)
    ax.set_title("same weights: relative difference")
    ax.legend(fontsize=8)

    truth = np.asarray(data["truth"])
    recons = summary["_recons"]
    images = [
        ("ground truth phase", truth),
        (
            f"TensorFlow phase (SSIM {tr['tensorflow']['metrics'].get('phase_ssim', np.nan):.3f})",
            recons["tensorflow"],
        ),
        (
            f"PyTorch phase (SSIM {tr['pytorch']['metrics'].get('phase_ssim', np.nan):.3f})",
            recons["pytorch"],
        ),
    ]
    for ax, (title, image) in zip(axes[1], images, strict=True):
        shown = ax.imshow(np.angle(image), cmap="viridis")
        ax.set_title(title, fontsize=9)
        ax.axis("off")
        fig.colorbar(shown, ax=ax, fraction=0.046)
    fig.suptitle(
        f"TensorFlow / PyTorch parity ({summary['settings']['size']}): "
        f"{'PASS' if summary['passed'] else 'FAIL'}"
    )
    fig.tight_layout()
    try:
        # the path may be a temporary file (no .png suffix): name the format
        fig.savefig(path, format="png", dpi=90)
    finally:
        plt.close(fig)


def write_outputs(out: Path, summary: dict[str, Any], data: Mapping[str, Any]) -> ParityResult:
    """Write ``parity.png``, ``parity.json`` (the summary without ``_``-keys) and
    ``parity_report.md`` into ``out``; returns the :class:`ParityResult`."""
    report = out / "parity_report.md"
    figure = out / "parity.png"
    json_path = out / "parity.json"
    public = {k: v for k, v in summary.items() if not k.startswith("_")}
    with atomic_output_set((figure, json_path, report)) as (figure_tmp, json_tmp, report_tmp):
        _figure(figure_tmp, summary, data)
        json_tmp.write_text(json.dumps(public, indent=1, default=json_default), encoding="utf-8")
        report_tmp.write_text(report_markdown(summary), encoding="utf-8")
    return ParityResult(
        passed=bool(summary["passed"]),
        checks=list(summary["checks"]),
        report_path=report,
        figure_path=figure,
        json_path=json_path,
        data=public,
    )


def json_default(value: object) -> object:
    """``json.dumps`` fallback: NumPy scalars and arrays as Python values, tuples as lists."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
