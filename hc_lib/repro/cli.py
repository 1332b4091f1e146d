"""The ``hc-repro`` command: ``hc-repro run sweeps/NAME.yaml [...]`` and ``hc-repro report``.

``run`` executes the unfinished runs of one or more sweeps, one sweep after the other
(:mod:`hc_lib.repro.runner`); ``report`` turns the finished runs of every sweep, or of the sweeps
it names (``hc-repro report eph_vectors``), into tables and figures (:mod:`hc_lib.repro.report`).
A sweep that cannot run (any of those given), or nothing to report, ends the command with one
line per problem on stderr and exit status 2, before anything runs. ``python -m hc_lib.repro.cli`` is the same command.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from hc_lib.repro.report import write_report
from hc_lib.repro.runner import SWEEP_FILE, default_jobs, load_sweep, run_sweep
from hc_lib.repro.sweep import SweepError

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    """An argument parser whose complaints are one line on stderr, not the usage and a line."""

    def error(self, message):
        self.exit(2, f"{self.prog}: {message}; see {self.prog} --help\n")


def _refuse(problems) -> None:
    """Print each problem as one line ``hc-repro: ...`` on stderr and exit with status 2."""
    for problem in problems:
        print(f"hc-repro: {' '.join(str(problem).split())}", file=sys.stderr)
    sys.exit(2)


def main(argv=None) -> int:
    """The ``hc-repro`` command line (see the module's description); returns the exit status."""
    try:
        return _main(argv)
    except BrokenPipeError:        # the listing went to `head` or a pager that stopped reading
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def _main(argv) -> int:
    parser = _Parser(prog="hc-repro", description="Run a notebook over a grid of parameters with papermill, "
                                                  "and tabulate the runs.")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the unfinished configurations of one or more sweeps, in turn")
    run.add_argument("sweeps", nargs="+", metavar="sweep",
                     help="sweep files, e.g. sweeps/ci_smoke.yaml; all are checked before any runs")
    run.add_argument("--jobs", "-j", type=int, default=None,
                     help=f"runs at once on this machine (default: half the cores, here {default_jobs()})")
    run.add_argument("--scheduler", default=None,
                     help="address of a Dask distributed scheduler (tcp://host:8786); the run folders "
                          "must be on a file system the workers share")
    run.add_argument("--dry-run", action="store_true", help="check the sweep, list the runs and their state, "
                                                            "run nothing")
    run.add_argument("--out", default="results/runs", help="where the runs go (default results/runs)")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    report = commands.add_parser("report", help="tabulate the finished runs into CSV, Markdown and figures")
    report.add_argument("names", nargs="*", metavar="sweep",
                        help="names of the sweeps to tabulate, e.g. eph_vectors (default: every sweep run)")
    report.add_argument("--runs", default="results/runs", help="folder of sweeps (default results/runs)")
    report.add_argument("--out", default="results", help="where the tables go (default results)")
    args = parser.parse_args(argv)
    if args.command == "report":
        runs = Path(args.runs)
        if not runs.is_dir():
            _refuse([f"no runs to report: no folder {runs} (run `hc-repro run sweeps/NAME.yaml` first)"])
        if not any((path / SWEEP_FILE).is_file() for path in runs.iterdir()):
            _refuse([f"no runs to report: {runs} holds no sweep run by `hc-repro run sweeps/NAME.yaml`"])
        try:
            written = write_report(args.runs, args.out, args.names)
        except FileNotFoundError as error:
            _refuse([error])
        if not written:
            _refuse([f"no runs to report: no sweep in {runs} has a finished run (a metrics.json)"])
        for path in written:
            print("wrote", path)
        return 0
    if args.jobs is not None and args.jobs < 1:
        run.error("--jobs must be at least 1")
    problems = []
    for sweep in args.sweeps:
        try:
            load_sweep(sweep)
        except SweepError as error:
            problems += error.problems
    if problems:
        _refuse(problems)
    failed = False
    for sweep in args.sweeps:
        status = run_sweep(sweep, args.out, args.jobs, args.scheduler, args.dry_run, not args.no_progress)
        failed |= any(state == "failed" for state in status.values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
