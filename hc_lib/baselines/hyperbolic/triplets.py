"""Triplets of nodes, the training data of both hyperbolic learners.

HypHC (Chami et al., NeurIPS 2020) draws node pairs uniformly and adds a uniform third node
(:func:`pair_triplets`; :func:`edge_triplets` anchors each triplet on an edge instead); gHHC
(Monath et al., KDD 2019) draws mostly a node, one of its nearest neighbours and a uniform third
node, and orders each triplet so that its most similar pair comes first.
"""
from __future__ import annotations

import numpy as np

from hc_lib.graphs import as_graph

__all__ = ["pair_triplets", "edge_triplets", "neighbour_triplets", "triplet_weights"]


def pair_triplets(n: int, n_triplets: int, rng) -> np.ndarray:
    """``(n_triplets, 3)`` triplets ``(i, j, k)``, ``i < j``: every pair as evenly as
    possible (all pairs ``n_triplets // n_pairs`` times, the rest drawn without
    replacement), ``k`` uniform.

    >>> pair_triplets(4, 6, np.random.default_rng(0))[:, :2].tolist()
    [[0, 1], [0, 2], [0, 3], [1, 2], [1, 3], [2, 3]]
    """
    if n < 3:
        raise ValueError(f"triplets need at least 3 nodes, got {n}")
    n_pairs = n * (n - 1) // 2
    repeats, rest = divmod(int(n_triplets), n_pairs)
    drawn = np.sort(rng.choice(n_pairs, size=rest, replace=False))
    # no list of every pair unless each is used (a large graph has tens of billions of pairs)
    pair_index = np.concatenate([np.tile(np.arange(n_pairs), repeats), drawn]) if repeats else drawn
    # pair index p -> (i, j), i < j, in row-major order of the upper triangle
    i = (n - 2 - np.floor(np.sqrt(-8.0 * pair_index + 4.0 * n * (n - 1) - 7) / 2.0 - 0.5)).astype(np.int64)
    j = pair_index + i + 1 - n * (n - 1) // 2 + (n - i) * ((n - i) - 1) // 2
    k = rng.integers(n, size=pair_index.size)
    return np.stack([i, j, k], axis=1)


def edge_triplets(graph, n_triplets: int, rng) -> np.ndarray:
    """``(n_triplets, 3)`` triplets ``(i, j, k)`` whose pair ``(i, j)``, ``i < j``, is an edge (a pair
    of positive weight) drawn uniformly with replacement, ``k`` uniform.

    On a sparse graph almost every uniform triplet has three pairs of weight 0 and so no loss and
    no gradient; these triplets all carry weight. ``graph`` is any input of
    :func:`hc_lib.graphs.as_graph` with at least one edge between two distinct nodes; memory is
    that of its edge list (``n (n - 1) / 2`` pairs for a complete similarity graph).

    >>> path = np.array([[0, 1, 0, 0], [1, 0, 1, 0], [0, 1, 0, 1], [0, 0, 1, 0]])
    >>> sorted({(int(i), int(j)) for i, j, _ in edge_triplets(path, 50, np.random.default_rng(0))})
    [(0, 1), (1, 2), (2, 3)]
    """
    graph = as_graph(graph)
    rows, cols, weights = graph.edges(upper=True)
    keep = (rows != cols) & (weights > 0)
    rows, cols = rows[keep], cols[keep]
    if rows.size == 0:
        raise ValueError("edge triplets need at least one edge between two distinct nodes; the graph has none")
    pick = rng.integers(rows.size, size=int(n_triplets))
    k = rng.integers(graph.n_nodes, size=pick.size)
    return np.stack([rows[pick], cols[pick], k], axis=1).astype(np.int64)


def neighbour_triplets(graph, n_triplets: int, rng, *, n_neighbors: int = 5,
                       random_fraction: float = 0.1) -> np.ndarray:
    """gHHC's triplets, each ordered so that ``(i, j)`` is its most similar pair.

    A share ``random_fraction`` are three distinct uniform nodes; the others a uniform node
    ``i``, one of its ``n_neighbors`` heaviest neighbours ``j`` (a uniform node if it has
    none) and a uniform ``k`` distinct from both. ``graph`` is any input of
    :func:`hc_lib.graphs.as_graph`.
    """
    graph = as_graph(graph)
    n = graph.n_nodes
    if n < 3:
        raise ValueError(f"triplets need at least 3 nodes, got {n}")
    neighbours = graph.top_neighbours(n_neighbors)
    triplets = np.empty((int(n_triplets), 3), dtype=np.int64)
    random_rows = rng.random(len(triplets)) < random_fraction
    for row in range(len(triplets)):
        if random_rows[row]:
            triplets[row] = rng.choice(n, size=3, replace=False)
            continue
        i = rng.integers(n)
        options = neighbours[i]
        j = rng.choice(options) if len(options) else rng.choice(np.delete(np.arange(n), i))
        k = rng.integers(n)
        while k == i or k == j:
            k = rng.integers(n)
        triplets[row] = (i, j, k)
    i, j, k = triplets.T
    w_ij, w_ik, w_jk = (graph.pair_weights(a, b) for a, b in ((i, j), (i, k), (j, k)))
    first = (w_ij >= w_ik) & (w_ij >= w_jk)
    second = ~first & (w_jk >= w_ik)              # (j, k) is the closest pair
    third = ~first & ~second                      # (i, k)
    ordered = triplets.copy()
    ordered[second] = triplets[second][:, [1, 2, 0]]
    ordered[third] = triplets[third][:, [0, 2, 1]]
    return ordered


def triplet_weights(graph, triplets: np.ndarray) -> np.ndarray:
    """``(w_ij, w_ik, w_jk)`` of every triplet ``(i, j, k)`` of a graph (any input of
    :func:`hc_lib.graphs.as_graph`)."""
    graph = as_graph(graph)
    i, j, k = triplets.T
    return np.stack([graph.pair_weights(i, j), graph.pair_weights(i, k), graph.pair_weights(j, k)], axis=1)
