"""Steps per second of EPH on tiny graphs, and the cost of finding their optimal tree (on demand).

The theory chapters, the course and the tests train many models on graphs of a few nodes,
where a step's fixed cost is everything. This times a 6-node graph's steps with both engines
(``engine="dense"``: all samples in one dense batch; ``"tree"``: one sample at a time with tree
operations), then the restarts + polish recipe on 9 random graphs of 4–7 nodes, checking each
against the exact optimum (:func:`hc_lib.baselines.optimal.optimal_tree`). ``--against COMMIT``
times an earlier version's steps the same way, in a process of its own, alternating the two
versions ``--rounds`` times and keeping each one's best median (on a shared machine, the round
that other work disturbed least).

    python benchmarks/eph_tiny.py --against 1c1bb79 --rounds 3 --output results/benchmarks/eph_tiny_cpu.json
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from hc_lib.baselines.optimal import optimal_tree
from hc_lib.eph import EPH
from hc_lib.records import provenance
from versions import checkouts, git, run_child


def random_weights(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    W = rng.random((n, n)) * (rng.random((n, n)) < 0.6)
    W = W + W.T
    W[0, 1] = W[1, 0] = 1.0
    return W


def steps_per_second(engine: str, n_steps: int, repeats: int) -> float:
    W = random_weights(6, 0)
    rates = []
    for repeat in range(repeats):
        model = EPH(n_internal=5, n_steps=n_steps, n_samples=20, engine=engine, random_state=repeat, progress=False)
        model.fit(W)
        rates.append(n_steps / model.history_["seconds"][-1])
    return statistics.median(rates)


def optimum_workload() -> dict:
    start, reached = time.perf_counter(), 0
    for index, n in enumerate((4, 5, 5, 6, 6, 6, 7, 7, 7)):
        W = random_weights(n, 100 + index)
        _, optimum = optimal_tree(W)
        model = EPH(n_internal=2 * n, n_steps=100, n_samples=5, n_restarts=9, polish=True, random_state=index,
                    progress=False).fit(W)
        reached += bool(abs(model.score_ - optimum) <= 1e-9 * optimum)
    return {"graphs": 9, "reached_optimum": reached, "seconds": time.perf_counter() - start}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--against", default=None, help="also time this earlier commit, side by side")
    parser.add_argument("--rounds", type=int, default=1, help="alternate the versions this many times")
    parser.add_argument("--output", default=None)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps({engine: steps_per_second(engine, args.steps, args.repeats) for engine in ("dense", "tree")}))
        return
    report = {"benchmark": "eph_tiny", **provenance(), "torch_threads": torch.get_num_threads(), "load_average_before": os.getloadavg()}
    if args.against:
        report["against"] = git("rev-parse", args.against)
    with checkouts(args.against) as versions:
        rounds = {version: [] for version in versions}
        for _ in range(args.rounds):
            for version, source in versions.items():
                rounds[version].append(run_child(source, __file__, ["--child", "--steps", args.steps,
                                                                    "--repeats", args.repeats], threads=1))
    for version, measured in rounds.items():
        prefix = "" if version == "current" else "against_"
        for engine in ("dense", "tree"):
            report[f"{prefix}steps_per_second_{engine}"] = max(rates[engine] for rates in measured)
            report[f"{prefix}rounds_{engine}"] = [rates[engine] for rates in measured]
            print(f"{version:>8}: 6-node graph, 20 samples, engine={engine}: "
                  f"{report[f'{prefix}steps_per_second_{engine}']:.0f} steps/s")
    report["optimum"] = optimum_workload()
    print(f"9 graphs of 4-7 nodes, 10 runs of 100 steps + polish each: optimum reached on "
          f"{report['optimum']['reached_optimum']}/9 in {report['optimum']['seconds']:.1f} s")
    report["load_average_after"] = os.getloadavg()
    if args.output:
        Path(args.output).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
