"""Checkpoints of a CoHiClust run: written atomically after every epoch, read back to resume.

A checkpoint holds everything the next epoch depends on: the network, the optimiser, the
gradient scaler, the leaf mask, the history, the number of finished epochs, the settings
(a resume with other settings is refused) and every random state (torch on CPU and CUDA,
numpy, Python, the augmentation generator and the data-order generator). Resuming from it
on the same CPU machine continues the run bit for bit as if it had never stopped (on a GPU,
up to the nondeterminism of its convolution kernels).

A saved model (:meth:`CoHiClust.save <hc_lib.cohiclust.training.CoHiClust.save>`,
:func:`save_model`) is smaller: one :func:`torch.save` dict, written atomically, of ``format``
(:data:`MODEL_FORMAT`), ``settings``, ``in_channels``, ``model`` (the network's ``state_dict``),
``leaf_mask``, ``history`` and ``epochs_done``, without the optimiser (it does not resume
training). It holds only tensors, numbers, strings and plain containers, so
:func:`load_model` reads it with ``weights_only=True``: a file from elsewhere cannot run code
when loaded.
"""
from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch

from hc_lib import records

__all__ = ["CHECKPOINT_NAME", "MODEL_FORMAT", "capture_rng", "restore_rng", "save_checkpoint", "load_checkpoint",
           "compare_settings", "save_model", "load_model"]

CHECKPOINT_NAME = "cohiclust.pt"
#: The ``format`` entry of a saved model; a file without it is not one.
MODEL_FORMAT = "hc_lib.cohiclust.CoHiClust/1"
_MODEL_KEYS = ("settings", "in_channels", "model", "leaf_mask", "history", "epochs_done")


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


def _plain(value):
    """NumPy scalars as Python ones, inside lists, tuples and dicts (``weights_only`` reads no NumPy)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(item) for item in value)
    return value


def save_model(path, state: dict) -> Path:
    """Write a saved model (``state`` holds the keys of the module's documentation) atomically."""
    missing = [key for key in _MODEL_KEYS if key not in state]
    if missing:
        raise ValueError(f"a saved model needs {', '.join(missing)}")
    state = {**{key: _plain(value) for key, value in state.items() if key != "model"},
             "format": MODEL_FORMAT, "model": {name: tensor.detach().cpu() for name, tensor in state["model"].items()}}
    return records.save_checkpoint(path, state)


def load_model(path) -> dict:
    """The saved model at ``path``, checked to be one (errors name the file)."""
    path = Path(path)
    try:
        state = records.load_checkpoint(path, weights_only=True)
    except Exception as error:            # a truncated zip, another pickle, a text file, ...
        # torch's first sentence only: the rest advises weights_only=False, unsafe for a file from elsewhere
        reason = str(error).split(". ")[0].strip()[:160]
        raise ValueError(f"{path} is not a saved CoHiClust model: torch cannot read it "
                         f"({type(error).__name__}: {reason}); the file may be truncated or corrupt") from error
    if state is None:
        raise FileNotFoundError(f"no saved CoHiClust model at {path}")
    if not isinstance(state, dict) or state.get("format") != MODEL_FORMAT:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise ValueError(f"{path} is not a saved CoHiClust model (format {found!r}, expected {MODEL_FORMAT!r}); "
                         "write one with CoHiClust.save")
    missing = [key for key in _MODEL_KEYS if key not in state]
    if missing:
        raise ValueError(f"{path} is an incomplete CoHiClust model: no {', '.join(missing)}")
    return state
