"""The figures of ``hc-repro report``: a table's cells as points, and the runs' learning curves.

Both lay out one panel per column of the table (a dataset) with its own scale, since datasets'
scores differ by orders of magnitude.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the non-interactive backend)

__all__ = ["plot_table", "plot_curves"]


def plot_table(summary: pd.DataFrame, spec: dict, path) -> Path:
    """One panel per column: a bar per row (mean, std as error bar), the published value as a
    black tick. Panels have their own scale (datasets' scores differ by orders of magnitude)."""
    columns = list(dict.fromkeys(summary["column"]))
    rows = list(dict.fromkeys(summary["row"]))
    fig, axes = plt.subplots(1, len(columns), figsize=(1.0 + (0.7 * len(rows) + 0.9) * len(columns), 3.2),
                             squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, column in zip(axes[0], columns):
        part = summary[summary["column"] == column].set_index("row").reindex(rows)
        x = np.arange(len(rows))
        # points, not bars: the axis is zoomed on the differences, and a cut bar would mislead
        for i, row in enumerate(rows):
            ax.errorbar(x[i], part["mean"].iloc[i], yerr=np.nan_to_num(part["std"].iloc[i]), fmt="o", capsize=4,
                        color=colours[i % len(colours)])
        ax.scatter(x, part["published"], marker="_", s=300, color="black", zorder=3,
                   label="published" if column == columns[0] else None)
        finite = pd.concat([part["mean"] - part["std"].fillna(0), part["mean"] + part["std"].fillna(0),
                            part["published"]]).dropna()
        if len(finite):
            low, high = finite.min(), finite.max()
            pad = 0.15 * (high - low) or 0.05 * abs(high) or 1.0
            ax.set_ylim(low - pad, high + pad)
        ax.set_xlim(-0.6, len(rows) - 0.4)
        ax.set_xticks(x, rows, rotation=45 if len(rows) > 3 else 0)
        ax.set_title(column)
    axes[0][0].set_ylabel(f"{spec['title']} ({spec['better']} is better)")
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    if summary["published"].notna().any():
        fig.legend(loc="upper right", fontsize="small", frameon=False)
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path



def plot_curves(curves: pd.DataFrame, spec: dict, path) -> Path | None:
    """One panel per column: the best score so far of every run (``curves``: columns ``row``,
    ``column`` and ``curve``, a run's ``{"step": [...], "best": [...]}``) against its step, a
    colour per row. The scores are the fit's own (for TSD the correct scale, not the legacy one of
    the table). Returns None, and writes nothing, when no run has a curve.
    """
    if curves.empty:
        return None
    columns = list(dict.fromkeys(curves["column"]))
    rows = list(dict.fromkeys(curves["row"]))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    fig, axes = plt.subplots(1, len(columns), figsize=(0.6 + 3.0 * len(columns), 3.0), squeeze=False)
    for ax, column in zip(axes[0], columns):
        for run in curves[curves["column"] == column].itertuples():
            colour = colours[rows.index(run.row) % len(colours)]
            ax.plot(run.curve["step"], run.curve["best"], color=colour, linewidth=1.0, alpha=0.8)
        ax.set_title(column)
        ax.set_xlabel("step")
    axes[0][0].set_ylabel(f"best score so far ({spec['better']} is better)")
    handles = [plt.Line2D([], [], color=colours[i % len(colours)]) for i in range(len(rows))]
    fig.legend(handles, rows, loc="upper right", fontsize="small", frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 0.9))
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
