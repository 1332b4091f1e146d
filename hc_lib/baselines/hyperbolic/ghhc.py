"""gHHC: gradient-based hierarchical clustering in hyperbolic space (Monath, Zaheer, Silva,
McCallum & Ahmed, KDD 2019).

A tree is a set of ``K`` internal-node embeddings ``z`` in the Poincaré ball next to the leaf
embeddings. A node ``z`` is a likely parent of a node ``x`` when it is near and closer to the
origin; the parent score (lower is likelier) is

    ``s(x, z) = d(x, z) (1 + max(0, ||z|| - ||x|| + gamma))``

with ``d`` the hyperbolic distance and ``||.||`` the hyperbolic norm. For a triplet ``(i, j, k)``
whose closest pair is ``(i, j)``, the lowest common ancestor of ``i`` and ``j`` is drawn by a
Gumbel-softmax over ``-max(s(i, z), s(j, z))``, and that of all three by a Gumbel-softmax over
``-max(s(i, z), s(j, z), s(k, z))``, excluding the node the first one would pick. The loss
asks ``i`` and ``j`` to be closer to their own ancestor than to the three's, and ``k`` the
reverse: summed over internal nodes ``z``, ``softplus((p_ij - p_ijk) s(i, z)) + softplus((p_ij -
p_ijk) s(j, z)) + softplus((p_ijk - p_ij) s(k, z))``. A structure term
``max(0, ||parent|| - ||child|| + gamma)`` over the current internal parent links keeps parents
inside their children. The tree is read off the embedding: every node's parent is the
internal node of smaller norm with the lowest score (none: the root); internal nodes left
without leaves, or with one child, are removed.

Defaults are those of the paper's released code: 100 internal nodes, 50 000 triplets (nine in
ten from a node's 5 nearest neighbours, one in ten uniform) seen once in batches of 500,
Riemannian SGD with learning rate 0.01, ``gamma = 1``, 100 structure steps before each batch
with the parent links refreshed every 20 batches, internal nodes started at ``1e-3`` times
random leaves and kept within norm 0.8, leaves at norm 0.9. There the leaves are the data
points, fixed: on vector data they are here the normalised rows
(:func:`hc_lib.datasets.normalized_rows`) scaled to 0.9. Graphs have no features, so their
leaves are the rows of a Laplacian eigenmap (:func:`spectral_directions`) in ``dim``
dimensions, scaled the same way (our choice; ``dim=16`` gave the lowest Dasgupta cost on
polblogs among 3, 16, 32 and 64); ``learn_leaves=True`` trains them with the internal nodes
(a random start learned nothing in the released number of steps).

The tree has at most ``n_internal + 1`` internal nodes: gHHC is compressed by construction,
and a run for ``n'`` internal nodes takes ``n_internal=n'``. On the planted hierarchy of
``tests/test_hyperbolic.py`` it finds the sub-blocks but not the level above them, which it
leaves as siblings under the root.

Memory is ``O((n + K) dim)`` for the embeddings, ``500 K dim`` numbers per batch and
``2048 K dim`` per block of the decoding: dblp (317 080 nodes, K = 512) fits in a few GB.
"""
from __future__ import annotations

import numpy as np
import torch
from scipy import sparse
from scipy.sparse.linalg import eigsh

from hc_lib.baselines.hyperbolic.poincare import BallSGD, distance, hyperbolic_norm
from hc_lib.baselines.hyperbolic.triplets import neighbour_triplets
from hc_lib.graphs import as_graph, as_loop_free_graph
from hc_lib.trees import Tree

__all__ = ["GHHC", "parent_scores", "spectral_directions"]


def spectral_directions(adjacency, dim: int, rng) -> np.ndarray:
    """Laplacian eigenmaps (Belkin & Niyogi, NeurIPS 2001) as unit rows: the ``dim``
    eigenvectors of ``D^-1/2 W D^-1/2`` after the first, rescaled by ``D^-1/2``, rows
    normalised (isolated nodes get the zero row).

    >>> two_pairs = sparse.csr_matrix(np.kron(np.eye(2), np.ones((2, 2))) + np.diag([0.1] * 3, 1) + np.diag([0.1] * 3, -1))
    >>> x = spectral_directions(two_pairs, 1, np.random.default_rng(0))
    >>> bool(x[0, 0] == x[1, 0] == -x[2, 0] == -x[3, 0])
    True
    """
    graph = as_graph(adjacency)
    n = graph.n_nodes
    degrees = graph.degrees
    scale = np.divide(1.0, np.sqrt(degrees), out=np.zeros(n), where=degrees > 0)
    normalised = sparse.diags(scale) @ graph.to_sparse() @ sparse.diags(scale)
    k = min(dim + 1, n - 1)
    if n <= 2000:
        _, vectors = np.linalg.eigh(normalised.toarray())
        vectors = vectors[:, ::-1][:, :k]
    else:
        values, vectors = eigsh(normalised, k=k, which="LA", v0=rng.standard_normal(n))
        vectors = vectors[:, np.argsort(-values)]
    rows = scale[:, None] * vectors[:, 1:]
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return np.divide(rows, norms, out=np.zeros_like(rows), where=norms > 1e-12)


def parent_scores(children: torch.Tensor, nodes: torch.Tensor, gamma: float) -> torch.Tensor:
    """``s(x, z)`` for every child row ``x`` and candidate node ``z``: shape (children, nodes)."""
    distances = distance(children[:, None, :], nodes[None, :, :])
    order = torch.relu(hyperbolic_norm(nodes)[None, :] - hyperbolic_norm(children)[:, None] + gamma)
    return distances * (1.0 + order)


class GHHC:
    """Hierarchy from leaf and internal-node embeddings in the Poincaré ball (Monath et al., KDD 2019).

    Parameters
    ----------
    n_internal : int
        Internal-node embeddings ``K`` (100 in the released code); the tree has at most
        ``K + 1`` internal nodes (the root added).
    dim : int
        Dimension of the ball for graphs: the eigenmap's (vector data keeps its own).
    n_triplets, n_epochs, batch_size, lr, gamma : the released 50 000, 1, 500, 0.01, 1.0
    n_neighbors, random_fraction : int, float
        Triplet sampling (5 and 0.1 released).
    n_structure_steps, refresh_every : int
        Structure-loss steps before each batch (100), batches between parent refreshes (20).
    learn_leaves : bool
        Train the leaf directions too (at radius 0.9); the released code keeps them fixed.
    random_state : int or None

    Attributes
    ----------
    tree_ : Tree
    internal_ : ndarray, shape (n_internal, dim)
    leaves_ : ndarray, shape (n, dim)
    history_ : list of float
        Mean triplet loss per epoch.

    Examples
    --------
    >>> blocks = np.kron(np.eye(2), np.ones((5, 5)))
    >>> tree = GHHC(n_internal=8, dim=2, n_triplets=1000, batch_size=100, n_structure_steps=10,
    ...             random_state=0).fit(blocks).tree_
    >>> tree.n_leaves, tree.n_internal <= 9
    (10, True)
    """

    def __init__(self, n_internal: int = 100, *, dim: int = 16, n_triplets: int = 50_000, n_epochs: int = 1,
                 batch_size: int = 500, lr: float = 0.01, gamma: float = 1.0, n_neighbors: int = 5,
                 random_fraction: float = 0.1, n_structure_steps: int = 100, refresh_every: int = 20,
                 learn_leaves: bool = False, random_state=None):
        for name, value in (("n_internal", n_internal), ("dim", dim), ("n_triplets", n_triplets),
                            ("n_epochs", n_epochs), ("batch_size", batch_size), ("lr", lr),
                            ("n_neighbors", n_neighbors), ("refresh_every", refresh_every)):
            if not value > 0:
                raise ValueError(f"{name} must be positive, got {value}")
        if gamma < 0 or n_structure_steps < 0:
            raise ValueError(f"gamma and n_structure_steps must be non-negative, got {gamma} and {n_structure_steps}")
        if not 0 <= random_fraction <= 1:
            raise ValueError(f"random_fraction must lie in [0, 1], got {random_fraction}")
        self.n_internal, self.dim, self.n_triplets, self.n_epochs = int(n_internal), int(dim), int(n_triplets), int(n_epochs)
        self.batch_size, self.lr, self.gamma, self.n_neighbors = int(batch_size), float(lr), float(gamma), int(n_neighbors)
        self.random_fraction, self.n_structure_steps = float(random_fraction), int(n_structure_steps)
        self.refresh_every, self.learn_leaves, self.random_state = int(refresh_every), learn_leaves, random_state

    LEAF_NORM, INTERNAL_NORM, INIT_SCALE = 0.9, 0.8, 1e-3

    def get_params(self) -> dict:
        return {"n_internal": self.n_internal, "dim": self.dim, "n_triplets": self.n_triplets,
                "n_epochs": self.n_epochs, "batch_size": self.batch_size, "lr": self.lr, "gamma": self.gamma,
                "n_neighbors": self.n_neighbors, "random_fraction": self.random_fraction,
                "n_structure_steps": self.n_structure_steps, "refresh_every": self.refresh_every,
                "learn_leaves": self.learn_leaves, "random_state": self.random_state}

    def _triplet_loss(self, leaves, internal, triplets, generator):
        scores = [parent_scores(leaves[triplets[:, c]], internal, self.gamma) for c in range(3)]
        pair = torch.maximum(scores[0], scores[1])

        def gumbel():
            uniform = torch.rand(pair.shape, generator=generator, dtype=pair.dtype).clamp(1e-12, 1 - 1e-12)
            return -torch.log(-torch.log(uniform))

        p_pair = torch.softmax(-pair + gumbel(), dim=1)
        excluded = torch.zeros_like(pair).scatter_(1, pair.argmin(dim=1, keepdim=True), 1000.0)
        p_all = torch.softmax(-(torch.maximum(pair, scores[2]) + excluded) + gumbel(), dim=1)
        softplus = torch.nn.functional.softplus
        return (softplus((p_pair - p_all) * scores[0]) + softplus((p_pair - p_all) * scores[1])
                + softplus((p_all - p_pair) * scores[2])).sum()

    def _structure_loss(self, internal, links):
        norms = hyperbolic_norm(internal)
        return torch.relu(norms[links[:, 1]] - norms[links[:, 0]] + self.gamma).sum()

    @torch.no_grad()
    def _parents(self, leaves, internal) -> tuple[np.ndarray, np.ndarray]:
        """Parent among the internal nodes (-1: the root) of every leaf and internal node."""
        def best(children, same):
            found = []
            for start in range(0, len(children), 2048):       # blocks keep memory at 2048 x K x dim
                block = children[start:start + 2048]
                scores = parent_scores(block, internal, self.gamma)
                eligible = internal.norm(dim=1)[None, :] < block.norm(dim=1)[:, None]
                if same:
                    eligible[torch.arange(len(block)), start + torch.arange(len(block))] = False
                value, index = torch.where(eligible, scores, torch.inf).min(dim=1)
                found.append(torch.where(torch.isinf(value), -1, index))
            return torch.cat(found).numpy()
        return best(leaves, False), best(internal, True)

    def fit(self, graph):
        """Embed leaves and internal nodes and read the tree off the embedding.

        Parameters
        ----------
        graph : array_like, scipy sparse matrix or a graph of :mod:`hc_lib.graphs`, shape (n, n)
            Symmetric non-negative similarities (self-loops are ignored), n >= 2.
        """
        graph = as_loop_free_graph(graph)
        n = graph.n_nodes
        rng = np.random.default_rng(self.random_state)
        generator = torch.Generator().manual_seed(int(rng.integers(2 ** 63)))
        learn_leaves = bool(self.learn_leaves)
        if graph.is_complete:           # vector data keeps its own directions
            directions = torch.from_numpy(graph.unit_rows.copy())
        else:
            directions = torch.from_numpy(spectral_directions(graph, self.dim, rng))
        leaves = (self.LEAF_NORM * directions).requires_grad_(learn_leaves)
        seeds = rng.choice(n, size=self.n_internal, replace=self.n_internal > n)
        internal = (self.INIT_SCALE * directions[seeds]).clone().requires_grad_(True)
        internal_step = BallSGD(internal, self.lr, self.INTERNAL_NORM)
        leaf_step = BallSGD(leaves, self.lr, self.LEAF_NORM) if learn_leaves else None
        self.history_ = []
        if n >= 3:
            triplets = torch.from_numpy(neighbour_triplets(graph, self.n_triplets, rng, n_neighbors=self.n_neighbors,
                                                           random_fraction=self.random_fraction))
            for _ in range(self.n_epochs):
                order = torch.randperm(len(triplets), generator=generator)
                total = 0.0
                for batch_number, start in enumerate(range(0, len(order), self.batch_size)):
                    if batch_number % self.refresh_every == 0:
                        _, up = self._parents(leaves.detach(), internal.detach())
                        links = torch.from_numpy(np.flatnonzero(up >= 0))
                        links = torch.stack([links, torch.from_numpy(up)[links]], dim=1)
                    for _ in range(self.n_structure_steps if len(links) else 0):
                        self._structure_loss(internal, links).backward()
                        internal_step.step()
                    loss = self._triplet_loss(leaves, internal, triplets[order[start:start + self.batch_size]], generator)
                    loss.backward()
                    internal_step.step()
                    if leaf_step is not None:
                        leaf_step.step()
                        with torch.no_grad():        # learned leaves keep the data's radius
                            leaves.mul_(self.LEAF_NORM / leaves.norm(dim=1, keepdim=True).clamp_min(1e-15))
                    total += loss.item()
                self.history_.append(total / len(order))
        leaves, internal = leaves.detach(), internal.detach()
        self.leaves_, self.internal_ = leaves.numpy(), internal.numpy()
        self.tree_ = self._decode(*self._parents(leaves, internal), n)
        return self

    def _decode(self, leaf_up, internal_up, n) -> Tree:
        root = n + self.n_internal
        parent = np.concatenate([np.where(leaf_up >= 0, n + leaf_up, root),
                                 np.where(internal_up >= 0, n + internal_up, root), [-1]])
        return Tree.from_parent(parent, n, prune=True)
