"""Reconstruction quality: the network alone, physics refinement, refined training targets.

Run from the repository root::

    .venv/bin/python benchmarks/bench_quality.py embedded   # simulated data with ground truth
    .venv/bin/python benchmarks/bench_quality.py siemens    # the real Siemens-star scan
    .venv/bin/python benchmarks/bench_quality.py ttq        # time to quality on a new scan

``embedded``: the embedded simulated data (N=64, 1e6 photons, a training scan and a held-out
test scan of another object, ``--positions`` each). The pretrained model as it ships, and three
PINNs trained at gridsize 2 for ``--epochs`` epochs: from scratch on the diffraction loss alone,
from scratch with refined training targets (ARCH-013), and fine-tuned from the pretrained model
(diffraction loss); each reconstructs the test scan as it is and with ``--refine`` refinement
iterations, next to refinement from a flat object and a constant object. Amplitude/phase SSIM
and PSNR over the scanned region are printed.

``siemens``: the real APS Siemens-star scan (``../shared/data``, N=128, 516 positions). A PINN
is trained on the whole scan with refined targets (self-supervised use) and reconstructs it, as
it is and with refinement (probe refined too); without ground truth the spokes are measured with
:func:`ptycho.metrics.spoke_contrast` (ratio of the dominant angular harmonic of the phase to the
median; noise gives about 3; a star gives the same harmonic, its spoke count, at every radius,
while tiling artefacts of a poorly trained network give high ratios at inconsistent harmonics).
A PNG lands in ``--output_dir``.

``ttq`` (time to quality): a held-out simulated scan (``--family``, ``--probe``, 512 positions,
1e6 photons) is refined from a flat object and from the network's prediction (``--model``,
default the pretrained model that ships with the package) for 0, 5, 10, ... iterations; for
each the phase SSIM over the scanned region and over its well-lit core (the region shrunk by
N/4 = 16 px) is printed with the seconds (network prediction and stitching included for the
network start, one thread), and the iterations and seconds to reach phase SSIM 0.7 (region)
and 0.9 (core) of both starts and their ratio. With ``--ptychi-python`` (pty-chi's own
interpreter, ``benchmarks/ptychi_runner.py``) pty-chi LSQML runs on the same scan from a flat
object with the known probe, one thread, and its time to the same targets is printed next to
ours.

Thread pools are pinned with ``--threads`` (default 2); times are wall-clock seconds.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
SIEMENS = REPO.parent / "shared" / "data" / "siemens-star-small.npz.bz2"


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("dataset", choices=("embedded", "siemens", "ttq"))
    p.add_argument(
        "--model",
        type=Path,
        default=None,
        help="ttq, siemens: model archive "
        "('pretrained' = the shipped model; ttq default); siemens without it trains "
        "on the scan itself",
    )
    p.add_argument("--family", default="mixed", help="ttq: object family of the scan")
    p.add_argument("--probe", default="disk", help="ttq: probe kind of the scan")
    p.add_argument("--threads", type=int, default=2, help="intra/inter-op and OMP threads")
    p.add_argument("--backend", default="tensorflow", choices=("tensorflow", "pytorch"))
    p.add_argument("--positions", type=int, default=512, help="embedded: positions per scan")
    p.add_argument("--epochs", type=int, default=20, help="training epochs")
    p.add_argument("--refine", type=int, default=30, help="refinement iterations")
    p.add_argument("--target-iterations", type=int, default=100, help="refined-target iterations")
    p.add_argument("--realspace-weight", type=float, default=20.0, help="weight of the targets")
    p.add_argument("--output-dir", type=Path, default=Path("/tmp/ptychopinn_bench_quality"))
    p.add_argument(
        "--ptychi-python",
        type=Path,
        default=None,
        help="ttq: pty-chi's interpreter; also run pty-chi LSQML on the same scan (one thread)",
    )
    return p.parse_args(argv)


def _setup(threads: int) -> None:
    os.environ["OMP_NUM_THREADS"] = str(threads)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.path.insert(0, str(REPO))


def _row(name: str, metrics: dict[str, float], seconds: float | None = None) -> str:
    timing = "" if seconds is None else f"  ({seconds:.1f} s)"
    return (
        f"{name:<44} amp SSIM {metrics['amp_ssim']:.3f} PSNR {metrics['amp_psnr']:5.1f} dB | "
        f"phase SSIM {metrics['phase_ssim']:.3f} PSNR {metrics['phase_psnr']:5.1f} dB{timing}"
    )


def _train(
    raw: Any,
    args: argparse.Namespace,
    n: int,
    gridsize: int,
    targets: bool,
    initial: Any = None,
) -> Any:
    from ptycho.config.config import ModelConfig, TrainingConfig
    from ptycho.workflows.backend_selector import train_with_backend

    config = TrainingConfig(
        model=ModelConfig(N=n, gridsize=gridsize, n_filters_scale=1 if n > 64 else 2),
        nepochs=args.epochs,
        batch_size=16,
        nphotons=float(np.mean(np.sum(raw.diff3d.astype(np.float64) ** 2, axis=(1, 2)))),
        backend=args.backend,
        realspace_weight=args.realspace_weight if targets else 0.0,
        refined_target_iterations=args.target_iterations if targets else 0,
        early_stopping_patience=args.epochs,
    )
    start = time.perf_counter()
    bundle = train_with_backend(raw, config, initial=initial)
    start_from = "from the pretrained model, " if initial is not None else ""
    print(
        f"  trained ({start_from}{'refined targets' if targets else 'diffraction loss only'}) in "
        f"{time.perf_counter() - start:.0f} s",
        flush=True,
    )
    return bundle


def _reconstruct(bundle: Any, raw: Any, iterations: int, refine_probe: bool = False) -> Any:
    from ptycho.config.config import InferenceConfig
    from ptycho.workflows.backend_selector import reconstruct_with_backend

    config = InferenceConfig(
        model=bundle.model_config, refine_iterations=iterations, refine_probe=refine_probe
    )
    start = time.perf_counter()
    recon = reconstruct_with_backend(bundle, raw, config)
    return recon, time.perf_counter() - start


def _pretrained(backend: str) -> Any:
    """The shipped pretrained model in ``backend``'s form."""
    from ptycho.pretrained import archive_path
    from ptycho.workflows.backend_selector import load_inference_bundle_with_backend

    return load_inference_bundle_with_backend(archive_path(), backend=backend)


def embedded(args: argparse.Namespace) -> None:
    from ptycho.metrics import compare, scanned_roi
    from ptycho.refine import refine_object
    from ptycho.simulation import simulate_train_test

    train, test = simulate_train_test(N=64, n_train=args.positions, nphotons=1e6, seed=0)
    truth, raw = test.object, test.raw
    roi = scanned_roi(raw.xcoords, raw.ycoords, 64, truth.shape, margin=8)
    print(
        f"embedded data: {args.positions} + {args.positions} positions, gridsize 2, "
        f"{args.epochs} epochs, {args.backend}"
    )
    rows = [_row("constant object", compare(np.ones_like(truth), truth, roi))]
    for iterations in sorted({args.refine, 100}):
        start = time.perf_counter()
        flat = refine_object(
            np.ones_like(truth),
            raw.probeGuess,
            raw.diff3d,
            raw.xcoords,
            raw.ycoords,
            iterations=iterations,
        )
        rows.append(
            _row(
                f"flat object + {iterations} refinement",
                compare(flat.object, truth, roi),
                time.perf_counter() - start,
            )
        )
    # each model is scored as soon as it exists: fine-tuning may train its initial model in place
    makers: list[tuple[str, Any]] = [
        ("pretrained model, no training", lambda: _pretrained(args.backend)),
        ("PINN, diffraction loss", lambda: _train(train.raw, args, 64, 2, False)),
        ("PINN, refined targets", lambda: _train(train.raw, args, 64, 2, True)),
        (
            "pretrained, fine-tuned",
            lambda: _train(train.raw, args, 64, 2, False, _pretrained(args.backend)),
        ),
    ]
    for label, make in makers:
        bundle = make()
        for iterations in (0, args.refine):
            recon, seconds = _reconstruct(bundle, raw, iterations)
            name = label if iterations == 0 else f"{label} + {iterations} refinement"
            rows.append(_row(name, compare(recon.object, truth, roi), seconds))
    print("\n".join(rows))


def siemens(args: argparse.Namespace) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ptycho.metrics import spoke_contrast
    from ptycho.tike_npz import load_tike_npz

    if not SIEMENS.is_file():
        raise SystemExit(f"the real scan is not there: {SIEMENS}")
    raw = load_tike_npz(SIEMENS)
    if args.model is not None:
        from ptycho.workflows.backend_selector import load_inference_bundle_with_backend

        model = args.model
        if str(model) == "pretrained":
            from ptycho.pretrained import archive_path

            model = archive_path()
        bundle = load_inference_bundle_with_backend(model, backend=args.backend)
        print(
            f"Siemens star: {len(raw)} patterns of {raw.N}x{raw.N}; model {model} (trained "
            f"at N={bundle.N}, never on this scan), {args.backend}"
        )
    else:
        print(
            f"Siemens star: {len(raw)} patterns of {raw.N}x{raw.N}, {args.epochs} epochs, "
            f"{args.backend}"
        )
        bundle = _train(raw, args, raw.N, 1, True)
    cx, cy = float(raw.xcoords.mean()), float(raw.ycoords.mean())
    radii = (60.0, 90.0, 120.0)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(1, 2, figsize=(12, 6))
    for ax, iterations in zip(axes, (0, args.refine), strict=True):
        recon, seconds = _reconstruct(bundle, raw, iterations, refine_probe=True)
        contrast = spoke_contrast(recon.object, cx, cy, radii)
        name = "PINN" if iterations == 0 else f"PINN + {iterations} refinement (probe too)"
        harmonics = [k for k, _ in contrast]
        verdict = "spokes" if max(harmonics) - min(harmonics) <= 4 else "no consistent spokes"
        print(
            f"{name:<40} spoke contrast {[round(r, 1) for _, r in contrast]} at radii "
            f"{radii} px, harmonics {harmonics}: {verdict} ({seconds:.1f} s)"
        )
        ax.imshow(np.angle(recon.object), cmap="twilight")
        ax.set_title(f"{name}: phase")
        ax.set_axis_off()
    png = args.output_dir / "siemens_star.png"
    fig.tight_layout()
    fig.savefig(png, dpi=80)
    plt.close(fig)
    print(f"figure: {png}")


#: ttq: refinement iterations sampled.
TTQ_ITERATIONS = (0, 5, 10, 15, 20, 25, 30, 40, 50, 60, 80, 100, 130, 160, 200)
#: ttq: phase SSIM targets (name -> (threshold, scored over the core instead of the region)).
TTQ_TARGETS = {"0.7 region": (0.7, False), "0.9 core": (0.9, True)}


def ttq_scan(family: str, probe: str) -> tuple[Any, np.ndarray, Any, Any]:
    """The ttq held-out scan (512 positions, N = 64, 1e6 photons, seed 4242): ``raw``, the true
    object, and the scanned region and its well-lit core (the region shrunk by N/4 = 16 px)."""
    from ptycho.metrics import scanned_roi
    from ptycho.simulation import simulate_dataset

    scan = simulate_dataset(
        N=64, n_positions=512, nphotons=1e6, seed=4242, probe_kind=probe, object_family=family
    )
    raw, truth = scan.raw, scan.object
    region = scanned_roi(raw.xcoords, raw.ycoords, 64, truth.shape, margin=8)
    core = scanned_roi(raw.xcoords, raw.ycoords, 64, truth.shape, margin=16)
    return raw, truth, region, core


def _score(
    label: str,
    obj: np.ndarray,
    seconds: float,
    count: int,
    scan: tuple[Any, np.ndarray, Any, Any],
    reached: dict[str, tuple[int, float] | None],
) -> None:
    """Print ``obj``'s amplitude / phase SSIM (region, core) and record in ``reached`` the first
    ``(count, seconds)`` at which each of :data:`TTQ_TARGETS` is met."""
    from ptycho.metrics import compare

    _, truth, region, core = scan
    m_region, m_core = compare(obj, truth, region), compare(obj, truth, core)
    print(
        f"  {label} {seconds:6.2f} s: amp {m_region['amp_ssim']:.3f} phase "
        f"{m_region['phase_ssim']:.3f} (core {m_core['phase_ssim']:.3f})",
        flush=True,
    )
    for goal, (threshold, on_core) in TTQ_TARGETS.items():
        value = (m_core if on_core else m_region)["phase_ssim"]
        if reached.get(goal) is None and value >= threshold:
            reached[goal] = (count, seconds)


def time_to_quality(args: argparse.Namespace) -> None:
    from ptycho.config.config import InferenceConfig
    from ptycho.refine import refine_object
    from ptycho.workflows.backend_selector import (
        load_inference_bundle_with_backend,
        reconstruct_with_backend,
    )

    if args.model is None:
        from ptycho.pretrained import archive_path

        args.model = archive_path()
    scan = ttq_scan(args.family, args.probe)
    raw, truth = scan[0], scan[1]
    bundle = load_inference_bundle_with_backend(args.model, backend=args.backend)
    config = InferenceConfig(model=bundle.model_config, backend=args.backend)
    reconstruct_with_backend(bundle, raw, config)  # warm-up (graph building, caches)
    start = time.perf_counter()
    network = reconstruct_with_backend(bundle, raw, config)
    predict_seconds = time.perf_counter() - start
    from ptycho.probe import normalize_probe

    probe = normalize_probe(raw.probeGuess)
    starts = {
        "flat object": (np.ones_like(truth), 0.0),
        "network": (network.object, predict_seconds),
    }
    print(
        f"ttq: {args.family}/{args.probe} scan, 512 positions, {args.backend} model "
        f"{args.model}; network prediction {predict_seconds:.2f} s"
    )
    targets = {}
    for name, (obj0, offset) in starts.items():
        filled = np.array(obj0, dtype=np.complex64)
        empty = filled == 0
        if empty.any() and not empty.all():
            filled[empty] = filled[~empty].mean()
        reached: dict[str, tuple[int, float] | None] = dict.fromkeys(TTQ_TARGETS)
        for iterations in TTQ_ITERATIONS:
            t0 = time.perf_counter()
            obj = (
                filled
                if iterations == 0
                else refine_object(
                    filled, probe, raw.diff3d, raw.xcoords, raw.ycoords, iterations=iterations
                ).object
            )
            seconds = offset + time.perf_counter() - t0
            _score(f"{name:<12} {iterations:4d} it", obj, seconds, iterations, scan, reached)
        targets[name] = reached
    for goal in TTQ_TARGETS:
        flat, net = targets["flat object"][goal], targets["network"][goal]
        text = " / ".join(
            f"{n}: {'not reached' if r is None else f'{r[0]} it, {r[1]:.2f} s'}"
            for n, r in (("flat", flat), ("network", net))
        )
        ratio = ""
        if flat and net and flat[0]:
            ratio = f"; iterations ratio {net[0] / flat[0]:.2f}, time ratio {net[1] / flat[1]:.2f}"
        print(f"phase SSIM {goal}: {text}{ratio}")
    if args.ptychi_python is not None:
        _ptychi_time_to_quality(args.ptychi_python, scan, probe, targets)


#: ttq: pty-chi epochs kept (its object scored at each).
PTYCHI_EPOCHS = (5, 10, 15, 20, 30, 40, 50, 65, 80, 100, 130, 160, 200)


def _ptychi_time_to_quality(
    python: Path,
    scan: tuple[Any, np.ndarray, Any, Any],
    probe: np.ndarray,
    ours: dict[str, dict[str, tuple[int, float] | None]],
) -> None:
    """pty-chi LSQML on the ttq scan (flat object, the known probe, one thread): phase SSIM
    against the truth at each kept epoch count (each object registered onto the truth, best of
    16 quarter-pixel shifts: generous to pty-chi) and its time to the two targets next to ours."""
    from ptychi_runner import QUARTER_SHIFTS, register, run_lsqml, shifted

    from ptycho.metrics import compare

    raw, truth, _, core = scan
    counts = np.asarray(raw.diff3d, dtype=np.float64) ** 2
    # the probe in the data's intensity scale (object ~ 1)
    power = counts.sum(axis=(1, 2)).mean() / float((np.abs(probe) ** 2).sum())
    height, width = truth.shape
    states = run_lsqml(
        python,
        counts,
        probe * np.sqrt(power),
        raw.xcoords - width / 2,
        raw.ycoords - height / 2,
        checkpoints=PTYCHI_EPOCHS,
        refine_probe=False,
        shape=(height, width),
    )
    print("pty-chi LSQML (Gaussian noise model, batch 96, known probe, flat object, one thread)")
    reached: dict[str, tuple[int, float] | None] = dict.fromkeys(TTQ_TARGETS)
    for state in states:
        on_grid = register(state.object, truth)
        candidates = [shifted(on_grid, dy, dx) for dy in QUARTER_SHIFTS for dx in QUARTER_SHIFTS]
        best = max(candidates, key=lambda obj: compare(obj, truth, core)["phase_ssim"])
        label = f"pty-chi {state.epochs:4d} epochs"
        _score(label, best, state.seconds, state.epochs, scan, reached)
    last = states[-1]
    for goal, hit in reached.items():
        # not reached: its whole run is a lower bound on its time
        seconds = last.seconds if hit is None else hit[1]
        text = f"{hit[0]} epochs, {hit[1]:.2f} s" if hit else f"not in {last.epochs} epochs"
        ratios = ", ".join(
            f"{name} {'<' if hit is None else ''}{mine[1] / seconds:.3f}"
            for name, mine in ((n, ours[n][goal]) for n in ("flat object", "network"))
            if mine is not None
        )
        print(f"pty-chi to phase SSIM {goal}: {text}; our time / pty-chi's: {ratios}")


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    _setup(args.threads)
    if args.dataset == "embedded":
        embedded(args)
    elif args.dataset == "ttq":
        time_to_quality(args)
    else:
        siemens(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
