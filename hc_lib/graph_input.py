"""The graph a learned baseline reads: a sparse adjacency or a cosine-similarity graph.

The poster's learned baselines (:mod:`hc_lib.baselines.ultrametric_fitting`,
:mod:`hc_lib.baselines.sparsest_cut`, :mod:`hc_lib.baselines.hyperbolic`) take the same two inputs as the rest of
the library: a weighted adjacency (validated by :func:`hc_lib.graphs.check_adjacency`) or the
:class:`~hc_lib.graphs.CosineSimilarityGraph` of vector data. This module checks either one
and answers the few questions those methods ask of it: the weight of given node pairs, the
list of edges, the neighbours of a node. Self-loops are dropped: none of these methods uses
them, and they leave the Dasgupta ranking of trees unchanged.
"""
from __future__ import annotations

import numpy as np
from scipy import sparse

from hc_lib.graphs import CosineSimilarityGraph, check_adjacency

__all__ = ["check_graph", "pair_weights", "edge_arrays", "top_neighbours"]


def check_graph(graph):
    """A validated adjacency (CSR, float64, no self-loops) or the similarity graph itself.

    Raises
    ------
    ValueError
        For a matrix :func:`~hc_lib.graphs.check_adjacency` rejects (not square, negative,
        NaN or infinite weights, asymmetric, empty) and for fewer than 2 nodes.

    Examples
    --------
    >>> check_graph([[1, 1], [1, 0]]).toarray()
    array([[0., 1.],
           [1., 0.]])
    >>> check_graph([[1.0]])
    Traceback (most recent call last):
    ...
    ValueError: the graph needs at least 2 nodes, got 1
    """
    if isinstance(graph, CosineSimilarityGraph):
        return graph
    matrix = check_adjacency(graph)
    if matrix.shape[0] < 2:
        raise ValueError(f"the graph needs at least 2 nodes, got {matrix.shape[0]}")
    matrix = sparse.csr_matrix(matrix - sparse.diags(matrix.diagonal()))
    matrix.eliminate_zeros()
    matrix.sort_indices()
    return matrix


def pair_weights(graph, rows, cols) -> np.ndarray:
    """``W[rows[t], cols[t]]`` for every t (0 on the diagonal), as float64.

    Examples
    --------
    >>> pair_weights(check_graph([[0, 2], [2, 0]]), [0, 1, 0], [1, 0, 0]).tolist()
    [2.0, 2.0, 0.0]
    """
    rows = np.asarray(rows, dtype=np.int64)
    cols = np.asarray(cols, dtype=np.int64)
    if isinstance(graph, CosineSimilarityGraph):
        x = graph.unit_rows
        weights = 0.5 + 0.5 * np.einsum("td,td->t", x[rows], x[cols])
        return np.where(rows == cols, 0.0, weights)
    return np.asarray(graph[rows, cols], dtype=np.float64).ravel()


def edge_arrays(graph) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every undirected edge once, ``u < v``, with its positive weight.

    For a similarity graph that is all ``n (n - 1) / 2`` pairs (pairs of similarity 0, the
    antipodal ones, are left out). Only for graphs whose edges fit in memory.
    """
    if isinstance(graph, CosineSimilarityGraph):
        u, v = np.triu_indices(graph.n_nodes, k=1)
        weights = pair_weights(graph, u, v)
    else:
        upper = sparse.triu(graph, k=1).tocoo()
        u, v, weights = upper.row, upper.col, upper.data
    keep = weights > 0
    return u[keep].astype(np.int64), v[keep].astype(np.int64), weights[keep].astype(np.float64)


def top_neighbours(graph, k: int) -> list[np.ndarray]:
    """The ``k`` heaviest neighbours of every node (fewer where a node has fewer)."""
    n = graph.shape[0]
    if isinstance(graph, CosineSimilarityGraph):
        result = []
        for start in range(0, n, 1024):           # blocks keep memory at 1024 x n
            block = graph.unit_rows[start:start + 1024] @ graph.unit_rows.T
            block[np.arange(block.shape[0]), np.arange(start, start + block.shape[0])] = -np.inf
            kk = min(k, n - 1)
            top = np.argpartition(-block, kk - 1, axis=1)[:, :kk]
            result.extend(list(top))
        return result
    result = []
    for node in range(n):
        row = slice(graph.indptr[node], graph.indptr[node + 1])
        neighbours, weights = graph.indices[row], graph.data[row]
        result.append(neighbours[np.argsort(-weights, kind="stable")[:k]])
    return result
