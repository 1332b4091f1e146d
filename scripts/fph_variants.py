"""FPH protocol variants: does any of them give the poster's FPH cells?

    python scripts/fph_variants.py run [--only zoo iris digits polblogs:tsd ...] [--variants a b c ...]
    python scripts/fph_variants.py report

Every variant is one run of :class:`hc_lib.eph.FPH` at the published 1 000 epochs with
n' = min(512, n - 1) internal nodes, on zoo, iris, glass, digits (Dasgupta) and polblogs
(Dasgupta, then TSD); the estimator does the work, this script only varies its arguments:

a  published protocol: the best validated argmax tree, the start included (read from the tables' runs when there)
b  the argmax tree of the last epoch instead of the best one (from the history of a, no new run)
c  the best argmax tree of epochs 1..1000, the start excluded (from the history of a, no new run)
d  random initialisation (``init="random"``), seeds 0, 1 and 2: each one, and the best of the three
e  the modern start: scikit-network average linkage + exact greedy Dasgupta compression (``published=False``)
f  float32 (``dtype=torch.float32``), the default dtype of the official FPH model
g  the published start plus 2 random restarts (``n_restarts=2``), the best of all three runs

``run`` writes one JSON per (dataset, objective, variant) under ``results/fph_variants/``
(atomically, with provenance) and skips the finished ones, so it can be stopped and restarted;
variant d is saved after each seed, and a runs after d-g so that it can be read from the
tables' 1 000-epoch runs (``results/eph``) when
they have been written meanwhile. ``report`` writes ``results/fph_variants.md``: per dataset,
each variant's score beside the poster's FPH cell (a typed reference, never a result) and our
average-linkage start, and which variant, if any, lands within 0.2 % of the poster's cell.

Scores are exact: the Dasgupta cost, and for TSD ``100 TSD / I`` on the legacy scale of the
published tables. Variants b and c of a TSD run come from the history, which holds the correct
TSD only (the legacy score needs the tree), so they are not compared with the poster.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from hc_lib.eph import FPH, initial_tree
from hc_lib.experiments import load_dataset
from hc_lib.metrics import dasgupta_cost, legacy_tree_sampling_divergence, tree_sampling_divergence
from hc_lib.published import published
from hc_lib.records import provenance, write_json

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "results" / "fph_variants"
# where the tables keep their 1 000-epoch FPH runs
PUBLISHED_RUNS = (ROOT / "results" / "eph",)
REPORT = ROOT / "results" / "fph_variants.md"
EPOCHS = 1000
MAX_INTERNAL = 512
TOLERANCE = 0.002                     # "lands on the poster's cell": within 0.2 %
CELLS = [("zoo", "dasgupta"), ("iris", "dasgupta"), ("glass", "dasgupta"), ("polblogs", "dasgupta"),
         ("digits", "dasgupta"), ("polblogs", "tsd")]
VARIANTS = {
    "a": "published protocol: best validated argmax tree, start included",
    "b": "argmax tree of the last epoch",
    "c": "best argmax tree of epochs 1..1000, start excluded",
    "d": "random initialisation, seeds 0, 1, 2 (each; best of three)",
    "e": "modern start (scikit-network AL + exact greedy compression)",
    "f": "float32, the official model's default dtype",
    "g": "published start + 2 random restarts, best of all",
}
# a, b and c last: a's run may meanwhile have been written by the tables' 1 000-epoch runs
RUN_ORDER = ("d", "e", "f", "g", "a", "b", "c")
# the FPH arguments of each run of a variant (b and c have none: they read a's history)
RUNS = {
    "a": [("published", {})],
    "d": [(f"seed {seed}", {"init": "random", "random_state": seed}) for seed in (0, 1, 2)],
    "e": [("modern start", {})],
    "f": [("float32", {"dtype": torch.float32})],
    "g": [("2 restarts", {"n_restarts": 2, "random_state": 0})],
}


def exact_scores(graph, objective: str, tree) -> dict:
    """The tree's score on the poster's scale, and for TSD also the correct TSD."""
    if objective == "dasgupta":
        return {"score": dasgupta_cost(graph, tree)}
    return {"score": legacy_tree_sampling_divergence(graph, tree), "tsd_correct": tree_sampling_divergence(graph, tree)}


def _compact(history) -> dict:
    """Per epoch: the exact score of the argmax tree and the relaxed (soft) objective."""
    return {key: [round(float(value), 8) for value in history[key]] for key in ("score", "objective")}


def fit_once(graph, objective: str, k: int, label: str, options: dict, start=None) -> dict:
    """One FPH fit of the published length; its returned tree, scored exactly, and its history."""
    began = time.perf_counter()
    model = FPH(objective, k, n_steps=EPOCHS, progress=False, **options).fit(graph, init_tree=start)
    seconds = time.perf_counter() - began
    settings = {key: (str(value) if key == "dtype" else value) for key, value in model.get_params().items()
                if key not in ("progress", "checkpoint_dir")}
    return {"label": label, **exact_scores(graph, objective, model.tree_), "wall_time_s": seconds,
            "settings": settings, "restart_scores": [float(value) for value in model.restart_scores_],
            "best_restart": int(model.best_restart_), "history": _compact(model.history_)}


def _path(dataset: str, objective: str, variant: str) -> Path:
    return OUT / f"{dataset}__{objective}__{variant}.json"


def _published_run(dataset: str, objective: str, k: int) -> dict | None:
    """Variant a from the 1 000-epoch runs of the tables, when one with these settings is there."""
    for folder in PUBLISHED_RUNS:
        path = folder / f"{dataset}__FPH__{objective}.json"
        if not path.exists():
            continue
        record = json.loads(path.read_text())
        settings = record.get("settings", {})
        published_protocol = {"n_steps": EPOCHS, "dtype": "float64", "init": "average_linkage", "n_restarts": 0,
                              "lr": None, "polish": False, "tsd_loss": "published"}
        if (record.get("n_internal") == k and "history" in record
                and all(settings.get(key, value) == value for key, value in published_protocol.items())):
            break
    else:
        return None
    run = {"label": "published", "score": record["dasgupta"] if objective == "dasgupta" else record["tsd_legacy"],
           "wall_time_s": record["wall_time_s"], "settings": settings, "source": str(path.relative_to(ROOT)),
           "source_provenance": record.get("provenance"), "history": _compact(record["history"])}
    if objective == "tsd":
        run["tsd_correct"] = record["tsd"]
    return run


def _from_history(a_record: dict, variant: str) -> dict:
    """Variants b and c: an argmax tree of run a picked by another rule."""
    scores = a_record["runs"][0]["history"]["score"]
    if variant == "b":
        epoch = len(scores) - 1
    else:
        sign = 1 if a_record["objective"] == "dasgupta" else -1
        epoch = min(range(1, len(scores)), key=lambda i: sign * scores[i])
    run = {"label": f"epoch {epoch}", "epoch": epoch, "wall_time_s": 0.0}
    if a_record["objective"] == "dasgupta":
        run["score"] = scores[epoch]
    else:                        # the history holds the correct TSD only
        run["score"], run["tsd_correct"] = None, scores[epoch]
    return run


def _record(dataset, objective, variant, k, start_scores, runs, complete) -> dict:
    best = None
    comparable = [run for run in runs if run["score"] is not None]
    if comparable:
        best = (min if objective == "dasgupta" else max)(run["score"] for run in comparable)
    reference = published("FPH", dataset, objective)
    return {"dataset": dataset, "objective": objective, "variant": variant, "description": VARIANTS[variant],
            "n_internal": k, "epochs": EPOCHS, "score": best, "published_fph": reference,
            "published_al": published("AL", dataset, objective), "start": start_scores,
            "ratio_to_published": best / reference if best is not None and reference else None,
            "ratio_to_start": best / start_scores["score"] if best is not None else None,
            "complete": complete, "runs": runs, "provenance": provenance()}


def run_cell(dataset: str, objective: str, variants=None):
    """The variants (default: all) of one (dataset, objective) cell that are not finished yet."""
    wanted = [variant for variant in RUN_ORDER if variants is None or variant in variants]
    if ("b" in wanted or "c" in wanted) and "a" not in wanted:
        wanted = ["a", *wanted]                      # b and c read a's history
    paths = {variant: _path(dataset, objective, variant) for variant in VARIANTS}
    done = {variant: json.loads(path.read_text()) for variant, path in paths.items() if path.exists()}
    if all(variant in done and done[variant].get("complete") for variant in wanted):
        print(f"{dataset} {objective}: done", flush=True)
        return
    graph, _, _ = load_dataset(dataset)
    k = min(MAX_INTERNAL, graph.shape[0] - 1)
    start_scores = exact_scores(graph, objective, initial_tree(graph, k))
    for variant in sorted(wanted, key=RUN_ORDER.index):
        record = done.get(variant)
        if record is not None and record.get("complete"):
            continue
        began = time.perf_counter()
        if variant in ("b", "c"):
            record = _record(dataset, objective, variant, k, start_scores,
                             [_from_history(done["a"], variant)], True)
        else:
            runs = list(record["runs"]) if record else []
            for label, options in RUNS[variant][len(runs):]:
                if variant == "a" and (previous := _published_run(dataset, objective, k)) is not None:
                    runs.append(previous)
                    continue
                start = initial_tree(graph, k, published=False) if variant == "e" else None
                run = fit_once(graph, objective, k, label, {**options}, start)
                if start is not None:
                    run["start"] = exact_scores(graph, objective, start)
                runs.append(run)
                complete = len(runs) == len(RUNS[variant])
                write_json(paths[variant], _record(dataset, objective, variant, k, start_scores, runs, complete))
            record = _record(dataset, objective, variant, k, start_scores, runs, True)
        write_json(paths[variant], record)
        done[variant] = record
        seconds = sum(run["wall_time_s"] for run in record["runs"])
        print(f"{dataset} {objective} {variant}: {record['score']} ({seconds:.1f} s of fitting, "
              f"{time.perf_counter() - began:.1f} s here)", flush=True)


def run(args):
    cells = CELLS if not args.only else [cell for cell in CELLS
                                         if f"{cell[0]}:{cell[1]}" in args.only
                                         or (cell[1] == "dasgupta" and cell[0] in args.only)]
    for dataset, objective in cells:
        began = time.perf_counter()
        run_cell(dataset, objective, args.variants)
        print(f"{dataset} {objective}: {time.perf_counter() - began:.1f} s", flush=True)


def _fmt(value, digits=2):
    return "–" if value is None else f"{value:.{digits}f}"


def _rows(record) -> list:
    """(variant label, score, ratio to the poster, ratio to the start, fitting seconds) rows."""
    start, reference = record["start"], record["published_fph"]
    rows = []
    for run in record["runs"]:
        label = record["variant"] + (f" ({run['label']})" if len(record["runs"]) > 1 or record["variant"] in "bc"
                                     else "")
        score, correct = run["score"], run.get("tsd_correct")
        if score is None:                      # TSD from the history: correct scale only
            rows.append((label, f"{_fmt(correct)} (correct TSD)", "–",
                         _fmt(correct / start["tsd_correct"], 3), run["wall_time_s"], None))
            continue
        rows.append((label, _fmt(score), _fmt(score / reference if reference else None, 3),
                     _fmt(score / start["score"], 3), run["wall_time_s"], score / reference if reference else None))
    if len(record["runs"]) > 1 and record["score"] is not None:
        score = record["score"]
        rows.append((f"{record['variant']} (best)", _fmt(score), _fmt(record["ratio_to_published"], 3),
                     _fmt(record["ratio_to_start"], 3), None, record["ratio_to_published"]))
    return rows


def _after_start(a_record) -> str:
    """When run a's argmax tree first scores differently from the start, the best score after
    that, and (Dasgupta) how many of its epochs land on the poster's cell."""
    scores = a_record["runs"][0]["history"]["score"]
    changed = [epoch for epoch in range(1, len(scores)) if scores[epoch] != scores[0]]
    if not changed:
        return "The argmax tree of run a never leaves the start."
    first = changed[0]
    sign = 1 if a_record["objective"] == "dasgupta" else -1
    best = min(scores[first:], key=lambda value: sign * value)
    unit = "" if a_record["objective"] == "dasgupta" else " (correct TSD)"
    text = (f"The argmax tree of run a first scores differently from the start at epoch {first} (before "
            f"that, variant c's candidates score as the start does); the best argmax tree from there on "
            f"scores {best:.2f}{unit}.")
    reference = a_record["published_fph"]
    if a_record["objective"] == "dasgupta" and reference:
        hits = sum(abs(value / reference - 1) <= TOLERANCE for value in scores)
        text += (f" Epochs of run a whose argmax tree lands on the poster's cell: {hits} of {len(scores)} "
                 "(the start counted as epoch 0), so no rule that picks one of them can give it"
                 if hits == 0 else
                 f" Epochs of run a whose argmax tree lands on the poster's cell: {hits} of {len(scores)}"
                 " (the start counted as epoch 0)") + "."
    return text


def _runs_section(records) -> list:
    """How the runs were made: the command, the machine and the fitting time per cell."""
    lines = ["## Runs", "",
             "Made with `OMP_NUM_THREADS=1 python scripts/fph_variants.py run --only zoo iris glass`, then "
             "`--only polblogs`, `--only digits` and `--only polblogs:tsd --variants a b c` (one process at a "
             "time, on a CPU shared with other jobs, so the times are upper bounds). Fitting time: the sum over "
             "the runs made here; runs read from the tables' runs are not counted.", "",
             "| dataset | objective | variants run here | fitting time (s) | machine | commit |", "|---|---|---|---|---|---|"]
    cells = {}
    for record in records:
        cells.setdefault((record["dataset"], record["objective"]), []).append(record)
    for dataset, objective in CELLS:
        group = cells.get((dataset, objective))
        if not group:
            continue
        here = [record for record in group if record["variant"] not in "bc"
                and not any("source" in run for run in record["runs"])]
        seconds = sum(run["wall_time_s"] for record in here for run in record["runs"])
        provenance_ = group[0]["provenance"]
        lines.append(f"| {dataset} | {objective} | {', '.join(sorted(r['variant'] for r in here)) or '–'} | "
                     f"{seconds:.0f} | {provenance_['machine']} | {provenance_['commit'][:10]} |")
    return lines


def report(_args):
    records = [json.loads(path.read_text()) for path in sorted(OUT.glob("*.json"))]
    if not records:
        sys.exit(f"no runs under {OUT.relative_to(ROOT)}")
    by_cell = {}
    for record in records:
        by_cell.setdefault((record["dataset"], record["objective"]), {})[record["variant"]] = record
    lines = ["# FPH protocol variants against the poster's FPH cells", "",
             "Generated by `python scripts/fph_variants.py report` from the runs in `results/fph_variants/` "
             "(one JSON per dataset, objective and variant, with provenance and per-epoch history). "
             f"Every run is `hc_lib.eph.FPH` at {EPOCHS} epochs with n' = min({MAX_INTERNAL}, n − 1); "
             "scores are exact (Dasgupta cost, lower is better; TSD as 100 TSD / I on the legacy scale of the "
             "published tables, higher is better). The poster's FPH and AL cells are typed references, not "
             "results. \"AL start\" is the published initial tree (average linkage compressed to n'), scored "
             "here.", "", "Variants:", ""]
    lines += [f"* **{variant}**: {description}" for variant, description in VARIANTS.items()]
    lines += ["", f"A variant *lands on* the poster's cell when its score is within {100 * TOLERANCE:.1f} % of it.",
              ""]
    for dataset, objective in CELLS:
        cell = by_cell.get((dataset, objective))
        if not cell:
            continue
        first = next(iter(cell.values()))
        lines += [f"## {dataset}, {'Dasgupta cost' if objective == 'dasgupta' else 'TSD (legacy scale)'}", "",
                  f"Poster (reference): FPH {_fmt(first['published_fph'])}, AL {_fmt(first['published_al'])}. "
                  f"Our AL start: {_fmt(first['start']['score'])}"
                  + (f" (correct TSD {_fmt(first['start']['tsd_correct'])})" if objective == "tsd" else "")
                  + f"; n' = {first['n_internal']}.", "",
                  "| variant | score | ratio to the poster's FPH | ratio to the AL start | fitting time (s) |",
                  "|---|---|---|---|---|"]
        hits, closest = [], None
        for variant in VARIANTS:
            record = cell.get(variant)
            if record is None:
                lines.append(f"| {variant} | not run | | | |")
                continue
            suffix = "" if record.get("complete", True) else " (incomplete)"
            for label, score, ratio, to_start, seconds, raw in _rows(record):
                source = " †" if any("source" in run for run in record["runs"]) and variant == "a" else ""
                lines.append(f"| {label}{suffix}{source} | {score} | {ratio} | {to_start} | "
                             f"{'' if seconds is None else f'{seconds:.1f}'} |")
                if raw is not None:                 # (histories keep 8 decimals: compare to 1e-6)
                    if abs(raw - 1) <= TOLERANCE:
                        hits.append(label)
                    if closest is None or round(abs(raw - 1), 6) < round(abs(closest[1] - 1), 6):
                        closest = (label, raw)
        if "a" in cell and any("source" in run for run in cell["a"]["runs"]):
            lines += ["", f"† read from `{cell['a']['runs'][0]['source']}` (the same protocol and settings)."]
        if "a" in cell:
            lines += ["", _after_start(cell["a"])]
        verdict = (f"lands on the poster's cell: {', '.join(hits)}" if hits else
                   "no variant lands within 0.2 % of the poster's cell"
                   + (f" (closest: {closest[0]}, ratio {closest[1]:.3f})" if closest else ""))
        lines += ["", f"**Verdict ({dataset}{', TSD' if objective == 'tsd' else ''}):** {verdict}.", ""]
    lines += _runs_section(records)
    REPORT.write_text("\n".join(lines).rstrip() + "\n")
    print(f"wrote {REPORT.relative_to(ROOT)}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="run the variants that are not finished")
    run_parser.add_argument("--only", nargs="+", help="datasets (Dasgupta) or dataset:objective, e.g. polblogs:tsd")
    run_parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), help="only these variants (default: all)")
    commands.add_parser("report", help="write results/fph_variants.md")
    args = parser.parse_args(argv)
    (run if args.command == "run" else report)(args)


if __name__ == "__main__":
    main()
