"""One run of a learned baseline row (UF, RSC, HypHC, gHHC) through run_experiment, saved as JSON.

    OMP_NUM_THREADS=1 .venv/bin/python scripts/learned_baselines.py polblogs RSC
    OMP_NUM_THREADS=1 .venv/bin/python scripts/learned_baselines.py zoo HypHC --full

writes ``results/learned_baselines/<dataset>_<method>[_full][_<tag>].json``: compressed to n' = 512
internal nodes (capped at n - 1) like the other baseline rows, or with ``--full`` at full
resolution (n' = n - 1: no compression). Extra estimator settings go as ``name=value``
(``n_epochs=50``), read as Python literals.
"""
from __future__ import annotations

import argparse
import ast
import time
from pathlib import Path

from hc_lib.experiments import run_experiment
from hc_lib.records import write_json

OUT = Path(__file__).resolve().parent.parent / "results" / "learned_baselines"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset")
    parser.add_argument("method", choices=["UF", "RSC", "HypHC", "gHHC"])
    parser.add_argument("settings", nargs="*", help="estimator settings as name=value")
    parser.add_argument("--full", action="store_true", help="no compression (n' = n - 1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tag", default="", help="appended to the file name")
    args = parser.parse_args()
    settings = {}
    for item in args.settings:
        name, _, value = item.partition("=")
        settings[name] = ast.literal_eval(value)
    start = time.perf_counter()
    _, _, record = run_experiment(args.dataset, args.method, "dasgupta", seed=args.seed, progress=False,
                                  n_internal=10 ** 9 if args.full else 512, **settings)
    record["script_wall_time_s"] = time.perf_counter() - start      # data loading and scoring included
    suffix = ("_full" if args.full else "") + (f"_{args.tag}" if args.tag else "")
    path = write_json(OUT / f"{args.dataset}_{args.method}{suffix}.json", record)
    print(f"{path.name}: dasgupta {record['dasgupta']:.2f} (published {record['published']}), "
          f"n' {record['n_internal']}, fit {record['wall_time_s']:.1f} s")


if __name__ == "__main__":
    main()
