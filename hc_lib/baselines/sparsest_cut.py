"""Recursive sparsest cut by spectral sweep: the "RSC" row of the EPH poster.

Dasgupta (STOC 2016) showed that splitting a graph top-down, each time along an
approximately sparsest cut, gives a tree whose cost is within ``O(alpha_n log n)`` of the
optimum when the cut is an ``alpha_n``-approximation; Charikar & Chatziafratis (SODA 2017)
tightened the factor to ``O(alpha_n)``. The sparsest cut itself is NP-hard, so the row is
named after the approximation used here, the *spectral sweep*: order the nodes of a cluster
by its Fiedler vector (the eigenvector of the second smallest eigenvalue of the normalised
Laplacian ``I - D^-1/2 W D^-1/2``, rescaled by ``D^-1/2``) and take the best of the ``m - 1``
prefix cuts. Cheeger's inequality is its guarantee: the sweep cut of least conductance has
conductance at most ``sqrt(2 lambda_2) <= 2 sqrt(phi(G))`` (Chung, Spectral Graph Theory,
1997). The sweep picks its cut by the criterion asked for, either the (uniform) sparsity
``w(S, S') / (|S| |S'|)`` that Dasgupta's analysis uses or the conductance
``w(S, S') / min(vol S, vol S')``.

A cluster whose induced graph is disconnected is split into its connected components first
(one node with a child per component: cuts of weight 0 are the sparsest); clusters of one or
two nodes need no cut.
"""
from __future__ import annotations

import numpy as np
from scipy.sparse import csgraph
from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigsh

from hc_lib.graphs import as_graph, as_loop_free_graph
from hc_lib.trees import Tree

__all__ = ["CRITERIA", "RecursiveSpectralSweep", "sweep_cut"]

CRITERIA = ("sparsity", "conductance")


def _fiedler_vector(graph, degrees: np.ndarray, dense_limit: int, rng) -> np.ndarray:
    """``D^-1/2`` times the second eigenvector of ``D^-1/2 W D^-1/2`` of a connected graph."""
    m = degrees.size
    scale = 1.0 / np.sqrt(degrees)
    top = np.sqrt(degrees) / np.sqrt(degrees.sum())       # the known first eigenvector
    if m <= dense_limit:
        weights = graph.to_dense()
        _, vectors = np.linalg.eigh(scale[:, None] * weights * scale[None, :])
        return scale * vectors[:, -2]

    def deflated(v):
        v = np.ravel(v)
        return scale * graph.matvec(scale * v) - top * (top @ v)

    operator = LinearOperator((m, m), matvec=deflated, dtype=np.float64)
    try:
        _, vectors = eigsh(operator, k=1, which="LA", v0=rng.standard_normal(m), tol=1e-8, maxiter=20 * m)
    except ArpackNoConvergence as stop:          # a nearly converged vector still sweeps well
        if stop.eigenvectors.shape[1] == 0:
            raise
        vectors = stop.eigenvectors
    return scale * vectors[:, 0]


def _inside_weights(graph, order: np.ndarray) -> np.ndarray:
    """Twice the edge weight inside every prefix ``order[:k]``, for k = 1..m."""
    m = order.size
    if graph.is_complete:           # prefix sums of the rows: O(m d), no pair listed
        x = graph.unit_rows[order]
        sums = np.cumsum(x, axis=0)
        sizes = np.arange(1, m + 1)
        return 0.5 * sizes ** 2 + 0.5 * np.einsum("kd,kd->k", sums, sums) \
            - np.cumsum(graph.self_similarities[order])
    rank = np.empty(m, dtype=np.int64)
    rank[order] = np.arange(m)
    rows, cols, weights = graph.edges()
    later = np.maximum(rank[rows], rank[cols])
    return np.cumsum(np.bincount(later, weights=weights, minlength=m))


def sweep_cut(graph, values, criterion: str = "sparsity") -> tuple[np.ndarray, float]:
    """The best prefix cut of the nodes sorted by ``values``.

    Parameters
    ----------
    graph : sparse or dense adjacency without self-loops, or a graph of :mod:`hc_lib.graphs`
    values : array_like, shape (m,)
        One value per node (the rescaled Fiedler vector).
    criterion : {"sparsity", "conductance"}

    Returns
    -------
    side : ndarray of bool
        The nodes of the smaller-valued side.
    score : float
        Its sparsity or conductance.

    Examples
    --------
    >>> from scipy import sparse
    >>> path = sparse.csr_matrix(np.diag([1.0, 0.1, 1.0], k=1) + np.diag([1.0, 0.1, 1.0], k=-1))
    >>> side, score = sweep_cut(path, [0.0, 1.0, 2.0, 3.0])
    >>> side.tolist(), round(score, 3)
    ([True, True, False, False], 0.025)
    """
    if criterion not in CRITERIA:
        raise ValueError(f"unknown criterion {criterion!r}; choose one of {', '.join(CRITERIA)}")
    graph = as_graph(graph)
    values = np.asarray(values, dtype=np.float64)
    m = values.size
    order = np.argsort(values, kind="stable")
    degrees = graph.degrees
    volume = np.cumsum(degrees[order])[:-1]
    cut = np.maximum(volume - _inside_weights(graph, order)[:-1], 0.0)
    sizes = np.arange(1, m)
    if criterion == "sparsity":
        scores = cut / (sizes * (m - sizes))
    else:
        scores = cut / np.maximum(np.minimum(volume, degrees.sum() - volume), 1e-300)
    best = int(np.argmin(scores))
    side = np.zeros(m, dtype=bool)
    side[order[:best + 1]] = True
    return side, float(scores[best])


class RecursiveSpectralSweep:
    """Top-down hierarchy by recursive sparsest cut, each cut a spectral sweep.

    Every cluster is split in two along the best sweep cut of its Fiedler vector (module
    docstring: the approximation and its Cheeger guarantee), after its connected components
    have been split apart. The tree is binary except where a disconnected cluster has more
    than two components.

    Parameters
    ----------
    criterion : {"sparsity", "conductance"}
        What the sweep minimises: ``w(S, S') / (|S| |S'|)`` (the sparsest cut of Dasgupta,
        STOC 2016) or ``w(S, S') / min(vol S, vol S')`` (the quantity Cheeger's inequality bounds).
    dense_limit : int
        Clusters up to this size get a dense eigendecomposition, larger ones Lanczos
        (``scipy.sparse.linalg.eigsh``; on vector data through the implicit product, so the
        n x n similarity matrix is never formed).
    random_state : int or None
        Seeds Lanczos' starting vector.

    Attributes
    ----------
    tree_ : Tree
    n_cuts_ : int
        Number of spectral cuts made (splits into components not counted).

    Examples
    --------
    >>> blocks = np.kron(np.eye(2), np.ones((3, 3))) + 0.01
    >>> model = RecursiveSpectralSweep().fit(blocks)
    >>> model.tree_.cut(2).tolist()
    [0, 0, 0, 1, 1, 1]
    """

    def __init__(self, criterion: str = "sparsity", *, dense_limit: int = 256, random_state=None):
        if criterion not in CRITERIA:
            raise ValueError(f"unknown criterion {criterion!r}; choose one of {', '.join(CRITERIA)}")
        if int(dense_limit) < 3:
            raise ValueError(f"dense_limit must be at least 3, got {dense_limit}")
        self.criterion = criterion
        self.dense_limit = int(dense_limit)
        self.random_state = random_state

    def get_params(self) -> dict:
        return {"criterion": self.criterion, "dense_limit": self.dense_limit, "random_state": self.random_state}

    def _split(self, graph, rng) -> list[np.ndarray]:
        """Local node indices of the children of a cluster of at least 3 nodes."""
        if not graph.is_complete:
            n_components, labels = csgraph.connected_components(graph.to_sparse(), directed=False)
            if n_components > 1:
                return [np.flatnonzero(labels == c) for c in range(n_components)]
        degrees = graph.degrees
        if np.any(degrees <= 0):        # in a complete graph only two antipodal rows do this: split them off
            return [np.flatnonzero(degrees <= 0), np.flatnonzero(degrees > 0)]
        vector = _fiedler_vector(graph, degrees, self.dense_limit, rng)
        side, _ = sweep_cut(graph, vector, self.criterion)
        self.n_cuts_ += 1
        return [np.flatnonzero(side), np.flatnonzero(~side)]

    def fit(self, graph):
        """Build the hierarchy of a graph.

        Parameters
        ----------
        graph : array_like, scipy sparse matrix or a graph of :mod:`hc_lib.graphs`, shape (n, n)
            Symmetric non-negative weights (self-loops are ignored), n >= 2.
        """
        graph = as_loop_free_graph(graph)
        n = graph.n_nodes
        rng = np.random.default_rng(self.random_state)
        self.n_cuts_ = 0
        parent = [-1] * n + [-1]                  # the root is node n
        stack = [(n, np.arange(n))]
        while stack:
            node, members = stack.pop()
            if members.size <= 2:
                children = [members[:1], members[1:]]
            else:
                children = [members[part] for part in self._split(graph.subgraph(members), rng)]
            for child in children:
                if child.size == 1:
                    parent[int(child[0])] = node
                else:
                    parent.append(node)
                    stack.append((len(parent) - 1, child))
        self.tree_ = Tree.from_parent(np.asarray(parent), n)
        return self
