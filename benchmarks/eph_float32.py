"""EPH in float32 against float64 on the seven graphs of the tables (run on demand).

Each graph is fitted from the same start with the same seed once per precision, and the two
best trees are compared: their exact scores (computed in float64 either way), whether they are
the same tree, and the median step time of each. A second float64 fit with the next seed gives
the scale of the difference that the noise alone makes.

    python benchmarks/eph_float32.py --output results/benchmarks/eph_float32.json

The noise of the two fits is drawn from the same generator but in different precisions, so
the two runs are two samples of the same procedure, not one computation rounded two ways.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
from pathlib import Path

import torch

from hc_lib.datasets import load_graph
from hc_lib.eph import EPH, initial_tree
from hc_lib.records import provenance

GRAPHS = ("polblogs", "brain", "citeseer", "genes", "cora_ml", "openflight", "wiki_physics")


def fit(adjacency, init, objective: str, dtype, args) -> dict:
    model = EPH(objective, n_internal=init.n_internal, n_steps=args.steps, n_samples=args.samples,
                reset_every=args.reset_every, dtype=dtype, random_state=args.seed, progress=False)
    model.fit(adjacency, init_tree=init)
    seconds = model.history_["seconds"]
    return {"score": model.score_, "parent": model.tree_.parent.tolist(),
            "median_step_s": statistics.median(b - a for a, b in zip(seconds[1:], seconds[2:])),
            "fit_s": model.fit_time_}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--graphs", nargs="+", default=list(GRAPHS))
    parser.add_argument("--objective", default="dasgupta", choices=["dasgupta", "tsd"])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--reset-every", type=int, default=50)
    parser.add_argument("--n-internal", type=int, default=512)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default=None)
    args = parser.parse_args()
    report = {"benchmark": "eph_float32", **provenance(), "torch_threads": torch.get_num_threads(),
              "settings": vars(args), "load_average_before": os.getloadavg(), "rows": []}
    for name in args.graphs:
        adjacency, _ = load_graph(name)
        init = initial_tree(adjacency, min(args.n_internal, adjacency.shape[0] - 1))
        double = fit(adjacency, init, args.objective, torch.float64, args)
        single = fit(adjacency, init, args.objective, torch.float32, args)
        args.seed += 1
        other_seed = fit(adjacency, init, args.objective, torch.float64, args)
        args.seed -= 1
        row = {"graph": name, "float64": double["score"], "float32": single["score"],
               "relative_difference": (single["score"] - double["score"]) / abs(double["score"]),
               "float64_next_seed": other_seed["score"],
               "seed_relative_difference": (other_seed["score"] - double["score"]) / abs(double["score"]),
               "same_tree": double["parent"] == single["parent"],
               "step_s_float64": double["median_step_s"], "step_s_float32": single["median_step_s"],
               "speed_up": double["median_step_s"] / single["median_step_s"]}
        report["rows"].append(row)
        print(f"{name:>13}: float64 {row['float64']:.4f}, float32 {row['float32']:.4f} "
              f"({100 * row['relative_difference']:+.3f} %, same tree: {row['same_tree']}; next seed in float64: "
              f"{100 * row['seed_relative_difference']:+.3f} %); step "
              f"{row['step_s_float64']:.3f} s vs {row['step_s_float32']:.3f} s ({row['speed_up']:.2f}x)", flush=True)
        if args.output:                                   # every finished graph is kept
            report["load_average_after"] = os.getloadavg()
            Path(args.output).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
