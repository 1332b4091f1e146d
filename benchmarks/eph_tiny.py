"""Steps per second of EPH on tiny graphs, and the cost of finding their optimal tree (on demand).

The theory chapters, the course and the tests train many models on graphs of a few nodes,
where a step's fixed cost is everything. This times a 6-node graph's steps with both engines
(``engine="dense"``: all samples in one dense batch; ``"tree"``: one sample at a time with tree
operations), then the restarts + polish recipe on 9 random graphs of 4–7 nodes, checking each
against the exact optimum (:func:`hc_lib.baselines.optimal.optimal_tree`).

    python benchmarks/eph_tiny.py --output results/benchmarks/eph_tiny_cpu.json
"""
from __future__ import annotations

import argparse
import datetime
import json
import platform
import statistics
import subprocess
import time
from pathlib import Path

import numpy as np
import torch

from hc_lib.baselines.optimal import optimal_tree
from hc_lib.eph import EPH
from hc_lib.records import provenance


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
    parser.add_argument("--output", default=None)
    args = parser.parse_args()
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    report = {"commit": commit, "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "machine": provenance()["machine"], "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
              "python": platform.python_version()}
    for engine in ("dense", "tree"):
        report[f"steps_per_second_{engine}"] = steps_per_second(engine, args.steps, args.repeats)
        print(f"6-node graph, 20 samples, engine={engine}: {report[f'steps_per_second_{engine}']:.0f} steps/s")
    report["optimum"] = optimum_workload()
    print(f"9 graphs of 4-7 nodes, 10 runs of 100 steps + polish each: optimum reached on "
          f"{report['optimum']['reached_optimum']}/9 in {report['optimum']['seconds']:.1f} s")
    if args.output:
        Path(args.output).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
