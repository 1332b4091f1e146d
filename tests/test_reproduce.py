"""hc-repro: sweeps run end to end, resume after SIGKILL, record failures, run on Dask, tabulate.

The mechanics tests run ``tests/data/sweep_probe.md``, a notebook that computes a known number,
appends a line to a marker file per execution and can be told to fail; one test runs the real
smoke sweep ``sweeps/ci_smoke.yaml`` (notebook 06, 6 runs, about a minute on 2 cores). The
refusal tests run the ``hc-repro`` command on bad sweeps and execute no notebook.
"""
from __future__ import annotations

import ast
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import jupytext
import nbformat
import numpy as np
import pandas as pd
import pytest
import yaml

from hc_lib.experiments import run_experiment
from hc_lib.records import load_checkpoint
from hc_lib.repro.cli import main
from hc_lib.repro.runner import load_sweep, run_status, run_sweep
from hc_lib.repro.sweep import SweepError, check_sweep, expand, notebook_parameters, parse_choices

ROOT = Path(__file__).resolve().parent.parent
PROBE = ROOT / "tests" / "data" / "sweep_probe.md"
SWEEPS = sorted((ROOT / "sweeps").glob("*.yaml"))


def probe_sweep(tmp_path, name="probe", grid=None, seeds=(0,), **parameters) -> Path:
    """A sweep file over the probe notebook, its marker file in tmp_path."""
    sweep = {"notebook": str(PROBE), "parameters": {"marker": str(tmp_path / "marker.txt"), **parameters},
             "grid": grid or {"dataset": ["a", "bb"]}, "seeds": list(seeds),
             "report": {"value": "value", "better": "lower"}}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(sweep))
    return path


def markers(tmp_path) -> list[str]:
    path = tmp_path / "marker.txt"
    return [" ".join(line.split()[:3]) for line in path.read_text().splitlines()] if path.exists() else []


def finished(sweep_dir: Path) -> dict[str, tuple[int, int]]:
    """{run id: (inode, mtime_ns)} of the runs whose metrics.json exists."""
    return {path.parent.name: (path.stat().st_ino, path.stat().st_mtime_ns)
            for path in sweep_dir.glob("*/metrics.json")}


def expected_value(dataset, method, seed):
    return (seed + len(dataset)) ** 2 if method == "square" else 2 * (seed + len(dataset))


# --- sweep files ------------------------------------------------------------------------------

def assigned_names(md_path: Path) -> set[str]:
    """Names assigned in the cell tagged ``parameters`` (independently of hc_lib.repro.runner)."""
    nb = jupytext.read(md_path)
    cells = [cell for cell in nb.cells if "parameters" in cell.metadata.get("tags", [])]
    assert len(cells) == 1, f"{md_path.name} needs exactly one cell tagged parameters"
    return {target.id for node in ast.parse(cells[0].source).body if isinstance(node, ast.Assign)
            for target in node.targets if isinstance(target, ast.Name)}


@pytest.mark.parametrize("path", SWEEPS, ids=[path.stem for path in SWEEPS])
def test_sweep_files_name_real_parameters(path):
    raw = yaml.safe_load(path.read_text())
    assert path.read_text().lstrip().startswith("#"), "each sweep file starts with a comment on its run time"
    notebook = ROOT / raw["notebook"]
    if not notebook.exists():
        pytest.skip(f"{raw['notebook']} is not written yet")
    sweep = load_sweep(path)
    runs = expand(sweep)
    assert runs and len({run.run_id for run in runs}) == len(runs)
    known = assigned_names(notebook)
    assert set(notebook_parameters(notebook)) == known
    for run in runs:
        unknown = set(run.parameters) - known
        assert not unknown, f"{path.name}: {sorted(unknown)} are not parameters of {notebook.name}"
    assert sweep["output_parameter"] in known
    # the sweep passes every check of `hc-repro run`, the values listed in the notebook included:
    # if this fails, the sweep (or the notebook's one-of list) needs fixing, not the test
    assert check_sweep(yaml.safe_load(path.read_text()), path) == []
    assert check_sweep(sweep, path) == []


@pytest.mark.parametrize("notebook", sorted((ROOT / "notebooks").glob("*.md")), ids=lambda path: path.stem)
def test_notebook_one_of_lists_are_understood(notebook):
    """A notebook's ``one of:`` comments follow the convention (hc_lib.repro.runner's docstring)."""
    parameters = notebook_parameters(notebook)
    assert set(parameters) == assigned_names(notebook)
    for parameter in parameters.values():
        assert parameter.choices_problem is None, f"{notebook.name}:{parameter.line}: {parameter.choices_problem}"
        if parameter.choices is not None and parameter.default is not None:
            assert parameter.default in parameter.choices, f"{notebook.name}: {parameter.name}'s default is unlisted"


def test_bad_sweep_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="no sweep file"):
        load_sweep(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"notebook": "nowhere.md"}))
    with pytest.raises(SweepError, match="nowhere.md"):
        load_sweep(bad)
    bad.write_text(yaml.safe_dump({"notebook": str(PROBE), "grdi": {"a": [1]}}))
    with pytest.raises(ValueError, match="grdi"):
        load_sweep(bad)
    bad.write_text(yaml.safe_dump({"notebook": str(PROBE), "seeds": ["zero"]}))
    with pytest.raises(ValueError, match="seeds"):
        load_sweep(bad)
    bad.write_text(yaml.safe_dump({"notebook": str(PROBE), "grid": {"dataset": ["a", "a"]}}))
    with pytest.raises(ValueError, match="repeats"):
        expand(load_sweep(bad))


# --- refusals: a bad sweep stops before anything runs, with one line per problem --------------

TINY = """---
jupytext:
  text_representation: {extension: .md, format_name: myst}
kernelspec: {display_name: Python 3, language: python, name: python3}
---

# A notebook that must never run in these tests

```{code-cell} ipython3
:tags: [parameters]

dataset = "zoo"        # vector data; one of: zoo, iris, "glass"
method = "EPH"         # one of: EPH, FPH (fitted), AL (average linkage, a baseline)
n_steps = None         # gradient steps (EPH) or epochs (FPH)
dtype = None           # one of: float64, float32
level = 2              # one of: 1, 2, 3
flag = False           # one of: True
broken = "a"           # one of: "a" or "b"
seed = 0
output = "metrics.json"
```

```{code-cell} ipython3
raise RuntimeError("a refused sweep must not run")
```
"""


@pytest.fixture
def tiny(tmp_path) -> Path:
    """A MyST notebook with one-of lists in its parameters cell, in tmp_path/notebooks/."""
    path = tmp_path / "notebooks" / "tiny.md"
    path.parent.mkdir()
    path.write_text(TINY)
    return path


def hc_repro(tmp_path, *args) -> tuple[int, list[str]]:
    """Run the hc-repro command in tmp_path: its exit status and stderr lines. It must not print a
    traceback, and must leave no run folder (nor the default results/)."""
    script = Path(sys.executable).with_name("hc-repro")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "hc_lib.repro.cli"]
    before = sorted(path.relative_to(tmp_path) for path in tmp_path.rglob("*"))
    result = subprocess.run([*command, *map(str, args)], cwd=tmp_path, capture_output=True, text=True,
                            timeout=120, check=False)
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout, result.stderr
    assert sorted(path.relative_to(tmp_path) for path in tmp_path.rglob("*")) == before, "it made files"
    return result.returncode, result.stderr.splitlines()


def write_sweep(tmp_path, text_or_mapping, name="bad") -> Path:
    """sweeps/NAME.yaml in tmp_path (beside notebooks/, as in the repository)."""
    path = tmp_path / "sweeps" / f"{name}.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text_or_mapping if isinstance(text_or_mapping, str) else yaml.safe_dump(text_or_mapping))
    return path


def refused(tmp_path, sweep, *words, dry_run=False) -> str:
    """``hc-repro run SWEEP`` exits with status 2 and one line on stderr holding every word."""
    code, lines = hc_repro(tmp_path, "run", sweep.relative_to(tmp_path), *(["--dry-run"] if dry_run else []))
    assert code == 2 and len(lines) == 1, lines
    assert lines[0].startswith("hc-repro: ")
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


def test_refuses_an_unknown_parameter_of_the_real_notebook(tmp_path):
    """The brief's example: a typo n_step for n_steps of notebook 06 (its .md, read, not run)."""
    sweep = write_sweep(tmp_path, {"notebook": str(ROOT / "notebooks" / "06_eph_vectors.md"),
                                   "parameters": {"n_step": 10000, "profile": "quick"},
                                   "grid": {"dataset": ["zoo"], "method": ["EPH"]}})
    refused(tmp_path, sweep, "sweeps/bad.yaml", "parameters", "n_step", "06_eph_vectors.md", "did you mean n_steps?")


def test_refuses_an_unknown_grid_parameter_also_in_a_dry_run(tmp_path, tiny):
    sweep = write_sweep(tmp_path, {"notebook": "notebooks/tiny.md", "grid": {"dataset": ["zoo"], "metod": ["EPH"]}})
    for dry_run in (False, True):
        refused(tmp_path, sweep, "sweeps/bad.yaml", "grid", "metod", "tiny.md", "did you mean method?",
                dry_run=dry_run)


def test_refuses_a_name_far_from_every_parameter(tmp_path, tiny):
    sweep = write_sweep(tmp_path, {"notebook": "notebooks/tiny.md", "parameters": {"xyzzy": 1}})
    refused(tmp_path, sweep, "parameters", "xyzzy", "its parameters: dataset, method, n_steps")


@pytest.mark.parametrize("key", ["seed_parameter", "output_parameter"])
def test_refuses_a_seed_or_output_parameter_the_notebook_lacks(tmp_path, tiny, key):
    sweep = write_sweep(tmp_path, {"notebook": "notebooks/tiny.md", key: "random_state"})
    refused(tmp_path, sweep, key, "random_state", "tiny.md")


@pytest.mark.parametrize("key, words", [("seed", ["seed parameter", "seeds"]),
                                        ("output", ["output parameter", "remove it"])])
def test_refuses_setting_what_hc_repro_sets(tmp_path, tiny, key, words):
    """hc-repro overrides the seed and output parameters: a value for them would be ignored."""
    sweep = write_sweep(tmp_path, {"notebook": "notebooks/tiny.md", "parameters": {key: 3}})
    refused(tmp_path, sweep, "parameters", key, *words)


@pytest.mark.parametrize("section, key, value, words", [
    ("grid", "dataset", "zooo", ["zooo", "not one of zoo, iris, glass", "tiny.md:", "did you mean zoo?"]),
    ("parameters", "method", "eph", ["eph", "not one of EPH, FPH, AL", "did you mean EPH?"]),
    ("parameters", "level", 4, ["level 4", "not one of 1, 2, 3"]),
    ("grid", "level", "2", ["level '2'", "not one of 1, 2, 3"]),     # the string "2" is not the number 2
    ("parameters", "flag", 1, ["flag 1", "not one of True"]),         # nor is 1 True
])
def test_refuses_a_value_outside_the_notebooks_list(tmp_path, tiny, section, key, value, words):
    sweep = write_sweep(tmp_path, {"notebook": "notebooks/tiny.md",
                                   section: {key: [value] if section == "grid" else value}})
    refused(tmp_path, sweep, "sweeps/bad.yaml", section, key, *words)


def test_listed_values_and_the_default_pass(tmp_path, tiny):
    sweep = {"notebook": "notebooks/tiny.md", "parameters": {"dtype": None, "n_steps": 7, "flag": False},
             "grid": [{"dataset": ["zoo", "iris", "glass"], "method": ["EPH", "FPH"], "level": [1, 3]},
                      {"dataset": ["zoo"], "method": ["AL"], "seeds": [0]}], "seeds": [0, 1]}
    assert check_sweep(sweep, tmp_path / "sweeps" / "ok.yaml") == []
    code, lines = hc_repro(tmp_path, "run", write_sweep(tmp_path, sweep, "ok"), "--dry-run")
    assert code == 0 and lines == []


def test_a_list_not_understood_stops_only_the_sweeps_that_set_it(tmp_path, tiny):
    parameters = notebook_parameters(tiny)
    assert parameters["broken"].choices is None and "or" in parameters["broken"].choices_problem
    assert parameters["n_steps"].choices is None and parameters["n_steps"].choices_problem is None  # prose
    assert check_sweep({"notebook": str(tiny), "parameters": {"dataset": "iris"}}) == []
    sweep = write_sweep(tmp_path, {"notebook": "notebooks/tiny.md", "parameters": {"broken": "a"}})
    refused(tmp_path, sweep, "broken", "not understood", "tiny.md:")


def test_parse_choices():
    assert parse_choices("# one of: cifar100-20, fashion-mnist, cora_ml, 'a, b', [1, 2], None") == \
        ("cifar100-20", "fashion-mnist", "cora_ml", "a, b", [1, 2], None)
    assert parse_choices("# None: the profile's; One of: float64 (published, exact), float32") == \
        ("float64", "float32")
    assert parse_choices('# "quick": about a minute; "full": the published settings') is None
    for bad in ("# one of: a, b; the default is a", "# one of: a,, b", "# one of:"):
        with pytest.raises(ValueError):
            parse_choices(bad)


def test_refuses_a_missing_sweep_file(tmp_path):
    code, lines = hc_repro(tmp_path, "run", "sweeps/nothere.yaml")
    assert code == 2 and len(lines) == 1
    assert "no sweep file" in lines[0] and "sweeps/nothere.yaml" in lines[0]


def test_refuses_a_missing_notebook(tmp_path):
    sweep = write_sweep(tmp_path, {"notebook": "notebooks/nowhere.md", "grid": {"dataset": ["zoo"]}})
    refused(tmp_path, sweep, "sweeps/bad.yaml", "notebook", "notebooks/nowhere.md", "not found")


def test_refuses_a_notebook_without_parameters_cell(tmp_path):
    notebook = tmp_path / "notebooks" / "plain.md"
    notebook.parent.mkdir()
    notebook.write_text(TINY.replace(":tags: [parameters]\n", ""))
    sweep = write_sweep(tmp_path, {"notebook": "notebooks/plain.md"})
    refused(tmp_path, sweep, "notebook", "plain.md", "no code cell tagged parameters")


def test_refuses_malformed_yaml(tmp_path, tiny):
    sweep = write_sweep(tmp_path, "notebook: notebooks/tiny.md\ngrid: {dataset: [zoo, iris}\n")
    refused(tmp_path, sweep, "sweeps/bad.yaml", "malformed YAML", "line 2")


@pytest.mark.parametrize("text, kind", [("- notebook: notebooks/tiny.md\n", "a list"), ("just words\n", "a str"),
                                        ("", "empty")])
def test_refuses_a_top_level_that_is_no_mapping(tmp_path, tiny, text, kind):
    refused(tmp_path, write_sweep(tmp_path, text), "sweeps/bad.yaml", kind, "not a mapping")


@pytest.mark.parametrize("grid, words", [
    ({"dataset": "zoo"}, ["grid", "dataset is zoo, not a list", "write dataset: [zoo]"]),
    ([{"dataset": ["zoo"]}, {"method": {"EPH": 1}}], ["grid entry 2", "method", "not a list"]),
    ({"dataset": []}, ["grid", "dataset is an empty list"]),
    ("dataset", ["grid", "dataset", "neither a mapping"]),
])
def test_refuses_a_grid_value_that_is_no_list(tmp_path, tiny, grid, words):
    sweep = write_sweep(tmp_path, {"notebook": "notebooks/tiny.md", "grid": grid})
    refused(tmp_path, sweep, "sweeps/bad.yaml", *words)


@pytest.mark.parametrize("sweep, words", [
    ({"seeds": [0, "one"]}, ["seeds", "one is not an integer"]),
    ({"seeds": [0, 1.5, True]}, ["seeds", "1.5, True are not integers"]),
    ({"seeds": 3}, ["seeds is 3, not a list", "write seeds: [3]"]),
    ({"seeds": []}, ["seeds is an empty list"]),
    ({"grid": [{"dataset": ["zoo"], "seeds": ["0"]}]}, ["grid: seeds", "'0' is not an integer"]),
])
def test_refuses_seeds_that_are_not_integers(tmp_path, tiny, sweep, words):
    refused(tmp_path, write_sweep(tmp_path, {"notebook": "notebooks/tiny.md", **sweep}), "sweeps/bad.yaml", *words)


def test_refuses_a_repeated_configuration(tmp_path, tiny):
    sweep = write_sweep(tmp_path, {"notebook": "notebooks/tiny.md", "grid": {"dataset": ["zoo", "iris", "zoo"]}})
    refused(tmp_path, sweep, "repeats the configuration", '"dataset": "zoo"')


def test_refuses_unknown_keys_and_bad_report_entries(tmp_path, tiny):
    sweep = write_sweep(tmp_path, {"notebook": "notebooks/tiny.md", "grdi": {"dataset": ["zoo"]}})
    refused(tmp_path, sweep, "unknown key grdi", "did you mean grid?")
    sweep = write_sweep(tmp_path, {"notebook": "notebooks/tiny.md", "report": {"value": "cost", "better": "less"}})
    refused(tmp_path, sweep, "report", "better is less", "lower or higher")


def test_every_problem_is_reported_at_once(tmp_path, tiny, monkeypatch):
    sweep = write_sweep(tmp_path, {"notebook": "notebooks/tiny.md", "parameters": {"n_step": 5},
                                   "grid": {"dataset": ["zoo", "ziraffe"], "method": "EPH"}, "seeds": ["a"]})
    code, lines = hc_repro(tmp_path, "run", sweep.relative_to(tmp_path))
    assert code == 2 and len(lines) == 4, lines
    assert all(line.startswith("hc-repro: sweeps/bad.yaml: ") for line in lines)
    for words, line in zip([("seeds", "a is not an integer"), ("grid", "method is EPH, not a list"),
                            ("parameters", "n_step", "n_steps"), ("grid", "ziraffe", "not one of")], lines):
        assert all(word in line for word in words), (words, line)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SweepError) as raised:
        load_sweep(sweep.relative_to(tmp_path))
    assert raised.value.problems == [line.removeprefix("hc-repro: ") for line in lines]


def test_refuses_a_report_with_no_runs(tmp_path):
    code, lines = hc_repro(tmp_path, "report")          # no results/runs/ at all
    assert code == 2 and len(lines) == 1 and "no runs to report" in lines[0] and "results/runs" in lines[0]
    (tmp_path / "runs" / "empty").mkdir(parents=True)  # a runs folder without any sweep
    code, lines = hc_repro(tmp_path, "report", "--runs", "runs", "--out", "tables")
    assert code == 2 and len(lines) == 1 and "no runs to report" in lines[0] and "runs" in lines[0]


def test_refuses_a_report_whose_sweeps_have_no_finished_run(tmp_path):
    sweep_dir = tmp_path / "runs" / "toy"
    (sweep_dir / "zoo__seed0__01234567").mkdir(parents=True)
    (sweep_dir / "sweep.json").write_text(json.dumps({"name": "toy", "notebook": "toy.md", "grid": None}))
    code, lines = hc_repro(tmp_path, "report", "--runs", "runs", "--out", "runs")
    assert code == 2 and len(lines) == 1 and "no sweep in runs has a finished run" in lines[0]


@pytest.mark.parametrize("args, words", [(["rnu", "sweeps/x.yaml"], ["invalid choice: 'rnu'", "run", "report"]),
                                         ([], ["required: command"]),
                                         (["run"], ["hc-repro run", "sweep"])])
def test_refuses_an_unknown_or_missing_subcommand(tmp_path, args, words):
    code, lines = hc_repro(tmp_path, *args)
    assert code == 2 and len(lines) == 1, lines
    assert lines[0].startswith("hc-repro") and all(word in lines[0] for word in words), lines


# --- mechanics on the probe notebook ----------------------------------------------------------

def test_dry_run_runs_nothing(tmp_path, capsys):
    sweep = probe_sweep(tmp_path, seeds=[0, 1])
    assert main(["run", str(sweep), "--out", str(tmp_path / "runs"), "--dry-run"]) == 0
    listed = capsys.readouterr().out
    assert listed.count("pending") == 4 and "done" not in listed.split("\n", 1)[1]
    assert not (tmp_path / "runs").exists() and markers(tmp_path) == []


def test_failing_run_is_recorded_and_the_others_go_on(tmp_path, capsys):
    sweep = probe_sweep(tmp_path, grid={"dataset": ["a", "bb", "ccc"], "fail": [False]})
    # make the middle configuration fail: a grid of its own with fail=True
    raw = yaml.safe_load(sweep.read_text())
    raw["grid"] = [{"dataset": ["a", "ccc"]}, {"dataset": ["bb"], "fail": [True]}]
    sweep.write_text(yaml.safe_dump(raw))
    assert main(["run", str(sweep), "--out", str(tmp_path / "runs"), "-j", "1", "--no-progress"]) == 1
    sweep_dir = tmp_path / "runs" / "probe"
    states = {path.name.split("__")[0]: run_status(path) for path in sweep_dir.iterdir() if path.is_dir()}
    assert states == {"a": "done", "ccc": "done", "bb": "failed"}
    error_dir = next(sweep_dir.glob("bb__*"))
    error = json.loads((error_dir / "error.json").read_text())
    assert error["error"] == "PapermillExecutionError" and "asked to fail on bb" in error["message"]
    assert error["parameters"]["fail"] is True
    nbformat.validate(nbformat.from_dict(error["notebook"]))  # the notebook as far as it ran
    assert not (error_dir / "metrics.json").exists() and not (error_dir / "notebook.ipynb").exists()
    assert sorted(markers(tmp_path)) == ["a square 0", "ccc square 0"]
    assert "failed" in capsys.readouterr().out
    # the report tabulates the finished runs and says one failed
    assert main(["report", "--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "results")]) == 0
    assert "1 failed" in (tmp_path / "results" / "probe.md").read_text()


def test_resume_after_sigkill(tmp_path):
    sweep = probe_sweep(tmp_path, seeds=[0, 1], sleep=1.0)  # 4 runs of at least a second each
    sweep_dir = tmp_path / "runs" / "probe"
    command = [sys.executable, "-m", "hc_lib.repro.cli", "run", str(sweep), "--out", str(tmp_path / "runs"),
               "-j", "1", "--no-progress"]
    # its own process group, so that SIGKILL reaches the runner and its papermill children at once
    process = subprocess.Popen(command, cwd=tmp_path, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not finished(sweep_dir) and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    before = finished(sweep_dir)
    assert 1 <= len(before) < 4, f"the kill should land mid-sweep, {len(before)} runs had finished"
    time.sleep(1.5)  # an orphaned kernel notices its parent is gone within a second and exits
    done_lines = markers(tmp_path)

    # leftovers of the interrupted run, plus planted fakes, must not pass for finished runs
    pending = [run for run in expand(load_sweep(sweep)) if run.run_id not in before]
    fake = sweep_dir / pending[-1].run_id
    fake.mkdir(parents=True, exist_ok=True)
    (fake / "notebook.ipynb").write_text("{}")
    (fake / ".metrics.json.x.tmp").write_text("{")
    assert run_status(fake) == "pending"
    listing = []
    run_sweep(sweep, tmp_path / "runs", dry_run=True, stream=type("S", (), {"write": listing.append})())
    assert sum("done" in line for line in "".join(listing).splitlines()[1:]) == len(before)

    assert subprocess.run(command, cwd=tmp_path, capture_output=True, check=False).returncode == 0
    after = finished(sweep_dir)
    assert len(after) == 4
    assert {run_id: after[run_id] for run_id in before} == before, "finished runs were run again"
    lines = markers(tmp_path)
    for run_id in after:
        dataset, seed = run_id.split("__")[0], int(run_id.split("__")[1][len("seed"):])
        key = f"{dataset} square {seed}"
        count = lines.count(key)
        assert count == 1 if run_id in before else count >= 1, (run_id, lines)
        metrics = json.loads((sweep_dir / run_id / "metrics.json").read_text())
        assert metrics["value"] == expected_value(dataset, "square", seed)
        nb = nbformat.read(sweep_dir / run_id / "notebook.ipynb", as_version=4)
        assert all(cell.execution_count for cell in nb.cells if cell.cell_type == "code")
    # at most the one run that was interrupted mid-way executed twice
    assert len(lines) - len(done_lines) == 4 - len(before) and len(lines) <= 5
    assert not list(sweep_dir.glob("*/.partial*")) and not list(sweep_dir.glob("*/work"))


def test_dask_local_cluster(tmp_path):
    distributed = pytest.importorskip("distributed")
    sweep = probe_sweep(tmp_path, grid={"dataset": ["a", "bb"], "method": ["double"]})
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster:
        code = main(["run", str(sweep), "--out", str(tmp_path / "runs"), "--scheduler",
                     cluster.scheduler_address, "--no-progress"])
        ran_on_dask = "execute_run" in cluster.scheduler.task_prefixes
    assert code == 0 and ran_on_dask
    values = {json.loads(path.read_text())["dataset"]: json.loads(path.read_text())["value"]
              for path in (tmp_path / "runs" / "probe").glob("*/metrics.json")}
    assert values == {"a": expected_value("a", "double", 0), "bb": expected_value("bb", "double", 0)}


def test_console_script_is_installed():
    script = Path(sys.executable).with_name("hc-repro")
    assert script.exists(), "run `pip install -e .` to create the hc-repro entry point"
    result = subprocess.run([str(script), "run", "--help"], capture_output=True, text=True, check=False)
    assert result.returncode == 0 and "--scheduler" in result.stdout and "--dry-run" in result.stdout


# --- a killed EPH run continues its fit ----------------------------------------------------------

# A kernel start-up file (IPython runs profile_default/startup/*.py in every kernel it starts): the
# first kernel is SIGKILLed right after its fit has saved a checkpoint of a run in progress at step
# KILL_AT or later, as a machine going down mid-fit would; later kernels are left alone.
KILLER = """
import os, signal
from pathlib import Path
import hc_lib.eph.learner

_save, _marker = hc_lib.eph.learner.save_checkpoint, Path({marker!r})


def _save_then_die(path, state):
    result = _save(path, state)
    current = state.get("current")
    if current is not None and current["step"] >= {kill_at} and not _marker.exists():
        _marker.write_text(str(current["step"]))
        os.kill(os.getpid(), signal.SIGKILL)
    return result


hc_lib.eph.learner.save_checkpoint = _save_then_die
"""


def test_killed_eph_run_resumes_from_its_checkpoint(tmp_path, monkeypatch):
    """Notebook 06 on zoo with a relative checkpoint_dir, as the EPH sweeps run it: the kernel dies
    mid-fit, the run is recorded as failed, its work folder keeps the checkpoint, and running the
    sweep again continues that fit from the checkpoint (not from step 0) to the very result of a
    fit that never stopped."""

    kill_at, settings = 4, {"n_steps": 12, "n_samples": 2, "reset_every": 5, "n_internal": 16}
    startup = tmp_path / "ipython" / "profile_default" / "startup"
    startup.mkdir(parents=True)
    marker = tmp_path / "killed_at_step.txt"
    (startup / "50-kill-mid-fit.py").write_text(KILLER.format(marker=str(marker), kill_at=kill_at))
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    sweep = tmp_path / "eph_resume.yaml"
    sweep.write_text(yaml.safe_dump({
        "notebook": str(ROOT / "notebooks" / "06_eph_vectors.md"),
        "parameters": {"objective": "dasgupta", "method": "EPH", "profile": "quick", "device": "cpu",
                       "checkpoint_dir": "checkpoints", "checkpoint_every": 2, **settings},
        "grid": {"dataset": ["zoo"]}, "seeds": [0]}))
    out = tmp_path / "runs"
    command = ["run", str(sweep), "--out", str(out), "-j", "1", "--no-progress"]

    assert main(command) == 1                                   # the kernel died: a failed run
    run_dir = next((out / "eph_resume").glob("zoo__*"))
    assert run_status(run_dir) == "failed" and int(marker.read_text()) == kill_at
    assert "DeadKernelError" in json.loads((run_dir / "error.json").read_text())["error"]
    checkpoints = list((run_dir / "work" / "checkpoints").glob("*/eph_dasgupta.pt"))
    assert len(checkpoints) == 1, "the notebook should checkpoint inside the run's work folder"
    saved = load_checkpoint(checkpoints[0])
    assert saved["runs"] == [] and saved["current"]["step"] == kill_at   # mid-fit, step > 0

    assert main(command) == 0                                   # started again: finishes
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["resumed_from"] == {"runs_finished": 0, "step": kill_at}, "the fit started afresh"
    assert metrics["steps_run"] == settings["n_steps"]
    assert metrics["settings"]["checkpoint_every"] == 2
    assert metrics["notebook_parameters"]["checkpoint_dir"] == "checkpoints"
    assert not (run_dir / "work").exists(), "a finished run keeps no working files"
    resumed = metrics["curve"]                 # every step of so short a fit

    _, _, reference = run_experiment("zoo", "EPH", "dasgupta", profile="quick", seed=0, progress=False,
                                     **settings)                # the same fit, never stopped
    assert metrics["dasgupta"] == reference["dasgupta"]
    for key in ("step", "score", "best"):
        assert resumed[key] == reference["history"][key]
    assert resumed["objective"] == pytest.approx(reference["history"]["objective"], rel=1e-9, nan_ok=True)

    # the report says the run was resumed, and how long its training took over both attempts
    main(["report", "--runs", str(out), "--out", str(tmp_path / "results")])
    table = (tmp_path / "results" / "eph_resume.md").read_text()
    assert "1 of them resumed from a checkpoint" in table
    assert f"its training over all attempts took {metrics['curve']['seconds'][-1]:.1f} s" in table


# --- the real smoke sweep, end to end -----------------------------------------------------------

def test_smoke_sweep_end_to_end(tmp_path):
    runs, results = tmp_path / "runs", tmp_path / "results"
    assert main(["run", str(ROOT / "sweeps" / "ci_smoke.yaml"), "--out", str(runs), "-j", "2",
                 "--no-progress"]) == 0
    sweep = load_sweep(ROOT / "sweeps" / "ci_smoke.yaml")
    metrics = []
    for run in expand(sweep):
        run_dir = runs / "ci_smoke" / run.run_id
        nb = nbformat.read(run_dir / "notebook.ipynb", as_version=4)
        assert any("parameters" in cell.metadata.get("tags", []) for cell in nb.cells)
        assert any("injected-parameters" in cell.metadata.get("tags", []) for cell in nb.cells)
        record = json.loads((run_dir / "metrics.json").read_text())
        assert (record["dataset"], record["method"], record["seed"]) == \
            (run.parameters["dataset"], run.parameters["method"], run.parameters["seed"])
        assert record["profile"] == "quick"
        if record["method"] == "EPH":
            assert record["settings"]["n_steps"] == 20 and record["steps_run"] == 20
        metrics.append(record)

    assert main(["report", "--runs", str(runs), "--out", str(results)]) == 0
    per_run = pd.read_csv(results / "ci_smoke.csv")
    assert len(per_run) == len(metrics) == 6
    summary = pd.read_csv(results / "ci_smoke_summary.csv")
    frame = pd.DataFrame(metrics)
    for cell in summary.itertuples():
        group = frame[(frame.method == cell.row) & (frame.dataset == cell.column)]
        assert cell.n == len(group) == (2 if cell.row == "EPH" else 1)
        assert cell.mean == pytest.approx(group.dasgupta.mean())
        if cell.n > 1:
            assert cell.std == pytest.approx(group.dasgupta.std(ddof=1), abs=1e-9)
        assert cell.published == group.published.iloc[0]
        assert cell.ratio == pytest.approx(group.dasgupta.mean() / group.published.iloc[0])
    best = summary.loc[summary.groupby("column")["mean"].idxmin()]
    assert best.best.all()
    table = (results / "ci_smoke.md").read_text()
    assert "| method | zoo | iris |" in table and "±" in table and "(55.77; " in table  # EPH's published zoo
    assert table.index("| EPH |") < table.index("| AL |")
    figure = results / "ci_smoke_dasgupta.png"
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and figure.stat().st_size > 5000


def test_report_of_nested_metrics_with_a_single_row(tmp_path):
    """A CoHiClust-like record: values nested, no method key, a reference for one dataset only."""
    sweep_dir = tmp_path / "runs" / "toy"
    sweep = {"name": "toy", "notebook": "toy.md", "parameters": {}, "seeds": [0, 1, 2],
             "grid": [{"dataset": ["b", "a"]}],
             "report": [{"title": "NMI", "name": "nmi", "value": "scores.nmi", "better": "higher",
                         "rows": None, "row_name": "CoHiClust", "published": "reference_paper.nmi"}]}
    sweep_dir.mkdir(parents=True)
    (sweep_dir / "sweep.json").write_text(json.dumps(sweep))
    nmis = {"a": [0.5, 0.6, 0.7], "b": [0.2, 0.4, 0.9]}
    run_ids = {(run.parameters["dataset"], run.parameters["seed"]): run.run_id for run in expand(sweep)}
    for dataset, values in nmis.items():
        for seed, value in enumerate(values):
            run = sweep_dir / run_ids[dataset, seed]
            run.mkdir()
            record = {"dataset": dataset, "seed": seed, "scores": {"nmi": value},
                      "reference_paper": {"nmi": 0.62} if dataset == "a" else None, "history": {"x": [1, 2]}}
            (run / "metrics.json").write_text(json.dumps(record))
    (sweep_dir / "c__seed0").mkdir()  # a folder that is no run of the current grid: ignored
    stale = sweep_dir / "b__seed0__0123abcd"  # a run of an older version of the grid: left out
    stale.mkdir()
    (stale / "metrics.json").write_text(json.dumps({"dataset": "b", "seed": 0, "scores": {"nmi": 0.0}}))
    main(["report", "--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "results")])
    summary = pd.read_csv(tmp_path / "results" / "toy_summary.csv")
    assert list(summary.column) == ["b", "a"]  # the grid's order
    a = summary.set_index("column").loc["a"]
    assert a.n == 3 and a["mean"] == pytest.approx(0.6) and a["std"] == pytest.approx(0.1)
    assert a.published == 0.62 and a.ratio == pytest.approx(0.6 / 0.62)
    b = summary.set_index("column").loc["b"]
    assert b["mean"] == pytest.approx(0.5) and np.isnan(b.published)
    assert not summary.best.any()  # one row: nothing to be best against
    table = (tmp_path / "results" / "toy.md").read_text()
    assert "| CoHiClust | 0.500 ± 0.361 | 0.600 ± 0.100 (0.620; 0.968) |" in table


def test_report_filters_runs_by_where_and_draws_learning_curves(tmp_path):
    """Two objectives in one sweep: each table takes its own runs (``where``), and the learned runs'
    curves are drawn, the baseline (no curve) left out."""
    sweep_dir = tmp_path / "runs" / "mixed"
    sweep = {"name": "mixed", "notebook": "toy.md", "parameters": {}, "seeds": [0],
             "grid": [{"dataset": ["g"], "method": ["EPH", "AL"], "objective": ["dasgupta", "tsd"]}],
             "report": [{"value": "dasgupta", "better": "lower", "where": {"objective": "dasgupta"},
                         "at_steps": [5, 7, 20]},
                        {"value": "tsd", "better": "higher", "where": {"objective": ["tsd"]}}]}
    sweep_dir.mkdir(parents=True)
    (sweep_dir / "sweep.json").write_text(json.dumps(sweep))
    for run in expand(sweep):
        folder = sweep_dir / run.run_id
        folder.mkdir()
        method, objective = run.parameters["method"], run.parameters["objective"]
        value = {"EPH": 1.0, "AL": 2.0}[method] + (10.0 if objective == "tsd" else 0.0)
        record = {"dataset": "g", "method": method, "objective": objective, "dasgupta": value, "tsd": value}
        if method == "EPH":
            record["curve"] = {"step": [0, 5, 10], "best": [3.0, 2.0, value]}
        (folder / "metrics.json").write_text(json.dumps(record))
    main(["report", "--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "results")])
    summary = pd.read_csv(tmp_path / "results" / "mixed_summary.csv")
    assert summary.set_index(["table", "row"])["mean"].to_dict() == {
        ("dasgupta", "EPH"): 1.0, ("dasgupta", "AL"): 2.0, ("tsd", "EPH"): 11.0, ("tsd", "AL"): 12.0}
    table = (tmp_path / "results" / "mixed.md").read_text()
    assert "(mixed_dasgupta_curves.png)" in table and "(mixed_tsd_curves.png)" in table
    curves = tmp_path / "results" / "mixed_dasgupta_curves.png"
    assert curves.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "_curve" not in pd.read_csv(tmp_path / "results" / "mixed.csv").columns
    # the curve read at chosen steps: the last point at or before each, blank past the run's end
    assert "| method | dataset | runs | step 5 | step 7 | step 20 |\n|---|---|---|---|---|---|\n| EPH | g | 1 | 2.00 | 2.00 |  |" in table
    assert table.count("| step 5 |") == 1  # only the table that asked for it


def test_report_rows_named_by_several_keys(tmp_path):
    """Runs that differ in several settings (FPH's protocol variants): each row is labelled by
    their values, and a row's runs are averaged over seeds."""
    sweep_dir = tmp_path / "runs" / "variants"
    sweep = {"name": "variants", "notebook": "toy.md", "parameters": {"dtype": "float64"}, "seeds": [0],
             "grid": [{"dataset": ["g"], "init": ["average_linkage"], "dtype": ["float64", "float32"]},
                      {"dataset": ["g"], "init": ["random"], "seeds": [0, 1]}],
             "report": {"value": "cost", "rows": ["init", "dtype"]}}
    sweep_dir.mkdir(parents=True)
    (sweep_dir / "sweep.json").write_text(json.dumps(sweep))
    for number, run in enumerate(expand(sweep)):
        (sweep_dir / run.run_id).mkdir()
        record = {"dataset": "g", "cost": float(number), "run": {"parameters": run.parameters}}
        (sweep_dir / run.run_id / "metrics.json").write_text(json.dumps(record))
    main(["report", "--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "results")])
    summary = pd.read_csv(tmp_path / "results" / "variants_summary.csv")
    assert summary.set_index("row")["mean"].to_dict() == {
        "average_linkage, float64": 0.0, "average_linkage, float32": 1.0, "random, float64": 2.5}
    assert "| init, dtype | g |" in (tmp_path / "results" / "variants.md").read_text()
    # a report of the named sweeps only; a name without a sweep is refused in one line
    (tmp_path / "results" / "variants.md").unlink()
    main(["report", "variants", "--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "results")])
    assert (tmp_path / "results" / "variants.md").is_file()
    code, lines = hc_repro(tmp_path, "report", "variant", "--runs", "runs", "--out", "results")
    assert code == 2 and len(lines) == 1 and "no sweep variant in runs" in lines[0] and "variants" in lines[0]
    problems = check_sweep({"notebook": str(PROBE), "grid": {"dataset": ["a"]},
                            "report": {"value": "x", "rows": ["method", 3]}}, ROOT / "sweeps" / "s.yaml")
    # named by the sweep file, as every problem is
    expected = "sweeps/s.yaml: report: rows is ['method', 3]; write a key of the metrics JSON or a list of them"
    assert any(problem.endswith(expected) for problem in problems), problems


def test_a_report_entry_with_malformed_steps_is_refused():
    problems = check_sweep({"notebook": str(PROBE), "grid": {"dataset": ["a"]},
                            "report": {"value": "x", "at_steps": "1000"}}, ROOT / "sweeps" / "s.yaml")
    assert any("at_steps is" in problem for problem in problems), problems


def test_a_report_entry_with_a_malformed_where_is_refused():
    problems = check_sweep({"notebook": str(PROBE), "grid": {"dataset": ["a"]},
                            "report": {"value": "x", "where": "objective=tsd"}}, ROOT / "sweeps" / "s.yaml")
    assert any("where is" in problem and "mapping" in problem for problem in problems), problems


def test_a_run_held_by_a_live_process_is_left_alone_and_a_stale_lock_is_taken_over(tmp_path, capsys):
    """Two runners of one sweep: the second skips what the first is running; a lock whose
    process is gone (a killed runner) does not block the run."""
    sweep = probe_sweep(tmp_path)
    runs = expand(load_sweep(sweep))
    held, stale = (tmp_path / "runs" / "probe" / run.run_id for run in runs)
    for folder, pid in ((held, os.getpid()), (stale, 2 ** 22 + 12345)):   # this process; no process
        folder.mkdir(parents=True)
        (folder / "running.json").write_text(json.dumps({"pid": pid, "host": socket.gethostname()}))
    assert run_status(held) == "running" and run_status(stale) == "pending"
    status = run_sweep(sweep, tmp_path / "runs", jobs=1, progress=False)
    assert status == {runs[0].run_id: "running", runs[1].run_id: "done"}
    assert "1 being run by another process" in capsys.readouterr().out
    assert not (held / "metrics.json").exists() and (held / "running.json").exists()
    assert not (stale / "running.json").exists()            # released when the run finished
    assert markers(tmp_path) == ["bb square 0"]


def test_several_sweeps_are_all_checked_before_any_runs(tmp_path, capsys):
    good = probe_sweep(tmp_path, name="first")
    other = probe_sweep(tmp_path, name="second", grid={"dataset": ["ccc"]})
    bad = tmp_path / "bad.yaml"
    bad.write_text("notebook: nowhere.md\ngrid: {dataset: [a]}\n")
    with pytest.raises(SystemExit) as refused:
        main(["run", str(good), str(bad), "--out", str(tmp_path / "runs"), "--no-progress"])
    assert refused.value.code == 2 and "nowhere.md" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists() and markers(tmp_path) == []
    assert main(["run", str(good), str(other), "--out", str(tmp_path / "runs"), "-j", "1", "--no-progress"]) == 0
    assert sorted(markers(tmp_path)) == ["a square 0", "bb square 0", "ccc square 0"]
