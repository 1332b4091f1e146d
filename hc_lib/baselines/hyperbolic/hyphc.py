"""HypHC: hyperbolic hierarchical clustering (Chami, Gu, Chatziafratis & Ré, NeurIPS 2020).

Leaves are points of the Poincaré disc, all at one learned radius. The lowest common
ancestor of two leaves is the point of their geodesic closest to the origin
(:func:`~hc_lib.baselines.hyperbolic.poincare.lca_depth`), and the deeper it lies the earlier the two
leaves merge. Dasgupta's cost rewritten over triplets (Wang & Wang, 2018) is, up to a
constant, ``sum_{ijk} w_ij + w_ik + w_jk - w_ijk(T)`` with ``w_ijk(T)`` the weight of the pair
that merges first; HypHC relaxes ``w_ijk`` to
``(w_ij, w_ik, w_jk) . softmax((d_ij, d_ik, d_jk) / tau)`` with ``d`` the LCA depths and
``tau`` a temperature, and minimises the mean over sampled triplets by Riemannian Adam. The
tree is decoded greedily: pairs merge in order of decreasing LCA depth, which for leaves at
one radius is single linkage on the cosine of their directions (in two dimensions, adjacent
angles merge in order of their gaps).

Defaults follow the paper's released example for zoo (one of its datasets): rank 2, Riemannian
Adam in batches of 256 with learning rate ``1e-3``, temperature 0.1 halved every 50 epochs,
leaves started uniformly in ``[-0.05, 0.05]^2`` at radius 0.05 (learned, kept in
``[1e-2, 1 - 1e-3]``); as in that code the tree is decoded after every epoch, the one of
lowest Dasgupta cost is kept, and training stops after 30 epochs without improvement.
Triplets are drawn once, every node pair as evenly as possible with a uniform third node: the
example's 100 000, or one per node pair on larger graphs (at most a million), since on a
sparse graph a triplet carries a weight only when one of its pairs is an edge (polblogs,
10 epochs: Dasgupta cost 595 with 100 000 triplets, 332 with one per pair). The example's
50 epochs are ``n_epochs=50``; the default of 10 fits a 1 000-node graph into about a minute
on one CPU thread.

``triplets="edges"`` (not in the paper) anchors every triplet on an edge
(:func:`~hc_lib.baselines.hyperbolic.triplets.edge_triplets`). On the sparse graphs of the EPH
poster few uniform triplets carry any weight (0.5 % of citeseer's million, 6.4 % of polblogs',
56 of DBLP's), and the fit learns little from them; with the same number of edge-anchored
triplets and the same settings, citeseer's Dasgupta cost went from 935 to 327 and polblogs'
from 320 to 294 (means of three seeds, compressed to 512 internal nodes:
``sweeps/learned_baselines_graphs.yaml`` and ``sweeps/hyphc_edge_triplets.yaml``). On a complete
similarity graph (vector data) every pair is an edge and the two samplings draw the same pairs.

Memory is ``O(n rank)`` for the leaves and ``O(triplets)`` for the training data; decoding in
two dimensions sorts angles (``O(n log n)``), in more it runs scipy's single linkage on the
``n (n - 1) / 2`` cosine distances.
"""
from __future__ import annotations

import numpy as np
import torch
from scipy.cluster.hierarchy import linkage

from hc_lib.baselines.hyperbolic.poincare import BallAdam, lca_depth, project
from hc_lib.baselines.hyperbolic.triplets import edge_triplets, pair_triplets, triplet_weights
from hc_lib.graphs import as_loop_free_graph
from hc_lib.metrics import dasgupta_cost
from hc_lib.trees import Tree

__all__ = ["HypHC", "decode_directions"]


def decode_directions(embeddings: np.ndarray) -> Tree:
    """Single linkage on the angle between directions (the greedy decoding).

    >>> angles = np.array([0.0, 0.1, 3.0, 3.2])
    >>> decode_directions(np.stack([np.cos(angles), np.sin(angles)], axis=1)).cut(2).tolist()
    [0, 0, 1, 1]
    """
    x = np.asarray(embeddings, dtype=np.float64)
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-300)
    n = x.shape[0]
    if x.shape[1] != 2:
        return Tree.from_linkage(linkage(x, method="single", metric="cosine"))
    # on the circle the minimum spanning tree links neighbouring angles: drop the widest gap
    angles = np.arctan2(x[:, 1], x[:, 0])
    order = np.argsort(angles, kind="stable")
    gaps = np.diff(np.append(angles[order], angles[order[0]] + 2 * np.pi))
    cluster = np.arange(n)                      # current cluster id of each position's block
    size = np.ones(n)
    left = np.arange(n)                         # union-find over positions around the circle
    rows = []

    def find(p):
        while left[p] != p:
            left[p] = left[left[p]]
            p = left[p]
        return p

    for gap_index in np.argsort(gaps, kind="stable")[:-1]:
        a, b = find(gap_index), find((gap_index + 1) % n)
        rows.append([cluster[a], cluster[b], gaps[gap_index], size[a] + size[b]])
        left[b] = a
        cluster[a], size[a] = n + len(rows) - 1, size[a] + size[b]
    Z = np.asarray(rows, dtype=np.float64)
    Z[:, :2] = np.where(Z[:, :2] < n, order[np.minimum(Z[:, :2], n - 1).astype(np.int64)], Z[:, :2])
    return Tree.from_linkage(Z)


class HypHC:
    """Hierarchy by hyperbolic embedding of the leaves (Chami et al., NeurIPS 2020).

    Parameters
    ----------
    rank : int
        Dimension of the Poincaré ball (2 in the paper).
    n_epochs : int
        Passes over the triplets (50 in the released example).
    n_triplets : int or None
        Triplets sampled once before training; None: ``max(100 000, n (n - 1) / 2)``, at most 10^6.
    triplets : {"pairs", "edges"}
        Draw them over node pairs as the paper does, or anchor each on an edge (see above).
    batch_size, lr, temperature, init_size, max_scale : float
        256, 1e-3, 0.1, 0.05 and 1 - 1e-3 in the released example.
    anneal_every, anneal_factor : int, float
        Multiply the temperature by ``anneal_factor`` every ``anneal_every`` epochs.
    patience : int
        Stop after this many epochs without a better decoded tree.
    random_state : int or None

    Attributes
    ----------
    tree_ : Tree
        Binary, heights the angles (or cosine distances) at which directions merge.
    embeddings_ : ndarray, shape (n, rank)
        Leaves in the ball, at radius ``radius_``.
    history_ : list of float
        Mean loss per epoch.
    costs_ : list of float
        Dasgupta cost of the tree decoded after each epoch (the best one is ``tree_``).

    Examples
    --------
    >>> blocks = np.kron(np.eye(2), np.ones((4, 4)))
    >>> labels = HypHC(n_epochs=10, n_triplets=5000, random_state=0).fit(blocks).tree_.cut(2)
    >>> labels[:4].tolist() == [labels[0]] * 4 and labels[4:].tolist() == [1 - labels[0]] * 4
    True
    """

    def __init__(self, *, rank: int = 2, n_epochs: int = 10, n_triplets: int | None = None, triplets: str = "pairs",
                 batch_size: int = 256, lr: float = 1e-3, temperature: float = 0.1, init_size: float = 0.05,
                 max_scale: float = 1 - 1e-3, anneal_every: int = 50, anneal_factor: float = 0.5, patience: int = 30,
                 random_state=None):
        for name, value in (("rank", rank), ("n_epochs", n_epochs), ("n_triplets", n_triplets or 1),
                            ("batch_size", batch_size), ("lr", lr), ("temperature", temperature),
                            ("init_size", init_size), ("anneal_every", anneal_every),
                            ("anneal_factor", anneal_factor), ("patience", patience)):
            if not value > 0:
                raise ValueError(f"{name} must be positive, got {value}")
        if rank < 2:
            raise ValueError(f"rank must be at least 2, got {rank}")
        if triplets not in ("pairs", "edges"):
            raise ValueError(f"triplets must be 'pairs' or 'edges', got {triplets!r}")
        if not 0 < max_scale < 1:
            raise ValueError(f"max_scale must lie in (0, 1), got {max_scale}")
        self.rank, self.n_epochs, self.n_triplets, self.batch_size = int(rank), int(n_epochs), n_triplets, int(batch_size)
        self.triplets = triplets
        self.lr, self.temperature, self.init_size, self.max_scale = float(lr), float(temperature), float(init_size), float(max_scale)
        self.anneal_every, self.anneal_factor = int(anneal_every), float(anneal_factor)
        self.patience, self.random_state = int(patience), random_state

    def get_params(self) -> dict:
        return {"rank": self.rank, "n_epochs": self.n_epochs, "n_triplets": self.n_triplets,
                "triplets": self.triplets, "batch_size": self.batch_size, "lr": self.lr,
                "temperature": self.temperature, "init_size": self.init_size, "max_scale": self.max_scale, "anneal_every": self.anneal_every,
                "anneal_factor": self.anneal_factor, "patience": self.patience, "random_state": self.random_state}

    def _radius(self, scale: torch.Tensor) -> torch.Tensor:
        return scale.clamp(min=1e-2, max=self.max_scale)

    def fit(self, graph):
        """Embed the leaves of a graph and decode the tree.

        Parameters
        ----------
        graph : array_like, scipy sparse matrix or a graph of :mod:`hc_lib.graphs`, shape (n, n)
            Symmetric non-negative similarities (self-loops are ignored), n >= 2.
        """
        graph = as_loop_free_graph(graph)
        n = graph.n_nodes
        rng = np.random.default_rng(self.random_state)
        generator = torch.Generator().manual_seed(int(rng.integers(2 ** 63)))
        points = project(self.init_size * (2 * torch.rand(n, self.rank, generator=generator, dtype=torch.float64) - 1))
        points.requires_grad_(True)
        scale = torch.tensor([self.init_size], dtype=torch.float64, requires_grad=True)
        self.history_, self.costs_ = [], []
        best = (np.inf, points.detach().numpy().copy(), float(self._radius(scale.detach())))
        if n >= 3:
            count = self.n_triplets or min(max(100_000, n * (n - 1) // 2), 10 ** 6)
            triplets = pair_triplets(n, count, rng) if self.triplets == "pairs" else edge_triplets(graph, count, rng)
            weights = torch.from_numpy(triplet_weights(graph, triplets))
            triplets = torch.from_numpy(triplets)
            leaves_step, scale_step = BallAdam(points, self.lr), torch.optim.Adam([scale], lr=self.lr)
            temperature, waited = self.temperature, 0
            for epoch in range(self.n_epochs):
                if epoch > 0 and epoch % self.anneal_every == 0:
                    temperature *= self.anneal_factor
                order = torch.randperm(len(triplets), generator=generator)
                total = 0.0
                for start in range(0, len(order), self.batch_size):
                    batch = order[start:start + self.batch_size]
                    loss = self._loss(points, scale, triplets[batch], weights[batch], temperature)
                    loss.backward()
                    leaves_step.step()
                    scale_step.step()
                    scale_step.zero_grad()
                    total += loss.item() * len(batch)
                self.history_.append(total / len(order))
                directions = points.detach().numpy().copy()
                self.costs_.append(dasgupta_cost(graph, decode_directions(directions)))
                waited = 0 if self.costs_[-1] < best[0] else waited + 1
                if waited == 0:
                    best = (self.costs_[-1], directions, float(self._radius(scale.detach())))
                if waited >= self.patience:
                    break
        _, directions, self.radius_ = best
        self.embeddings_ = self.radius_ * directions / np.maximum(np.linalg.norm(directions, axis=1, keepdims=True), 1e-300)
        self.tree_ = decode_directions(directions)
        return self

    def _loss(self, points, scale, triplets, weights, temperature):
        radius = self._radius(scale)
        i, j, k = (points[triplets[:, column]] for column in range(3))
        depths = torch.stack([lca_depth(i, j, radius), lca_depth(i, k, radius), lca_depth(j, k, radius)], dim=1)
        merged_first = (weights * torch.softmax(depths / temperature, dim=1)).sum(dim=1)
        return (weights.sum(dim=1) - merged_first).mean()
