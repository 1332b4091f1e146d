"""Time and memory of one EPH training step, and of a full fit (run on demand, not in CI).

One step = 20 sampled trees, their scores and straight-through gradients (forward +
backward), the Adamax update and the projections, n' = 512, float64, as in the issue. The
official implementation takes a median 32.5 s per such step on polblogs on this machine kind
(1.5 s per sample, 1.4 GB peak; 70 s on wiki_physics).

    python benchmarks/eph_step.py                      # polblogs, cora_ml, wiki_physics
    python benchmarks/eph_step.py --graphs polblogs --fit-steps 10000 --device cuda

Peak memory is the process's maximum resident set size (CPU) or torch's peak allocation (CUDA).
"""
from __future__ import annotations

import argparse
import datetime
import json
import platform
import resource
import statistics
import subprocess
import time

import torch

from hc_lib.datasets import load_graph
from hc_lib.eph import EPH, initial_tree
from hc_lib.experiments import provenance


def peak_memory_mb(device: str) -> float:
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2 ** 20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def time_steps(name: str, n_internal: int, n_samples: int, repeats: int, device: str) -> dict:
    adjacency, _ = load_graph(name)
    start = time.perf_counter()
    init = initial_tree(adjacency, n_internal)
    init_seconds = time.perf_counter() - start
    model = EPH(n_internal=n_internal, n_samples=n_samples, n_steps=repeats, reset_every=0,
                device=device, random_state=0, progress=False).fit(adjacency, init_tree=init)
    seconds = [b - a for a, b in zip(model.history_["seconds"], model.history_["seconds"][1:])]
    return {"graph": name, "nodes": adjacency.shape[0], "n_internal": n_internal, "n_samples": n_samples,
            "median_step_s": statistics.median(seconds), "steps_timed": len(seconds),
            "init_s": init_seconds, "peak_memory_mb": peak_memory_mb(device)}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--graphs", nargs="+", default=["polblogs", "cora_ml", "wiki_physics"])
    parser.add_argument("--n-internal", type=int, default=512)
    parser.add_argument("--n-samples", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=10, help="steps timed per graph")
    parser.add_argument("--fit-steps", type=int, default=0, help="also time a full fit of this many steps")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--output", default=None, help="write the figures as JSON here")
    args = parser.parse_args()

    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    report = {"commit": commit, "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "device": args.device, "machine": provenance(args.device)["machine"], "torch": torch.__version__,
              "python": platform.python_version(), "torch_threads": torch.get_num_threads(), "steps": []}
    for name in args.graphs:
        row = time_steps(name, args.n_internal, args.n_samples, args.repeats, args.device)
        report["steps"].append(row)
        print(f"{name:>13}: median step {row['median_step_s']:.3f} s over {row['steps_timed']} steps "
              f"(n = {row['nodes']}, n' = {row['n_internal']}, {row['n_samples']} samples), "
              f"peak {row['peak_memory_mb']:.0f} MB; initialisation {row['init_s']:.1f} s")
        if args.fit_steps:
            adjacency, _ = load_graph(name)
            start = time.perf_counter()
            model = EPH(n_internal=args.n_internal, n_steps=args.fit_steps, device=args.device,
                        random_state=0, progress=True).fit(adjacency)
            row["fit_steps"], row["fit_s"], row["fit_score"] = args.fit_steps, time.perf_counter() - start, model.score_
            print(f"{'':>13}  full fit of {args.fit_steps} steps: {row['fit_s']:.0f} s, Dasgupta {model.score_:.2f}")
    if args.output:
        with open(args.output, "w") as handle:
            json.dump(report, handle, indent=2)


if __name__ == "__main__":
    main()
