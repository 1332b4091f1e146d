"""Scores of hierarchies: Dasgupta cost, tree-sampling divergence, dendrogram purity, flat metrics.

Graph scores read the graph as a distribution over ordered node pairs,
``p(u, v) = W[u, v] / sum(W)`` (each undirected edge in both directions, a self-loop once),
and are exact on non-binary trees: a pair whose lowest common ancestor (lca) is a node with
k children counts that node's whole cluster. A self-loop's lca is its leaf's parent.
Everything runs on the edge list (:meth:`~hc_lib.graphs.SparseGraph.edges`); the Dasgupta cost
of a :class:`~hc_lib.graphs.CosineSimilarityGraph` runs on its O(n d) cluster sums instead.
A graph is any input of :func:`hc_lib.graphs.as_graph`, validated once per call.

=================================  =====================================================
:func:`dasgupta_cost`              expected size of the lca cluster of an edge (lower is better)
:func:`tree_sampling_divergence`   ``100 * KL(p || q) / I`` (higher is better), or nats
:func:`legacy_tree_sampling_divergence`  the scale of the published tables (scikit-network <= 0.24)
:func:`dendrogram_purity`          Heller & Ghahramani's purity, leaves may hold many points
:func:`nmi`, :func:`ari`, :func:`accuracy`  flat clusterings against classes
=================================  =====================================================
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from hc_lib.graphs import as_graph
from hc_lib.trees import Tree

__all__ = [
    "as_tree", "dasgupta_cost", "tree_sampling_divergence", "legacy_tree_sampling_divergence",
    "mutual_information", "lca_distribution", "tsd_distributions", "dendrogram_purity", "nmi", "ari",
    "accuracy",
]


def as_tree(tree) -> Tree:
    """Accept a :class:`~hc_lib.trees.Tree` or a scipy linkage matrix."""
    if isinstance(tree, Tree):
        return tree
    if isinstance(tree, np.ndarray):
        return Tree.from_linkage(tree)
    raise TypeError(f"expected a Tree or a linkage matrix, got {type(tree).__name__}")


def _check_leaves(graph, tree: Tree) -> None:
    if graph.n_nodes != tree.n_leaves:
        raise ValueError(f"the graph has {graph.n_nodes} nodes but the tree has {tree.n_leaves} leaves")


def _edges_on_tree(graph, tree: Tree):
    """Edge list, probabilities and the lca of every edge (self-loops at the leaf's parent)."""
    _check_leaves(graph, tree)
    rows, cols, weights = graph.edges()
    probs = weights / weights.sum()
    lca = tree.lca(rows, cols)
    loops = rows == cols
    lca[loops] = tree.parent[rows[loops]]
    return rows, cols, probs, lca


def dasgupta_cost(graph, tree) -> float:
    """Dasgupta cost in the normalisation of the EPH/FPH tables.

    ``sum_{u,v} p(u, v) |leaves(lca(u, v))|``: the expected size of the smallest cluster
    holding both ends of an edge drawn proportionally to its weight. Equals
    ``sknetwork.hierarchy.dasgupta_cost(adjacency, Z, normalized=False)`` on binary trees.

    Parameters
    ----------
    graph : sparse or dense adjacency (n x n), or a graph of :mod:`hc_lib.graphs`
        For a similarity graph of vector data the cost is exact in O(n d).
    tree : Tree or linkage matrix over the n nodes

    Examples
    --------
    >>> import numpy as np
    >>> path = np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]])
    >>> round(dasgupta_cost(path, Tree.from_parent([3, 3, 4, 4, -1])), 4)   # ((0, 1), 2)
    2.5
    """
    tree = as_tree(tree)
    return float(lca_distribution(graph, tree) @ tree.sizes[tree.n_leaves:])


def lca_distribution(graph, tree) -> np.ndarray:
    """Probability that an edge drawn ∝ weight has its lca at each internal node.

    Parameters
    ----------
    graph : adjacency or graph of :mod:`hc_lib.graphs` (a similarity graph: exact in O(n d))
    tree : Tree or linkage matrix

    Returns
    -------
    ndarray, shape (n_internal,), summing to one
    """
    tree = as_tree(tree)
    graph = as_graph(graph)
    if graph.is_complete:
        _check_leaves(graph, tree)
        # all ordered pairs inside each cluster, i = j included; a leaf's pair (i, i) is removed
        # from its parent with the rest of the children's pairs, so only i != j meet at a node
        within = graph.pair_sums(tree.cluster_sums(graph.unit_rows), tree.sizes)
        children = np.bincount(tree.parent[:-1], weights=within[:-1], minlength=tree.n_nodes)
        return (within - children)[tree.n_leaves:] / graph.total_weight
    _, _, probs, lca = _edges_on_tree(graph, tree)
    return np.bincount(lca - tree.n_leaves, weights=probs, minlength=tree.n_internal)


def _node_distributions(graph, tree: Tree, *, legacy: bool = False):
    """p(x) and q(x) over internal nodes, and the graph's mutual information."""
    rows, cols, probs, lca = _edges_on_tree(graph, tree)
    n = tree.n_leaves
    node_prob = np.bincount(rows, weights=probs, minlength=n)
    keep = rows != cols if legacy else slice(None)
    p = np.bincount(lca[keep] - n, weights=probs[keep], minlength=tree.n_internal)
    mass = tree.cluster_sums(node_prob)
    squares = mass ** 2
    subtract = squares[:-1] if legacy else np.where(np.arange(tree.n_nodes - 1) < n, 0.0, squares[:-1])
    q = squares[n:] - np.bincount(tree.parent[:-1], weights=subtract, minlength=tree.n_nodes)[n:]
    info = _mutual_information(rows, cols, probs, node_prob)
    return p, q, info


def tsd_distributions(adjacency, tree) -> tuple[np.ndarray, np.ndarray]:
    """``p(x)`` and ``q(x)`` of the tree-sampling divergence over internal nodes.

    ``p`` is :func:`lca_distribution`; ``q(x)`` the probability that two nodes drawn
    independently ∝ degree meet at ``x`` (a node with itself: at its parent).
    """
    p, q, _ = _node_distributions(as_graph(adjacency), as_tree(tree))
    return p, q


def _mutual_information(rows, cols, probs, node_prob) -> float:
    return float(probs @ np.log(probs / (node_prob[rows] * node_prob[cols])))


def mutual_information(adjacency) -> float:
    """Mutual information (nats) between the two ends of an edge drawn ∝ weight."""
    graph = as_graph(adjacency)
    rows, cols, weights = graph.edges()
    probs = weights / weights.sum()
    node_prob = np.bincount(rows, weights=probs, minlength=graph.n_nodes)
    return _mutual_information(rows, cols, probs, node_prob)


def _divergence(p, q, info, normalized):
    support = p > 0
    tsd = float(p[support] @ np.log(p[support] / q[support]))
    if not normalized:
        return tsd
    if info <= 0:
        raise ValueError("the graph has zero mutual information (e.g. a complete graph with "
                         "uniform weights): the normalised TSD is undefined")
    return 100.0 * tsd / info


def tree_sampling_divergence(adjacency, tree, *, normalized: bool = True) -> float:
    """Tree-sampling divergence (Charpentier & Bonald, 2019), correct definition.

    ``p(x)`` is the probability that an edge drawn ∝ weight has lca ``x``, ``q(x)`` the same
    for two nodes drawn independently ∝ degree; TSD = KL(p || q). Same-node pairs and
    self-loops meet at the leaf's parent.

    Parameters
    ----------
    normalized : bool
        If True (default), ``100 * TSD / I`` with I the graph's mutual information: the
        scale of the tables (and 100 x ``sknetwork.hierarchy.tree_sampling_divergence`` on
        binary trees). If False, TSD in nats.

    Examples
    --------
    >>> import numpy as np
    >>> two_pairs = np.kron(np.eye(2), np.ones((2, 2))) - np.eye(4)   # edges 0-1 and 2-3
    >>> tree = Tree.from_parent([4, 4, 5, 5, 6, 6, -1])
    >>> round(tree_sampling_divergence(two_pairs, tree), 6)  # same-node pairs keep it below 100
    50.0
    """
    tree = as_tree(tree)
    return _divergence(*_node_distributions(as_graph(adjacency), tree), normalized)


def legacy_tree_sampling_divergence(adjacency, tree, *, normalized: bool = True) -> float:
    """TSD as scikit-network <= 0.24 computed it: the scale of the published EPH/FPH tables.

    Use it only to compare with published numbers. It differs from
    :func:`tree_sampling_divergence` in three ways: (a) ``q`` leaves out the same-node terms
    ``p(u)^2``; (b) self-loops are dropped from ``p`` (the normaliser still counts them);
    (c) given a linkage matrix, a merge whose first (else second) merged cluster has the
    same height is fused with it into one k-ary node. A :class:`Tree` is first exported
    with :meth:`~hc_lib.trees.Tree.to_linkage`, so (c) applies to it too.
    The value is typically a few points higher than the correct one.
    """
    Z = tree.to_linkage() if isinstance(tree, Tree) else np.asarray(tree)
    binary = Tree.from_linkage(Z)
    n = binary.n_leaves
    height = Z[:, 2]
    first, second = Z[:, 0].astype(np.int64), Z[:, 1].astype(np.int64)
    first_fuses = (first >= n) & (height[np.maximum(first - n, 0)] == height)
    second_fuses = ~first_fuses & (second >= n) & (height[np.maximum(second - n, 0)] == height)
    fused = np.concatenate([first[first_fuses], second[second_fuses]])
    graph = as_graph(adjacency)
    return _divergence(*_node_distributions(graph, binary.contract(fused), legacy=True), normalized)


# ---------------------------------------------------------------------- labels
def _check_labels(labels, name: str, n: int | None = None) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"{name} must be 1-d, got shape {labels.shape}")
    if n is not None and labels.size != n:
        raise ValueError(f"{name} has {labels.size} entries, expected {n}")
    if labels.size == 0:
        raise ValueError(f"{name} is empty")
    return labels


def dendrogram_purity(tree, labels, leaf_of_point=None) -> float:
    """Dendrogram purity (Heller & Ghahramani, 2005).

    The mean, over pairs of points of the same class, of the fraction of that class in the
    cluster of the pair's lowest common ancestor.

    Parameters
    ----------
    tree : Tree or linkage matrix
    labels : array_like, shape (n_points,)
        Class of every point (any hashable values).
    leaf_of_point : array_like of int, shape (n_points,), optional
        The leaf holding each point, for trees whose leaves are clusters (a pair inside one
        leaf has that leaf as its lca). By default point i is leaf i.

    Examples
    --------
    >>> tree = Tree.from_parent([4, 4, 5, 5, 6, 6, -1])      # ((0, 1), (2, 3))
    >>> dendrogram_purity(tree, [0, 0, 1, 1])
    1.0
    >>> round(dendrogram_purity(tree, [0, 1, 0, 1]), 4)
    0.5
    """
    tree = as_tree(tree)
    if leaf_of_point is None:
        labels = _check_labels(labels, "labels", tree.n_leaves)
        leaf_of_point = np.arange(tree.n_leaves)
    else:
        labels = _check_labels(labels, "labels")
        leaf_of_point = _check_labels(leaf_of_point, "leaf_of_point", labels.size).astype(np.int64)
        if leaf_of_point.min() < 0 or leaf_of_point.max() >= tree.n_leaves:
            raise ValueError(f"leaf_of_point must lie in [0, {tree.n_leaves - 1}]")
    _, classes = np.unique(labels, return_inverse=True)
    n_classes = classes.max() + 1
    leaf_counts = np.zeros((tree.n_leaves, n_classes))
    np.add.at(leaf_counts, (leaf_of_point, classes), 1.0)
    counts = tree.cluster_sums(leaf_counts)                       # (n_nodes, n_classes)
    total = counts.sum(axis=1)
    same_class = counts * (counts - 1) / 2                        # same-class pairs inside each node
    children = np.zeros_like(same_class)
    np.add.at(children, tree.parent[:-1], same_class[:-1])
    meeting = same_class - children                               # pairs whose lca is the node
    n_pairs = meeting.sum()
    if n_pairs == 0:
        raise ValueError("no two points share a class: dendrogram purity is undefined")
    purity = np.divide(counts, total[:, None], out=np.zeros_like(counts), where=total[:, None] > 0)
    return float((meeting * purity).sum() / n_pairs)


def nmi(labels_true, labels_pred) -> float:
    """Normalised mutual information (arithmetic mean normalisation, scikit-learn)."""
    labels_true = _check_labels(labels_true, "labels_true")
    labels_pred = _check_labels(labels_pred, "labels_pred", labels_true.size)
    return float(normalized_mutual_info_score(labels_true, labels_pred))


def ari(labels_true, labels_pred) -> float:
    """Adjusted Rand index (scikit-learn)."""
    labels_true = _check_labels(labels_true, "labels_true")
    labels_pred = _check_labels(labels_pred, "labels_pred", labels_true.size)
    return float(adjusted_rand_score(labels_true, labels_pred))


def accuracy(labels_true, labels_pred) -> float:
    """Clustering accuracy: the best one-to-one matching of clusters to classes (Hungarian).

    Points in clusters left without a class (more clusters than classes) count as errors.

    Examples
    --------
    >>> accuracy([0, 0, 1, 1], [5, 5, 7, 7])
    1.0
    >>> accuracy([0, 0, 1, 1], [0, 1, 2, 3])
    0.5
    """
    labels_true = _check_labels(labels_true, "labels_true")
    labels_pred = _check_labels(labels_pred, "labels_pred", labels_true.size)
    _, classes = np.unique(labels_true, return_inverse=True)
    _, clusters = np.unique(labels_pred, return_inverse=True)
    table = np.zeros((clusters.max() + 1, classes.max() + 1))
    np.add.at(table, (clusters, classes), 1.0)
    matched_rows, matched_cols = linear_sum_assignment(table, maximize=True)
    return float(table[matched_rows, matched_cols].sum() / labels_true.size)
