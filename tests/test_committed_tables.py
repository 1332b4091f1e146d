"""The tables under results/ that hc-repro made are exactly what `hc-repro report` makes from the
run records committed under results/runs/ (so no table is edited by hand or left stale)."""
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from hc_lib.repro.report import write_report

ROOT = Path(__file__).resolve().parent.parent
RUNS = ROOT / "results" / "runs"
TABLED = sorted(path.parent.name for path in RUNS.glob("*/sweep.json")
                if (ROOT / "results" / f"{path.parent.name}.md").is_file())


def test_some_committed_sweep_has_its_table():
    assert TABLED, "no sweep under results/runs/ has its table under results/"


def committed_runs(where: Path, sweep: str) -> Path:
    """A copy of the run records of one sweep that git tracks under results/runs/ (not the files
    of runs in flight on this machine, such as an error.json being retried), in ``where``."""
    folder = f"results/runs/{sweep}"
    listed = subprocess.run(["git", "ls-files", folder], cwd=ROOT, capture_output=True, text=True)
    if listed.returncode != 0:                   # not a git checkout: the folder is what was shipped
        shutil.copytree(ROOT / folder, where / folder)
    for name in listed.stdout.split():
        (where / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, where / name)
    return where


@pytest.mark.parametrize("name", TABLED)
def test_the_committed_table_is_regenerated_from_the_committed_runs(name, tmp_path, monkeypatch):
    monkeypatch.chdir(committed_runs(tmp_path / "tree", name))   # the tables name their runs folder relative to the root
    write_report("results/runs", tmp_path, names=[name])
    for suffix in (".md", "_summary.csv", ".csv"):
        committed = ROOT / "results" / f"{name}{suffix}"
        assert (tmp_path / f"{name}{suffix}").read_text() == committed.read_text(), f"{committed.name} is stale"


def test_only_run_records_are_committed():
    """A run folder's record is its metrics.json (and the sweep's sweep.json): checkpoints under
    work/ are left untracked on purpose (see .gitignore) and must never be committed."""
    listed = subprocess.run(["git", "ls-files", "results/runs"], cwd=ROOT, capture_output=True, text=True)
    if listed.returncode != 0:
        pytest.skip("not a git checkout")
    others = [name for name in listed.stdout.split() if Path(name).name not in ("metrics.json", "sweep.json")]
    assert not others, f"committed files that are not run records: {others[:5]}"


def test_the_results_page_counts_the_classic_cells_it_matches():
    """book/eph_results.md says how many of the poster's classic cells the sweeps reproduce to its
    printed precision (0.05, or 0.5 where it prints whole numbers): the count from the tables."""
    tables = pd.concat([pd.read_csv(ROOT / "results" / f"{name}_summary.csv")
                        for name in ("eph_vectors", "eph_graphs_dasgupta", "eph_graphs_tsd", "eph_dblp")])
    classic = tables[tables["row"].isin(["AL", "Louvain", "WL", "SL", "CL"]) & tables["published"].notna()]
    tolerance = classic["published"].map(lambda value: 0.5 if value >= 10_000 else 0.05)
    matched = int(((classic["mean"] - classic["published"]).abs() <= tolerance).sum())
    page = (ROOT / "book" / "eph_results.md").read_text()
    assert f"{matched} of their {len(classic)} cells" in page
