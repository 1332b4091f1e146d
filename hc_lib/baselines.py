"""Classic hierarchies as :class:`~hc_lib.trees.Tree`: linkages on vectors, Paris and average
linkage on graphs.

These are the reference rows of the EPH tables, built with well-kept libraries (scipy,
scikit-network). Vector linkages follow the recipe of ``data/README.md``: rows z-scored and
L2-normalised, distance ``1 - cos`` (Ward on the normalised rows).
"""
from __future__ import annotations

import numpy as np
from scipy.cluster.hierarchy import linkage
from scipy.spatial.distance import pdist

from hc_lib.graphs import check_adjacency
from hc_lib.trees import Tree

__all__ = ["VECTOR_LINKAGES", "vector_linkage", "paris", "graph_average_linkage"]

VECTOR_LINKAGES = ("ward", "average", "single", "complete")


def vector_linkage(unit_rows, method: str = "average") -> Tree:
    """Linkage tree of normalised vectors (see :func:`hc_lib.datasets.normalized_rows`).

    Parameters
    ----------
    unit_rows : ndarray, shape (n, d)
        Rows of norm one (or zero).
    method : {"ward", "average", "single", "complete"}
        Ward runs on the rows themselves (its squared Euclidean distance is
        ``2 (1 - cos)`` on unit rows); the others on the distance ``1 - cos``.

    Examples
    --------
    >>> rows = np.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0]])
    >>> vector_linkage(rows, "single").parent.tolist()
    [3, 3, 4, 4, -1]
    """
    if method not in VECTOR_LINKAGES:
        raise ValueError(f"unknown linkage method {method!r}; choose one of {', '.join(VECTOR_LINKAGES)}")
    rows = np.asarray(unit_rows, dtype=np.float64)
    if rows.ndim != 2 or rows.shape[0] < 2:
        raise ValueError(f"unit_rows must have shape (n, d) with n >= 2, got {rows.shape}")
    if method == "ward":
        Z = linkage(rows, method="ward")
    else:
        # 1 - x_i . x_j, also for zero rows (whose cosine is taken as 0)
        distances = np.clip(0.5 * pdist(rows, "sqeuclidean") - 0.5 * _norm_gap(rows), 0.0, None)
        Z = linkage(distances, method=method)
    return Tree.from_linkage(Z)


def _norm_gap(rows: np.ndarray) -> np.ndarray:
    """Condensed ``|x_i|^2 + |x_j|^2 - 2`` (zero for unit rows), so that
    ``|x_i - x_j|^2 / 2 - gap / 2 = 1 - x_i . x_j`` holds for zero rows too."""
    squared = np.einsum("id,id->i", rows, rows)
    if np.allclose(squared, 1.0):
        return np.zeros(rows.shape[0] * (rows.shape[0] - 1) // 2)
    i, j = np.triu_indices(rows.shape[0], k=1)
    return squared[i] + squared[j] - 2.0


def paris(adjacency) -> Tree:
    """Paris hierarchy (Bonald et al., 2018): node-pair sampling linkage, scikit-network."""
    from sknetwork.hierarchy import Paris

    matrix = check_adjacency(adjacency)
    # reorder=False: scikit-network's re-sorting by height breaks the merge order on ties
    return Tree.from_linkage(Paris(weights="degree", reorder=False).fit_transform(matrix))


def graph_average_linkage(adjacency) -> Tree:
    """Average linkage on the unweighted graph, as in the EPH/FPH tables.

    Merges the connected pair of clusters maximising ``w(a, b) / (|a| |b|)`` with every
    edge weight set to 1. This is Paris with uniform node weights, whose linkage distance
    is ``|a| |b| / w(a, b)`` up to a constant.
    """
    from sknetwork.hierarchy import Paris

    matrix = check_adjacency(adjacency)
    matrix.data[:] = 1.0
    return Tree.from_linkage(Paris(weights="uniform", reorder=False).fit_transform(matrix))
