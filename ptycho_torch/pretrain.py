"""Train the pretrained model of the package (design D13) on a mix of simulated scans.

Usage (the command that made the shipped ``ptycho/pretrained/wts.h5.zip``; see its model card)::

    python -m ptycho_torch.pretrain --output_dir runs/pretrained --threads 2

The product's trainers fit one scan (one probe, one photon level). This loop trains one network on
many: :func:`ptycho.pretrained.training_scans` simulates the recipe's scans (object families x
probe kinds x photon levels), each step draws a batch of groups from one scan, gives the network
that scan's normalised probe (the ``backprop_unet`` input backprojects with it, ARCH-014) and its
intensity scale ``s0 = sqrt(nphotons)/(N/2)`` times a learned per-scan factor ``exp(c_k)`` (the
per-scan counterpart of the trainable intensity scale of ordinary training: the normalised probes
carry different energies, so without it the object level a scan needs can exceed the amplitude
head's range), and takes an Adam step on the Poisson loss (ARCH-009) - physics only, as every
PtychoPINN training, no ground truth. The loss of a batch is divided by its ``s0^2`` (counts per
unit of normalised intensity), so scans of every photon level weigh alike. The factors are
discarded afterwards: at inference the scale cancels (the network sees ``X``). The learning rate
decays from ``learning_rate`` to ``final_learning_rate`` on a cosine over the steps. Everything
is seeded (ARCH-011), so the same recipe gives the same weights on the same machine.

Every ``--eval_every`` steps, and at the end, the network reconstructs the held-out scans of
:func:`ptycho.pretrained.evaluation_scans` (families and probes never seen with these objects),
and the amplitude/phase SSIM of each goes into the log and the archive's manifest
(``pretraining.evaluation``), which the model card quotes.
"""

from __future__ import annotations

import argparse
import copy
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ptycho.backend import ModelBundle
from ptycho.config.config import InferenceConfig, ModelConfig, TrainingConfig
from ptycho.pretrained import RECIPE, PretrainRecipe, evaluation_scans, training_scans
from ptycho_torch import physics
from ptycho_torch.network import PtychoPINNNet

__all__ = ["PretrainResult", "PretrainedScan", "evaluate", "main", "prepare_scans", "pretrain"]

logger = logging.getLogger(__name__)


@dataclass
class PretrainedScan:
    """One training scan as tensors: ``X (B, C, N, N)``, ``coords (B, 1, 2, C)``, the
    normalised probe and the intensity scale ``s0``."""

    X: torch.Tensor
    coords: torch.Tensor
    probe: np.ndarray
    scale: float
    label: str


@dataclass
class PretrainResult:
    """The trained bundle and its last held-out evaluation (``steps``, ``seconds`` and
    ``{'<family>/<probe>': {'amp_ssim', 'phase_ssim'}}``)."""

    bundle: ModelBundle
    evaluation: dict[str, Any]


def prepare_scans(recipe: PretrainRecipe) -> list[PretrainedScan]:
    """Simulate and group the recipe's training scans (one group per scan position)."""
    from ptycho.loader import container_from_raw
    from ptycho.probe import normalize_probe

    model = ModelConfig(N=recipe.N, gridsize=recipe.gridsize)
    scans = []
    for k, ds in enumerate(training_scans(recipe)):
        container = container_from_raw(ds.raw, recipe.N, gridsize=recipe.gridsize, seed=k)
        mean_counts = float(np.mean(np.sum(ds.raw.diff3d.astype(np.float64) ** 2, axis=(1, 2))))
        family, probe, photons = recipe.combination(k)
        scans.append(
            PretrainedScan(
                X=torch.from_numpy(np.ascontiguousarray(np.transpose(container.X, (0, 3, 1, 2)))),
                coords=torch.from_numpy(container.local_offsets.astype(np.float32)),
                probe=normalize_probe(ds.raw.probeGuess, model.probe_scale),
                scale=math.sqrt(mean_counts) / (recipe.N / 2.0),
                label=f"{family}/{probe}/{photons:.0e}",
            )
        )
    return scans


def _bundle(
    net: PtychoPINNNet, recipe: PretrainRecipe, history: dict[str, list[float]]
) -> ModelBundle:
    model = ModelConfig(
        N=recipe.N, gridsize=recipe.gridsize, n_filters_scale=recipe.n_filters_scale
    )
    training = TrainingConfig(
        model=model,
        backend="pytorch",
        batch_size=recipe.batch_size,
        nepochs=1,
        learning_rate=recipe.learning_rate,
        nphotons=1e6,
        seed=recipe.seed,
    )
    return ModelBundle(
        backend="pytorch",
        model_config=model,
        training_config=training,
        intensity_scale=float(net.intensity_scale),
        probe=net.probe.detach().cpu().numpy().astype(np.complex64),
        history=history,
        network=net,
    )


def evaluate(bundle: ModelBundle, scans: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Network-alone amplitude/phase SSIM on each held-out scan (scanned region, the scan's
    own probe, ``ptycho.metrics.compare``)."""
    from ptycho.metrics import compare, scanned_roi
    from ptycho_torch.prediction import reconstruct

    config = InferenceConfig(model=bundle.model_config, backend="pytorch", probe_source="data")
    out = {}
    for name, ds in scans.items():
        recon = reconstruct(bundle, ds.raw, config)
        roi = scanned_roi(ds.raw.xcoords, ds.raw.ycoords, bundle.N, ds.object.shape, margin=8)
        metrics = compare(recon.object, ds.object, roi)
        out[name] = {k: round(float(metrics[k]), 4) for k in ("amp_ssim", "phase_ssim")}
    return out


def pretrain(
    recipe: PretrainRecipe = RECIPE,
    *,
    eval_every: int = 0,
    log: Any = None,
    device: str = "cpu",
) -> PretrainResult:
    """Train a ``backprop_unet`` network on the recipe's scans (see the module docstring).

    ``log`` (a text stream) receives one line per evaluation. ``device`` (a torch device such as
    ``'cuda'``) holds the network and the scans during training; evaluation and the returned
    bundle are on the CPU."""
    torch.manual_seed(recipe.seed)
    rng = np.random.default_rng(recipe.seed)
    started = time.perf_counter()
    scans = prepare_scans(recipe)
    for scan in scans:
        scan.X, scan.coords = scan.X.to(device), scan.coords.to(device)
    held_out = evaluation_scans(recipe)
    logger.info("simulated %d training scans in %.0f s", len(scans), time.perf_counter() - started)
    model = ModelConfig(
        N=recipe.N, gridsize=recipe.gridsize, n_filters_scale=recipe.n_filters_scale
    )
    net = PtychoPINNNet(
        model, probe=scans[0].probe, intensity_scale=scans[0].scale, intensity_scale_trainable=False
    ).to(device)
    log_factors = torch.zeros(len(scans), device=device, requires_grad=True)
    optimizer = torch.optim.Adam(
        [p for p in net.parameters() if p.requires_grad] + [log_factors], lr=recipe.learning_rate
    )
    history: dict[str, list[float]] = {"loss": []}
    evaluation: dict[str, Any] = {}
    window: list[float] = []
    for step in range(recipe.steps):
        progress = step / max(recipe.steps - 1, 1)
        lr = recipe.final_learning_rate + 0.5 * (
            recipe.learning_rate - recipe.final_learning_rate
        ) * (1.0 + math.cos(math.pi * progress))
        for group in optimizer.param_groups:
            group["lr"] = lr
        k = int(rng.integers(len(scans)))
        scan = scans[k]
        index = torch.from_numpy(rng.integers(0, scan.X.shape[0], recipe.batch_size)).to(device)
        net.set_probe(scan.probe)
        net.set_intensity_scale(scan.scale)
        x = scan.X[index]
        out = net(scan.scale * x, scan.coords[index])
        predicted = out.amplitude * torch.exp(log_factors[k])
        measured = scan.scale * x
        # per count unit (/ s0^2): the Poisson gradient grows with the photon count, and Adam
        # would otherwise learn almost only from the brightest scans (measured: gradient norms
        # 5 / 45-140 / 420-960 at 1e5 / 1e6 / 1e7 photons)
        loss = physics.poisson_nll(predicted**2, measured**2) / scan.scale**2
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        window.append(float(loss.detach()))
        last = step + 1 == recipe.steps
        if (eval_every and (step + 1) % eval_every == 0) or last:
            history["loss"].append(float(np.mean(window)))
            window = []
            snapshot = copy.deepcopy(net).cpu()
            snapshot.set_probe(scans[0].probe)
            quality = evaluate(_bundle(snapshot, recipe, history), held_out)
            scores = "; ".join(
                f"{k} {v['amp_ssim']:.3f}/{v['phase_ssim']:.3f}" for k, v in quality.items()
            )
            seconds = time.perf_counter() - started
            message = (
                f"step {step + 1}/{recipe.steps} ({seconds:.0f} s, lr {lr:.2g}): "
                f"loss {history['loss'][-1]:.5g}; held-out amp/phase SSIM {scores}"
            )
            logger.info(message)
            if log is not None:
                print(message, file=log, flush=True)
            evaluation = {"steps": step + 1, "seconds": round(seconds, 1), **quality}
    net = net.cpu()
    net.set_probe(scans[0].probe)
    net.set_intensity_scale(math.sqrt(1e6) / (recipe.N / 2.0))
    return PretrainResult(_bundle(net, recipe, history), evaluation)


def build_parser() -> argparse.ArgumentParser:
    """Argument parser of ``python -m ptycho_torch.pretrain``."""
    p = argparse.ArgumentParser(
        prog="ptycho-torch-pretrain",
        description="Train the package's pretrained backprop_unet model on simulated scans.",
    )
    p.add_argument("--output_dir", type=Path, required=True, help="where wts.h5.zip is written")
    p.add_argument("--steps", type=int, default=RECIPE.steps, help="optimiser steps")
    p.add_argument("--n_scans", type=int, default=RECIPE.n_scans, help="simulated scans")
    p.add_argument("--batch_size", type=int, default=RECIPE.batch_size, help="groups per step")
    p.add_argument("--device", default="cpu", help="torch device for training: cpu, cuda, cuda:1")
    p.add_argument("--seed", type=int, default=RECIPE.seed)
    p.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    p.add_argument("--eval_every", type=int, default=2000, help="steps between evaluations")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: train, evaluate, write ``<output_dir>/wts.h5.zip``."""
    from ptycho_torch.persistence import save_bundle

    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(max(1, args.threads))
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit(f"--device {args.device}: no CUDA device is visible; use --device cpu")
    recipe = replace(
        RECIPE,
        steps=args.steps,
        n_scans=args.n_scans,
        seed=args.seed,
        batch_size=args.batch_size,
    )
    args.output_dir.mkdir(parents=True, exist_ok=True)
    result = pretrain(recipe, eval_every=args.eval_every, device=args.device)
    extra = {"pretraining": {"recipe": recipe.to_dict(), "evaluation": result.evaluation}}
    path = save_bundle(result.bundle, args.output_dir / "wts.h5.zip", extra=extra)
    logger.info("wrote %s", path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
