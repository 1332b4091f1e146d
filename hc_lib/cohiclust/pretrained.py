"""Saved CoHiClust models: the file format, and the models shipped with hc_lib.

A saved model (:meth:`CoHiClust.save <hc_lib.cohiclust.training.CoHiClust.save>`) is one
:func:`torch.save` file, written atomically (:func:`hc_lib.records.save_checkpoint`), holding a
dict: ``format`` (:data:`FORMAT`), ``settings`` (``get_params()``, without ``checkpoint_dir``),
``in_channels``, ``model`` (the network's ``state_dict``), ``leaf_mask``, ``history`` and
``epochs_done``. It holds only tensors, numbers, strings and plain containers, so it is read
with ``weights_only=True``: a file from elsewhere cannot run code when loaded.

:data:`MODELS` lists the models shipped in ``data/models/`` (the package ``hc_lib.data_files``,
found like the datasets, :func:`hc_lib.datasets.data_dir`); :func:`pretrained_model` checks a
shipped file's sha256 and loads it. Their provenance: ``data/README.md``.

>>> import tempfile
>>> import torch
>>> from hc_lib.cohiclust.training import CoHiClust
>>> images = torch.randint(0, 256, (16, 1, 12, 12), dtype=torch.uint8)
>>> model = CoHiClust(depth=1, n_clusters=2, backbone="small-cnn", pretrain_epochs=0, epochs=1,
...                   batch_size=8, progress=False).fit(images)
>>> path = model.save(Path(tempfile.mkdtemp()) / "model.pt")
>>> torch.equal(CoHiClust.load(path).predict_proba(images), model.predict_proba(images))
True
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from hc_lib import records
from hc_lib.cohiclust.training import CoHiClust
from hc_lib.datasets import data_dir

__all__ = ["FORMAT", "ShippedModel", "MODELS", "save_model", "load_model", "file_sha256", "shipped_for",
           "shipped_path", "pretrained_model"]

#: The ``format`` entry of a saved model; a file without it is not one.
FORMAT = "hc_lib.cohiclust.CoHiClust/1"
_KEYS = ("settings", "in_channels", "model", "leaf_mask", "history", "epochs_done")


@dataclass(frozen=True)
class ShippedModel:
    """A model shipped in ``data/models/``: where it is, what it is and how it was made."""

    name: str
    file: str                #: relative to the data folder, as in ``SHA256SUMS``
    sha256: str
    dataset: str
    profile: str             #: the profile of :data:`~hc_lib.cohiclust.training.PROFILES` it was trained with
    seed: int
    data: dict               #: ``train_split``, ``train_limit``, ``eval_split`` of the run
    scores: dict             #: on the scored images of ``data``, as recorded when it was made
    check: dict = field(default_factory=dict)   #: ``split``, ``limit`` and the scores of those images
    record: str = ""         #: the run's record, relative to the repository
    command: str = ""        #: the command that trained and saved it
    fit_seconds: float = 0.0


MODELS: dict[str, ShippedModel] = {}


def _plain(value):
    """NumPy scalars as Python ones, inside lists, tuples and dicts (``weights_only`` reads no NumPy)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(item) for item in value)
    return value


def save_model(estimator: CoHiClust, path) -> Path:
    """Write the fitted ``estimator`` to ``path`` atomically (the layout of the module's documentation)."""
    estimator._require_fitted()
    settings = {**estimator.get_params(), "checkpoint_dir": None}
    state = {"format": FORMAT, "settings": _plain(settings),
             "in_channels": estimator._in_channels,
             "model": {name: tensor.detach().cpu() for name, tensor in estimator.model_.state_dict().items()},
             "leaf_mask": estimator.leaf_mask_.detach().cpu().clone(), "history": _plain(list(estimator.history_)),
             "epochs_done": int(estimator.epochs_done_)}
    return records.save_checkpoint(path, state)


def load_model(path, device: str = "cpu", estimator: type[CoHiClust] = CoHiClust) -> CoHiClust:
    """The fitted ``estimator`` saved at ``path`` by :func:`save_model`, on ``device``."""
    path = Path(path)
    try:
        state = records.load_checkpoint(path, weights_only=True)
    except Exception as error:            # a truncated zip, another pickle, a text file, ...
        raise ValueError(f"{path} is not a saved CoHiClust model: torch cannot read it "
                         f"({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}); "
                         "the file may be truncated or corrupt") from error
    if state is None:
        raise FileNotFoundError(f"no saved CoHiClust model at {path}")
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise ValueError(f"{path} is not a saved CoHiClust model (format {found!r}, expected {FORMAT!r}); "
                         "write one with CoHiClust.save")
    missing = [key for key in _KEYS if key not in state]
    if missing:
        raise ValueError(f"{path} is an incomplete CoHiClust model: no {', '.join(missing)}")
    model = estimator(**{**state["settings"], "device": device, "checkpoint_dir": None})
    model._check()
    with torch.random.fork_rng(devices=[]):           # the throw-away initialisation leaves torch's RNG alone
        model._build_model(int(state["in_channels"]))
    try:
        model.model_.load_state_dict(state["model"])
    except RuntimeError as error:
        raise ValueError(f"{path}: the weights do not fit the saved settings ({error})") from error
    model.leaf_mask_ = state["leaf_mask"].clone()
    model.history_ = list(state["history"])
    model.epochs_done_ = int(state["epochs_done"])
    model._finish()
    return model


def file_sha256(path) -> str:
    """The sha256 of the file at ``path`` (hex)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def shipped_for(dataset: str) -> ShippedModel | None:
    """The shipped model of ``dataset``, or None when there is none."""
    return next((entry for entry in MODELS.values() if entry.dataset == dataset), None)


def shipped_path(name: str = "fashion-mnist") -> Path:
    """Where the shipped model ``name`` lies (in the installed package, or under ``$HC_LIB_DATA``)."""
    if name not in MODELS:
        raise ValueError(f"no shipped model {name!r}; shipped: {', '.join(MODELS) or 'none'}")
    return data_dir() / MODELS[name].file


def pretrained_model(name: str = "fashion-mnist", device: str = "cpu") -> CoHiClust:
    """The shipped model ``name`` (see :data:`MODELS`), after checking its sha256, on ``device``.

    Raises
    ------
    ValueError
        Unknown ``name``.
    FileNotFoundError
        The file is not installed.
    OSError
        The file's sha256 is not the registered one.
    """
    path = shipped_path(name)
    if not path.is_file():
        raise FileNotFoundError(f"the shipped model {name!r} is not installed: no file {path}")
    digest, expected = file_sha256(path), MODELS[name].sha256
    if digest != expected:
        raise OSError(f"checksum mismatch for {path}: sha256 {digest}, expected {expected} "
                      "(hc_lib.cohiclust.pretrained.MODELS); the file is corrupt or not the shipped one")
    return CoHiClust.load(path, device=device)
