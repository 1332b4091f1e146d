"""Time the library of an earlier commit beside the current one (used by the benchmarks).

``checkouts(commit)`` yields ``{"current": repository root}``, plus ``"against"``: a temporary
git worktree of ``commit`` (removed afterwards) when one is given. ``run_child`` runs a
benchmark script in a fresh process that imports ``hc_lib`` from one of them, with its own
thread count, and returns the JSON object the child printed last.
"""
from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def git(*args, cwd=ROOT) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()


@contextlib.contextmanager
def checkouts(against: str | None):
    versions = {"current": ROOT}
    with tempfile.TemporaryDirectory() as scratch:
        if against:
            versions["against"] = Path(scratch) / "against"
            git("worktree", "add", "--detach", str(versions["against"]), against)
        try:
            yield versions
        finally:
            if against:
                git("worktree", "remove", "--force", str(versions["against"]))


def run_child(source: Path, script: str, arguments, threads: int) -> dict:
    env = dict(os.environ, PYTHONPATH=str(source), OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    command = [sys.executable, str(Path(script).resolve()), *map(str, arguments)]
    done = subprocess.run(command, env=env, cwd=source, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])
