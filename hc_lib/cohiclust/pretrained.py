"""The CoHiClust models shipped with hc_lib: a registry, and a loader that checks them.

:data:`MODELS` lists the models shipped in ``data/models/`` (the package ``hc_lib.data_files``,
found like the datasets, :func:`hc_lib.datasets.data_dir`); :func:`pretrained_model` checks a
shipped file's sha256 and loads it with :meth:`CoHiClust.load
<hc_lib.cohiclust.training.CoHiClust.load>` (the file's layout: :mod:`hc_lib.cohiclust.checkpoint`).
Their provenance: ``data/README.md``.

Any fitted model saves and loads the same way:

>>> import tempfile
>>> import torch
>>> images = torch.randint(0, 256, (16, 1, 12, 12), dtype=torch.uint8)
>>> model = CoHiClust(depth=1, n_clusters=2, backbone="small-cnn", pretrain_epochs=0, epochs=1,
...                   batch_size=8, progress=False).fit(images)
>>> path = model.save(Path(tempfile.mkdtemp()) / "model.pt")
>>> torch.equal(CoHiClust.load(path).predict_proba(images), model.predict_proba(images))
True
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from hc_lib.cohiclust.training import CoHiClust
from hc_lib.datasets import data_dir

__all__ = ["ShippedModel", "MODELS", "file_sha256", "shipped_for", "shipped_path", "pretrained_model"]


@dataclass(frozen=True)
class ShippedModel:
    """A model shipped in ``data/models/``: where it is, what it is and how it was made."""

    name: str
    file: str                #: relative to the data folder, as in ``SHA256SUMS``
    sha256: str
    dataset: str
    profile: str             #: the profile of :data:`~hc_lib.cohiclust.training.PROFILES` it was trained with
    seed: int
    settings: dict           #: the :class:`CoHiClust` settings that shape the model and its training
    data: dict               #: ``train_split``, ``train_limit``, ``eval_split`` of the run
    scores: dict             #: NMI, ACC, ARI, DP on the scored images of ``data``, recorded when it was made
    check: dict              #: ``split``, ``first`` and the scores of those first images, recorded likewise
    record: str              #: the run's record, relative to the repository
    command: str             #: the command that trained and saved it (from the repository's root)
    fit_seconds: float


_HOUR_TRAIN_COMMAND = (
    "OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 .venv/bin/python -c \"import jupytext, nbformat, papermill; "
    "nbformat.write(jupytext.read('notebooks/08_cohiclust.md'), '/tmp/08.ipynb'); "
    "papermill.execute_notebook('/tmp/08.ipynb', '/tmp/08_hour_train.ipynb', cwd='.', parameters=dict("
    "profile='hour-train', pretrained=False, seed=0, device='cpu', score_all=True, "
    "checkpoint_dir='/tmp/runs/shipped_ckpt', "
    "save_model='data/models/cohiclust_fashion-mnist_hour-train.pt', "
    "output='results/cohiclust/hour-train_fashion-mnist_shipped.json'))\"")

#: The shipped models by name. Their scores are copied from the run's record (``record``), which
#: ``tests/test_cohiclust_pretrained.py`` checks, and the provenance is in ``data/README.md``.
MODELS: dict[str, ShippedModel] = {
    "fashion-mnist": ShippedModel(
        name="fashion-mnist", file="models/cohiclust_fashion-mnist_hour-train.pt",
        sha256="c4e03e4466b396529b25ce25ace449cdd8052c3d0def49df010e4324b82738d3",
        dataset="fashion-mnist", profile="hour-train", seed=0,
        settings={"backbone": "small-cnn", "depth": 4, "n_clusters": 10, "pretrain_epochs": 7, "epochs": 27,
                  "batch_size": 256, "lr": 0.001, "weight_decay": 1e-06, "prune_start": 3, "crop_scale": (0.3, 1.0),
                  "temperature": 0.5, "projection": "identity", "official_self_negatives": False},
        data={"train_split": "train", "train_limit": None, "eval_split": "test"},
        scores={"nmi": 0.6720441276927297, "acc": 0.7205, "ari": 0.5706026236755567, "dp": 0.5808811372806996,
                "n_clusters": 10},
        check={"split": "test", "first": 2000,
               "scores": {"nmi": 0.678068324845635, "acc": 0.732, "ari": 0.5658554632296967,
                          "dp": 0.5773019456774112, "n_clusters": 10}},
        record="results/cohiclust/hour-train_fashion-mnist_shipped.json", command=_HOUR_TRAIN_COMMAND,
        fit_seconds=1699.6787155959973),
}


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
