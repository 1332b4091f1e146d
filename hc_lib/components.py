"""Hierarchies of disconnected graphs: one tree per connected component, joined at the top.

A graph with several connected components (an isolated node is a component of its own) has a
natural hierarchy: each component's tree, and above them the merges that join the components.
No edge between two nodes runs between components, so none has its lowest common ancestor at a
joining merge: the Dasgupta cost and the tree-sampling divergence do not depend on how the
components are joined. (The one exception is a component of a single node with a self-loop:
a self-loop meets at its leaf's parent, which is then a join.) Restricting a tree to each
component never enlarges the lca cluster of an edge between two nodes, so on a graph without
self-loops some tree that joins the components only at the top has the lowest Dasgupta cost.
With self-loops that can fail: a node with a heavy self-loop pays the size of its parent, and
pairing it with a node of another component (an isolated one, say) makes that parent small.
``tests/test_disconnected.py`` checks these facts against brute force.

**The joining rule** used by every graph linkage of :mod:`hc_lib.baselines.linkage`: the merges inside
the components are kept as the linkage made them, and the components are joined in order of
their lowest node by a chain of binary merges — the first component with the second, the
result with the third, and so on — all at one height ``H``, one unit above the highest merge
inside a component (``H = 1`` if there is none: the only edges are self-loops). The chain
is the binary form of a single k-ary root (:meth:`~hc_lib.trees.Tree.to_linkage` writes a
k-ary node the same way, and contracting the equal-height chain gives that root back), and
scipy's linkage matrix stays valid: heights never decrease and every height is finite.
On a connected graph nothing is added or changed.
"""
from __future__ import annotations

import numpy as np
from scipy.sparse import csgraph

from hc_lib.graphs import as_graph

__all__ = ["component_labels", "join_components"]


def component_labels(adjacency) -> tuple[int, np.ndarray]:
    """Connected components of a graph, numbered in order of their lowest node.

    Parameters
    ----------
    adjacency : sparse or dense adjacency (n x n), or a graph of :mod:`hc_lib.graphs`
        Validated by :func:`hc_lib.graphs.as_graph`; self-loops do not connect anything.

    Returns
    -------
    n_components : int
    labels : ndarray of int64, shape (n,)

    Examples
    --------
    >>> from scipy import sparse
    >>> W = sparse.csr_matrix(np.array([[0, 0, 1], [0, 1, 0], [1, 0, 0]]))
    >>> n_components, labels = component_labels(W)
    >>> n_components, labels.tolist()
    (2, [0, 1, 0])
    """
    n_components, labels = csgraph.connected_components(as_graph(adjacency).to_sparse(), directed=False)
    first = np.full(n_components, labels.size, dtype=np.int64)
    np.minimum.at(first, labels, np.arange(labels.size))
    rank = np.empty(n_components, dtype=np.int64)
    rank[np.argsort(first)] = np.arange(n_components)
    return int(n_components), rank[labels]


def join_components(Z, n: int) -> np.ndarray:
    """Complete a forest of linkage rows into a full linkage matrix by the joining rule.

    Parameters
    ----------
    Z : array_like, shape (n - c, 4)
        Linkage rows of the merges inside the c components (scipy's layout: row i forms
        cluster ``n + i``), heights finite and non-decreasing. May be empty.
    n : int
        Number of leaves.

    Returns
    -------
    ndarray of float64, shape (n - 1, 4)
        ``Z`` followed by ``c - 1`` rows joining the roots of the forest in order of their
        lowest leaf, at height ``H`` (one above the highest row of ``Z``, or 1): see the
        module docstring. ``Z`` itself (as float64) when c = 1.

    Examples
    --------
    >>> Z = np.array([[2.0, 3.0, 0.5, 2.0]])         # leaves 2 and 3 merged; 0 and 1 alone
    >>> join_components(Z, 4)
    array([[2. , 3. , 0.5, 2. ],
           [0. , 1. , 1.5, 2. ],
           [5. , 4. , 1.5, 4. ]])
    """
    Z = np.asarray(Z, dtype=np.float64).reshape(-1, 4)
    n = int(n)
    n_rows = Z.shape[0]
    if n < 2 or n_rows > n - 1:
        raise ValueError(f"a forest over {n} leaves has at most {n - 1} merges and n >= 2, got {n_rows} rows")
    if not np.all(np.isfinite(Z)):
        raise ValueError("linkage rows must be finite (drop the rows of infinite height first)")
    if n_rows == n - 1:
        return Z
    merged = Z[:, :2].astype(np.int64)
    used = np.zeros(n + n_rows, dtype=bool)
    used[merged.ravel()] = True
    roots = np.flatnonzero(~used)
    # lowest leaf and size of every cluster of the forest, built bottom-up
    lowest = np.concatenate([np.arange(n), np.zeros(n_rows, dtype=np.int64)])
    size = np.concatenate([np.ones(n), np.zeros(n_rows)])
    for row, (a, b) in enumerate(merged.tolist()):
        lowest[n + row] = min(lowest[a], lowest[b])
        size[n + row] = size[a] + size[b]
    roots = roots[np.argsort(lowest[roots])]
    height = (Z[:, 2].max() if n_rows else 0.0) + 1.0
    joins = np.empty((roots.size - 1, 4))
    current, count = roots[0], size[roots[0]]
    for k, root in enumerate(roots[1:].tolist()):
        count += size[root]
        joins[k] = (current, root, height, count)
        current = n + n_rows + k
    return np.vstack([Z, joins])
