"""Learning curves: the network's own quality on a held-out object against training time.

Run from the repository root (one recipe per process; run two side by side on two cores)::

    .venv/bin/python benchmarks/bench_learning.py unet-g2 --minutes 10
    .venv/bin/python benchmarks/bench_learning.py --plot /tmp/ptychopinn_learning  # PNG + table

Every recipe trains the product's PyTorch network (:class:`ptycho_torch.network.PtychoPINNNet`, the
same layers and physics as ``ptycho-train``; TensorFlow is the same method to 1e-7, see
``python -m ptycho.parity``) with a plain Adam loop instead of the Lightning trainer, so the
quality can be sampled in wall-clock time: every ``--eval_minutes`` the network reconstructs the
held-out scan (another object of the same family, 512 positions, N=64, 1e6 photons, the
embedded simulator's disk probe) as ``ptycho-infer`` does (group, predict, stitch the central 20
px), and amplitude/phase SSIM over the scanned region (amplitude scale fitted, global phase
removed) is written to ``<output_dir>/<recipe>.json``. The clock excludes the evaluations.

Recipes (``RECIPES``): architecture (``cnn`` = ARCH-012, ``unet`` = backprop_unet ARCH-014),
gridsize, loss (``pinn`` = Poisson NLL on the diffraction; ``sup`` = complex MAE against the true
patches, a capacity check that needs ground truth), and the training data (``many`` = 16 objects
x 256 positions; ``one`` = one object x 512 positions, like a user's single training scan;
``self`` = the held-out scan itself, the ceiling of fitting one scan).

Threads: ``--threads`` (default 1) pins torch; report figures measured side by side.
``--precision bfloat16`` trains (and evaluates) with the bfloat16 convolution trunk (ARCH-016);
its result is written to ``<recipe>-bfloat16.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Recipe:
    """One learning-curve configuration."""

    architecture: str
    gridsize: int
    loss: str = "pinn"
    data: str = "many"
    n_filters_scale: int = 2


RECIPES: dict[str, Recipe] = {
    "cnn-g2": Recipe("cnn", 2),
    "cnn-g1-sup": Recipe("cnn", 1, loss="sup"),
    "unet-g1": Recipe("backprop_unet", 1),
    "unet-g2": Recipe("backprop_unet", 2),
    "unet-g3": Recipe("backprop_unet", 3),
    "unet-g2-sup": Recipe("backprop_unet", 2, loss="sup"),
    "unet-g2-sf1": Recipe("backprop_unet", 2, n_filters_scale=1),
    "unet-g2-one-scan": Recipe("backprop_unet", 2, data="one"),
    "unet-g2-self": Recipe("backprop_unet", 2, data="self"),
}


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("recipe", nargs="?", choices=sorted(RECIPES), help="recipe to train")
    p.add_argument("--minutes", type=float, default=10.0, help="training wall-clock budget")
    p.add_argument("--eval_minutes", type=float, default=2.5, help="minutes between evaluations")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--precision", choices=("float32", "bfloat16"), default="float32")
    p.add_argument("--output_dir", type=Path, default=Path("/tmp/ptychopinn_learning"))
    p.add_argument("--plot", type=Path, default=None, help="plot every <dir>/*.json and stop")
    return p.parse_args(argv)


def _grouped(raw: Any, gridsize: int, seed: int) -> tuple[Any, Any, Any, Any]:
    import torch

    from ptycho.loader import container_from_raw

    c = container_from_raw(raw, raw.N, gridsize=gridsize, seed=seed, K=max(4, gridsize**2))
    x = torch.from_numpy(np.ascontiguousarray(np.transpose(c.X, (0, 3, 1, 2))))
    coords = torch.from_numpy(c.local_offsets.astype(np.float32))
    y = torch.from_numpy(np.ascontiguousarray(np.transpose(c.Y, (0, 3, 1, 2))))
    return x, coords, y, c


def _training_data(recipe: Recipe, test: Any, probe: np.ndarray) -> tuple[Any, Any, Any]:
    import torch

    from ptycho.simulation import simulate_dataset

    if recipe.data == "self":
        scans = [test.raw]
    elif recipe.data == "one":
        scans = [simulate_dataset(N=64, n_positions=512, seed=1000, probe=probe).raw]
    else:
        scans = [
            simulate_dataset(N=64, n_positions=256, seed=1000 + k, probe=probe).raw
            for k in range(16)
        ]
    parts = [_grouped(raw, recipe.gridsize, seed=k)[:3] for k, raw in enumerate(scans)]
    return tuple(torch.cat([p[i] for p in parts]) for i in range(3))  # type: ignore[return-value]


def _evaluate(net: Any, test: Any, gridsize: int) -> dict[str, float]:
    import torch

    from ptycho.metrics import compare, scanned_roi
    from ptycho.stitching import stitch_patches

    x, coords, _, container = _grouped(test.raw, gridsize, seed=45)
    net.eval()
    with torch.no_grad():
        objs = [
            net.objects(net.intensity_scale * x[i : i + 128], coords[i : i + 128])[0].numpy()
            for i in range(0, len(x), 128)
        ]
    net.train()
    offsets = container.global_offsets
    obj = stitch_patches(
        np.concatenate(objs), offsets[:, 0, 0, 0], offsets[:, 0, 1, 0], test.object.shape, crop=20
    )
    roi = scanned_roi(test.raw.xcoords, test.raw.ycoords, 64, test.object.shape, margin=8)
    m = compare(obj, test.object, roi)
    return {"amp_ssim": float(m["amp_ssim"]), "phase_ssim": float(m["phase_ssim"])}


def run(name: str, args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from ptycho.config.config import ModelConfig
    from ptycho.probe import normalize_probe
    from ptycho.simulation import simulate_train_test
    from ptycho_torch import physics
    from ptycho_torch.network import PtychoPINNNet

    recipe = RECIPES[name]
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    _, test = simulate_train_test(N=64, n_train=512, nphotons=1e6, seed=0)
    x, coords, y = _training_data(recipe, test, test.probe)
    s0 = math.sqrt(1e6) / 32.0
    config = ModelConfig(
        N=64,
        gridsize=recipe.gridsize,
        n_filters_scale=recipe.n_filters_scale,
        architecture=recipe.architecture,
    )
    net = PtychoPINNNet(config, probe=normalize_probe(test.probe), intensity_scale=s0)
    net.set_precision(args.precision)
    optimizer = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=1e-3)
    rng = np.random.default_rng(args.seed)
    curve: list[dict[str, float]] = []
    trained = 0.0
    seen = 0
    next_eval = args.eval_minutes * 60.0
    while True:
        start = time.perf_counter()
        while trained + (time.perf_counter() - start) < min(next_eval, args.minutes * 60.0):
            index = torch.from_numpy(rng.integers(0, len(x), 16))
            xs = net.intensity_scale.detach() * x[index]
            if recipe.loss == "sup":
                _, patches = net.objects(xs, coords[index])
                loss = physics.complex_mae_center(patches, y[index])
            else:
                out = net(xs, coords[index])
                loss = physics.poisson_nll(out.amplitude**2, (s0 * x[index]) ** 2)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            seen += len(index)
        trained += time.perf_counter() - start
        point = {"minutes": round(trained / 60.0, 2), "samples": seen}
        point.update(_evaluate(net, test, recipe.gridsize))
        curve.append(point)
        print(f"{name}: {point}", flush=True)
        next_eval += args.eval_minutes * 60.0
        if trained >= args.minutes * 60.0:
            break
    label = name if args.precision == "float32" else f"{name}-{args.precision}"
    return {
        "recipe": label,
        "threads": args.threads,
        "precision": args.precision,
        "curve": curve,
        **recipe.__dict__,
    }


def plot(directory: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = [json.loads(p.read_text()) for p in sorted(directory.glob("*.json"))]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    rows = [
        "| recipe | minutes | groups seen | amp SSIM | phase SSIM |",
        "|---|---:|---:|---:|---:|",
    ]
    for result in results:
        curve = result["curve"]
        minutes = [p["minutes"] for p in curve]
        for ax, key in zip(axes, ("amp_ssim", "phase_ssim"), strict=True):
            ax.plot(minutes, [p[key] for p in curve], marker="o", label=result["recipe"])
        last = curve[-1]
        rows.append(
            f"| {result['recipe']} | {last['minutes']:.1f} | {last['samples']} | "
            f"{last['amp_ssim']:.3f} | {last['phase_ssim']:.3f} |"
        )
    for ax, title in zip(axes, ("amplitude SSIM", "phase SSIM"), strict=True):
        ax.set_xlabel("training minutes (1 thread)")
        ax.set_title(f"network alone, held-out object: {title}")
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    png = directory / "learning_curves.png"
    fig.savefig(png, dpi=70)
    print("\n".join(rows))
    print(f"figure: {png}")


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    sys.path.insert(0, str(REPO))
    if args.plot is not None:
        plot(args.plot)
        return 0
    if args.recipe is None:
        raise SystemExit("name a recipe (or --plot DIR); recipes: " + ", ".join(sorted(RECIPES)))
    args.output_dir.mkdir(parents=True, exist_ok=True)
    result = run(args.recipe, args)
    (args.output_dir / f"{result['recipe']}.json").write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
