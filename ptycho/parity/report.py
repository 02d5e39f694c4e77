"""The Markdown report of a parity run (``parity_report.md``), from the evaluated summary."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ptycho.parity.reference import PHYSICS_ROWS
from ptycho.parity.settings import BACKENDS, LABELS

__all__ = ["report_markdown"]


def _fmt(value: float | None, spec: str = ".2e") -> str:
    """``value`` formatted with ``spec``; ``'n/a'`` for None or a non-finite float."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return format(value, spec)


def report_markdown(summary: Mapping[str, Any]) -> str:
    """The Markdown report ``parity_report.md`` of a summary from
    :func:`ptycho.parity.evaluate.evaluate` (with ``total_wall_s`` added)."""
    s = summary["settings"]
    env = summary["environment"]
    tol = summary["tolerances"]
    verdict = "PASS" if summary["passed"] else "FAIL"
    failed = [c for c in summary["checks"] if not c["passed"]]
    lines = [
        f"# TensorFlow / PyTorch parity report: {verdict}",
        "",
        f"Size `{s['size']}`: N={s['N']}, gridsize={s['gridsize']}, "
        f"n_filters_scale={s['n_filters_scale']}, {summary['n_groups']['train']} training groups "
        f"+ {summary['n_groups']['val']} validation groups (from {s['n_train_positions']} "
        f"positions), {summary['n_groups']['test']} test groups of an unseen object, "
        f"nphotons={s['nphotons']:g}, batch {s['batch_size']}, {s['epochs']} epochs, "
        f"learning rate {s['learning_rate']:g}, seed {summary['seed']}.",
        "",
        f"Machine: {env['machine']}, {env['cpu_count']} CPUs, OMP_NUM_THREADS="
        f"{env['OMP_NUM_THREADS']}, OMP_WAIT_POLICY={env['OMP_WAIT_POLICY']}, 1-minute load "
        f"average at the start of each worker {env['load_average_1min']}, Python "
        f"{env['python']}; TensorFlow "
        f"{env['tensorflow'].get('version', '?')} ({env['tensorflow'].get('threads', '?')}), "
        f"torch {env['pytorch'].get('version', '?')} ({env['pytorch'].get('threads', '?')} "
        "threads). Each backend ran in its own subprocess; foreign framework imported by a "
        f"worker: {env['foreign_imports']}. Total {summary['total_wall_s']:.0f} s.",
        "",
        "| check | tolerance | result |",
        "|---|---|---|",
        f"| physics vs NumPy reference (relative) | <= {tol['physics']:g} | "
        f"{_section_verdict(summary, 'physics')} |",
        f"| same weights, converted (relative) | <= {tol['same_weights']:g} | "
        f"{_section_verdict(summary, 'same_weights')} |",
        f"| same training, SSIM difference | <= {tol['ssim']:g} | "
        f"{_section_verdict(summary, 'same_training')} |",
        "",
    ]
    if failed:
        lines += ["Failed checks:", ""]
        lines += [
            f"- {c['section']}: {c['name']} = {c['value']:.3e} > {c['tolerance']:g}" for c in failed
        ]
        lines.append("")
    lines += [
        "## 1. Physics: NumPy reference (float64) vs each backend (float32)",
        "",
        "Relative = max|backend - reference| / max|reference|.",
        "",
        "| operation | TF max abs | TF relative | torch max abs | torch relative |",
        "|---|---|---|---|---|",
    ]
    for key, title in PHYSICS_ROWS:
        row = summary["physics"][key]
        tf_row = row.get("tensorflow") or {}
        pt_row = row.get("pytorch") or {}
        lines.append(
            f"| {title} | {_fmt(tf_row.get('max_abs'))} | {_fmt(tf_row.get('rel'))} | "
            f"{_fmt(pt_row.get('max_abs'))} | {_fmt(pt_row.get('rel'))} |"
        )
    lines += [
        "",
        "n/a: the TensorFlow backend has no whole-object patch extraction (its model only "
        "re-extracts from group canvases). Stitching is one NumPy implementation shared by both "
        "backends; its row propagates each backend's re-extracted patches through it.",
        "",
        "## 2. Same weights, converted through the model archive",
        "",
        "`tf_to_torch`: initialised by TensorFlow, saved, loaded by PyTorch through the "
        "converter; `torch_to_tf` the other way. Relative to the native backend's output.",
        "",
        "| direction | output | max abs | relative |",
        "|---|---|---|---|",
    ]
    for label, rows in summary["same_weights"].items():
        for key, title in (
            ("object", "object at group centre (B,N,N,1)"),
            ("patches", "per-channel object patches (B,N,N,C)"),
            ("diffraction", "predicted diffraction s*A (B,N,N,C)"),
            ("stitched", "stitched test object"),
        ):
            lines.append(
                f"| {label} | {title} | {_fmt(rows[key]['max_abs'])} | {_fmt(rows[key]['rel'])} |"
            )
    tr = summary["same_training"]
    tf_h, pt_h = tr["tensorflow"]["history"], tr["pytorch"]["history"]
    if summary["n_groups"]["train"] <= s["batch_size"]:
        order = "one batch per epoch, so the data order cannot differ"
    elif tr.get("same_data_order"):
        order = (
            "identical: the TensorFlow trainer's per-epoch numpy permutation (seed "
            f"{summary['seed']}), given to the PyTorch data module by the harness"
        )
    else:
        order = "each backend's own seeded shuffle (orders differ)"
    lines += [
        "",
        "## 3. Same training",
        "",
        "Both start from the TensorFlow initialisation (PyTorch gets it through the converter), "
        "train on the same groups with the same validation groups, Poisson NLL, Adam, constant "
        f"learning rate; data order: {order}.",
        "",
        "| epoch | TF loss | torch loss | TF val_loss | torch val_loss |",
        "|---|---|---|---|---|",
    ]
    for i in range(max(len(tf_h.get("loss", [])), len(pt_h.get("loss", [])))):
        vals = [
            (h.get(k) or [])[i] if i < len(h.get(k) or []) else None
            for k in ("loss", "val_loss")
            for h in (tf_h, pt_h)
        ]
        lines.append(
            f"| {i + 1} | {_fmt(vals[0], '.6g')} | {_fmt(vals[1], '.6g')} | "
            f"{_fmt(vals[2], '.6g')} | {_fmt(vals[3], '.6g')} |"
        )
    lines += [
        "",
        "Test reconstruction (stitched, central N/2 of each patch, scanned region) vs ground "
        "truth:",
        "",
        "| backend | amp SSIM | amp PSNR (dB) | phase SSIM | phase PSNR (dB) | FRC 0.5 (cyc/px) |",
        "|---|---|---|---|---|---|",
    ]
    for backend in BACKENDS:
        m = tr[backend]["metrics"]
        lines.append(
            f"| {LABELS[backend]} | {_fmt(m.get('amp_ssim'), '.4f')} | "
            f"{_fmt(m.get('amp_psnr'), '.2f')} | {_fmt(m.get('phase_ssim'), '.4f')} | "
            f"{_fmt(m.get('phase_psnr'), '.2f')} | {_fmt(m.get('frc50'), '.3f')} |"
        )
    lines += [
        "",
        f"Relative difference of the two stitched reconstructions: "
        f"{_fmt(tr['recon_difference']['rel'])}.",
        "",
        "## 4. Speed (same machine, same run)",
        "",
        "| backend | training groups/s (after epoch 1) | first epoch s | inference groups/s "
        "(predict + stitch) | patterns/s |",
        "|---|---|---|---|---|",
    ]
    for backend in BACKENDS:
        sp = summary["speed"][backend]
        lines.append(
            f"| {LABELS[backend]} | {_fmt(sp.get('train_groups_per_s'), '.1f')} | "
            f"{_fmt(sp.get('first_epoch_s'), '.1f')} | "
            f"{_fmt(sp.get('inference_groups_per_s'), '.1f')} | "
            f"{_fmt(sp.get('inference_patterns_per_s'), '.1f')} |"
        )
    lines += [
        "",
        "The two backends ran one after the other on the same machine; on a shared machine the "
        "load average above says how comparable the figures are (torch's OpenMP threads "
        "spin-wait by default and slow down far more than TensorFlow's thread pool when the "
        "cores are oversubscribed; `OMP_WAIT_POLICY=PASSIVE` avoids that).",
        "",
        "Figure: `parity.png`. Every number: `parity.json`.",
        "",
    ]
    return "\n".join(lines)


def _section_verdict(summary: Mapping[str, Any], section: str) -> str:
    """``'PASS (worst ...)'`` / ``'FAIL (worst ...)'`` of a section's checks, or ``'not run'``."""
    rows = [c for c in summary["checks"] if c["section"] == section]
    if not rows:
        return "not run"
    worst = max(rows, key=lambda c: c["value"] if math.isfinite(c["value"]) else math.inf)
    verdict = "PASS" if all(c["passed"] for c in rows) else "FAIL"
    return f"{verdict} (worst {worst['value']:.2e}: {worst['name']})"
