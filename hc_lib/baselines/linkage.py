"""Classic hierarchies as :class:`~hc_lib.trees.Tree`: linkages on vectors; Paris, average
linkage and recursive Louvain on graphs.

These are the reference rows of the EPH tables, built with well-kept libraries (scipy,
scikit-network). Vector linkages follow the recipe of ``data/README.md``: rows z-scored and
L2-normalised, distance ``1 - cos`` (Ward on the normalised rows).

Unweighted graphs are full of ties, and which tied pair merges first changes the tree
(average linkage on cora_ml: Dasgupta cost 288.1 with one tie rule, 295.6 with another).
:func:`nn_chain_average_linkage` and ``louvain_hierarchy(..., legacy=True)`` (from
:mod:`hc_lib.baselines.louvain`) follow the tie rules of the code that produced the published rows,
and reproduce them (the classic rows of ``results/eph_graphs_dasgupta.md`` and
``results/eph_vectors.md``).

Disconnected graphs (several components, isolated nodes) are accepted by every graph
baseline: the linkages build each component's tree and join the components at the top by the
rule of :mod:`hc_lib.components`; Louvain's clusters never span two components, so its tree
separates them below the root by itself. On a connected graph none of this applies.
"""
from __future__ import annotations

import numpy as np
from scipy.cluster.hierarchy import linkage
from scipy.spatial.distance import pdist

from hc_lib.components import component_labels, join_components
from hc_lib.graphs import SparseGraph, as_graph
from hc_lib.trees import Tree

__all__ = ["VECTOR_LINKAGES", "vector_linkage", "paris", "graph_average_linkage", "nn_chain_average_linkage"]

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
        # 1 - x_i . x_j, also for zero rows (whose cosine is taken as 0), in place: for
        # n = 20 000 each condensed array takes 1.6 GB
        distances = pdist(rows, "sqeuclidean")
        distances *= 0.5
        gap = _norm_gap(rows)
        if gap is not None:
            distances -= 0.5 * gap
        np.clip(distances, 0.0, None, out=distances)
        Z = linkage(distances, method=method)
    return Tree.from_linkage(Z)


def _norm_gap(rows: np.ndarray) -> np.ndarray | None:
    """Condensed ``|x_i|^2 + |x_j|^2 - 2`` (None if all rows are unit), so that
    ``|x_i - x_j|^2 / 2 - gap / 2 = 1 - x_i . x_j`` holds for zero rows too."""
    squared = np.einsum("id,id->i", rows, rows)
    if np.allclose(squared, 1.0):
        return None
    i, j = np.triu_indices(rows.shape[0], k=1)
    return squared[i] + squared[j] - 2.0


def _sparse_graph(adjacency) -> SparseGraph:
    """The graph linkages' input: a sparse graph (they would list every pair of a similarity graph)."""
    graph = as_graph(adjacency)
    if graph.is_complete:
        raise TypeError("a CosineSimilarityGraph is not a sparse adjacency; call .to_sparse() for small n, "
                        "or use vector_linkage on its unit_rows")
    return graph


def _sknetwork_paris(matrix, weights: str) -> Tree:
    """scikit-network's Paris, with its infinite-height joins of components replaced by the
    joining rule of :mod:`hc_lib.components`."""
    from sknetwork.hierarchy import Paris

    # reorder=False: scikit-network's re-sorting by height breaks the merge order on ties
    Z = Paris(weights=weights, reorder=False).fit_transform(matrix)
    finite = np.isfinite(Z[:, 2])
    if finite.all():
        return Tree.from_linkage(Z)
    n_inner = int(finite.sum())
    if not finite[:n_inner].all():
        raise RuntimeError("scikit-network's Paris joined components before finishing them; "
                           "this scikit-network version is not supported on disconnected graphs")
    return Tree.from_linkage(join_components(Z[:n_inner], matrix.shape[0]))


def paris(adjacency) -> Tree:
    """Paris hierarchy (Bonald et al., 2018): node-pair sampling linkage, scikit-network.

    On a disconnected graph the components are joined at the top (:mod:`hc_lib.components`)
    instead of at scikit-network's infinite height.
    """
    return _sknetwork_paris(_sparse_graph(adjacency).to_sparse(), "degree")


def graph_average_linkage(adjacency) -> Tree:
    """Average linkage on the unweighted graph, as in the EPH/FPH tables.

    Merges the connected pair of clusters maximising ``w(a, b) / (|a| |b|)`` with every
    edge weight set to 1. This is Paris with uniform node weights, whose linkage distance
    is ``|a| |b| / w(a, b)`` up to a constant. On a disconnected graph the components are
    joined at the top (:mod:`hc_lib.components`).
    """
    matrix = _sparse_graph(adjacency).to_sparse().copy()
    matrix.data[:] = 1.0
    return _sknetwork_paris(matrix, "uniform")


def nn_chain_average_linkage(adjacency) -> Tree:
    """Average linkage on the unweighted graph with the tie rules of the published code.

    The same linkage as :func:`graph_average_linkage` (merge the connected pair of clusters
    maximising ``w(a, b) / (|a| |b|)``, every edge weight set to 1, self-loops ignored), run
    as a nearest-neighbour chain the way the official EPH/FPH code runs it: a chain starts at
    the lowest-numbered remaining cluster, a cluster's nearest neighbour is the one of
    highest linkage and, among ties, of lowest number (new clusters are numbered ``n, n+1,
    ...`` in merge order), and the merges are sorted by height keeping the merge order on
    ties. Heights are ``-log`` of the linkage (0 for two fully linked clusters).

    On a disconnected graph a cluster left without neighbours (a finished component, or an
    isolated node) is set aside and the chain restarts; the finished components are then
    joined at the top by the rule of :mod:`hc_lib.components`. A connected graph never takes
    that branch, so its tree is unchanged.

    Parameters
    ----------
    adjacency : sparse or dense adjacency (n x n); self-loops are ignored

    Returns
    -------
    Tree
        Binary; ``tree.heights`` non-decreasing.

    Examples
    --------
    >>> path = np.array([[0, 1, 0, 0], [1, 0, 1, 0], [0, 1, 0, 1], [0, 0, 1, 0]])
    >>> nn_chain_average_linkage(path).parent.tolist()      # ((0, 1), (2, 3))
    [4, 4, 5, 5, 6, 6, -1]
    """
    graph = _sparse_graph(adjacency)
    matrix = graph.to_sparse()
    n = graph.n_nodes
    if n < 2:
        raise ValueError("the graph needs at least 2 nodes")
    n_components, _ = component_labels(graph)
    indptr, indices = matrix.indptr, matrix.indices
    links = []                                  # per cluster: {neighbour: number of edges}
    for node in range(n):
        row = dict.fromkeys(indices[indptr[node]:indptr[node + 1]].tolist(), 1.0)
        row.pop(node, None)
        links.append(row)
    size = [1] * n
    alive = np.zeros(2 * n - 1, dtype=bool)
    alive[:n] = True
    merges, strengths = [], []
    chain, lowest = [], 0
    while len(merges) < n - n_components:
        if not chain:
            while not alive[lowest]:
                lowest += 1
            chain.append(lowest)
        a = chain[-1]
        if not links[a]:                # a whole component: its neighbours were all merged into it
            chain.pop()
            alive[a] = False
            continue
        best, b = -1.0, -1
        for v, weight in links[a].items():
            strength = weight / (size[a] * size[v])
            if strength > best or (strength == best and v < b):
                best, b = strength, v
        if len(chain) > 1 and chain[-2] == b:
            del chain[-2:]
            new = n + len(merges)
            merges.append((a, b, size[a] + size[b]))
            strengths.append(best)
            small, large = sorted((links[a], links[b]), key=len)     # merge the smaller into the larger
            for row in (small, large):
                row.pop(a, None)
                row.pop(b, None)
            for v, weight in small.items():
                large[v] = large.get(v, 0.0) + weight
            for v, weight in large.items():
                row = links[v]
                row.pop(a, None)
                row.pop(b, None)
                row[new] = weight
            links[a] = links[b] = None
            links.append(large)
            size.append(size[a] + size[b])
            alive[[a, b]] = False
            alive[new] = True
        else:
            chain.append(b)
    strengths = np.asarray(strengths, dtype=np.float64)
    merges = np.asarray(merges, dtype=np.int64).reshape(-1, 3)
    order = np.argsort(-strengths, kind="stable")       # by height, merge order on ties
    rename = np.arange(n + len(merges))
    rename[n + order] = n + np.arange(len(merges))
    merged = rename[merges[order, :2]]
    heights = 0.0 - np.log(strengths[order])                    # 0.0 - : no negative zero
    Z = np.column_stack([merged, heights, merges[order, 2]])
    if n_components > 1:
        Z = join_components(Z, n)
    return Tree.from_linkage(Z.astype(np.float64))

