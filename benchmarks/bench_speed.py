"""Speed against the original PtychoPINN (issue 14): training, inference, CLI and the CPU's peak.

Run from the repository root (about 10 minutes on 2 cores)::

    .venv/bin/python benchmarks/bench_speed.py                       # --threads 2
    .venv/bin/python benchmarks/bench_speed.py --readme benchmarks/README.md

Every measurement runs in its own process, the backends and precisions interleaved, so they see
the same machine; the 1-minute load average is printed with each. What is measured:

- **training** at the original's benchmark settings (N=64, gridsize 1, batch 16, 2,048 groups,
  ``n_filters_scale`` 2, 1e6-photon simulated data): seconds per epoch of the real training
  loop (``bench_tf.py`` / ``bench_torch.py``, median over ``--repeats`` epochs after a warm-up
  epoch), both backends, float32 and bfloat16 (ARCH-016), and the ratio to the original's
  70-104 s per epoch (measured under the same load as ours) and 64-81 s (quiet machine).
- **the fraction of the CPU's peak**: the network's training FLOPs per group (forward and
  backward, counted by ``torch.utils.flop_counter``) times groups/s, against this CPU's measured
  matrix-multiply rate in the same precision and thread count.
- **inference per thread**: patterns/s of ``reconstruct`` (grouping, prediction, stitching) on
  one thread, gridsize 1 and 2, against the 84 patterns/s the issue measured.
- **the inference CLI**: wall time of the whole ``ptycho-infer`` / ``ptycho-torch-infer``
  process (start-up, model load, 1,024 patterns, outputs; no refinement) with the shipped
  pretrained model, median of 3, against the original's 41.7 s / 48.4 s.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SECTION = "## Speed against the original (issue 14)"
BACKENDS = ("tensorflow", "pytorch")
PRECISIONS = ("float32", "bfloat16")
SCRIPTS = {"tensorflow": "bench_tf.py", "pytorch": "bench_torch.py"}
#: The original PtychoPINN at the training settings above, seconds per epoch (issue 14).
ORIGINAL_EPOCH_S = {"loaded": (70.0, 104.0), "quiet": (64.0, 81.0)}
#: The original's inference CLI for 1,024 patterns, median of 3 (issue 14).
ORIGINAL_CLI_S = {"tensorflow": 41.7, "pytorch": 48.4}
#: Network inference per thread when issue 14 was filed (419 patterns in 5.0 s).
BASELINE_PATTERNS_PER_S = 84.0


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--threads", type=int, default=2, help="threads of the training runs")
    p.add_argument("--repeats", type=int, default=2, help="measured epochs / inference runs")
    p.add_argument("--train-groups", type=int, default=2048, help="groups per training epoch")
    p.add_argument("--skip", default="", help="comma-separated parts to skip: train,infer,cli")
    p.add_argument("--readme", type=Path, default=None, help="update this README's section")
    return p.parse_args(argv)


def _load() -> float:
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def _env(threads: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        OMP_NUM_THREADS=str(threads),
        TF_CPP_MIN_LOG_LEVEL="2",
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH", "")])),
    )
    return env


def _bench(backend: str, threads: int, extra: list[str]) -> dict[str, Any]:
    """One ``bench_tf.py`` / ``bench_torch.py`` run in its own process; its JSON record."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        command = [
            sys.executable,
            str(REPO / "benchmarks" / SCRIPTS[backend]),
            "--threads",
            str(threads),
            "--json",
            str(out),
            *extra,
        ]
        subprocess.run(command, check=True, env=_env(threads), capture_output=True, text=True)
        record: dict[str, Any] = json.loads(out.read_text())
    record["load"] = _load()
    return record


def training(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Seconds per epoch at the original's settings, both backends and precisions."""
    rows = []
    for precision in PRECISIONS:
        for backend in BACKENDS:
            record = _bench(
                backend,
                args.threads,
                [
                    "--gridsizes=1",
                    f"--train-groups={args.train_groups}",
                    "--batch-size=16",
                    "--n-filters-scale=2",
                    f"--repeats={args.repeats}",
                    f"--precision={precision}",
                    "--skip-inference",
                ],
            )
            train = record["results"][0]["training"]
            rows.append(
                {"backend": backend, "precision": precision, "load": record["load"], **train}
            )
            print(
                f"training {backend} {precision}: {train['epoch_s']:.1f} s/epoch "
                f"({train['groups_per_s']:.0f} groups/s, load {record['load']:.2f})",
                flush=True,
            )
    return rows


def inference(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Patterns/s of reconstruct() on one thread, gridsize 1 and 2."""
    rows = []
    for precision in PRECISIONS:
        for backend in BACKENDS:
            record = _bench(
                backend,
                1,
                [
                    "--gridsizes=1,2",
                    "--infer-patterns=1024",
                    "--repeats=3",
                    f"--precision={precision}",
                    "--skip-training",
                ],
            )
            for result in record["results"]:
                infer = result["inference"]
                rows.append(
                    {
                        "backend": backend,
                        "precision": precision,
                        "gridsize": result["gridsize"],
                        "load": record["load"],
                        **infer,
                    }
                )
                print(
                    f"inference {backend} {precision} gridsize {result['gridsize']}: "
                    f"{infer['patterns_per_s']:.0f} patterns/s per thread",
                    flush=True,
                )
    return rows


def cli(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Median wall time of the whole inference CLI process on 1,024 simulated patterns."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "sim"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "ptycho.cli.simulate",
                "--output_dir",
                str(data),
                "--n_positions",
                "1024",
                "--nphotons",
                "1e6",
                "--no_plot",
            ],
            check=True,
            env=_env(args.threads),
            capture_output=True,
        )
        npz = data / "simulated_data.npz"
        pretrained = REPO / "ptycho" / "pretrained" / "wts.h5.zip"
        commands = {
            "tensorflow": ["-m", "ptycho.cli.infer", "--test_data_file", str(npz)],
            "pytorch": [
                "-m",
                "ptycho_torch.inference",
                "--model_path",
                str(pretrained),
                "--test_data",
                str(npz),
                "--quiet",
            ],
        }
        times: dict[tuple[str, str], list[float]] = {}
        for repeat in range(3):
            for precision in PRECISIONS:
                for backend in BACKENDS:
                    command = [
                        sys.executable,
                        *commands[backend],
                        "--output_dir",
                        str(Path(tmp) / f"{backend}-{precision}-{repeat}"),
                        "--refine_iterations",
                        "0",
                        "--precision",
                        precision,
                    ]
                    start = time.perf_counter()
                    subprocess.run(command, check=True, env=_env(args.threads), capture_output=True)
                    times.setdefault((backend, precision), []).append(time.perf_counter() - start)
        for (backend, precision), seconds in times.items():
            median = statistics.median(seconds)
            rows.append(
                {"backend": backend, "precision": precision, "seconds": median, "load": _load()}
            )
            print(f"CLI {backend} {precision}: {median:.1f} s (1,024 patterns)", flush=True)
    return rows


def peak(threads: int) -> dict[str, float]:
    """This CPU's matrix-multiply GFLOP/s (float32 and bfloat16) and the network's training
    GFLOP per group (forward + backward) at the benchmark settings."""
    script = f"""
import json, time, torch
torch.set_num_threads({threads})
from torch.utils.flop_counter import FlopCounterMode
from ptycho.config.config import ModelConfig
from ptycho.probe import default_probe, normalize_probe
from ptycho_torch.network import PtychoPINNNet
rates = {{}}
for name, dtype in (("float32", torch.float32), ("bfloat16", torch.bfloat16)):
    a = torch.randn(1024, 1024, dtype=dtype); b = torch.randn(1024, 1024, dtype=dtype)
    for _ in range(3): a @ b
    best = float("inf")
    for _ in range(5):
        t = time.perf_counter(); a @ b; best = min(best, time.perf_counter() - t)
    rates[name] = 2 * 1024**3 / best / 1e9
config = ModelConfig(N=64, gridsize=1, n_filters_scale=2)
net = PtychoPINNNet(config, normalize_probe(default_probe(64), config.probe_scale), 10.0)
x = torch.rand(16, 1, 64, 64); coords = torch.zeros(16, 1, 2, 1)
with FlopCounterMode(display=False) as counter:
    net(x, coords).amplitude.sum().backward()
rates["gflop_per_group"] = counter.get_total_flops() / 16 / 1e9
print(json.dumps(rates))
"""
    out = subprocess.run(
        [sys.executable, "-c", script],
        check=True,
        env=_env(threads),
        capture_output=True,
        text=True,
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _ratio(reference: tuple[float, float], ours: float) -> str:
    return f"{reference[0] / ours:.1f}-{reference[1] / ours:.1f}x"


def _section(args: argparse.Namespace, parts: dict[str, Any]) -> str:
    lines = [
        SECTION,
        "",
        "`bench_speed.py` (every figure from one run, processes interleaved; "
        f"`--threads {args.threads}` for training and the CLI, one thread for inference per "
        f"thread; {os.cpu_count()} CPUs visible). Ratios are the original's figures from issue "
        "14 divided by ours.",
        "",
    ]
    rates = parts.get("peak")
    if "train" in parts:
        lines += [
            "Training at the original's settings (N=64, gridsize 1, batch 16, 2,048 groups, "
            "`n_filters_scale` 2, backprop_unet):",
            "",
            "| backend | precision | s/epoch | groups/s | vs original (loaded 70-104 s) | "
            "vs original (quiet 64-81 s) | of the matmul peak | load |",
            "|---|---|---:|---:|---:|---:|---:|---:|",
        ]
        for row in parts["train"]:
            fraction = "-"
            if rates:
                achieved = row["groups_per_s"] * rates["gflop_per_group"]
                fraction = f"{100 * achieved / rates[row['precision']]:.0f} %"
            lines.append(
                f"| {row['backend']} | {row['precision']} | {row['epoch_s']:.1f} | "
                f"{row['groups_per_s']:.0f} | {_ratio(ORIGINAL_EPOCH_S['loaded'], row['epoch_s'])}"
                f" | {_ratio(ORIGINAL_EPOCH_S['quiet'], row['epoch_s'])} | {fraction} | "
                f"{row['load']:.2f} |"
            )
        if rates:
            lines += [
                "",
                f"Peak: {rates['float32']:.0f} GFLOP/s float32 and {rates['bfloat16']:.0f} "
                f"GFLOP/s bfloat16 (1024^2 matrix product, {args.threads} threads); the network "
                f"costs {rates['gflop_per_group']:.2f} GFLOP per group and training step "
                "(forward + backward).",
            ]
        lines.append("")
    if "infer" in parts:
        lines += [
            "Inference per thread (`reconstruct`: grouping, prediction, stitching; 1,024 "
            f"patterns, one thread; issue 14 measured {BASELINE_PATTERNS_PER_S:.0f} patterns/s):",
            "",
            "| backend | precision | gridsize | patterns/s | vs issue 14 |",
            "|---|---|---:|---:|---:|",
        ]
        for row in parts["infer"]:
            lines.append(
                f"| {row['backend']} | {row['precision']} | {row['gridsize']} | "
                f"{row['patterns_per_s']:.0f} | "
                f"{row['patterns_per_s'] / BASELINE_PATTERNS_PER_S:.1f}x |"
            )
        lines.append("")
    if "cli" in parts:
        lines += [
            "The whole inference CLI (start-up, pretrained model, 1,024 patterns, outputs, "
            "`--refine_iterations 0`), median of 3:",
            "",
            "| CLI | precision | seconds | vs original |",
            "|---|---|---:|---:|",
        ]
        for row in parts["cli"]:
            name = "ptycho-infer" if row["backend"] == "tensorflow" else "ptycho-torch-infer"
            original = ORIGINAL_CLI_S[row["backend"]]
            lines.append(
                f"| {name} | {row['precision']} | {row['seconds']:.1f} | "
                f"{original / row['seconds']:.1f}x ({original} s) |"
            )
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    print(f"{os.cpu_count()} CPUs visible; 1-min load average {_load():.2f}", flush=True)
    parts: dict[str, Any] = {}
    if "train" not in skip:
        parts["peak"] = peak(args.threads)
        print(f"peak: {parts['peak']}", flush=True)
        parts["train"] = training(args)
    if "infer" not in skip:
        parts["infer"] = inference(args)
    if "cli" not in skip:
        parts["cli"] = cli(args)
    section = _section(args, parts)
    print(section)
    if args.readme is not None:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from readme_section import replace_section

        replace_section(args.readme, SECTION, section)
        print(f"updated {args.readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
