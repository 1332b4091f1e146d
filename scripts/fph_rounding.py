"""How far FPH's path on brain moves with rounding: this library's FPH against an earlier run.

    python scripts/fph_rounding.py      # results/fph_rounding.json

FPH is deterministic from the published start, but its descent amplifies rounding. This reruns
the first epochs of the book's FPH configuration on brain (Dasgupta cost, n' = 512, 1 000-epoch
settings) and compares its relaxed cost epoch by epoch with the history of the earlier run kept
in ``results/eph/brain__FPH__dasgupta.json``: the relative difference per epoch, and the first
epoch at which the argmax trees' costs differ.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from hc_lib.experiments import run_experiment
from hc_lib.records import provenance, write_json

ROOT = Path(__file__).resolve().parent.parent
EARLIER = ROOT / "results" / "eph" / "brain__FPH__dasgupta.json"
EPOCHS = 60


def main():
    earlier = json.loads(EARLIER.read_text())
    _, _, record = run_experiment("brain", "FPH", "dasgupta", profile="full", n_steps=EPOCHS, progress=False)
    before = {key: np.asarray(earlier["history"][key][:EPOCHS + 1], dtype=float) for key in ("objective", "score")}
    now = {key: np.asarray(record["history"][key], dtype=float) for key in ("objective", "score")}
    relative = np.abs(now["objective"] - before["objective"]) / np.abs(before["objective"])
    differing = np.flatnonzero(now["score"] != before["score"])
    result = {
        "earlier_run": {"file": str(EARLIER.relative_to(ROOT)), "commit": earlier["provenance"]["commit"],
                        "final_dasgupta": earlier["dasgupta"]},
        "epochs": EPOCHS,
        "objective_relative_difference": [None if np.isnan(value) else float(value) for value in relative],
        "first_epoch_with_another_argmax_cost": int(differing[0]) if differing.size else None,
        "provenance": provenance(),
    }
    path = write_json(ROOT / "results" / "fph_rounding.json", result)
    print(f"relative difference of the relaxed cost at epochs 2, 10 and {EPOCHS}: "
          f"{relative[2]:.1e}, {relative[10]:.1e}, {relative[EPOCHS]:.1e}; argmax costs first differ at epoch "
          f"{result['first_epoch_with_another_argmax_cost']}; written to {path}")


if __name__ == "__main__":
    main()
