"""Weighted graphs as the scores and baselines see them: one interface, validated once.

Every score in :mod:`hc_lib.metrics` reads a graph as a distribution over ordered node pairs,
``p(u, v) = W[u, v] / sum(W)``. User input becomes a graph object once, in :func:`as_graph`,
which rejects what cannot be one (negative or non-finite weights, asymmetric or empty graphs);
code downstream takes the object and trusts it. :class:`SparseGraph` (a validated float64 CSR
adjacency) and :class:`CosineSimilarityGraph` (the complete similarity graph of vector data,
never stored as an n x n matrix) share one interface; their class attribute ``is_complete``
tells apart the few algorithms that differ, such as the O(n d) cluster sums of the latter.
"""
from __future__ import annotations

from functools import cached_property

import numpy as np
from scipy import sparse

__all__ = ["check_adjacency", "as_graph", "as_loop_free_graph", "edge_list", "SparseGraph",
           "CosineSimilarityGraph", "MAX_LISTED_PAIRS"]

#: most node pairs :meth:`CosineSimilarityGraph.edges` lists (each takes a gather of two rows)
MAX_LISTED_PAIRS = 50_000_000


def check_adjacency(adjacency, *, symmetric: bool = True) -> sparse.csr_matrix:
    """Validate a weighted adjacency matrix and return it as float64 CSR.

    Parameters
    ----------
    adjacency : array_like, scipy sparse matrix or SparseGraph, shape (n, n)
        Non-negative, finite, symmetric weights; self-loops are allowed. The graph may be
        disconnected and have isolated nodes (rows of zeros), but needs one positive weight.
    symmetric : bool
        Require ``W == W.T`` (up to 1e-12 relative).

    Returns
    -------
    scipy.sparse.csr_matrix
        A float64 copy with explicit zeros removed.

    Raises
    ------
    ValueError
        If the matrix is not square, is empty (no positive weight), has negative,
        NaN or infinite weights, or is asymmetric.

    Examples
    --------
    >>> check_adjacency([[0, 1], [1, 0]]).nnz
    2
    >>> check_adjacency([[0, 1, 0], [1, 0, 0], [0, 0, 0]]).shape     # node 2 is isolated
    (3, 3)
    >>> check_adjacency([[0, -1], [-1, 0]])
    Traceback (most recent call last):
    ...
    ValueError: adjacency has negative weights (smallest: -1.0)
    """
    if isinstance(adjacency, CosineSimilarityGraph):
        raise TypeError("a CosineSimilarityGraph is not a sparse adjacency; call .to_sparse() "
                        "for small n, or use a score that accepts it (dasgupta_cost)")
    if isinstance(adjacency, SparseGraph):
        adjacency = adjacency.adjacency
    if sparse.issparse(adjacency):
        matrix = sparse.csr_matrix(adjacency, dtype=np.float64, copy=True)
    else:
        dense = np.asarray(adjacency)
        if dense.dtype == object or not np.issubdtype(dense.dtype, np.number):
            raise ValueError(f"adjacency must be numeric, got dtype {dense.dtype}")
        if dense.ndim != 2:
            raise ValueError(f"adjacency must be a 2-d matrix, got shape {dense.shape}")
        matrix = sparse.csr_matrix(dense.astype(np.float64))
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"adjacency must be square, got shape {matrix.shape}")
    if matrix.shape[0] == 0:
        raise ValueError("adjacency is empty: the graph has no nodes")
    data = matrix.data
    if not np.all(np.isfinite(data)):
        bad = "NaN" if np.isnan(data).any() else "infinite"
        raise ValueError(f"adjacency has {bad} weights")
    if data.size and data.min() < 0:
        raise ValueError(f"adjacency has negative weights (smallest: {data.min()})")
    matrix.eliminate_zeros()
    if matrix.nnz == 0:
        raise ValueError("adjacency is empty: the graph has no edge of positive weight")
    if symmetric:
        diff = abs(matrix - matrix.T)
        if diff.nnz and diff.max() > 1e-12 * data.max():
            raise ValueError("adjacency is not symmetric: W[u, v] != W[v, u] for some pairs "
                             "(make it undirected first, e.g. W + W.T)")
    matrix.sort_indices()
    return matrix


def as_graph(data):
    """The graph object of ``data``: a graph is returned as it is, anything else validated once.

    Parameters
    ----------
    data : SparseGraph, CosineSimilarityGraph, array_like or scipy sparse matrix
        Matrices go through :func:`check_adjacency` (same errors) into a :class:`SparseGraph`.

    Examples
    --------
    >>> graph = as_graph([[0, 2], [2, 0]])
    >>> graph, as_graph(graph) is graph
    (SparseGraph(n_nodes=2, n_stored=2), True)
    """
    if isinstance(data, (SparseGraph, CosineSimilarityGraph)):
        return data
    return SparseGraph(check_adjacency(data))


def as_loop_free_graph(data):
    """The input of the learned baselines, which ignore self-loops: :func:`as_graph` of
    ``data`` without its self-loops, refused below 2 nodes.

    >>> as_loop_free_graph([[1, 1], [1, 0]]).to_dense()
    array([[0., 1.],
           [1., 0.]])
    >>> as_loop_free_graph([[1.0]])
    Traceback (most recent call last):
    ...
    ValueError: the graph needs at least 2 nodes, got 1
    """
    graph = as_graph(data)
    if graph.n_nodes < 2:
        raise ValueError(f"the graph needs at least 2 nodes, got {graph.n_nodes}")
    return graph.without_self_loops()


def edge_list(adjacency) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ordered node pairs (int64) with their probabilities ``p(u, v) = W[u, v] / sum(W)``
    (float64): each undirected edge in both directions, a self-loop once.

    >>> rows, cols, probs = edge_list([[1, 1], [1, 0]])
    >>> rows.tolist(), cols.tolist(), probs.round(3).tolist()
    ([0, 0, 1], [0, 1, 0], [0.333, 0.333, 0.333])
    """
    rows, cols, weights = as_graph(adjacency).edges()
    return rows, cols, weights / weights.sum()


class SparseGraph:
    """A weighted graph stored as its validated adjacency matrix.

    Parameters
    ----------
    adjacency : scipy.sparse.csr_matrix, float64, shape (n, n)
        As :func:`check_adjacency` returns it; it is not checked again (build graphs of
        user input with :func:`as_graph`) and must not be modified afterwards.

    Examples
    --------
    >>> graph = as_graph([[1, 2, 0], [2, 0, 1], [0, 1, 0]])
    >>> graph.degrees.tolist(), graph.total_weight
    ([3.0, 3.0, 1.0], 7.0)
    >>> graph.pair_weights([0, 0, 2], [0, 1, 0]).tolist()
    [1.0, 2.0, 0.0]
    >>> [row.tolist() for row in graph.top_neighbours(1)]       # a self-loop is no neighbour
    [[1], [0], [1]]
    >>> graph.subgraph([0, 2]).to_dense()
    array([[1., 0.],
           [0., 0.]])
    """

    is_complete = False

    def __init__(self, adjacency):
        if not (sparse.issparse(adjacency) and adjacency.format == "csr" and adjacency.dtype == np.float64
                and adjacency.ndim == 2 and adjacency.shape[0] == adjacency.shape[1]):
            raise TypeError("SparseGraph wraps a validated square float64 CSR matrix; "
                            "make one of other input with as_graph(data)")
        self.adjacency = adjacency

    @property
    def n_nodes(self) -> int:
        return self.adjacency.shape[0]

    @property
    def shape(self) -> tuple[int, int]:
        return self.adjacency.shape

    @property
    def degrees(self) -> np.ndarray:
        """``sum_v W[u, v]`` for every node (a self-loop counted once)."""
        return np.asarray(self.adjacency.sum(axis=1)).ravel()

    @property
    def total_weight(self) -> float:
        """Sum of ``W`` over ordered pairs (an undirected edge twice, a self-loop once)."""
        return float(self.adjacency.data.sum())

    def pair_weights(self, rows, cols) -> np.ndarray:
        """``W[rows[t], cols[t]]`` for every t, as float64 (0 where there is no edge)."""
        rows = np.asarray(rows, dtype=np.int64)
        cols = np.asarray(cols, dtype=np.int64)
        return np.asarray(self.adjacency[rows, cols], dtype=np.float64).ravel()

    def edges(self, *, upper: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Node pairs of positive weight in row-major order: ``(rows, cols, weights)``, int64,
        int64 and float64. Every ordered pair (an undirected edge both ways, a self-loop once),
        or with ``upper`` only the pairs ``u < v`` (each undirected edge once, no self-loop)."""
        coo = self.adjacency.tocoo()
        rows, cols, weights = coo.row.astype(np.int64), coo.col.astype(np.int64), coo.data
        if upper:
            keep = rows < cols
            rows, cols, weights = rows[keep], cols[keep], weights[keep]
        return rows, cols, weights

    def top_neighbours(self, k: int) -> list[np.ndarray]:
        """The ``k`` heaviest neighbours of every node, heaviest first (ties by index; fewer
        where a node has fewer); a node is never its own neighbour."""
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        indptr, indices, data = self.adjacency.indptr, self.adjacency.indices, self.adjacency.data
        result = []
        for node in range(self.n_nodes):
            neighbours, weights = indices[indptr[node]:indptr[node + 1]], data[indptr[node]:indptr[node + 1]]
            others = neighbours != node
            neighbours, weights = neighbours[others], weights[others]
            result.append(neighbours[np.argsort(-weights, kind="stable")[:k]])
        return result

    def subgraph(self, members) -> "SparseGraph":
        """The graph induced on ``members`` (node indices), renumbered in their order."""
        return SparseGraph(self.adjacency[members][:, members])

    def without_self_loops(self) -> "SparseGraph":
        """The same graph with its diagonal removed (itself if it has no self-loop)."""
        loops = self.adjacency.diagonal()
        if not loops.any():
            return self
        matrix = sparse.csr_matrix(self.adjacency - sparse.diags(loops))
        matrix.eliminate_zeros()
        matrix.sort_indices()
        return SparseGraph(matrix)

    def matvec(self, vector: np.ndarray) -> np.ndarray:
        """``W @ vector``."""
        return self.adjacency @ vector

    def to_sparse(self) -> sparse.csr_matrix:
        """The stored adjacency itself (no copy: do not modify it)."""
        return self.adjacency

    def to_dense(self) -> np.ndarray:
        """The n x n weight matrix."""
        return self.adjacency.toarray()

    def __repr__(self) -> str:
        return f"SparseGraph(n_nodes={self.n_nodes}, n_stored={self.adjacency.nnz})"


class CosineSimilarityGraph:
    """Complete graph with weights ``s_ij = (1 + x_i . x_j) / 2`` on unit (or zero) rows.

    This is the recipe that turns vector data into a graph (see ``data/README.md``): rows
    are z-scored and L2-normalised by :func:`hc_lib.datasets.similarity_graph`, and every pair
    ``i != j`` is an edge. Self-similarities are excluded. Because
    ``sum_{i in a, j in b} s_ij = |a||b|/2 + (sum_a x) . (sum_b x) / 2``, every cluster-level
    quantity costs O(n d) and the n x n matrix is never formed. It has the interface of
    :class:`SparseGraph`; :meth:`edges`, :meth:`to_dense` and :meth:`to_sparse` list all
    pairs and are for small n only.

    Parameters
    ----------
    unit_rows : ndarray, shape (n, d)
        Rows of norm one (or zero: a row without information has similarity 1/2 to all).

    Examples
    --------
    >>> g = CosineSimilarityGraph(np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]]))
    >>> g.to_dense()
    array([[0. , 0.5, 1. ],
           [0.5, 0. , 0.5],
           [1. , 0.5, 0. ]])
    >>> float(g.total_weight), g.degrees.tolist(), g.pair_weights([0, 0], [0, 2]).tolist()
    (4.0, [1.5, 1.0, 1.5], [0.0, 1.0])
    >>> rows, cols, weights = g.edges(upper=True)
    >>> rows.tolist(), cols.tolist(), weights.tolist()
    ([0, 0, 1], [1, 2, 2], [0.5, 1.0, 0.5])
    >>> [row.tolist() for row in g.top_neighbours(1)], g.subgraph([0, 1]).n_nodes
    ([[2], [0], [0]], 2)
    """

    is_complete = True

    def __init__(self, unit_rows):
        rows = np.asarray(unit_rows, dtype=np.float64)
        if rows.ndim != 2 or rows.shape[0] < 2:
            raise ValueError(f"unit_rows must have shape (n, d) with n >= 2, got {rows.shape}")
        if not np.all(np.isfinite(rows)):
            raise ValueError("unit_rows has NaN or infinite entries")
        norms = np.linalg.norm(rows, axis=1)
        if np.any((np.abs(norms - 1) > 1e-8) & (norms > 1e-12)):
            raise ValueError("unit_rows must have L2 norm 1 (or 0); normalise the rows first")
        self.unit_rows = rows

    @property
    def n_nodes(self) -> int:
        return self.unit_rows.shape[0]

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n_nodes, self.n_nodes)

    def pair_sums(self, cluster_sums: np.ndarray, cluster_sizes: np.ndarray) -> np.ndarray:
        """Sum of ``s_ij`` over all ordered pairs (i = j included) inside each cluster.

        ``cluster_sums[k]`` is the sum of the unit rows in cluster k, ``cluster_sizes[k]``
        its number of points.
        """
        sizes = np.asarray(cluster_sizes, dtype=np.float64)
        return 0.5 * sizes ** 2 + 0.5 * np.einsum("kd,kd->k", cluster_sums, cluster_sums)

    @cached_property
    def self_similarities(self) -> np.ndarray:
        """``s_ii`` (excluded from the graph): 1 for unit rows, 1/2 for zero rows."""
        return 0.5 + 0.5 * np.einsum("id,id->i", self.unit_rows, self.unit_rows)

    @property
    def total_weight(self) -> float:
        """Sum of ``s_ij`` over ordered pairs ``i != j``."""
        total = self.unit_rows.sum(axis=0)
        return float(0.5 * self.n_nodes ** 2 + 0.5 * total @ total - self.self_similarities.sum())

    @property
    def degrees(self) -> np.ndarray:
        """``sum_{j != i} s_ij`` for every node."""
        total = self.unit_rows.sum(axis=0)
        return 0.5 * self.n_nodes + 0.5 * self.unit_rows @ total - self.self_similarities

    def pair_weights(self, rows, cols) -> np.ndarray:
        """``s[rows[t], cols[t]]`` for every t (0 on the diagonal), as float64."""
        rows = np.asarray(rows, dtype=np.int64)
        cols = np.asarray(cols, dtype=np.int64)
        x = self.unit_rows
        weights = 0.5 + 0.5 * np.einsum("td,td->t", x[rows], x[cols])
        return np.where(rows == cols, 0.0, weights)

    def edges(self, *, upper: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """All pairs ``i != j`` of positive weight (only antipodal rows have weight 0), as
        :meth:`SparseGraph.edges`; refused beyond :data:`MAX_LISTED_PAIRS` pairs."""
        n = self.n_nodes
        n_pairs = n * (n - 1) // (2 if upper else 1)
        if n_pairs > MAX_LISTED_PAIRS:
            raise ValueError(f"listing the edges of a complete similarity graph on {n} nodes takes {n_pairs} "
                             f"pairs, more than MAX_LISTED_PAIRS = {MAX_LISTED_PAIRS}; use a method that works on "
                             "the vectors, or a sparse (e.g. k-nearest-neighbour) graph")
        rows, cols = np.triu_indices(n, k=1) if upper else np.nonzero(~np.eye(n, dtype=bool))
        weights = self.pair_weights(rows, cols)
        keep = weights > 0
        return rows[keep].astype(np.int64), cols[keep].astype(np.int64), weights[keep]

    def top_neighbours(self, k: int, block: int = 1024) -> list[np.ndarray]:
        """The ``k`` most similar other nodes of every node, in no set order (fewer where
        antipodal rows, of weight 0, would be among them); ``block`` rows at a time."""
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        n, x = self.n_nodes, self.unit_rows
        kk = min(k, n - 1)
        result = []
        for start in range(0, n, block):
            similarities = x[start:start + block] @ x.T
            size = similarities.shape[0]
            similarities[np.arange(size), np.arange(start, start + size)] = -np.inf
            top = np.argpartition(-similarities, kk - 1, axis=1)[:, :kk]
            linked = np.take_along_axis(similarities, top, axis=1) > -1.0      # weight (1 + cos) / 2 > 0
            result.extend(list(top) if linked.all() else [row[keep] for row, keep in zip(top, linked)])
        return result

    def subgraph(self, members) -> "CosineSimilarityGraph":
        """The similarity graph of the rows ``members`` (not checked again)."""
        graph = object.__new__(CosineSimilarityGraph)
        graph.unit_rows = self.unit_rows[members]
        return graph

    def without_self_loops(self) -> "CosineSimilarityGraph":
        """Itself: self-similarities are not part of the graph."""
        return self

    def matvec(self, vector: np.ndarray) -> np.ndarray:
        """``S @ vector`` in O(n d)."""
        x = self.unit_rows
        return 0.5 * vector.sum() + 0.5 * x @ (x.T @ vector) - self.self_similarities * vector

    def to_dense(self) -> np.ndarray:
        """The n x n weight matrix (zero diagonal). Only for small n."""
        weights = 0.5 + 0.5 * self.unit_rows @ self.unit_rows.T
        np.fill_diagonal(weights, 0.0)
        return weights

    def to_sparse(self) -> sparse.csr_matrix:
        """The weight matrix as CSR (all n(n-1) entries stored). Only for small n."""
        return sparse.csr_matrix(self.to_dense())

    def __repr__(self) -> str:
        return f"CosineSimilarityGraph(n_nodes={self.n_nodes}, n_features={self.unit_rows.shape[1]})"
