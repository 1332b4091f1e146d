"""The checks that need a GPU, in well under five minutes on one.

1. ``eph``: EPH (:class:`hc_lib.eph.EPH`, float64, fixed seed) on a graph of
   :func:`hc_lib.datasets.load_graph` fitted on CUDA and on the CPU gives the same tree (parent
   arrays equal) and the same score. EPH draws its Gumbel noise from a generator on its own
   device, and CUDA's generator is not the CPU's, so the compared fits draw their noise from a
   CPU generator on both devices (:class:`HostNoiseEPH`; the same numbers, copied to the GPU):
   what is left to differ is the arithmetic. The stock EPH is timed on both devices too
   (steps per second).
2. ``cohiclust``: CoHiClust (:class:`hc_lib.cohiclust.CoHiClust`) with a ResNet-18 trains on
   synthetic CIFAR-shaped images (random uint8, 3 x 32 x 32) for one SimCLR epoch (a warm-up)
   and one tree epoch, in mixed precision (float16 autocast and gradient scaling, which the
   library turns on for CUDA); losses and scores must be finite and AMP on. Reports images per
   second of the tree epoch.

Writes a JSON (default ``results/gpu_check/<device>.json``) with provenance, torch and CUDA
versions, settings, timings and the outcome of each check; exits with 1 when a check fails.
Without a CUDA device it refuses in one line (exit 2), unless ``--allow-cpu``: then the same
checks run on the CPU (both sides of the EPH comparison on the CPU) with tiny sizes, for the
tests (``tests/test_gpu_check.py``)::

    python scripts/gpu_check.py
    python scripts/gpu_check.py --allow-cpu --threads 1 --out /tmp/gpu_check.json
"""
from __future__ import annotations

import argparse
import math
import re
import sys
import time
import traceback
from pathlib import Path

import numpy as np
import torch

from hc_lib.cohiclust import CoHiClust
from hc_lib.datasets import GRAPH_NAMES, load_graph
from hc_lib.eph import EPH
from hc_lib.records import provenance, write_json

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "results" / "gpu_check"
#: Sizes on a GPU, and the tiny ones of ``--allow-cpu`` without one (each overridable).
SIZES = {
    "gpu": {"graph": "polblogs", "eph_internal": 64, "eph_steps": 40, "eph_samples": 20,
            "images": 4096, "image_size": 32, "batch_size": 256, "backbone": "resnet18", "depth": 4},
    "cpu": {"graph": "polblogs", "eph_internal": 16, "eph_steps": 3, "eph_samples": 4,
            "images": 32, "image_size": 16, "batch_size": 16, "backbone": "resnet18", "depth": 2},
}
SCORE_RTOL = 1e-9


class HostNoiseEPH(EPH):
    """EPH drawing its Gumbel noise from a CPU generator whatever its device, so that fits on two
    devices with the same seed sample the same trees (one run only: ``n_restarts=0``)."""

    def _new_run(self, restart: int):
        if restart:
            raise ValueError("HostNoiseEPH supports n_restarts=0 only")
        run = super()._new_run(restart)
        # the seed EPH gives its first run
        run.generator = torch.Generator().manual_seed(0 if self.random_state is None else int(self.random_state))
        return run

    def _gumbel_softmax(self, weights, out, generator=None):
        if generator is not None:
            # the numbers out.uniform_ would draw on the CPU, in the same order; on every device
            # (the CPU included) the same code, so the tests here run the path CUDA takes
            out.copy_(torch.empty(out.shape, dtype=out.dtype).uniform_(generator=generator))
            generator = None
        return super()._gumbel_softmax(weights, out, generator)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _fit_eph(cls, adjacency, device: str, sizes: dict, seed: int):
    # the tree engine on both devices (the dense one draws its noise in one call, on the device)
    model = cls("dasgupta", n_internal=sizes["eph_internal"], n_steps=sizes["eph_steps"],
                n_samples=sizes["eph_samples"], engine="tree", device=device, dtype=torch.float64,
                random_state=seed, progress=False)
    _sync(device)
    start = time.perf_counter()
    model.fit(adjacency)
    _sync(device)
    seconds = time.perf_counter() - start
    return model, {"score": float(model.score_), "fit_seconds": seconds, "train_seconds": float(model.fit_time_),
                   "steps_per_second": sizes["eph_steps"] / model.fit_time_ if model.fit_time_ > 0 else None}


def check_eph(device: str, sizes: dict, seed: int) -> dict:
    """Fit on ``device`` and on the CPU: same tree and score with shared noise; timings of both."""
    adjacency, _ = load_graph(sizes["graph"])
    n_internal = min(sizes["eph_internal"], adjacency.shape[0] - 1)
    sizes = {**sizes, "eph_internal": n_internal}
    # a short untimed fit first: CUDA's start-up (context, kernels) is not EPH's speed
    _fit_eph(EPH, adjacency, device, {**sizes, "eph_steps": 2}, seed)
    record = {"graph": sizes["graph"], "n_nodes": int(adjacency.shape[0]), "n_internal": n_internal,
              "n_steps": sizes["eph_steps"], "n_samples": sizes["eph_samples"], "dtype": "float64", "seed": seed,
              "fits": []}
    fitted, stock = [], []
    for side in (device, "cpu"):
        shared, shared_timing = _fit_eph(HostNoiseEPH, adjacency, side, sizes, seed)
        plain, stock_timing = _fit_eph(EPH, adjacency, side, sizes, seed)
        fitted.append(shared)
        stock.append(plain)
        record["fits"].append({"device": side, "shared_noise": shared_timing, "stock": stock_timing})
    ours, cpu = fitted
    # for information only: with each device's own generator the samples, and so the trees, may differ
    record["stock_same_tree"] = bool(np.array_equal(stock[0].tree_.parent, stock[1].tree_.parent))
    same_tree = bool(np.array_equal(ours.tree_.parent, cpu.tree_.parent))
    score_gap = abs(ours.score_ - cpu.score_)
    same_score = bool(math.isfinite(ours.score_) and score_gap <= SCORE_RTOL * max(1.0, abs(cpu.score_)))
    differences = {name: float((getattr(ours.hierarchy_, name).cpu() - getattr(cpu.hierarchy_, name).cpu())
                               .abs().max()) for name in ("A", "B")}
    record.update({"same_tree": same_tree, "same_score": same_score, "score_difference": float(score_gap),
                   "max_abs_difference": differences, "passed": same_tree and same_score})
    return record


def check_cohiclust(device: str, sizes: dict, seed: int) -> dict:
    """One SimCLR epoch (warm-up) and one tree epoch of CoHiClust on random CIFAR-shaped images."""
    generator = torch.Generator().manual_seed(seed)
    side, n_images, batch = sizes["image_size"], sizes["images"], sizes["batch_size"]
    images = torch.randint(0, 256, (n_images, 3, side, side), dtype=torch.uint8, generator=generator)
    labels = np.arange(n_images) % 10
    leaves = 2 ** sizes["depth"]
    model = CoHiClust(depth=sizes["depth"], n_clusters=leaves, backbone=sizes["backbone"], pretrain_epochs=1,
                      epochs=1, batch_size=batch, prune_start=0, device=device, amp=True,
                      eval_size=min(n_images, 1024), random_state=seed, progress=False)
    start = time.perf_counter()
    model.fit(images, labels)
    _sync(device)
    seconds = time.perf_counter() - start
    warm_up, tree_epoch = model.history_
    trained = (n_images // batch) * batch
    scaler = getattr(model, "_scaler", None)
    amp = bool(scaler is not None and scaler.is_enabled())
    predicted = model.predict(images[:batch])
    finite = all(math.isfinite(record[key]) for record in model.history_ for key in ("loss", "nt_xent"))
    finite = finite and all(math.isfinite(tree_epoch[key]) for key in ("cohi", "r1", "nmi", "acc", "ari", "dp"))
    valid = bool(predicted.shape == (batch,) and np.all((predicted >= 0) & (predicted < leaves)))
    amp_ok = amp or not device.startswith("cuda")
    return {"backbone": sizes["backbone"], "depth": sizes["depth"], "images": n_images, "image_shape": [3, side, side],
            "batch_size": batch, "amp": amp, "grad_scale": float(scaler.get_scale()) if amp else None,
            "warm_up_epoch_seconds": warm_up["seconds"], "tree_epoch_seconds": tree_epoch["seconds"],
            "images_per_second": trained / tree_epoch["seconds"], "fit_seconds": seconds,
            "losses": {key: tree_epoch[key] for key in ("loss", "nt_xent", "cohi", "r1")},
            "scores_on_random_images": {key: tree_epoch[key] for key in ("nmi", "acc", "ari", "dp")},
            "finite": finite, "predictions_valid": valid, "passed": bool(finite and valid and amp_ok)}


def _device_slug(device: str) -> str:
    name = torch.cuda.get_device_name(0) if device.startswith("cuda") else "cpu"
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--allow-cpu", action="store_true",
                        help="without CUDA, run the same checks on the CPU with tiny sizes")
    parser.add_argument("--out", type=Path, help="the JSON to write (default results/gpu_check/<device>.json)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    parser.add_argument("--graph", choices=GRAPH_NAMES)
    for name in ("eph_internal", "eph_steps", "eph_samples", "images", "image_size", "batch_size", "depth"):
        parser.add_argument("--" + name.replace("_", "-"), type=int, dest=name)
    parser.add_argument("--backbone")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if torch.cuda.is_available():
        device = "cuda"
    elif args.allow_cpu:
        device = "cpu"
    else:
        print("gpu_check: no CUDA device here (torch.cuda.is_available() is False); run it on a GPU machine, "
              "or pass --allow-cpu to run the same checks on the CPU with tiny sizes", file=sys.stderr)
        return 2
    if args.threads:
        torch.set_num_threads(args.threads)
    sizes = {key: value if getattr(args, key) is None else getattr(args, key)
             for key, value in SIZES["gpu" if device == "cuda" else "cpu"].items()}
    record = {"script": "scripts/gpu_check.py", "device": device, "device_name": _device_slug(device),
              "torch": torch.__version__, "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version(),
              "torch_threads": torch.get_num_threads(), "sizes": sizes, "seed": args.seed,
              "provenance": provenance(device), "checks": {}}
    start = time.perf_counter()
    for name, check in (("eph", check_eph), ("cohiclust", check_cohiclust)):
        began = time.perf_counter()
        try:
            result = check(device, sizes, args.seed)
        except Exception as error:                  # a crash is a failed check, reported with the others
            result = {"passed": False, "error": f"{type(error).__name__}: {error}",
                      "traceback": traceback.format_exc()}
        result["seconds"] = time.perf_counter() - began
        record["checks"][name] = result
        print(f"{name}: {'passed' if result['passed'] else 'FAILED'} in {result['seconds']:.1f} s"
              + (f" ({result['error']})" if "error" in result else ""), flush=True)
    record["seconds"] = time.perf_counter() - start
    record["passed"] = all(result["passed"] for result in record["checks"].values())
    out = args.out or OUT_DIR / f"{record['device_name']}.json"
    write_json(out, record)
    eph, cohi = record["checks"]["eph"], record["checks"]["cohiclust"]
    if "fits" in eph:
        rates = ", ".join(f"{fit['device']} {fit['stock']['steps_per_second'] or float('nan'):.1f}"
                          for fit in eph["fits"])
        print(f"EPH steps/s (stock): {rates}")
    if "images_per_second" in cohi:
        print(f"CoHiClust {cohi['backbone']} images/s: {cohi['images_per_second']:.0f} (amp {cohi['amp']})")
    print(f"{'all checks passed' if record['passed'] else 'a check FAILED'}; wrote {out}")
    return 0 if record["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
