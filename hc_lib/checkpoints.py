"""Checkpoints of long fits: written atomically, read back to resume, refused when they do not fit.

Every learner that trains for long (EPH, FPH, CoHiClust) saves its whole state to one file in
a ``checkpoint_dir`` from time to time and, when started again with the same folder and the
same settings, continues from it. A checkpoint is written to a temporary file in the same
folder and renamed into place, so an interruption at any moment leaves the previous checkpoint
intact.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch

__all__ = ["save_checkpoint", "load_checkpoint", "compare_settings"]


def save_checkpoint(path, state: dict) -> Path:
    """Write ``state`` with :func:`torch.save` to ``path`` atomically.

    Examples
    --------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> path = save_checkpoint(Path(folder) / "run.pt", {"step": 3})
    >>> load_checkpoint(path)["step"]
    3
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            torch.save(state, stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    return path


def load_checkpoint(path) -> dict | None:
    """The checkpoint at ``path``, or None when there is none yet."""
    path = Path(path)
    if not path.is_file():
        return None
    # our own file: it holds random states and plain Python objects besides tensors
    return torch.load(path, map_location="cpu", weights_only=False)


def compare_settings(saved: dict, current: dict, ignore=()) -> None:
    """Refuse to resume a run under different settings (``ValueError`` naming them)."""
    differ = sorted(key for key in set(saved) | set(current)
                    if key not in ignore and saved.get(key) != current.get(key))
    if differ:
        detail = ", ".join(f"{key}: {saved.get(key)!r} -> {current.get(key)!r}" for key in differ)
        raise ValueError(f"the checkpoint was written with other settings ({detail}); "
                         f"use another checkpoint_dir or the same settings")
