"""``hc-repro report``: the finished runs of every sweep as paper-style tables.

For each sweep folder ``results/runs/NAME/`` (written by ``hc-repro run``) this writes

* ``results/NAME.csv``: one row per finished run, every scalar of its metrics JSON;
* ``results/NAME_summary.csv``: one row per table cell: runs, mean, std, published, ratio, best;
* ``results/NAME.md``: the tables, rows = methods and columns = datasets as in the papers, each
  cell **mean ± std over seeds** with the published value and ours / published beside it, the
  best mean of each column in bold;
* ``results/NAME_<table>.png``: a figure per table, and ``results/NAME_<table>_curves.png``: the
  learning curves of the table's learned runs (the best score against the step), to show whether
  a run had converged within its budget (:mod:`hc_lib.repro.figures`).

What a table shows is the ``report`` entry of the sweep file: one mapping or a list of them, with
``value`` (a key of the metrics JSON, dotted for nested ones: ``scores.nmi``), ``better``
(``lower`` or ``higher``), and optionally ``title``, ``rows`` (default ``method``; a list of keys
labels each row with their values joined), ``columns`` (default ``dataset``), ``published``
(default ``published``; ``null`` for none), ``row_name`` (the row label when the runs have no
``rows`` key), ``name`` (for the file names), ``where`` (a mapping of keys to values, or lists of
values, that a run must have to enter the table: ``where: {objective: tsd}``) and ``at_steps``
(steps at which to tabulate the learned runs' best score so far, read off their learning curves:
``at_steps: [200, 1000, 10000]``). A key missing from the metrics JSON is looked up in the run's
parameters.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from hc_lib.repro.figures import plot_curves, plot_table
from hc_lib.repro.sweep import expand

__all__ = ["curve_table", "load_runs", "markdown_table", "summarise", "table_specs", "write_report"]


#: the column of :func:`load_runs` that holds each run's learning curve (a dict of lists, or None)
CURVE = "_curve"


def table_specs(sweep: dict) -> list[dict]:
    """The sweep's ``report`` entries with their defaults filled in.

    >>> [spec["title"] for spec in table_specs({"report": {"value": "dasgupta", "better": "lower"}})]
    ['dasgupta']
    """
    entries = sweep.get("report") or []
    entries = [entries] if isinstance(entries, dict) else list(entries)
    specs = []
    for entry in entries:
        if "value" not in entry:
            raise ValueError(f"report entry {entry} names no 'value' to tabulate")
        spec = {"title": entry["value"], "rows": "method", "columns": "dataset", "published": "published",
                "better": "lower", "row_name": sweep.get("name", "run"),
                "name": str(entry["value"]).replace(".", "_"), **entry}
        if spec["better"] not in ("lower", "higher"):
            raise ValueError(f"report entry {entry['value']!r}: 'better' is 'lower' or 'higher', not {spec['better']!r}")
        specs.append(spec)
    return specs


def _flatten(record: dict, prefix: str = "") -> dict:
    """Scalars of a nested dict under dotted keys; lists (training curves) are left out."""
    flat = {}
    for key, value in record.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        elif value is None or isinstance(value, (str, int, float, bool)):
            flat[f"{prefix}{key}"] = value
    return flat


def load_runs(sweep_dir) -> tuple[dict, pd.DataFrame, int]:
    """``(sweep, runs, n_failed)``: the sweep's settings, one flattened row per finished run (its
    learning curve, if it has one, in the column ``CURVE``), and how many runs failed (an
    ``error.json`` and no metrics)."""
    sweep_dir = Path(sweep_dir)
    sweep_file = sweep_dir / "sweep.json"
    if not sweep_file.is_file():
        raise FileNotFoundError(f"{sweep_dir} has no sweep.json: not a folder written by `hc-repro run`")
    sweep = json.loads(sweep_file.read_text())
    # only the runs of the sweep as it was last run: runs of an older grid or older fixed
    # parameters (other run ids) stay on disk but are not mixed into the tables
    current = {run.run_id for run in expand(sweep)} if sweep.get("grid") is not None else None
    rows, failed = [], 0
    for run_dir in sorted(path for path in sweep_dir.iterdir() if path.is_dir() and not path.name.startswith(".")):
        if current is not None and run_dir.name not in current:
            continue
        if (run_dir / "metrics.json").is_file():
            record = json.loads((run_dir / "metrics.json").read_text())
            rows.append({**_flatten(record), CURVE: record.get("curve")})
        elif (run_dir / "error.json").is_file():
            failed += 1
    return sweep, pd.DataFrame(rows), failed


def _column(runs: pd.DataFrame, key, default=None) -> pd.Series:
    if isinstance(key, list):          # rows named by several keys: their values joined
        parts = [_column(runs, part, "").map(lambda value: "" if pd.isna(value) else str(value)) for part in key]
        return parts[0].str.cat(parts[1:], sep=", ") if len(parts) > 1 else parts[0]
    for name in (key, f"run.parameters.{key}"):
        if key is not None and name in runs:
            return runs[name]
    return pd.Series([default] * len(runs), index=runs.index, dtype=object)


def summarise(runs: pd.DataFrame, spec: dict, sweep: dict | None = None) -> pd.DataFrame:
    """One row per (row, column) cell: ``n``, ``mean``, ``std`` (over seeds, ddof 1), ``published``,
    ``ratio`` (mean / published) and ``best`` (the best mean of its column, if it has several rows). Rows and columns
    come in the order of the sweep's grid.

    >>> runs = pd.DataFrame({"method": ["A", "A", "B"], "dataset": ["x", "x", "x"],
    ...                      "cost": [1.0, 3.0, 4.0], "published": [2.0, 2.0, None]})
    >>> summarise(runs, table_specs({"report": {"value": "cost"}})[0])[["row", "n", "mean", "std", "ratio", "best"]]
      row  n  mean       std  ratio   best
    0   A  2   2.0  1.414214    1.0   True
    1   B  1   4.0       NaN    NaN  False
    >>> spec = table_specs({"report": {"value": "cost", "where": {"method": "B"}}})[0]
    >>> summarise(runs, spec)[["row", "n", "mean"]]
      row  n  mean
    0   B  1   4.0
    """
    runs = _selected(runs, spec)
    values = pd.to_numeric(_column(runs, spec["value"]), errors="coerce")
    frame = pd.DataFrame({"row": _column(runs, spec["rows"], spec["row_name"]).fillna(spec["row_name"]).astype(str),
                          "column": _column(runs, spec["columns"], "").fillna("").astype(str),
                          "value": values,
                          "published": pd.to_numeric(_column(runs, spec["published"]), errors="coerce")})
    frame = frame[frame["value"].notna()]
    cells = []
    for (row, column), group in frame.groupby(["row", "column"], sort=False):
        published = group["published"].dropna()
        mean = float(group["value"].mean())
        reference = float(published.iloc[0]) if len(published) else math.nan
        cells.append({"table": spec["name"], "row": row, "column": column, "n": len(group), "mean": mean,
                      "std": float(group["value"].std(ddof=1)) if len(group) > 1 else math.nan,
                      "published": reference, "ratio": mean / reference if reference else math.nan})
    summary = pd.DataFrame(cells, columns=["table", "row", "column", "n", "mean", "std", "published", "ratio"])
    rank = {}
    for key, part in (("row", spec["rows"]), ("column", spec["columns"])):
        order = _grid_order(sweep or {}, part, summary[key])
        rank[key] = summary[key].map({value: i for i, value in enumerate(order)})
    summary = summary.iloc[np.lexsort((rank["row"], rank["column"]))].reset_index(drop=True)
    best = summary.groupby("column")["mean"].transform("min" if spec["better"] == "lower" else "max")
    # "best" only means something where there is more than one row to compare
    summary["best"] = (summary["mean"] == best) & (summary.groupby("column")["row"].transform("size") > 1)
    return summary


def _selected(runs: pd.DataFrame, spec: dict) -> pd.DataFrame:
    """The runs that enter a table: those matching its ``where``."""
    for key, wanted in (spec.get("where") or {}).items():
        wanted = wanted if isinstance(wanted, list) else [wanted]
        runs = runs[_column(runs, key).isin(wanted)]
    return runs


def _curves(runs: pd.DataFrame, spec: dict) -> pd.DataFrame:
    """``row``, ``column`` and ``curve`` of every run of a table that has a learning curve."""
    runs = _selected(runs, spec)
    frame = pd.DataFrame({"row": _column(runs, spec["rows"], spec["row_name"]).fillna(spec["row_name"]).astype(str),
                          "column": _column(runs, spec["columns"], "").fillna("").astype(str),
                          "curve": runs[CURVE] if CURVE in runs else None})
    return frame[frame["curve"].map(lambda curve: isinstance(curve, dict) and len(curve.get("step", [])) > 1)]


def curve_table(curves: pd.DataFrame, steps, rows: str = "method", columns: str = "dataset") -> str:
    """A Markdown table of the best score so far at each of ``steps``: one line per cell of the
    table (row and column) that has learning curves, the mean over its runs of the last recorded
    point at or before each step. A step past the end of any of the cell's runs is left blank.

    >>> curves = pd.DataFrame({"row": ["EPH", "EPH"], "column": ["g", "g"],
    ...                        "curve": [{"step": [0, 10, 20], "best": [5.0, 3.0, 2.0]},
    ...                                  {"step": [0, 10, 20], "best": [5.0, 4.0, 4.0]}]})
    >>> print(curve_table(curves, [0, 15, 20, 40]))
    | method | dataset | runs | step 0 | step 15 | step 20 | step 40 |
    |---|---|---|---|---|---|---|
    | EPH | g | 2 | 5.00 | 3.50 | 3.00 |  |
    """
    steps = [int(step) for step in steps]
    lines = [f"| {rows} | {columns} | runs | " + " | ".join(f"step {step}" for step in steps) + " |",
             "|---" * (len(steps) + 3) + "|"]
    for (row, column), group in curves.groupby(["row", "column"], sort=False):
        texts = []
        for step in steps:
            values = []
            for curve in group["curve"]:
                recorded = np.asarray(curve["step"], dtype=float)
                if recorded[-1] >= step:
                    values.append(float(curve["best"][np.searchsorted(recorded, step, side="right") - 1]))
            texts.append(_number(float(np.mean(values))) if len(values) == len(group) else "")
        lines.append(f"| {row} | {column} | {len(group)} | " + " | ".join(texts) + " |")
    return "\n".join(lines)


def _label(key) -> str:
    """A table header for a key, or for a list of keys."""
    return ", ".join(key) if isinstance(key, list) else key or ""


def _decimals(x: float) -> int:
    """Two decimals as the papers print costs such as 1117.58; none from 10 000 (letter, DBLP)."""
    return 0 if abs(x) >= 10_000 else 2 if abs(x) >= 1 else 3


def _number(x: float, decimals: int | None = None) -> str:
    if not np.isfinite(x):
        return "–"
    return f"{x:.{_decimals(x) if decimals is None else decimals}f}"


def _grid_order(sweep: dict, key, present) -> list:
    """The values of ``key`` in the order the sweep's grid lists them, then any others."""
    grids = [] if isinstance(key, list) else sweep.get("grid") or []
    listed = [str(v) for grid in ([grids] if isinstance(grids, dict) else grids) for v in grid.get(key, [])]
    present = list(dict.fromkeys(present))
    return [v for v in dict.fromkeys(listed) if v in present] + [v for v in present if v not in listed]


def markdown_table(summary: pd.DataFrame, spec: dict) -> str:
    """A Markdown table: rows in order of appearance, one column per dataset."""
    rows = list(dict.fromkeys(summary["row"]))
    columns = list(dict.fromkeys(summary["column"]))
    cells = {(cell.row, cell.column): cell for cell in summary.itertuples()}
    lines = [f"| {_label(spec['rows'])} | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for row in rows:
        texts = []
        for column in columns:
            cell = cells.get((row, column))
            if cell is None:
                texts.append("")
                continue
            digits = _decimals(cell.mean)
            text = _number(cell.mean) + (f" ± {_number(cell.std, digits)}" if np.isfinite(cell.std) else "")
            text = f"**{text}**" if cell.best else text
            if np.isfinite(cell.published):
                text += f" ({_number(cell.published)}; {cell.ratio:.3f})"
            texts.append(text + ("" if cell.n > 1 else " [1 run]"))
        lines.append(f"| {row} | " + " | ".join(texts) + " |")
    return "\n".join(lines)


def _provenance(runs: pd.DataFrame, sweep: dict, n_failed: int) -> str:
    def values(key):
        return ", ".join(sorted({str(v) for v in _column(runs, key).dropna()})) or "not recorded"

    seconds = pd.to_numeric(_column(runs, "wall_time_s"), errors="coerce")
    notebook = pd.to_numeric(_column(runs, "run.notebook_wall_time_s"), errors="coerce")
    commits = sorted({str(v)[:10] for v in _column(runs, "provenance.commit").dropna()})
    return "\n".join([
        (f"- notebook `{Path(sweep['notebook']).name}`, fixed parameters "
         f"`{json.dumps(sweep.get('parameters', {}))}`, seeds {sweep.get('seeds')} (a grid entry may use fewer)"),
        f"- {len(runs)} finished runs" + (f", {n_failed} failed (their `error.json` is in the run folder)"
                                          if n_failed else ""),
        (f"- profile: {values('profile')}; device: {values('provenance.device')}; "
         f"machine: {values('provenance.machine')}; commit: {', '.join(commits) or 'not recorded'}"),
        _wall_times(seconds, notebook),
    ] + _resumed(runs))


def _resumed(runs: pd.DataFrame) -> list[str]:
    """A line on the runs that continued from a checkpoint: their wall time is their last
    attempt's, while their learning curve's clock counts the training of every attempt."""
    step = pd.to_numeric(_column(runs, "resumed_from.step"), errors="coerce")
    finished = pd.to_numeric(_column(runs, "resumed_from.runs_finished"), errors="coerce")
    resumed = step.notna() | (finished > 0)
    if not resumed.any():
        return []
    curves = runs[CURVE] if CURVE in runs else pd.Series([None] * len(runs), index=runs.index)
    training = pd.Series([curve["seconds"][-1] if isinstance(curve, dict) and curve.get("seconds") else np.nan
                          for curve in curves], index=runs.index)[resumed]
    count, their = int(resumed.sum()), ("its" if resumed.sum() == 1 else "their")
    line = (f"- {count} of them resumed from a checkpoint after an interruption: {their} wall time above is the "
            f"last attempt's")
    if training.notna().any():
        span = (f"{training.min():.1f} s" if training.min() == training.max()
                else f"{training.min():.1f} to {training.max():.1f} s")
        line += f"; {their} training over all attempts took {span} (the learning curve's clock)"
    return [line]


def _wall_times(method: pd.Series, notebook: pd.Series) -> str:
    """The wall-time line of a report: the method's and the whole notebook's, whichever the runs
    recorded."""
    parts = []
    if method.notna().any():
        parts.append(f"{method.min():.1f} to {method.max():.1f} s for the method ({method.sum():.0f} s in all)")
    if notebook.notna().any():
        parts.append(f"{notebook.min():.1f} to {notebook.max():.1f} s for the whole notebook")
    return "- wall time per run: " + ", ".join(parts) if parts else "- wall times: not recorded"


def write_report(runs_dir="results/runs", out="results", names=None) -> list[Path]:
    """Tabulate every sweep under ``runs_dir`` (or only those named in ``names``) into ``out``;
    returns the files written."""
    runs_dir, out = Path(runs_dir), Path(out)
    if not runs_dir.is_dir():
        raise FileNotFoundError(f"no runs folder {runs_dir} (run `hc-repro run sweeps/NAME.yaml` first)")
    sweeps = sorted(path for path in runs_dir.iterdir() if (path / "sweep.json").is_file())
    if names:
        unknown = sorted(set(names) - {path.name for path in sweeps})
        if unknown:
            raise FileNotFoundError(f"no sweep {', '.join(unknown)} in {runs_dir}; there are: "
                                    f"{', '.join(path.name for path in sweeps) or 'none'}")
        sweeps = [path for path in sweeps if path.name in names]
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for sweep_dir in sweeps:
        sweep, runs, n_failed = load_runs(sweep_dir)
        name = sweep["name"]
        if runs.empty:
            continue
        runs.drop(columns=CURVE).to_csv(out / f"{name}.csv", index=False)
        written.append(out / f"{name}.csv")
        parts = [f"# Sweep `{name}`, reproduced with hc-repro", "",
                 (f"Generated by `hc-repro report` from the runs in `{sweep_dir}`. Each cell: **mean ± std "
                  "over seeds** (published; ours / published), the best mean of each column in bold. "
                  "Published numbers are references typed from the papers, not results of this run."), "",
                 _provenance(runs, sweep, n_failed)]
        summaries = []
        for spec in table_specs(sweep):
            summary = summarise(runs, spec, sweep)
            if summary.empty:
                continue
            summaries.append(summary)
            figure = plot_table(summary, spec, out / f"{name}_{spec['name']}.png")
            written.append(figure)
            parts += ["", f"## {spec['title']} ({spec['better']} is better)", "", markdown_table(summary, spec), "",
                      (f"![{spec['title']}: mean and std over seeds per method, published value as a black tick]"
                       f"({figure.name})")]
            learned = _curves(runs, spec)
            curves = plot_curves(learned, spec, out / f"{name}_{spec['name']}_curves.png")
            if curves is not None:
                written.append(curves)
                parts += ["", (f"![{spec['title']}: the best score of every learned run against its training step "
                               f"(its own scale), to see whether it had converged]({curves.name})")]
            if spec.get("at_steps") and not learned.empty:
                parts += ["", ("The best score so far of the learned runs at chosen steps (the fit's own scale; the "
                               "last recorded point at or before the step, mean over runs):"), "",
                          curve_table(learned, spec["at_steps"], _label(spec["rows"]), _label(spec["columns"]))]
        if summaries:
            pd.concat(summaries).to_csv(out / f"{name}_summary.csv", index=False)
            written.append(out / f"{name}_summary.csv")
        (out / f"{name}.md").write_text("\n".join(parts) + "\n")
        written.append(out / f"{name}.md")
    return written
