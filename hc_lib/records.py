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
import tempfile
from pathlib import Path

import numpy as np
import torch

__all__ = ["atomic_write", "write_json", "write_text", "provenance", "save_checkpoint", "load_checkpoint",
           "compare_settings"]

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
    thread count and date (UTC) of a run. The thread count belongs here because it sets the order
    of floating-point sums, and some fits (FPH on the TSD) follow that order to different trees."""
    def git(*args):
        try:
            return subprocess.run(["git", *args], cwd=_ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    if str(device).startswith("cuda") and torch.cuda.is_available():
        machine = torch.cuda.get_device_name(0)
    else:
        machine = _cpu_name() + f", {os.cpu_count()} cores"
    return {"commit": git("rev-parse", "HEAD"), "uncommitted_changes": bool(git("status", "--porcelain", "hc_lib")),
            "device": str(device), "machine": machine, "python": platform.python_version(),
            "torch": torch.__version__, "numpy": np.__version__, "torch_threads": torch.get_num_threads(),
            "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}


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
