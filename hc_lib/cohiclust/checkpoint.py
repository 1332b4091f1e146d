"""Checkpoints of a CoHiClust run: written atomically after every epoch, read back to resume.

A checkpoint holds everything the next epoch depends on: the network, the optimiser, the
gradient scaler, the leaf mask, the history, the number of finished epochs, the settings
(a resume with other settings is refused) and every random state (torch on CPU and CUDA,
numpy, Python, the augmentation generator and the data-order generator). Resuming from it
on the same CPU machine continues the run bit for bit as if it had never stopped (on a GPU,
up to the nondeterminism of its convolution kernels).
"""
from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch

from hc_lib import records

__all__ = ["CHECKPOINT_NAME", "capture_rng", "restore_rng", "save_checkpoint", "load_checkpoint",
           "compare_settings"]

CHECKPOINT_NAME = "cohiclust.pt"


def capture_rng(generators: dict[str, torch.Generator]) -> dict:
    """The global random states, plus those of the given named generators."""
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate(),
             "generators": {name: gen.get_state() for name, gen in generators.items()}}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict, generators: dict[str, torch.Generator]) -> None:
    """Put back what :func:`capture_rng` saved (CUDA states only where CUDA is present)."""
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])
    for name, gen in generators.items():
        if name not in state["generators"]:
            raise ValueError(f"checkpoint has no state for the {name!r} generator")
        gen.set_state(state["generators"][name])


def save_checkpoint(directory, state: dict) -> Path:
    """Write ``state`` to ``directory/cohiclust.pt`` atomically (see :mod:`hc_lib.records`)."""
    return records.save_checkpoint(Path(directory) / CHECKPOINT_NAME, state)


def load_checkpoint(directory) -> dict | None:
    """The checkpoint in ``directory``, or None when there is none yet."""
    return records.load_checkpoint(Path(directory) / CHECKPOINT_NAME)


def compare_settings(saved: dict, current: dict, ignore=("progress", "device", "checkpoint_dir", "amp")) -> None:
    """Refuse to resume a run under different settings (``ValueError`` naming them)."""
    records.compare_settings(saved, current, ignore)
