"""Time and memory of one EPH training step (run on demand, not in CI).

One step = 20 sampled trees, their scores and straight-through gradients, the Adamax update,
the projections and the validation of the argmax tree, n' = 512, float64, from the published
start (average linkage compressed to n'). Every (graph, thread count) is timed in a process of
its own, so that its peak resident memory is its own; ``--against COMMIT`` times an earlier
version of the library the same way, side by side, in a temporary git worktree, alternating
the two versions ``--rounds`` times and keeping each one's fastest median (on a shared
machine, the round that other work disturbed least).

    python benchmarks/eph_step.py --output results/benchmarks/eph_step_cpu.json
    python benchmarks/eph_step.py --graphs polblogs --threads 1 --against 6822415
    python benchmarks/eph_step.py --graphs polblogs --dtype float32 --device cuda

Medians over ``--repeats`` steps after one warm-up step. Peak memory is the process's maximum
resident set size (CPU) or torch's peak allocation (CUDA). The load average is recorded: on a
shared machine a median is an upper bound.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

from versions import checkouts, git, run_child


def measure(graph: str, threads: int, repeats: int, n_internal: int, n_samples: int, dtype: str, device: str) -> dict:
    """Run in a child process: time ``repeats`` steps of one fit."""
    import resource

    import torch

    from hc_lib.datasets import load_graph
    from hc_lib.eph import EPH, initial_tree

    torch.set_num_threads(threads)
    adjacency, _ = load_graph(graph)
    start = time.perf_counter()
    init = initial_tree(adjacency, n_internal)
    init_seconds = time.perf_counter() - start
    model = EPH(n_internal=n_internal, n_samples=n_samples, n_steps=repeats + 1, reset_every=0, device=device,
                dtype=getattr(torch, dtype), random_state=0, progress=False).fit(adjacency, init_tree=init)
    seconds = model.history_["seconds"]
    steps = [b - a for a, b in zip(seconds[1:], seconds[2:])]          # the first step warms up
    if device.startswith("cuda"):
        peak = torch.cuda.max_memory_allocated() / 2 ** 20
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"graph": graph, "nodes": adjacency.shape[0], "threads": threads, "n_internal": n_internal,
            "n_samples": n_samples, "dtype": dtype, "median_step_s": statistics.median(steps),
            "steps_timed": len(steps), "init_s": init_seconds, "peak_memory_mb": peak, "score": model.score_}


def child_arguments(args, graph: str, threads: int) -> list:
    return ["--child", graph, threads, "--repeats", args.repeats, "--n-internal", args.n_internal,
            "--n-samples", args.n_samples, "--dtype", args.dtype, "--device", args.device]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--graphs", nargs="+", default=["polblogs", "cora_ml", "wiki_physics"])
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--n-internal", type=int, default=512)
    parser.add_argument("--n-samples", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=10, help="steps timed per graph")
    parser.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--against", default=None, help="also time this earlier commit, side by side")
    parser.add_argument("--rounds", type=int, default=1, help="alternate the versions this many times")
    parser.add_argument("--output", default=None, help="write the figures as JSON here")
    parser.add_argument("--child", nargs=2, metavar=("GRAPH", "THREADS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        row = measure(args.child[0], int(args.child[1]), args.repeats, args.n_internal, args.n_samples,
                      args.dtype, args.device)
        print(json.dumps(row))
        return

    import torch

    from hc_lib.records import provenance

    report = {"benchmark": "eph_step", **provenance(args.device), "repeats": args.repeats,
              "load_average_before": os.getloadavg(), "rows": []}
    if args.against:
        report["against"] = git("rev-parse", args.against)
    with checkouts(args.against) as versions:
        for graph in args.graphs:
            for threads in args.threads:
                rounds = {version: [] for version in versions}
                for _ in range(args.rounds):
                    for version, source in versions.items():
                        rounds[version].append(run_child(source, __file__, child_arguments(args, graph, threads),
                                                         threads))
                for version, measured in rounds.items():
                    row = {"version": version, **min(measured, key=lambda r: r["median_step_s"]),
                           "round_medians_s": [r["median_step_s"] for r in measured]}
                    report["rows"].append(row)
                    print(f"{version:>8} {graph:>13}, {threads} thread(s): "
                          f"median step {row['median_step_s']:.3f} s "
                          f"(n = {row['nodes']}, n' = {row['n_internal']}, {row['n_samples']} samples, "
                          f"{row['dtype']}), peak {row['peak_memory_mb']:.0f} MB", flush=True)
    report["load_average_after"] = os.getloadavg()
    report["torch_version"] = torch.__version__
    if args.output:
        Path(args.output).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
