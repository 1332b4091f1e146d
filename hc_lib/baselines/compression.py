"""Compress a hierarchy to a given number of internal nodes by greedy contraction.

The EPH/FPH tables score every baseline tree after shrinking it to the same number ``n'`` of
internal nodes as the learned hierarchies (512 on the larger datasets). A tree is shrunk by
*contracting* internal non-root nodes one at a time: the node disappears and its children
hang from its parent. Each step contracts the node whose removal hurts the score least:

``"dasgupta"``
    Contracting ``x`` into its parent ``y`` moves the edge mass ``p(x)`` (edges whose lowest
    common ancestor is ``x``, :func:`hc_lib.metrics.lca_distribution`) up to ``y``: the
    Dasgupta cost rises by ``p(x) (|y| - |x|)``.
``"tsd"``
    With ``p, q`` of :func:`hc_lib.metrics.tsd_distributions`, the tree-sampling divergence
    loses ``f(x) + f(y) - f(x + y)`` (in nats), ``f(x) = p_x log(p_x / q_x)`` (0 if
    ``p_x = 0``) and ``x + y`` the node holding both masses. The loss is never negative.

``"legacy_dasgupta"``, ``"legacy_tsd"``
    The rules of the official FPH/EPH code, which made the published baseline rows and EPH's
    initial tree. ``"legacy_tsd"`` is ``"tsd"`` with the masses of scikit-network <= 0.24
    (self-loops dropped from ``p``, same-node pairs from ``q``). ``"legacy_dasgupta"`` is
    *not* the Dasgupta increase: every node carries ``p_x`` (self-loops dropped) and a mass
    ``S_x``, first the degree mass of its cluster (a self-loop counted twice); contracting
    ``x`` into ``y`` costs ``p_y S_x + p_x S_y`` and adds both ``p`` and ``S`` into ``y``
    (a greedy on ``sum_x p_x S_x``, a degree-weighted stand-in for the cost).

Ties go to the lowest node index. Every rule is an exact greedy step: after each
contraction the parent's children and the parent itself are re-scored, so each step takes
the best single contraction of the current tree (checked against brute force in
``tests/test_compression.py``). The work is ``O(n log n)`` heap operations plus the sizes of
the touched child lists; a binary tree of 317 080 leaves compresses to 512 internal nodes
in seconds.
"""
from __future__ import annotations

import heapq

import numpy as np

from hc_lib.graphs import as_graph
from hc_lib.metrics import as_tree, lca_distribution, tsd_distributions
from hc_lib.trees import Tree

__all__ = ["OBJECTIVES", "contraction_order", "compress_tree"]

OBJECTIVES = ("dasgupta", "tsd", "legacy_dasgupta", "legacy_tsd")


def _dasgupta_loss(p, q, size, child, parent):
    """Rise of the Dasgupta cost when ``child`` is contracted into ``parent`` (vectorised)."""
    return p[child] * (size[parent] - size[child])


def _plogpq(p, q):
    """``p log(p / q)`` with the convention ``0 log 0 = 0``."""
    positive = p > 0
    return np.where(positive, p * np.log(np.where(positive, p, 1.0) / np.where(positive, q, 1.0)), 0.0)


def _tsd_loss(p, q, size, child, parent):
    """Fall of the TSD (nats) when ``child`` is contracted into ``parent`` (vectorised)."""
    merged = _plogpq(p[child] + p[parent], q[child] + q[parent])
    loss = _plogpq(p[child], q[child]) + _plogpq(p[parent], q[parent]) - merged
    return np.maximum(loss, 0.0)         # joint convexity: rounding is the only way below 0


def _legacy_dasgupta_loss(p, q, size, child, parent):
    """The published stand-in: ``p_parent S_child + p_child S_parent`` (``S`` in ``q``)."""
    return p[parent] * q[child] + p[child] * q[parent]


def _legacy_masses(graph, tree: Tree):
    """``p`` without self-loops and the degree mass of every node (self-loops counted twice)."""
    if graph.is_complete:          # no self-loops, and a closed-form total to normalise by
        return lca_distribution(graph, tree), tree.cluster_sums(graph.degrees / graph.total_weight)
    degree = graph.degrees + graph.to_sparse().diagonal()
    between = graph.without_self_loops()
    p = lca_distribution(between, tree) if between.total_weight > 0 else np.zeros(tree.n_internal)
    return p, tree.cluster_sums(degree / degree.sum())


def _masses(graph, tree: Tree, objective: str):
    """``p``, ``q`` (or None) and the loss function of an objective."""
    if objective.endswith("tsd") and graph.is_complete:
        raise ValueError(f"objective {objective!r} needs an adjacency matrix, not a CosineSimilarityGraph")
    if objective == "dasgupta":
        return lca_distribution(graph, tree), None, _dasgupta_loss
    if objective == "tsd":
        return (*tsd_distributions(graph, tree), _tsd_loss)
    p, mass = _legacy_masses(graph, tree)
    n = tree.n_leaves
    if objective == "legacy_dasgupta":
        return p, mass[n:], _legacy_dasgupta_loss
    squares = mass ** 2                    # q: pairs of distinct children, same-node pairs left out
    q = squares[n:] - np.bincount(tree.parent[:-1], weights=squares[:-1], minlength=tree.n_nodes)[n:]
    return p, q, _tsd_loss


def _check(tree, n_internal, objective) -> Tree:
    tree = as_tree(tree)
    if objective not in OBJECTIVES:
        raise ValueError(f"unknown objective {objective!r}; choose one of {', '.join(OBJECTIVES)}")
    if isinstance(n_internal, bool) or not isinstance(n_internal, (int, np.integer)):
        raise ValueError(f"n_internal must be an integer, got {n_internal!r}")
    if n_internal < 1:
        raise ValueError(f"n_internal must be at least 1 (the root), got {n_internal}")
    return tree


def contraction_order(graph, tree, n_internal: int = 1, objective: str = "dasgupta") -> np.ndarray:
    """Internal nodes in the order the greedy compression contracts them.

    Parameters
    ----------
    graph : sparse or dense adjacency, or a graph of :mod:`hc_lib.graphs`
        The similarity graph the tree is scored on (the TSD rules need a sparse graph, not a
        :class:`~hc_lib.graphs.CosineSimilarityGraph`).
    tree : Tree or linkage matrix
    n_internal : int
        Stop when this many internal nodes are left (1: contract everything but the root).
    objective : {"dasgupta", "tsd", "legacy_dasgupta", "legacy_tsd"}
        See the module docstring.

    Returns
    -------
    ndarray of int64, shape (max(tree.n_internal - n_internal, 0),)
        Node indices of ``tree``; ``tree.contract(order[:k])`` is the greedy tree after
        ``k`` steps.

    Examples
    --------
    >>> import numpy as np
    >>> W = np.ones((4, 4)) - np.eye(4)
    >>> W[0, 1] = W[1, 0] = 5.0                              # 0 and 1 belong together
    >>> tree = Tree.from_parent([4, 4, 5, 5, 6, 6, -1])     # ((0, 1), (2, 3))
    >>> contraction_order(W, tree).tolist()                  # (2, 3) goes first
    [5, 4]
    """
    tree = _check(tree, n_internal, objective)
    if tree.n_internal <= n_internal:
        return np.zeros(0, dtype=np.int64)
    p, q, loss = _masses(as_graph(graph), tree, objective)
    return _greedy_order(tree, n_internal, loss, p, q)


def _greedy_order(tree: Tree, n_internal: int, loss, p, q=None) -> np.ndarray:
    """Greedy contraction order for a pairwise ``loss(p, q, size, child, parent)``.

    ``p`` and ``q`` (or None) are per-internal-node masses that add up on contraction.
    """
    n, m = tree.n_leaves, tree.n_internal
    p = np.array(p, dtype=np.float64)
    q = None if q is None else np.array(q, dtype=np.float64)
    size = tree.sizes[n:].astype(np.float64)
    # internal nodes only, numbered 0..m-1 (root m-1); leaves are never contracted
    up = tree.parent[n:] - n
    up[-1] = -1
    child = np.arange(m - 1)
    by_parent = np.argsort(up[:-1], kind="stable")
    bounds = np.searchsorted(up[:-1][by_parent], np.arange(m + 1))
    children = [by_parent[bounds[y]:bounds[y + 1]] for y in range(m)]
    version = np.zeros(m, dtype=np.int64)

    # the best child of every parent (lowest loss, then lowest index) seeds the heap
    first_loss = loss(p, q, size, child, up[:-1])
    ranked = np.lexsort((child, first_loss, up[:-1]))
    leading = ranked[np.r_[True, up[:-1][ranked[1:]] != up[:-1][ranked[:-1]]]]
    heap = [(float(first_loss[c]), int(c), int(up[c]), 0) for c in leading.tolist()]
    heapq.heapify(heap)

    def refresh(y: int) -> None:
        version[y] += 1
        kids = children[y]
        if kids.size == 0:
            return
        losses = loss(p, q, size, kids, y)
        best = losses.min()
        heapq.heappush(heap, (float(best), int(kids[losses == best].min()), y, int(version[y])))

    order = np.empty(m - n_internal, dtype=np.int64)
    for step in range(order.size):
        while True:
            _, x, y, stamp = heapq.heappop(heap)
            if stamp == version[y]:
                break
        kids = children[x]
        up[kids] = y
        siblings = children[y]
        children[y] = np.concatenate([siblings[siblings != x], kids])
        children[x] = kids[:0]
        version[x] += 1                       # x's own entry (as a parent) is dead
        p[y] += p[x]
        if q is not None:
            q[y] += q[x]
        order[step] = x + n
        refresh(y)
        if up[y] >= 0:
            refresh(int(up[y]))
    return order


def compress_tree(graph, tree, n_internal: int, objective: str = "dasgupta") -> Tree:
    """The tree with ``n_internal`` internal nodes left after greedy contraction.

    Parameters
    ----------
    graph : sparse or dense adjacency, or a graph of :mod:`hc_lib.graphs`
        The TSD rules need a sparse graph, not a :class:`~hc_lib.graphs.CosineSimilarityGraph`.
    tree : Tree or linkage matrix
    n_internal : int
        Number of internal nodes wanted (root included), at least 1. A tree that already
        has no more is returned unchanged.
    objective : {"dasgupta", "tsd", "legacy_dasgupta", "legacy_tsd"}
        Contract the node whose removal raises the Dasgupta cost least, or lowers the
        tree-sampling divergence least; the ``legacy_`` rules are those of the published
        baseline rows (module docstring).

    Returns
    -------
    Tree
        Its clusters are a subset of the original's; heights are kept.

    Examples
    --------
    >>> from hc_lib.metrics import dasgupta_cost
    >>> from hc_lib.trees import random_tree
    >>> W = np.ones((6, 6)) - np.eye(6)
    >>> tree = random_tree(6, random_state=0)
    >>> small = compress_tree(W, tree, 2)
    >>> small.n_internal
    2
    >>> bool(dasgupta_cost(W, small) >= dasgupta_cost(W, tree))
    True
    """
    tree = _check(tree, n_internal, objective)
    if tree.n_internal <= n_internal:
        return tree
    return tree.contract(contraction_order(as_graph(graph), tree, n_internal, objective))
