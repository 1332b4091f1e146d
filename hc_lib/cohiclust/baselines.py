"""The hierarchical baselines of the CoHiClust paper's Table 5, from ClustPy and scikit-learn.

===============  ====================================  ===================================  ========================
method           what runs                             hierarchy (``tree_``, for DP)        flat clusters (``labels_``)
===============  ====================================  ===================================  ========================
``DeepECT``      ClustPy's ``DeepECT``                 its cluster tree (at most            the tree pruned to its
                                                       ``max_leaves`` leaves), images       first ``n_clusters``
                                                       hung under their leaf                leaves
``DeepECT+Aug``  ClustPy's ``DeepECT`` with            as DeepECT                           as DeepECT
                 augmentation invariance on its
                 augmented dataloaders (affine maps)
``IDEC``         ClustPy's ``IDEC``                    complete linkage (SciPy) on the      IDEC's own clusters
                                                       IDEC embedding of every image        (``dec_labels_``)
``AE+BKM``       the autoencoder, then scikit-learn's  the bisection tree, images hung      its ``n_clusters``
                 ``BisectingKMeans`` on its embedding  under their leaf                     clusters
===============  ====================================  ===================================  ========================

Every tree has one leaf per image, so dendrogram purity is computed on the footing of
CoHiClust's (:func:`hc_lib.cohiclust.evaluation.evaluate`): a pair of images in one leaf
cluster meets at that cluster. IDEC is flat; the paper builds its hierarchy "with (optimally
selected) typical hierarchical algorithms on the obtained data representation" and names
complete linkage, so the linkage runs on the embedding of the images themselves, not on the
ten cluster centres: a tree over centres would mostly restate the flat clusters, and the
paper's low DP for IDEC (0.40 on MNIST beside NMI 0.86) points to a linkage over single images
too. It needs the ``N (N - 1) / 2`` distances in memory (20 GB for 70 000 images).

All four methods start from the same autoencoder: ClustPy's default feed-forward network
(``d-500-500-2000-10``, the layout of DEC, IDEC and DeepECT), pre-trained here with the same
settings and seed and handed to ClustPy already fitted. DeepECT+Aug pre-trains it on ClustPy's
augmented images (what ClustPy does when it is given augmented dataloaders). The images are
scaled to [0, 1] and standardised per channel, as ClustPy's augmented dataloaders do.
"""
from __future__ import annotations

import contextlib
import io
import time

import numpy as np
import torch
from clustpy.deep import (DeepECT, IDEC, encode_batchwise, get_dataloader, get_default_augmented_dataloaders,
                          get_trained_network, set_torch_seed)
from scipy.cluster.hierarchy import linkage
from sklearn.cluster import BisectingKMeans

from hc_lib.metrics import accuracy, ari, dendrogram_purity, nmi
from hc_lib.trees import Tree

__all__ = ["METHODS", "PROFILES", "DATA_KEYS", "profile_settings", "tree_over_clusters", "cluster_tree_parents",
           "HierarchicalBaseline", "evaluate_baseline"]

METHODS = ("DeepECT", "DeepECT+Aug", "IDEC", "AE+BKM")

#: The settings of the two profiles. "paper": ClustPy's defaults for DeepECT and IDEC, which
#: are those of the DeepECT paper (Mautz et al., 2020): batch 256, autoencoder pre-trained 100
#: epochs at lr 1e-3, 150 clustering epochs at lr 1e-4, trees of up to 20 leaves grown every
#: 2 epochs, pruning threshold 0.1, IDEC's clustering loss weighted 0.1; every image of the
#: dataset (70 000 for MNIST and Fashion-MNIST in the paper). "quick": a few minutes on one
#: CPU thread: 2 000 images, 20 + 20 epochs, a leaf grown every epoch.
PROFILES = {
    "paper": {"n_images": None, "batch_size": 256, "embedding_size": 10, "pretrain_epochs": 100,
              "pretrain_lr": 1e-3, "clustering_epochs": 150, "clustering_lr": 1e-4, "max_leaves": 20,
              "grow_interval": 2, "pruning_threshold": 0.1, "idec_loss_weight": 0.1},
    "quick": {"n_images": 2000, "batch_size": 256, "embedding_size": 10, "pretrain_epochs": 20,
              "pretrain_lr": 1e-3, "clustering_epochs": 20, "clustering_lr": 1e-4, "max_leaves": 20,
              "grow_interval": 1, "pruning_threshold": 0.1, "idec_loss_weight": 0.1},
}
#: Profile keys that choose the data rather than the model.
DATA_KEYS = ("n_images",)


def profile_settings(profile: str) -> dict:
    """A copy of the settings of ``profile`` (see :data:`PROFILES`).

    >>> profile_settings("paper")["clustering_epochs"]
    150
    """
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}")
    return dict(PROFILES[profile])


def tree_over_clusters(cluster_parent, cluster_of_point) -> Tree:
    """The tree with one leaf per point: every point hung under the node of its cluster.

    Parameters
    ----------
    cluster_parent : array_like of int, shape (K,)
        Parent of every node of a cluster tree (``-1`` for its root), in any numbering.
    cluster_of_point : array_like of int, shape (N,)
        The node (index into ``cluster_parent``) holding each point, normally a leaf.

    Nodes left without points are dropped and nodes left with one child spliced out.

    Examples
    --------
    >>> tree = tree_over_clusters([-1, 0, 0], [1, 1, 2, 2, 2])     # root 0 with leaf clusters 1, 2
    >>> tree.n_leaves, tree.parent.tolist()
    (5, [5, 5, 6, 6, 6, 7, 7, -1])
    """
    parent = np.asarray(cluster_parent, dtype=np.int64)
    points = np.asarray(cluster_of_point, dtype=np.int64)
    if parent.ndim != 1 or points.ndim != 1 or points.size < 2:
        raise ValueError(f"cluster_parent and cluster_of_point must be 1-d with at least 2 points, "
                         f"got shapes {parent.shape} and {points.shape}")
    if points.min() < 0 or points.max() >= parent.size:
        raise ValueError(f"cluster_of_point must name nodes 0..{parent.size - 1}")
    n = points.size
    full = np.concatenate([n + points, np.where(parent < 0, -1, n + parent)])
    return Tree.from_parent(full, n_leaves=n, prune=True)


def cluster_tree_parents(root, children, leaf_key) -> tuple[np.ndarray, dict]:
    """``(parent array, {leaf key: node})`` of a binary tree of objects, walked from ``root``.

    ``children(node)`` gives ``(left, right)`` or None for a leaf; ``leaf_key(leaf)`` gives the
    cluster label that the points of that leaf carry.
    """
    parent, key_to_node, stack = [-1], {}, [(root, 0)]
    while stack:
        node, index = stack.pop()
        pair = children(node)
        if pair is None:
            key_to_node[int(leaf_key(node))] = index
            continue
        for child in pair:
            parent.append(index)
            stack.append((child, len(parent) - 1))
    return np.asarray(parent, dtype=np.int64), key_to_node


def _deepect_tree(model: DeepECT, labels: np.ndarray) -> Tree:
    """DeepECT's ClustPy cluster tree as a Tree over the images (``labels``: their leaf's label)."""
    parent, node_of = cluster_tree_parents(
        model.tree_.root_node_, lambda node: None if node.is_leaf_node() else (node.left_node_, node.right_node_),
        lambda leaf: leaf.labels[0])
    return tree_over_clusters(parent, np.array([node_of[int(label)] for label in labels]))


def _bisection_tree(model: BisectingKMeans) -> Tree:
    """scikit-learn's bisection tree (the private ``_bisecting_tree``) as a Tree over the points."""
    root = getattr(model, "_bisecting_tree", None)
    if root is None:
        raise RuntimeError("this scikit-learn's BisectingKMeans keeps no _bisecting_tree; the hierarchy is lost")
    parent, node_of = cluster_tree_parents(root, lambda node: None if node.left is None else (node.left, node.right),
                                           lambda leaf: leaf.label)
    return tree_over_clusters(parent, np.array([node_of[int(label)] for label in model.labels_]))


def _check_images(images) -> torch.Tensor:
    """``(N, C, H, W)`` floats in [0, 1] from uint8 images ``(N, C, H, W)`` or ``(N, H, W)``."""
    if isinstance(images, np.ndarray):
        images = torch.from_numpy(images)
    if not isinstance(images, torch.Tensor):
        raise ValueError(f"images must be a uint8 tensor or array (as load_images returns), "
                         f"got {type(images).__name__}")
    if images.dtype != torch.uint8:
        raise ValueError(f"images must be uint8 (as load_images returns), got {images.dtype}")
    if images.ndim == 3:
        images = images[:, None]
    if images.ndim != 4 or images.shape[1] not in (1, 3) or min(images.shape[2:]) < 2:
        raise ValueError(f"images must have shape (N, C, H, W) with 1 or 3 channels, or (N, H, W); "
                         f"got shape {tuple(images.shape)}")
    x = images.float()
    return x / max(float(x.max()), 1.0)


class HierarchicalBaseline:
    """One of Table 5's baselines (:data:`METHODS`), fitted to images; see the module's table.

    Parameters
    ----------
    method : {"DeepECT", "DeepECT+Aug", "IDEC", "AE+BKM"}
    n_clusters : int
        Flat clusters (the number of classes), at least 2.
    batch_size, embedding_size, pretrain_epochs, pretrain_lr : autoencoder settings, shared by all
    clustering_epochs, clustering_lr : DeepECT's and IDEC's training after pre-training
    max_leaves, grow_interval, pruning_threshold : DeepECT's tree
    idec_loss_weight : IDEC's clustering loss weight (reconstruction weighs 1)
    device : str, e.g. "cpu" or "cuda"
    random_state : int, seeds torch, ClustPy and scikit-learn
    verbose : bool, show ClustPy's progress bars (else kept in ``log_``)

    Attributes
    ----------
    tree_ : Tree, one leaf per image
    labels_ : ndarray of int, shape (N,), the flat clusters
    embedding_ : ndarray, shape (N, embedding_size), the final embedding of the images
    estimator_ : the fitted ClustPy ``DeepECT`` or ``IDEC``, or scikit-learn ``BisectingKMeans``
    n_tree_clusters_ : int, leaf clusters of the method's tree that hold images (DeepECT, AE+BKM);
        N for IDEC, whose tree is over single images
    fit_seconds_ : float
    log_ : str, the end of ClustPy's console output

    Examples
    --------
    >>> import torch
    >>> images = torch.randint(0, 256, (40, 1, 8, 8), dtype=torch.uint8)
    >>> model = HierarchicalBaseline("AE+BKM", 3, pretrain_epochs=1, batch_size=16).fit(images)
    >>> model.tree_.n_leaves, model.labels_.shape, len(set(model.labels_.tolist()))
    (40, (40,), 3)
    """

    def __init__(self, method: str = "DeepECT", n_clusters: int = 10, *, batch_size: int = 256,
                 embedding_size: int = 10, pretrain_epochs: int = 100, pretrain_lr: float = 1e-3,
                 clustering_epochs: int = 150, clustering_lr: float = 1e-4, max_leaves: int = 20,
                 grow_interval: int = 2, pruning_threshold: float = 0.1, idec_loss_weight: float = 0.1,
                 device: str = "cpu", random_state: int = 0, verbose: bool = False):
        self.method, self.n_clusters = method, n_clusters
        self.batch_size, self.embedding_size = batch_size, embedding_size
        self.pretrain_epochs, self.pretrain_lr = pretrain_epochs, pretrain_lr
        self.clustering_epochs, self.clustering_lr = clustering_epochs, clustering_lr
        self.max_leaves, self.grow_interval, self.pruning_threshold = max_leaves, grow_interval, pruning_threshold
        self.idec_loss_weight, self.device = idec_loss_weight, device
        self.random_state, self.verbose = random_state, verbose

    def get_params(self) -> dict:
        names = ("method", "n_clusters", "batch_size", "embedding_size", "pretrain_epochs", "pretrain_lr",
                 "clustering_epochs", "clustering_lr", "max_leaves", "grow_interval", "pruning_threshold",
                 "idec_loss_weight", "device", "random_state", "verbose")
        return {name: getattr(self, name) for name in names}

    def _check(self, n_images: int) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; choose one of {', '.join(METHODS)}")
        if int(self.n_clusters) < 2:
            raise ValueError(f"n_clusters must be at least 2, got {self.n_clusters}")
        if n_images < int(self.n_clusters):
            raise ValueError(f"{n_images} images cannot form n_clusters = {self.n_clusters} clusters")
        if self.method.startswith("DeepECT") and int(self.max_leaves) < int(self.n_clusters):
            raise ValueError(f"max_leaves ({self.max_leaves}) must be at least n_clusters ({self.n_clusters})")
        if min(int(self.batch_size), int(self.embedding_size), int(self.grow_interval)) < 1:
            raise ValueError("batch_size, embedding_size and grow_interval must be positive")
        if min(int(self.pretrain_epochs), int(self.clustering_epochs)) < 0:
            raise ValueError("pretrain_epochs and clustering_epochs must not be negative")

    def fit(self, images, y=None) -> "HierarchicalBaseline":
        """Pre-train the autoencoder and run the method on ``images`` (uint8, ``(N, C, H, W)``)."""
        x = _check_images(images)
        self._check(x.shape[0])
        start = time.perf_counter()
        device = torch.device(self.device)
        seed = int(self.random_state)
        means, stds = x.mean(dim=(0, 2, 3)), x.std(dim=(0, 2, 3))
        if bool((stds == 0).any()):
            raise ValueError("the images have a constant channel: there is nothing to cluster")
        flat = ((x - means[:, None, None]) / stds[:, None, None]).reshape(x.shape[0], -1).numpy()
        augmented = self.method == "DeepECT+Aug"
        buffer = io.StringIO()
        with contextlib.ExitStack() as stack:
            if not self.verbose:
                stack.enter_context(contextlib.redirect_stdout(buffer))
                stack.enter_context(contextlib.redirect_stderr(buffer))
            if augmented:       # batches [index, augmented, original], both standardised as `flat`
                trainloader, testloader = get_default_augmented_dataloaders(x.clone(), int(self.batch_size))
            else:
                trainloader = get_dataloader(flat, int(self.batch_size), shuffle=True)
                testloader = get_dataloader(flat, int(self.batch_size), shuffle=False)
            set_torch_seed(seed)
            network = get_trained_network(trainloader, n_epochs=int(self.pretrain_epochs),
                                          optimizer_params={"lr": float(self.pretrain_lr)}, device=device,
                                          embedding_size=int(self.embedding_size), random_state=seed)
            run = {"DeepECT": self._fit_deepect, "DeepECT+Aug": self._fit_deepect, "IDEC": self._fit_idec,
                   "AE+BKM": self._fit_bkm}[self.method]
            run(flat, network, (trainloader, testloader), device, seed)
        self.log_ = buffer.getvalue()[-4000:]
        self.fit_seconds_ = time.perf_counter() - start
        return self

    def _fit_deepect(self, flat, network, loaders, device, seed) -> None:
        model = DeepECT(max_n_leaf_nodes=int(self.max_leaves), batch_size=int(self.batch_size),
                        clustering_optimizer_params={"lr": float(self.clustering_lr)},
                        clustering_epochs=int(self.clustering_epochs), grow_interval=int(self.grow_interval),
                        pruning_threshold=float(self.pruning_threshold), neural_network=network,
                        embedding_size=int(self.embedding_size), custom_dataloaders=loaders,
                        augmentation_invariance=self.method == "DeepECT+Aug", device=device, random_state=seed)
        self.estimator_ = model.fit(flat)
        labels = np.asarray(model.labels_, dtype=np.int64)
        self.tree_ = _deepect_tree(model, labels)
        self.n_tree_clusters_ = int(np.unique(labels).size)
        # the tree pruned to its first n_clusters leaves (ClustPy's flat clustering); a smaller one as it is
        n_leaves = len(model.tree_.get_leaf_and_split_nodes()[0])
        self.labels_ = np.asarray(model.flat_clustering(int(self.n_clusters)) if n_leaves > int(self.n_clusters)
                                  else labels, dtype=np.int64)
        with torch.no_grad():
            self.embedding_ = encode_batchwise(loaders[1], model.neural_network_trained_)

    def _fit_idec(self, flat, network, loaders, device, seed) -> None:
        model = IDEC(n_clusters=int(self.n_clusters), batch_size=int(self.batch_size),
                     clustering_optimizer_params={"lr": float(self.clustering_lr)},
                     clustering_epochs=int(self.clustering_epochs), neural_network=network,
                     embedding_size=int(self.embedding_size), clustering_loss_weight=float(self.idec_loss_weight),
                     custom_dataloaders=loaders, device=device, random_state=seed)
        self.estimator_ = model.fit(flat)
        self.labels_ = np.asarray(model.dec_labels_, dtype=np.int64)
        with torch.no_grad():
            self.embedding_ = encode_batchwise(loaders[1], model.neural_network_trained_)
        self.tree_ = Tree.from_linkage(linkage(self.embedding_, method="complete"))
        self.n_tree_clusters_ = self.tree_.n_leaves

    def _fit_bkm(self, flat, network, loaders, device, seed) -> None:
        with torch.no_grad():
            self.embedding_ = encode_batchwise(loaders[1], network)
        model = BisectingKMeans(n_clusters=int(self.n_clusters), random_state=seed).fit(self.embedding_)
        self.estimator_ = model
        self.labels_ = np.asarray(model.labels_, dtype=np.int64)
        self.tree_ = _bisection_tree(model)
        self.n_tree_clusters_ = int(np.unique(self.labels_).size)

    def scores(self, labels) -> dict:
        """NMI, ACC, ARI of ``labels_`` and DP of ``tree_`` against the classes ``labels``."""
        return evaluate_baseline(self.tree_, self.labels_, labels)


def evaluate_baseline(tree: Tree, clusters, labels) -> dict:
    """``nmi``, ``acc``, ``ari`` of the flat ``clusters`` and ``dp``, the dendrogram purity of
    ``tree`` (one leaf per point), against the classes ``labels``; and ``n_clusters``.

    >>> tree = tree_over_clusters([-1, 0, 0], [1, 1, 2, 2])
    >>> evaluate_baseline(tree, [0, 0, 1, 1], [5, 5, 7, 7])
    {'nmi': 1.0, 'acc': 1.0, 'ari': 1.0, 'dp': 1.0, 'n_clusters': 2}
    """
    labels = labels.numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    clusters = np.asarray(clusters)
    if labels.shape != clusters.shape or labels.shape != (tree.n_leaves,):
        raise ValueError(f"labels {labels.shape} and clusters {clusters.shape} must both have shape "
                         f"({tree.n_leaves},), one per leaf of the tree")
    return {"nmi": nmi(labels, clusters), "acc": accuracy(labels, clusters), "ari": ari(labels, clusters),
            "dp": dendrogram_purity(tree, labels), "n_clusters": int(np.unique(clusters).size)}
