"""Run records: files written atomically, the provenance of a run, and checkpoints of long fits.

Every file a run leaves (a metrics JSON, a sweep's record, a learner's checkpoint) is written
to a temporary file in its folder and renamed into place, so an interruption at any moment
leaves the previous file or none, never half of one. Every learner that trains for long (EPH,
FPH, CoHiClust) saves its whole state with :func:`save_checkpoint` from time to time and, when
started again with the same folder and the same settings (:func:`compare_settings`), continues
from it. :func:`provenance` says where and with what a result was computed.

>>> import tempfile
>>> folder = Path(tempfile.mkdtemp())
>>> json.loads(write_json(folder / "run.json", {"score": 1.5}).read_text())
{'score': 1.5}
>>> load_checkpoint(save_checkpoint(folder / "run.pt", {"step": 3}))["step"]
3
>>> load_checkpoint(folder / "none.pt") is None
True
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

try:
    import resource
except ImportError:  # Windows
    resource = None

import numpy as np
import torch

__all__ = ["atomic_write", "write_json", "write_text", "provenance", "peak_memory_mib", "save_checkpoint",
           "load_checkpoint", "compare_settings"]

_ROOT = Path(__file__).resolve().parent.parent


def atomic_write(path, write, *, binary: bool = False) -> Path:
    """Call ``write(stream)`` on a temporary file next to ``path``, then rename it to ``path``.

    The parent folder is created; on any error the temporary file is removed and ``path`` is
    left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb" if binary else "w") as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o644)  # mkstemp makes it private
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    return path


def write_text(path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically."""
    return atomic_write(path, lambda stream: stream.write(text))


def write_json(path, record, *, default=float) -> Path:
    """Write ``record`` as indented JSON atomically; ``default`` converts what JSON cannot hold
    (NumPy scalars, by default through ``float``)."""
    return write_text(path, json.dumps(record, indent=1, default=default))


def provenance(device: str = "cpu") -> dict:
    """Commit (and whether ``hc_lib`` had uncommitted changes), machine, library versions, torch's
    thread count, peak memory and date (UTC) of a run. The thread count belongs here because it
    sets the order of floating-point sums, and some fits (FPH on the TSD) follow that order to
    different trees.

    ``peak_memory_mib`` is the most resident memory this process has held since it started (a
    notebook's kernel: everything the notebook did so far; :func:`peak_memory_mib`); on a CUDA
    device ``peak_cuda_memory_mib`` adds the most memory torch allocated there.

    >>> record = provenance()
    >>> record["peak_memory_mib"] > 10 and record["torch_threads"] >= 1
    True
    """
    def git(*args):
        try:
            return subprocess.run(["git", *args], cwd=_ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    on_cuda = str(device).startswith("cuda") and torch.cuda.is_available()
    machine = torch.cuda.get_device_name(0) if on_cuda else _cpu_name() + f", {os.cpu_count()} cores"
    record = {"commit": git("rev-parse", "HEAD"), "uncommitted_changes": bool(git("status", "--porcelain", "hc_lib")),
              "device": str(device), "machine": machine, "python": platform.python_version(),
              "torch": torch.__version__, "numpy": np.__version__, "torch_threads": torch.get_num_threads(),
              "peak_memory_mib": round(peak_memory_mib(), 1),
              "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
    if on_cuda:
        record["peak_cuda_memory_mib"] = round(torch.cuda.max_memory_allocated() / 2 ** 20, 1)
    return record


def peak_memory_mib() -> float:
    """The peak resident memory of this process so far, in MiB.

    On Linux, ``VmHWM`` of ``/proc/self/status``: the high-water mark of this program's own
    memory. ``ru_maxrss`` is not used there because it carries over through ``exec`` the memory
    of the process that started this one (a notebook kernel would report its launcher's size).
    Elsewhere, ``ru_maxrss`` (bytes on macOS); NaN where neither exists.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 2 ** 10          # kB
    except OSError:
        pass
    if resource is None:  # Windows has no getrusage
        return float("nan")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2 ** 20 if sys.platform == "darwin" else peak / 2 ** 10


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def save_checkpoint(path, state: dict) -> Path:
    """Write ``state`` with :func:`torch.save` to ``path`` atomically."""
    return atomic_write(path, lambda stream: torch.save(state, stream), binary=True)


def load_checkpoint(path, *, weights_only: bool = False) -> dict | None:
    """The checkpoint at ``path``, or None when there is none yet.

    By default the whole pickle is read (a learner's own checkpoint holds random states and
    plain Python objects besides tensors); ``weights_only=True`` reads only tensors and plain
    containers, numbers and strings, so a file from elsewhere cannot run code when loaded.
    """
    path = Path(path)
    if not path.is_file():
        return None
    return torch.load(path, map_location="cpu", weights_only=weights_only)


def compare_settings(saved: dict, current: dict, ignore=()) -> None:
    """Refuse to resume a run under different settings (``ValueError`` naming them).

    >>> compare_settings({"lr": 0.1}, {"lr": 0.2})
    Traceback (most recent call last):
    ...
    ValueError: the checkpoint was written with other settings (lr: 0.1 -> 0.2); use another checkpoint_dir or the same settings
    """
    differ = sorted(key for key in set(saved) | set(current)
                    if key not in ignore and saved.get(key) != current.get(key))
    if differ:
        detail = ", ".join(f"{key}: {saved.get(key)!r} -> {current.get(key)!r}" for key in differ)
        raise ValueError(f"the checkpoint was written with other settings ({detail}); "
                         f"use another checkpoint_dir or the same settings")
