"""The runner of ``hc-repro``: a notebook executed with papermill over a grid of parameters.

A *sweep* is a YAML file under ``sweeps/``::

    notebook: notebooks/06_eph_vectors.md    # the MyST source, relative to the YAML file's repository
    parameters: {profile: quick}             # fixed parameters of every run
    grid: {dataset: [zoo, iris], method: [EPH, FPH]}
    seeds: [0, 1]                            # one run per grid point and seed
    report: {value: dasgupta, better: lower} # how ``hc-repro report`` lays out the table

``hc-repro run sweeps/NAME.yaml`` runs every configuration with its working directory in
``results/runs/NAME/<run-id>/work/`` (so relative outputs, such as checkpoints, land there) and
keeps ``results/runs/NAME/<run-id>/notebook.ipynb`` and ``metrics.json`` (the JSON the notebook
writes to its ``output`` parameter). Both are renamed into place, the metrics last, so a run is
finished exactly when its ``metrics.json`` exists: a sweep stopped at any point (even by SIGKILL)
and started again runs only what is not finished. A failing run leaves ``error.json`` (the
exception and the notebook so far) and the others go on. While a run executes, its folder holds
``running.json`` (process and machine): another runner of the same sweep (a second terminal, a
cluster job) leaves it alone, and takes it over only once that process is gone. ``hc-repro report`` lives in
:mod:`hc_lib.repro.report`, the command line in :mod:`hc_lib.repro.cli`.

A sweep is checked before anything runs (also with ``--dry-run``) by :mod:`hc_lib.repro.sweep`:
every problem found is reported at once, one line each, instead of a traceback.

This module imports no learner, only :mod:`hc_lib.repro.sweep` and :mod:`hc_lib.records`: it
only executes notebooks and reads their JSON.
"""
from __future__ import annotations

import datetime
import json
import multiprocessing
import os
import shutil
import socket
import sys
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from pathlib import Path

import jupytext
import nbformat
import papermill
import yaml
from tqdm.auto import tqdm

from hc_lib.records import write_json
from hc_lib.repro.sweep import (SweepError, SweepFileNotFoundError, check_sweep, expand, notebook_candidates)

__all__ = ["execute_run", "load_sweep", "run_status", "run_sweep", "default_jobs"]

METRICS, NOTEBOOK, ERROR, SWEEP_FILE, WORK = "metrics.json", "notebook.ipynb", "error.json", "sweep.json", "work"
LOCK = "running.json"      # who is executing the run now: a second runner leaves it alone


def load_sweep(path) -> dict:
    """Read and check a sweep file (:func:`check_sweep`); the notebook path comes back absolute.

    A relative ``notebook`` is looked up from the sweep file's folder, then from its parent
    (sweeps live in ``sweeps/`` and name ``notebooks/...`` from the repository root). Raises
    :class:`SweepError` with every problem found (:class:`SweepFileNotFoundError`, also a
    FileNotFoundError, when the file is not there).
    """
    path = Path(path)
    if not path.is_file():
        where = "" if path.is_absolute() else f" (from {Path.cwd()})"
        raise SweepFileNotFoundError([f"no sweep file {path}{where}"])
    try:
        sweep = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        what = "; ".join(filter(None, [getattr(error, "context", None), getattr(error, "problem", None)])) \
            or str(error)
        raise SweepError([f"{path}: malformed YAML{at}: {what}"]) from None
    except UnicodeDecodeError as error:
        raise SweepError([f"{path}: not a text file ({error.reason})"]) from None
    problems = check_sweep(sweep, path)
    if problems:
        raise SweepError(problems)
    sweep["notebook"] = str(next(candidate for candidate in notebook_candidates(sweep["notebook"], path)
                                 if candidate.is_file()).resolve())
    sweep.setdefault("name", path.stem)
    sweep["parameters"] = sweep.get("parameters") or {}
    grids = sweep.get("grid") or {}
    sweep["grid"] = [grids] if isinstance(grids, dict) else grids
    sweep["seeds"] = sweep.get("seeds", [0])
    sweep.setdefault("seed_parameter", "seed")
    sweep.setdefault("output_parameter", "output")
    return sweep


def run_status(run_dir) -> str:
    """``"done"`` when metrics.json exists, ``"running"`` while a live process holds the run,
    ``"failed"`` when only error.json does, else ``"pending"``."""
    run_dir = Path(run_dir)
    if (run_dir / METRICS).is_file():
        return "done"
    if (run_dir / LOCK).is_file() and not _stale(run_dir / LOCK):
        return "running"
    return "failed" if (run_dir / ERROR).is_file() else "pending"


def _claim(run_dir: Path) -> bool:
    """Take the run for this process (an exclusively created lock file naming it), or return
    False when another process holds it: two runners of one sweep never execute the same run."""
    lock = run_dir / LOCK
    for _ in range(2):
        try:
            handle = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            if not _stale(lock):
                return False
            lock.unlink(missing_ok=True)
            continue
        with os.fdopen(handle, "w") as stream:
            json.dump({"pid": os.getpid(), "host": socket.gethostname(),
                       "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}, stream)
        return True
    return False


def _stale(lock: Path) -> bool:
    """A lock left by a process that is gone (on this machine; one from another machine counts as
    held until its owner removes it, or you do, once that machine is known to be down)."""
    try:
        holder = json.loads(lock.read_text())
    except (OSError, ValueError):
        return True
    if holder.get("host") != socket.gethostname():
        return False
    try:
        os.kill(int(holder["pid"]), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, KeyError, TypeError, ValueError):
        return False
    return False


def execute_run(task: dict) -> dict:
    """Execute one run (picklable: runs in a worker process or on a Dask worker).

    ``task`` holds ``notebook`` (the notebook as JSON text), ``parameters``, ``run_dir``,
    ``output_parameter``, and optionally ``kernel``, ``timeout``, ``threads``. Returns a summary
    dict with ``status``: "done", "failed", "skipped" (finished before) or "running" (another
process holds it).
    """
    run_dir = Path(task["run_dir"])
    if run_status(run_dir) == "done":
        return {"run_dir": str(run_dir), "status": "skipped"}
    run_dir.mkdir(parents=True, exist_ok=True)
    if not _claim(run_dir):
        return {"run_dir": str(run_dir), "status": "running"}
    try:
        return _execute(task, run_dir)
    finally:
        (run_dir / LOCK).unlink(missing_ok=True)


def _execute(task: dict, run_dir: Path) -> dict:
    if task.get("threads"):
        for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            os.environ[variable] = str(task["threads"])
    # The run's working directory: relative outputs of the notebook land there and outlive a
    # killed attempt (a training checkpoint can resume); only the metrics of this attempt count.
    # Once the run has finished nothing in it is needed again, and it goes.
    work = run_dir / WORK
    work.mkdir(exist_ok=True)
    (work / METRICS).unlink(missing_ok=True)
    partial = run_dir / f".partial.{NOTEBOOK}"
    parameters = {**task["parameters"], task["output_parameter"]: METRICS}
    start = time.perf_counter()
    try:
        # In a thread of its own: a Dask worker's thread can see the worker's running event loop,
        # which papermill's synchronous wrappers cannot use. The kernel starts in `work` through
        # nbclient's resources, not papermill's cwd=, which chdirs the whole process (a race
        # between the threads of one Dask worker).
        with ThreadPoolExecutor(max_workers=1) as thread:
            thread.submit(papermill.execute_notebook, nbformat.reads(task["notebook"], as_version=4),
                          str(partial), parameters=parameters, resources={"metadata": {"path": str(work)}},
                          progress_bar=False,
                          kernel_name=task.get("kernel") or "python3", execution_timeout=task.get("timeout"),
                          log_output=False).result()
        if not (work / METRICS).is_file():
            raise RuntimeError(f"the notebook finished without writing its metrics to the "
                               f"{task['output_parameter']!r} parameter's path")
        metrics = json.loads((work / METRICS).read_text())
        if not isinstance(metrics, dict):
            raise ValueError("the notebook's metrics JSON is not an object")
    except Exception as error:  # noqa: BLE001 - every failure is recorded, the sweep goes on
        try:                            # the notebook as far as it ran; a truncated one is not worth a crash
            so_far = json.loads(partial.read_text()) if partial.is_file() else None
        except (OSError, ValueError):
            so_far = None
        write_json(run_dir / ERROR, {
            "error": type(error).__name__, "message": str(error), "traceback": traceback.format_exc(),
            "parameters": task["parameters"], "wall_time_s": time.perf_counter() - start,
            "notebook": so_far}, default=str)
        partial.unlink(missing_ok=True)
        return {"run_dir": str(run_dir), "status": "failed", "error": f"{type(error).__name__}: {error}"}
    metrics["run"] = {"run_id": run_dir.name, "parameters": task["parameters"],
                      "notebook_wall_time_s": time.perf_counter() - start}
    os.replace(partial, run_dir / NOTEBOOK)
    write_json(run_dir / METRICS, metrics, default=str)  # the run is finished now
    (run_dir / ERROR).unlink(missing_ok=True)
    shutil.rmtree(work, ignore_errors=True)
    return {"run_dir": str(run_dir), "status": "done"}


def default_jobs() -> int:
    """Half the CPU cores (at least 1): each run is a kernel that itself uses threads."""
    return max(1, (os.cpu_count() or 1) // 2)


def run_sweep(sweep_path, out="results/runs", jobs: int | None = None, scheduler: str | None = None,
              dry_run: bool = False, progress: bool = True, stream=None) -> dict:
    """Run the unfinished runs of a sweep; returns ``{run_id: status}`` (see :func:`run_status`).

    The sweep is checked first (:func:`load_sweep`): a :class:`SweepError` lists its problems, and
    then nothing has run and no folder has been made, also with ``dry_run``."""
    stream = stream or sys.stdout
    sweep = load_sweep(sweep_path)
    runs = expand(sweep)
    sweep_dir = Path(out) / sweep["name"]
    status = {run.run_id: run_status(sweep_dir / run.run_id) for run in runs}
    todo = [run for run in runs if status[run.run_id] not in ("done", "running")]
    elsewhere = sum(state == "running" for state in status.values())
    print(f"sweep {sweep['name']}: {len(runs)} runs, {len(runs) - len(todo) - elsewhere} finished, "
          f"{len(todo)} to run" + (f", {elsewhere} being run by another process" if elsewhere else "")
          + f" ({Path(sweep['notebook']).name})", file=stream)
    if dry_run:
        for run in runs:
            print(f"  {status[run.run_id]:8s} {run.run_id}  {json.dumps(run.parameters)}", file=stream)
        return status
    sweep_dir.mkdir(parents=True, exist_ok=True)
    # the sweep as last run (its report entries too), even when every run is finished already
    write_json(sweep_dir / SWEEP_FILE, {**sweep, "sweep_file": str(Path(sweep_path).resolve())}, default=str)
    if not todo:
        return status
    # papermill reads .ipynb only: the MyST source becomes a notebook in memory, once
    notebook = jupytext.writes(jupytext.read(sweep["notebook"]), fmt="ipynb")
    jobs = jobs or default_jobs()
    tasks = [{"notebook": notebook, "parameters": run.parameters, "run_dir": str((sweep_dir / run.run_id).resolve()),
              "output_parameter": sweep["output_parameter"], "kernel": sweep.get("kernel"),
              "timeout": sweep.get("timeout"),
              # runs sharing a machine share its cores; Dask workers are configured by their owner
              "threads": max(1, (os.cpu_count() or 1) // jobs) if jobs > 1 and not scheduler else None}
             for run in todo]
    bar = tqdm(total=len(tasks), desc=sweep["name"], unit="run", disable=not progress)
    if scheduler:
        from distributed import Client  # optional: only for --scheduler
        from distributed import as_completed as dask_completed

        with Client(scheduler) as client:
            futures = client.map(execute_run, tasks, pure=False)
            for future in dask_completed(futures):
                _record(future.result(), status, bar)
    elif jobs == 1:
        for task in tasks:
            _record(execute_run(task), status, bar)
    else:
        with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            for future in as_completed([pool.submit(execute_run, task) for task in tasks]):
                _record(future.result(), status, bar)
    bar.close()
    failed = [run_id for run_id, state in status.items() if state == "failed"]
    print(f"sweep {sweep['name']}: {sum(s == 'done' for s in status.values())} of {len(runs)} finished"
          + (f"; failed (see error.json): {', '.join(failed)}" if failed else ""), file=stream)
    return status


def _record(result: dict, status: dict, bar) -> None:
    run_id = Path(result["run_dir"]).name
    status[run_id] = "done" if result["status"] in ("done", "skipped") else result["status"]
    if result["status"] == "failed":
        bar.write(f"failed: {run_id}: {result['error']}")
    elif result["status"] == "running":
        bar.write(f"left alone: {run_id} is being run by another process ({run_id}/{LOCK})")
    bar.update(1)
