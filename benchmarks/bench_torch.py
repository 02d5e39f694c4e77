"""Throughput of the PyTorch backend: training groups/s and inference patterns/s.

Run from the repository root::

    .venv/bin/python benchmarks/bench_torch.py                 # --threads 2, N=64, gridsize 1, 2
    .venv/bin/python benchmarks/bench_torch.py --threads 4 --repeats 5 --readme benchmarks/README.md

Same settings as ``bench_tf.py`` so the two backends compare side by side:

- **training**: groups per second of the real training loop (:func:`ptycho_torch.api.train`:
  Lightning ``Trainer``, Adam, seeded shuffling, deterministic algorithms) at N=64, batch 16,
  per epoch, after one warm-up epoch; the median over ``--repeats`` epochs.
- **inference**: patterns per second of :func:`ptycho_torch.api.reconstruct` on a simulated scan
  of ``--infer-patterns`` positions: grouping, batched prediction (batch 64) and stitching onto
  the object grid, after one warm-up run; the median over ``--repeats`` runs.

``--threads`` sets ``OMP_NUM_THREADS`` and ``torch.set_num_threads`` (and one inter-op thread)
before any work. ``--no-channels-last`` measures the network without the channels-last memory
format, ``--compile`` with ``torch.compile`` (both to justify the defaults). The machine's CPU
count and the thread settings are printed with the figures. With ``--readme PATH`` the
``## PyTorch backend`` section of that Markdown file is replaced (or appended) with the figures
of this run; other sections are left untouched.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from throughput import add_common_arguments, measure, model_config, write_json  # noqa: E402

SECTION = "## PyTorch backend"


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--threads", type=int, default=2, help="torch intra-op and OMP threads")
    p.add_argument("--repeats", type=int, default=3, help="measured epochs / inference runs")
    add_common_arguments(p)
    p.add_argument(
        "--accelerator", default="cpu", help="cpu, cuda or auto (training and inference)"
    )
    p.add_argument(
        "--no-channels-last",
        dest="channels_last",
        action="store_false",
        help="disable the channels-last memory format of the convolutions",
    )
    p.add_argument("--compile", action="store_true", help="torch.compile the network")
    p.add_argument("--readme", type=Path, default=None, help="update this README's section")
    return p.parse_args(argv)


def _setup_threads(threads: int) -> Any:
    os.environ["OMP_NUM_THREADS"] = str(threads)
    sys.path.insert(0, str(REPO))
    import torch

    torch.set_num_threads(threads)
    torch.set_num_interop_threads(1)
    return torch


def _prepare(net: Any, args: argparse.Namespace) -> Any:
    """Apply the --no-channels-last / --compile choices to a network."""
    net.set_channels_last(args.channels_last)
    if args.compile:
        net.compile()
    return net


def bench_training(gridsize: int, args: argparse.Namespace) -> dict[str, float]:
    """Median groups/s of training epochs after one warm-up epoch."""
    import logging

    from ptycho.config.config import PyTorchExecutionConfig, TrainingConfig
    from ptycho.loader import container_from_raw
    from ptycho.simulation import simulate_dataset
    from ptycho_torch import api
    from ptycho_torch.model import PtychoPINN_Lightning

    logging.getLogger("lightning").setLevel(logging.WARNING)
    n_positions = max(args.train_groups, 16)
    raw = simulate_dataset(N=64, n_positions=n_positions, nphotons=1e6, seed=0).raw
    container = container_from_raw(
        raw, 64, gridsize=gridsize, n_groups=args.train_groups, K=6, seed=1
    )
    config = TrainingConfig(
        model=model_config(gridsize, args),
        nepochs=1 + args.repeats,
        batch_size=args.batch_size,
        nphotons=1e6,
        precision=args.precision,
        validation_fraction=0.0,
        early_stopping_patience=1000,
        lr_plateau_patience=1000,
        backend="pytorch",
    )
    execution = PyTorchExecutionConfig(accelerator=args.accelerator, logger_backend=None)
    stamps: list[float] = []

    def stamp(epoch: int, logs: Any) -> bool:
        stamps.append(time.perf_counter())
        return False

    original = PtychoPINN_Lightning.configure_network

    def configure(self: Any, *a: Any) -> Any:
        return _prepare(original(self, *a), args)

    PtychoPINN_Lightning.configure_network = configure  # type: ignore[method-assign]
    start = time.perf_counter()
    try:
        api.train(container, config, execution=execution, on_epoch_end=stamp)
    finally:
        PtychoPINN_Lightning.configure_network = original  # type: ignore[method-assign]
    durations = [b - a for a, b in zip([start, *stamps[:-1]], stamps, strict=True)]
    measured = durations[1:]
    groups = len(container)
    return {
        "groups": groups,
        "warmup_s": durations[0],
        "epoch_s": statistics.median(measured),
        "groups_per_s": groups / statistics.median(measured),
    }


def bench_inference(gridsize: int, args: argparse.Namespace) -> dict[str, float]:
    """Median patterns/s of reconstruct() (grouping + prediction + stitching)."""
    from ptycho.backend import ModelBundle
    from ptycho.config.config import InferenceConfig, TrainingConfig
    from ptycho.physics.forward import intensity_scale
    from ptycho.probe import normalize_probe
    from ptycho.simulation import simulate_dataset
    from ptycho_torch.api import reconstruct
    from ptycho_torch.network import PtychoPINNNet

    sim = simulate_dataset(N=64, n_positions=args.infer_patterns, nphotons=1e6, seed=3)
    model = model_config(gridsize, args)
    training = TrainingConfig(model=model, nphotons=1e6, backend="pytorch")
    scale = intensity_scale(1e6, 64)
    network = PtychoPINNNet(model, normalize_probe(sim.raw.probeGuess), scale).eval()
    bundle = ModelBundle(
        "pytorch", model, training, scale, normalize_probe(sim.raw.probeGuess), {}, network
    )
    _prepare(network, args)
    config = InferenceConfig(
        model=model, neighbor_count=6, batch_size=64, backend="pytorch", precision=args.precision
    )
    reconstruct(bundle, sim.raw, config, accelerator=args.accelerator)  # warm-up
    times = []
    recon = None
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        recon = reconstruct(bundle, sim.raw, config, accelerator=args.accelerator)
        times.append(time.perf_counter() - t0)
    median = statistics.median(times)
    return {
        "patterns": args.infer_patterns,
        "groups": int(recon.patches.shape[0]) if recon is not None else 0,
        "run_s": median,
        "patterns_per_s": args.infer_patterns / median,
    }


def _section(lines: list[str], args: argparse.Namespace, env: str) -> str:
    body = [
        SECTION,
        "",
        "`bench_torch.py` measures the PyTorch backend with the settings of `bench_tf.py` (N=64, "
        f"n_filters_scale {args.n_filters_scale}): training throughput of the real Lightning "
        f"training loop (`ptycho_torch.api.train`, batch {args.batch_size}, deterministic "
        "algorithms, groups per second per epoch, after one warm-up epoch) and inference "
        "throughput of `ptycho_torch.api.reconstruct` (grouping, batched prediction and "
        "stitching onto the object grid, patterns per second, after one warm-up run). Figures "
        f"are medians over {args.repeats} repeats.",
        "",
        "```bash",
        ".venv/bin/python benchmarks/bench_torch.py                    # --threads 2 --repeats 3",
        ".venv/bin/python benchmarks/bench_torch.py --threads 4 --readme benchmarks/README.md",
        ".venv/bin/python benchmarks/bench_torch.py --no-channels-last  # or --compile",
        "```",
        "",
        f"Last run ({env}):",
        "",
        "| gridsize | training groups/s | epoch (s) | inference patterns/s | 1,024 patterns (s) |",
        "|---|---|---|---|---|",
        *lines,
        "",
    ]
    return "\n".join(body)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    torch = _setup_threads(args.threads)
    import lightning

    env = (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs visible, "
        f"--threads {args.threads} (torch intra-op {torch.get_num_threads()}, inter-op "
        f"{torch.get_num_interop_threads()}), torch {torch.__version__}, lightning "
        f"{lightning.__version__}, channels-last {'on' if args.channels_last else 'off'}, "
        f"torch.compile {'on' if args.compile else 'off'}"
    )
    print(f"machine: {env}")
    rows, results = measure(args, bench_training, bench_inference)
    write_json(args.json, env, args, results)
    if args.readme is not None:
        from readme_section import replace_section

        replace_section(args.readme, SECTION, _section(rows, args, env))
        print(f"updated {args.readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
