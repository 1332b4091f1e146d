"""Training CoHiClust: the estimator, its schedule, and the settings of the two profiles.

The schedule of the paper (Znalezniak et al., ECML PKDD 2023): ``pretrain_epochs`` of SimCLR alone (NT-Xent on
two augmented views), then ``epochs`` of NT-Xent + CoHiLoss + ``2^-T`` R1; from
``prune_start`` epochs into the tree phase, after every epoch the leaf with the lowest mean
mass (over that epoch's views) is pruned, until ``n_clusters`` leaves are left. Adam, mixed
precision on CUDA, a checkpoint after every epoch, and an exact resume from it.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from hc_lib.cohiclust.augment import augmentation
from hc_lib.cohiclust.checkpoint import (capture_rng, compare_settings, load_checkpoint, load_model, restore_rng,
                                         save_checkpoint, save_model)
from hc_lib.cohiclust.data import PAPER_SETTINGS
from hc_lib.cohiclust.evaluation import assign_clusters
from hc_lib.cohiclust.losses import cohi_loss, nt_xent, r1_regulariser
from hc_lib.cohiclust.model import BACKBONES, CoHiClustNet
from hc_lib.cohiclust.soft_tree import (apply_leaf_mask, full_leaf_mask, heap_tree, leaf_masses,
                                        leaf_to_tree_leaf, node_masses, prune_lowest_leaf)

__all__ = ["PROFILES", "DATA_KEYS", "profile_settings", "CoHiClust"]

#: Settings of the notebook's profiles. "quick": Fashion-MNIST on this book's 2-core CPU in
#: about five minutes (a small CNN, 10 000 training images, milder crops: the paper's area
#: range 0.08-1 is too hard for so short a run). "long": the quick one with 10 SimCLR + 50 tree
#: epochs, about 16 minutes on one CPU thread. "hour": the quick one on 40 000 training images
#: with 10 + 40 epochs, meant to fit in an hour of a 2-core CPU. "hour-all": the hour's image
#: passes spent as the paper's protocol spends them, on all 70 000 train and test images
#: (6 + 23 epochs), scored on all of them (``sweeps/cohiclust_hour_all.yaml``). "hour-train":
#: the hour's image passes on all 60 000 training images (7 + 27 epochs), scored on the unseen
#: test images (``sweeps/cohiclust_hour_train.yaml``). "full": the paper's for MNIST / F-MNIST
#: (the paper and its appendix: ResNet-18, 16 leaves, 200 + 100 epochs, batch 256,
#: pruning in tree epochs 10-15, NT-Xent on the backbone's features without a projection
#: head); the paper clusters train and test images together, the quick run scores unseen
#: test images. Colour datasets take the paper's settings (:func:`profile_settings`).
_QUICK = {"backbone": "small-cnn", "depth": 4, "n_clusters": 10, "pretrain_epochs": 3, "epochs": 22,
          "batch_size": 256, "prune_start": 3, "crop_scale": (0.3, 1.0), "projection": "identity",
          "train_split": "train", "train_limit": 10_000, "eval_split": "test"}
PROFILES = {
    "quick": _QUICK,
    "long": {**_QUICK, "pretrain_epochs": 10, "epochs": 50},
    "hour": {**_QUICK, "pretrain_epochs": 10, "epochs": 40, "train_limit": 40_000},
    "hour-all": {**_QUICK, "pretrain_epochs": 6, "epochs": 23, "train_split": "all", "train_limit": None,
                 "eval_split": "all"},
    "hour-train": {**_QUICK, "pretrain_epochs": 7, "epochs": 27, "train_limit": None},
    "full": {"backbone": "resnet18", "depth": 4, "n_clusters": 10, "pretrain_epochs": 200, "epochs": 100,
             "batch_size": 256, "prune_start": 10, "crop_scale": (0.08, 1.0), "projection": "identity",
             "train_split": "all", "train_limit": None, "eval_split": "all"},
}
#: Keys of a profile that are data choices, not :class:`CoHiClust` settings.
DATA_KEYS = ("train_split", "train_limit", "eval_split")


def profile_settings(profile: str, dataset: str = "fashion-mnist", **overrides) -> dict:
    """Settings of a profile for a dataset, with ``overrides`` (those not None) in place of its own.

    "quick", "long", "hour", "hour-all" and "hour-train" as in :data:`PROFILES`; "full" from the
    data module's ``PAPER_SETTINGS`` for datasets of the paper (MNIST-like ones as in
    ``PROFILES``). ``train_limit="all"`` means every image of the training split (None).

    >>> profile_settings("hour", train_split="all", train_limit="all", eval_split="all",
    ...                  pretrain_epochs=6, epochs=23) == profile_settings("hour-all")
    True
    >>> profile_settings("quick", depth=None)["depth"]
    4
    """
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}")
    settings = dict(PROFILES[profile])
    if profile == "full" and dataset not in ("mnist", "fashion-mnist"):
        if dataset not in PAPER_SETTINGS:
            raise ValueError(f"the paper has no settings for {dataset!r}; known: {', '.join(PAPER_SETTINGS)}")
        paper = PAPER_SETTINGS[dataset]
        settings.update({key: paper[key] for key in ("backbone", "depth", "n_clusters", "pretrain_epochs",
                                                     "epochs", "batch_size")},
                        prune_start=paper["prune_after"], crop_scale=tuple(paper["crop_scale"]), projection="mlp")
    unknown = sorted(set(overrides) - set(settings))
    if unknown:
        raise ValueError(f"a profile has no setting {', '.join(map(repr, unknown))}; "
                         f"its settings: {', '.join(settings)}")
    settings.update({key: value for key, value in overrides.items() if value is not None})
    limit = settings["train_limit"]
    if limit == "all":
        settings["train_limit"] = None
    elif limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f'train_limit must be a positive number of images or "all", got {limit!r}')
    return settings


def _as_images(images) -> torch.Tensor:
    images = torch.as_tensor(images)
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"images must have shape (N, C, H, W) with C = 1 or 3, got {tuple(images.shape)}")
    if images.dtype != torch.uint8 and not images.is_floating_point():
        raise ValueError(f"images must be uint8 or float in [0, 1], got dtype {images.dtype}")
    return images


def _to_float(batch: torch.Tensor) -> torch.Tensor:
    return batch.float() / 255 if batch.dtype == torch.uint8 else batch.float()


class CoHiClust:
    """Contrastive hierarchical clustering (Znaleźniak et al., 2023).

    Parameters
    ----------
    depth : int
        Depth ``T`` of the soft binary tree (``2^T`` leaves before pruning).
    n_clusters : int
        Leaves left after pruning (at most ``2^T``).
    backbone : str
        One of ``"small-cnn"``, ``"resnet18"``, ``"resnet34"``, ``"resnet50"``.
    pretrain_epochs, epochs : int
        SimCLR-only epochs, then epochs of the joint loss (the tree phase).
    batch_size : int
        Images per step (each gives two views).
    lr, weight_decay : float
        Adam's settings.
    prune_start : int
        The first pruning follows tree-phase epoch ``prune_start`` (1-based; 0 acts as 1), then
        one leaf after every epoch until ``n_clusters`` are left.
    crop_scale : (float, float)
        Area range of the random resized crop.
    temperature : float
        NT-Xent temperature.
    projection : "mlp" or "identity"
        The NT-Xent head (see :class:`~hc_lib.cohiclust.model.CoHiClustNet`).
    official_self_negatives : bool
        The official code's CoHiLoss quirk (see :func:`~hc_lib.cohiclust.losses.cohi_loss`).
    device : str
    amp : bool
        Mixed precision (float16 autocast and gradient scaling); only on CUDA.
    checkpoint_dir : path, optional
        Save a checkpoint there after every epoch, and resume from it when it exists.
    eval_size : int
        With labels, the training images (a fixed subset, without augmentation) scored after
        every tree-phase epoch.
    random_state : int
        Seeds the network's initialisation (``fit`` seeds torch's and numpy's global
        generators), the augmentations and the data order.
    progress : bool
        A tqdm bar over the epochs.

    Attributes
    ----------
    model_ : CoHiClustNet
    leaf_mask_ : bool Tensor (2^T,), the leaves kept
    history_ : list of dict, one per epoch (losses, leaves, seconds; NMI/ACC/ARI/DP with labels)
    tree_ : hc_lib.trees.Tree over the kept leaves (leaf ``j`` = ``j``-th kept heap leaf)
    tree_leaf_of_ : ndarray (2^T,), the leaf of ``tree_`` of every heap leaf (-1 if pruned);
        ``tree_leaf_of_[predict(images)]`` places images in ``tree_``
    epochs_done_ : int
    """

    def __init__(self, depth: int = 4, n_clusters: int = 10, backbone: str = "resnet18", *,
                 pretrain_epochs: int = 200, epochs: int = 100, batch_size: int = 256, lr: float = 1e-3,
                 weight_decay: float = 1e-6, prune_start: int = 50, crop_scale=(0.08, 1.0),
                 temperature: float = 0.5, projection: str = "mlp", official_self_negatives: bool = False,
                 device: str = "cpu", amp: bool = True, checkpoint_dir=None, eval_size: int = 2000,
                 random_state: int = 0, progress: bool = True):
        self.depth, self.n_clusters, self.backbone = depth, n_clusters, backbone
        self.pretrain_epochs, self.epochs, self.batch_size = pretrain_epochs, epochs, batch_size
        self.lr, self.weight_decay, self.prune_start, self.crop_scale = lr, weight_decay, prune_start, crop_scale
        self.temperature, self.projection = temperature, projection
        self.official_self_negatives = official_self_negatives
        self.device, self.amp, self.checkpoint_dir, self.eval_size = device, amp, checkpoint_dir, eval_size
        self.random_state, self.progress = random_state, progress

    # ------------------------------------------------------------------ set-up
    def get_params(self) -> dict:
        names = ("depth", "n_clusters", "backbone", "pretrain_epochs", "epochs", "batch_size", "lr",
                 "weight_decay", "prune_start", "crop_scale", "temperature", "projection",
                 "official_self_negatives", "device", "amp", "checkpoint_dir", "eval_size", "random_state",
                 "progress")
        params = {name: getattr(self, name) for name in names}
        params["crop_scale"] = tuple(float(s) for s in params["crop_scale"])
        return params

    def _check(self) -> None:
        if int(self.depth) < 1:
            raise ValueError(f"depth must be at least 1, got {self.depth}")
        if self.backbone not in BACKBONES:
            raise ValueError(f"unknown backbone {self.backbone!r}; choose one of {', '.join(BACKBONES)}")
        leaves = 2 ** int(self.depth)
        if not 2 <= int(self.n_clusters) <= leaves:
            raise ValueError(f"n_clusters must be in [2, 2^depth = {leaves}], got {self.n_clusters}: "
                             f"pruning cannot remove more leaves than the tree has")
        if min(self.pretrain_epochs, self.epochs, self.prune_start) < 0 or self.epochs < 1:
            raise ValueError("epochs must be >= 1, pretrain_epochs and prune_start >= 0")
        n_prunes = leaves - int(self.n_clusters)
        first = max(int(self.prune_start), 1)          # pruning follows tree epochs first, first + 1, ...
        if n_prunes and self.epochs - first + 1 < n_prunes:
            raise ValueError(f"pruning {n_prunes} leaves (one after each tree epoch from epoch {first} on) "
                             f"needs epochs >= {first + n_prunes - 1}, got {self.epochs}")
        if int(self.batch_size) < 2:
            raise ValueError(f"batch_size must be at least 2, got {self.batch_size}")

    def _build(self, images: torch.Tensor) -> None:
        torch.manual_seed(self.random_state)
        np.random.seed(self.random_state)
        self._build_model(int(images.shape[1]))
        self._optimizer = torch.optim.Adam(self.model_.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        self._scaler = torch.amp.GradScaler("cuda", enabled=self._amp)
        self._generators = {"augment": torch.Generator().manual_seed(self.random_state + 1),
                            "order": torch.Generator().manual_seed(self.random_state + 2)}
        self._augment = augmentation(int(images.shape[-1]), tuple(self.crop_scale), self._generators["augment"])
        self.leaf_mask_ = full_leaf_mask(self.depth)
        self.history_ = []
        self.epochs_done_ = 0

    def _build_model(self, in_channels: int) -> None:
        self._device = torch.device(self.device)
        self._amp = bool(self.amp) and self._device.type == "cuda"
        self._in_channels = in_channels
        self.model_ = CoHiClustNet(self.backbone, self.depth, in_channels, projection=self.projection)
        self.model_.to(self._device)

    def _finish(self) -> None:
        self.tree_ = heap_tree(self.depth, self.leaf_mask_)
        self.tree_leaf_of_ = leaf_to_tree_leaf(self.depth, self.leaf_mask_)

    def _state(self) -> dict:
        return {"settings": self.get_params(), "model": self.model_.state_dict(),
                "optimizer": self._optimizer.state_dict(), "scaler": self._scaler.state_dict(),
                "leaf_mask": self.leaf_mask_.clone(), "history": list(self.history_),
                "epochs_done": self.epochs_done_, "rng": capture_rng(self._generators)}

    def _restore(self, state: dict) -> None:
        compare_settings(state["settings"], self.get_params())
        self.model_.load_state_dict(state["model"])
        self._optimizer.load_state_dict(state["optimizer"])
        if self._amp and state["scaler"]:          # empty when saved without CUDA
            self._scaler.load_state_dict(state["scaler"])
        self.leaf_mask_ = state["leaf_mask"].clone()
        self.history_ = list(state["history"])
        self.epochs_done_ = int(state["epochs_done"])
        restore_rng(state["rng"], self._generators)

    # ------------------------------------------------------------------ training
    def fit(self, images, labels=None, *, max_epochs: int | None = None) -> "CoHiClust":
        """Train (or resume training) on ``images`` (uint8 or float ``(N, C, H, W)``).

        Parameters
        ----------
        labels : array_like, optional
            Only to record NMI/ACC/ARI/DP in ``history_`` after each tree-phase epoch.
        max_epochs : int, optional
            Stop after this many epochs in this call (the run continues from its checkpoint in
            a later call); by default train to the end.
        """
        self._check()
        images = _as_images(images)
        if images.shape[0] < self.batch_size:
            raise ValueError(f"need at least batch_size = {self.batch_size} images, got {images.shape[0]}")
        self._build(images)
        if self.checkpoint_dir is not None and (state := load_checkpoint(self.checkpoint_dir)) is not None:
            self._restore(state)
        data = images.to(self._device)
        check = None
        if labels is not None:
            labels = np.asarray(labels)
            if labels.shape != (images.shape[0],):
                raise ValueError(f"labels must have one entry per image ({images.shape[0]}), got {labels.shape}")
            pick = np.random.default_rng(self.random_state).permutation(images.shape[0])[:self.eval_size]
            check = (images[np.sort(pick)], labels[np.sort(pick)])
        total = self.pretrain_epochs + self.epochs
        stop = total if max_epochs is None else min(total, self.epochs_done_ + int(max_epochs))
        bar = None
        if self.progress:
            bar = tqdm(total=total, initial=self.epochs_done_, desc="CoHiClust", unit="epoch")
        while self.epochs_done_ < stop:
            record = self._epoch(data)
            if check is not None and record["phase"] == "tree":
                record.update(self.score(*check))
            self.history_.append(record)
            self.epochs_done_ += 1
            if self.checkpoint_dir is not None:
                save_checkpoint(self.checkpoint_dir, self._state())
            if bar is not None:
                bar.update(1)
                bar.set_postfix({key: round(record[key], 3) for key in ("loss", "nmi") if key in record})
        if bar is not None:
            bar.close()
        self._finish()
        return self

    def _epoch(self, data: torch.Tensor) -> dict:
        start = time.perf_counter()
        tree_epoch = self.epochs_done_ - self.pretrain_epochs
        tree_phase = tree_epoch >= 0
        mask = self.leaf_mask_.to(self._device)
        beta1 = 2.0 ** -self.depth
        order = torch.randperm(data.shape[0], generator=self._generators["order"])
        n_batches = data.shape[0] // self.batch_size
        sums = {"loss": 0.0, "nt_xent": 0.0, "cohi": 0.0, "r1": 0.0}
        leaf_mass = torch.zeros(2 ** self.depth, device=self._device)
        self.model_.train()
        for batch in range(n_batches):
            index = order[batch * self.batch_size:(batch + 1) * self.batch_size].to(self._device)
            x = _to_float(data[index])
            views = torch.cat([self._augment(x), self._augment(x)])
            with torch.autocast(self._device.type, dtype=torch.float16, enabled=self._amp):
                p_left, z = self.model_(views)
            # the losses in float32: under autocast their matrix products would run in half precision
            loss = ntx = nt_xent(z.float(), self.temperature)
            if tree_phase:
                masses = apply_leaf_mask(node_masses(p_left.float()), mask)
                cohi = cohi_loss(masses, official_self_negatives=self.official_self_negatives)
                r1 = r1_regulariser(masses, leaf_mask=mask)
                loss = loss + cohi + beta1 * r1
                sums["cohi"] += float(cohi.detach())
                sums["r1"] += float(r1.detach())
                leaf_mass += leaf_masses(masses).detach().mean(dim=0)
            self._optimizer.zero_grad(set_to_none=True)
            self._scaler.scale(loss).backward()
            self._scaler.step(self._optimizer)
            self._scaler.update()
            sums["loss"] += float(loss.detach())
            sums["nt_xent"] += float(ntx.detach())
        record = {"epoch": self.epochs_done_ + 1, "phase": "tree" if tree_phase else "pretrain",
                  **{key: value / max(n_batches, 1) for key, value in sums.items()}}
        if not tree_phase:
            del record["cohi"], record["r1"]
        if tree_phase and tree_epoch + 1 >= self.prune_start and int(self.leaf_mask_.sum()) > self.n_clusters:
            self.leaf_mask_ = prune_lowest_leaf(self.leaf_mask_, leaf_mass.cpu())
            record["pruned_leaf"] = int(torch.nonzero(mask.cpu() & ~self.leaf_mask_)[0])
        record["n_leaves"] = int(self.leaf_mask_.sum())
        record["seconds"] = time.perf_counter() - start
        return record

    # ------------------------------------------------------------------ inference
    def _require_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise ValueError("this CoHiClust is not fitted yet: call fit first")

    @torch.no_grad()
    def predict_proba(self, images, batch_size: int = 1024) -> torch.Tensor:
        """Masked leaf probabilities ``(N, 2^T)`` on the CPU; pruned leaves are 0, and rows sum
        to less than 1 by the pruned mass (never renormalised)."""
        self._require_fitted()
        images = _as_images(images)
        self.model_.eval()
        out = []
        for start in range(0, images.shape[0], batch_size):
            x = _to_float(images[start:start + batch_size].to(self._device))
            with torch.autocast(self._device.type, dtype=torch.float16, enabled=self._amp):
                masses = self.model_.masses(x)
            out.append(leaf_masses(apply_leaf_mask(masses.float(), self.leaf_mask_.to(self._device))).cpu())
        return torch.cat(out)

    def predict(self, images, batch_size: int = 1024) -> np.ndarray:
        """Cluster of every image: the heap index ``0..2^T - 1`` of its most probable kept leaf."""
        # not a plain argmax: when every kept leaf underflows to 0 it would pick a pruned leaf
        return assign_clusters(self.predict_proba(images, batch_size), self.leaf_mask_, self.depth)

    def score(self, images, labels) -> dict:
        """NMI, ACC, ARI and dendrogram purity of the predicted leaves against ``labels``
        (:func:`hc_lib.cohiclust.evaluation.evaluate`)."""
        from hc_lib.cohiclust.evaluation import evaluate

        return evaluate(self.predict_proba(images), labels, self.leaf_mask_, self.depth)

    # ------------------------------------------------------------------ saving
    def save(self, path) -> Path:
        """Write the fitted model to ``path`` atomically, for :meth:`load`.

        The file holds the settings, the input channel count, the network's weights,
        ``leaf_mask_``, ``history_`` and ``epochs_done_``, not the optimiser: it does not resume
        training (a ``checkpoint_dir`` does). Layout: :mod:`hc_lib.cohiclust.checkpoint`.

        Returns
        -------
        pathlib.Path
        """
        self._require_fitted()
        return save_model(path, {"settings": {**self.get_params(), "checkpoint_dir": None},
                                 "in_channels": self._in_channels, "model": self.model_.state_dict(),
                                 "leaf_mask": self.leaf_mask_, "history": self.history_,
                                 "epochs_done": self.epochs_done_})

    @classmethod
    def load(cls, path, device: str = "cpu") -> "CoHiClust":
        """The fitted estimator saved at ``path`` by :meth:`save`, on ``device``.

        ``predict_proba``, ``predict``, ``score``, ``tree_`` and ``tree_leaf_of_`` work as after
        ``fit``; on the CPU the probabilities are the same bit for bit (an example:
        :mod:`hc_lib.cohiclust.pretrained`).

        Raises
        ------
        FileNotFoundError
            No file at ``path``.
        ValueError
            The file is not a saved CoHiClust model, or a truncated one (the message names it).
        """
        state = load_model(path)
        model = cls(**{**state["settings"], "device": device, "checkpoint_dir": None})
        model._check()
        with torch.random.fork_rng(devices=[]):    # the throw-away initialisation leaves torch's RNG alone
            model._build_model(int(state["in_channels"]))
        try:
            model.model_.load_state_dict(state["model"])
        except RuntimeError as error:
            raise ValueError(f"{path}: the weights do not fit the saved settings ({error})") from error
        model.leaf_mask_, model.history_ = state["leaf_mask"].clone(), list(state["history"])
        model.epochs_done_ = int(state["epochs_done"])
        model._finish()
        return model
