"""Top-down recursive Louvain: the "Louv." rows of the EPH/FPH tables.

Louvain splits the graph, then runs again inside every cluster, ``depth`` levels deep.
scikit-network called this ``LouvainHierarchy`` up to 0.24 and ``LouvainIteration`` since
0.25 (today's ``LouvainHierarchy`` is another, bottom-up method, much worse on these scores).
:func:`louvain_hierarchy` builds it with today's scikit-network Louvain, or with the Louvain
of scikit-network <= 0.24 (``legacy=True``), which reproduces the published rows. The two
differ in one rule: the old version dropped the last aggregation round, whose modularity gain
is below the tolerance, the new one keeps it; and the old one numbered clusters of equal size
in the order of numpy < 1.25's quicksort. Both run scikit-network's own local-move kernel.
"""
from __future__ import annotations

import numpy as np
from scipy import sparse

from hc_lib.graphs import CosineSimilarityGraph, SparseGraph, as_graph
from hc_lib.trees import Tree

__all__ = ["DENSE_LIMIT", "louvain_hierarchy"]

DENSE_LIMIT = 5000          # similarity graphs up to this size become a sparse matrix
TOLERANCE = 1e-3            # scikit-network's tol_optimization and tol_aggregation


def _legacy_argsort(values) -> np.ndarray:
    """``np.argsort(values)`` as numpy < 1.25 ordered ties (its introsort; short runs by
    insertion sort). scikit-network <= 0.24 numbered Louvain clusters by size this way."""
    keys = np.asarray(values).tolist()
    index = list(range(len(keys)))
    pending = []
    low, high = 0, len(keys) - 1
    while True:
        while high - low > 16:                      # median-of-three partition
            mid = low + ((high - low) >> 1)
            if keys[index[mid]] < keys[index[low]]:
                index[mid], index[low] = index[low], index[mid]
            if keys[index[high]] < keys[index[mid]]:
                index[high], index[mid] = index[mid], index[high]
            if keys[index[mid]] < keys[index[low]]:
                index[mid], index[low] = index[low], index[mid]
            pivot = keys[index[mid]]
            i, j = low, high - 1
            index[mid], index[j] = index[j], index[mid]
            while True:
                i += 1
                while keys[index[i]] < pivot:
                    i += 1
                j -= 1
                while pivot < keys[index[j]]:
                    j -= 1
                if i >= j:
                    break
                index[i], index[j] = index[j], index[i]
            index[i], index[high - 1] = index[high - 1], index[i]
            if i - low < high - i:
                pending.append((i + 1, high))
                high = i - 1
            else:
                pending.append((low, i - 1))
                low = i + 1
        for i in range(low + 1, high + 1):          # insertion sort
            item, j = index[i], i
            while j > low and keys[item] < keys[index[j - 1]]:
                index[j] = index[j - 1]
                j -= 1
            index[j] = item
        if not pending:
            return np.asarray(index, dtype=np.int64)
        low, high = pending.pop()


def _local_moves(indices, indptr, data, weights, self_loops):
    """One call of scikit-network's local-move kernel (float32 weights, labels from 0..k-1)."""
    from sknetwork.clustering.louvain_core import optimize_core

    w32 = np.asarray(weights, dtype=np.float32)
    labels = np.arange(indptr.size - 1, dtype=indices.dtype)
    moved, gain = optimize_core(labels, indices, indptr, data, w32, w32, w32.copy(), w32.copy(),
                                np.zeros(w32.size, dtype=np.float32),
                                np.asarray(self_loops, dtype=np.float32), 1.0, TOLERANCE)
    return np.unique(np.asarray(moved), return_inverse=True)[1], gain


def _aggregation_rounds(adjacency: sparse.csr_matrix, weights, labels: np.ndarray) -> np.ndarray:
    """Louvain rounds as scikit-network <= 0.24: local moves, and aggregation only while a
    round gains more than the tolerance (the round that does not is dropped)."""
    while adjacency.shape[0] > 1:
        symmetric = sparse.csr_matrix(adjacency + adjacency.T)
        symmetric.sort_indices()
        symmetric = 0.5 * symmetric
        moved, gain = _local_moves(symmetric.indices.astype(np.int64), symmetric.indptr.astype(np.int64),
                                   symmetric.data.astype(np.float32), weights, symmetric.diagonal())
        if gain <= TOLERANCE:
            break
        labels = moved[labels]
        k = adjacency.shape[0]
        membership = sparse.csr_matrix((np.ones(k), (np.arange(k), moved)), shape=(k, moved.max() + 1))
        adjacency = sparse.csr_matrix(membership.T @ (adjacency @ membership))
        weights = membership.T @ weights
    return _by_size(labels)


def _by_size(labels: np.ndarray) -> np.ndarray:
    """Clusters renumbered by decreasing size, ties as numpy < 1.25 ordered them."""
    rank = np.empty(labels.max() + 1, dtype=np.int64)
    rank[_legacy_argsort(-np.bincount(labels))] = np.arange(rank.size)
    return rank[labels]


def _legacy_louvain(matrix: sparse.csr_matrix) -> np.ndarray:
    """Louvain clusters as scikit-network <= 0.24 found them (resolution 1, no shuffling),
    numbered by decreasing size."""
    weights = np.asarray(matrix.sum(axis=1)).ravel()
    labels = np.arange(matrix.shape[0])
    return _aggregation_rounds(matrix / matrix.data.sum(), weights / weights.sum(), labels)


def _legacy_louvain_complete(graph: CosineSimilarityGraph, block: int = 1024) -> np.ndarray:
    """:func:`_legacy_louvain` on the complete similarity graph of many unit rows.

    The first round runs on the n(n - 1) weights in float32 (4 bytes of weight and 4 of
    index per pair, the float64 matrix is never formed); clusters are then aggregated with
    the identity ``w(a, b) = |a||b|/2 + (sum_a x).(sum_b x)/2``.
    """
    rows = graph.unit_rows
    n = graph.n_nodes
    total = graph.total_weight
    index_type = np.int32 if n * (n - 1) < 2 ** 31 else np.int64
    data = np.empty(n * (n - 1), dtype=np.float32)
    indices = np.empty(n * (n - 1), dtype=index_type)
    columns = np.arange(n, dtype=index_type)
    for start in range(0, n, block):
        stop = min(start + block, n)
        keep = np.ones((stop - start, n), dtype=bool)
        keep[np.arange(stop - start), np.arange(start, stop)] = False
        weights = (0.5 + 0.5 * rows[start:stop] @ rows.T) / total
        data[start * (n - 1):stop * (n - 1)] = weights[keep]
        indices[start * (n - 1):stop * (n - 1)] = np.broadcast_to(columns, keep.shape)[keep]
    indptr = np.arange(n + 1, dtype=index_type) * (n - 1)
    degrees = graph.degrees / total
    moved, gain = _local_moves(indices, indptr, data, degrees, np.zeros(n))
    del data, indices
    if gain <= TOLERANCE:                  # the round is dropped: every node alone
        return _by_size(np.arange(n))
    k = moved.max() + 1
    sizes = np.bincount(moved, minlength=k).astype(np.float64)
    sums = np.zeros((k, rows.shape[1]))
    np.add.at(sums, moved, rows)
    between = 0.5 * np.outer(sizes, sizes) + 0.5 * sums @ sums.T
    between[np.diag_indices(k)] -= np.bincount(moved, weights=graph.self_similarities, minlength=k)
    return _aggregation_rounds(sparse.csr_matrix(between / total),
                               np.bincount(moved, weights=degrees, minlength=k), moved)


def _chains_to_tree(rows: list, n: int) -> Tree:
    """Rows ``[child, child, level]`` in creation order -> Tree, ordered as scikit-network
    orders its dendrogram (by height, then by the larger merged cluster)."""
    Z = np.zeros((n - 1, 4))
    Z[:, :3] = rows
    Z[:, 2] = Z[:, 2].max() + 1 - Z[:, 2]                    # deeper levels lower
    size = np.ones(2 * n - 1)
    for row, (a, b) in enumerate(Z[:, :2].astype(np.int64).tolist()):
        size[n + row] = size[a] + size[b]
    Z[:, 3] = size[n:]
    # children still come first: lower height, or earlier in the same chain
    order = np.lexsort((Z[:, :2].max(axis=1), Z[:, 2]))
    rename = np.arange(2 * n - 1)
    rename[n + order] = n + np.arange(n - 1)
    Z = Z[order]
    Z[:, :2] = rename[Z[:, :2].astype(np.int64)]
    return Tree.from_linkage(Z)


def louvain_hierarchy(graph, depth: int = 3, random_state=0, *, legacy: bool = False) -> Tree:
    """Top-down recursive Louvain: Louvain on the graph, again inside every cluster, ``depth`` levels.

    A level's clusters hang from their parent in order of decreasing size; a cluster that
    Louvain does not split (or at the last level) gets its nodes as leaves. As in
    scikit-network, a node with k children is written as a chain of k - 1 binary merges at
    one height (the smallest clusters merged first): the tree is binary, and contracting the
    equal-height chains gives the k-ary levels back.

    Disconnected graphs need nothing special: Louvain only moves a node into a neighbour's
    cluster, so no cluster spans two components and an isolated node stays alone; every node
    below the root (and its equal-height chain) lies inside one component.

    Parameters
    ----------
    graph : sparse or dense adjacency, or a graph of :mod:`hc_lib.graphs`
        A similarity graph of vectors: made a sparse matrix up to :data:`DENSE_LIMIT` nodes;
        larger ones need ``legacy=True`` (a float32 path that never forms the float64 matrix).
    depth : int
        Number of Louvain levels (>= 1).
    random_state : int
        Seed of today's scikit-network Louvain (which does not shuffle by default).
    legacy : bool
        Cluster with Louvain as scikit-network <= 0.24 did (reproduces the published rows);
        else with today's ``sknetwork.clustering.Louvain`` (then the result equals
        ``sknetwork.hierarchy.LouvainIteration(depth)``, whose column 3 is wrong).

    Examples
    --------
    >>> two_triangles = np.kron(np.eye(2), np.ones((3, 3))) - np.eye(6)
    >>> two_triangles[2, 3] = two_triangles[3, 2] = 1.0
    >>> tree = louvain_hierarchy(two_triangles, legacy=True)
    >>> sorted(tree.leaves_of(x).tolist() for x in range(6, 11) if tree.sizes[x] == 3)
    [[0, 1, 2], [3, 4, 5]]
    """
    if isinstance(depth, bool) or not isinstance(depth, (int, np.integer)) or depth < 1:
        raise ValueError(f"depth must be a positive integer, got {depth!r}")
    graph = as_graph(graph)
    if graph.is_complete and graph.n_nodes > DENSE_LIMIT:
        if not legacy:
            raise ValueError(f"a complete similarity graph on {graph.n_nodes} nodes is too large for "
                             "today's Louvain; use legacy=True or pass a sparse graph")
    n = graph.n_nodes
    if n < 2:
        raise ValueError("the graph needs at least 2 nodes")
    if legacy:
        cluster = _legacy_louvain
    else:
        from sknetwork.clustering import Louvain
        cluster = Louvain(random_state=random_state).fit_predict

    def sparse_if_small(part):
        """A similarity graph of at most DENSE_LIMIT nodes becomes a sparse matrix."""
        return SparseGraph(part.to_sparse()) if part.is_complete and part.n_nodes <= DENSE_LIMIT else part

    def split(part, level):
        if level >= depth:
            return None
        if part.is_complete:
            return _legacy_louvain_complete(part)
        matrix = part.to_sparse()
        return np.asarray(cluster(matrix)) if matrix.nnz else None

    rows = []                                       # [child, child, level]

    def build(nodes: np.ndarray, part, level: int) -> int:
        labels = split(part, level)
        if labels is None or labels.max() == 0:
            children = nodes.tolist()
        else:
            children = []
            for label in range(labels.max() + 1):
                members = np.flatnonzero(labels == label)
                if members.size == 1:
                    children.append(int(nodes[members[0]]))
                else:
                    children.append(build(nodes[members], sparse_if_small(part.subgraph(members)), level + 1))
        rows.append([children.pop(), children.pop(), level])
        while children:
            rows.append([n + len(rows) - 1, children.pop(), level])
        return n + len(rows) - 1

    build(np.arange(n), sparse_if_small(graph), 0)
    return _chains_to_tree(rows, n)
