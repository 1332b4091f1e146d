"""Weighted graphs as the scores see them: validated sparse adjacency and similarity graphs.

Every score in :mod:`hc_lib.metrics` reads a graph as a distribution over ordered node
pairs, ``p(u, v) = W[u, v] / sum(W)``. This module turns user input into that form and
rejects what cannot be one (negative or non-finite weights, asymmetric or empty graphs),
and holds :class:`CosineSimilarityGraph`, the complete similarity graph of vector data,
which is never stored as an n x n matrix.
"""
from __future__ import annotations

import numpy as np
from scipy import sparse

__all__ = ["check_adjacency", "edge_list", "CosineSimilarityGraph"]


def check_adjacency(adjacency, *, symmetric: bool = True) -> sparse.csr_matrix:
    """Validate a weighted adjacency matrix and return it as float64 CSR.

    Parameters
    ----------
    adjacency : array_like or scipy sparse matrix, shape (n, n)
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


def edge_list(adjacency) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ordered node pairs with their probabilities ``p(u, v) = W[u, v] / sum(W)``.

    Each undirected edge appears in both directions, a self-loop once.

    Returns
    -------
    rows, cols : ndarray of int64
    probs : ndarray of float64, summing to one

    Examples
    --------
    >>> rows, cols, probs = edge_list([[1, 1], [1, 0]])
    >>> rows.tolist(), cols.tolist(), probs.round(3).tolist()
    ([0, 0, 1], [0, 1, 0], [0.333, 0.333, 0.333])
    """
    matrix = check_adjacency(adjacency).tocoo()
    probs = matrix.data / matrix.data.sum()
    return matrix.row.astype(np.int64), matrix.col.astype(np.int64), probs


class CosineSimilarityGraph:
    """Complete graph with weights ``s_ij = (1 + x_i . x_j) / 2`` on unit (or zero) rows.

    This is the recipe that turns vector data into a graph (see ``data/README.md``): rows
    are z-scored and L2-normalised by :func:`hc_lib.datasets.similarity_graph`, and every pair
    ``i != j`` is an edge. Self-similarities are excluded. Because
    ``sum_{i in a, j in b} s_ij = |a||b|/2 + (sum_a x) . (sum_b x) / 2``, every cluster-level
    quantity costs O(n d) and the n x n matrix is never formed.

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
    >>> float(g.total_weight)
    4.0
    """

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

    @property
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
