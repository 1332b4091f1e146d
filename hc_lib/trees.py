"""One tree type for every hierarchy in the book.

A :class:`Tree` over ``n`` leaves is a parent array over ``n`` leaves (nodes ``0..n-1``)
and ``m`` internal nodes (``n..n+m-1``), numbered so that every parent has a larger index
than its children; the root is the last node. Internal nodes may have any number (>= 2) of
children. Trees cross every boundary of the library: learners return them, scores read
them, and scipy's linkage matrix ``Z`` is the exchange format (non-binary nodes become
chains of merges at equal height).

Whole-tree queries are vectorised: a depth-first leaf order turns every cluster into a
contiguous range of leaves (so cluster sums are prefix-sum differences), and binary lifting
answers lowest common ancestors for millions of pairs at once.
"""
from __future__ import annotations

from functools import cached_property

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components

__all__ = ["Tree", "random_tree"]


def _path_sums(up: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, bool]:
    """Sum of ``values`` over each node and its ancestors, by pointer jumping.

    ``up`` maps each node to its parent and the root to itself (whose value must be 0).
    Returns the sums and whether every node reached the root (False means a cycle).
    """
    sums = values.copy()
    jump = up.copy()
    for _ in range(int(np.ceil(np.log2(len(up) + 1))) + 1):
        sums = sums + sums[jump]
        jump = jump[jump]
    return sums, bool(np.all(up[jump] == jump))


class Tree:
    """A rooted hierarchy over ``n_leaves`` leaves.

    Build one with :meth:`from_parent`, :meth:`from_linkage` or :func:`random_tree`.

    Attributes
    ----------
    parent : ndarray of int64, shape (n_nodes,)
        Parent of every node, ``-1`` for the root (the last node).
    n_leaves : int
    heights : ndarray of float64, shape (n_internal,)
        Height of every internal node (non-decreasing towards the root). Defaults to the
        number of edges on the longest path down to a leaf.

    Examples
    --------
    >>> tree = Tree.from_parent([3, 3, 4, 4, -1])   # ((0, 1), 2)
    >>> tree.n_leaves, tree.n_internal
    (3, 2)
    >>> tree.sizes.tolist()
    [1, 1, 1, 2, 3]
    >>> tree.lca([0, 0], [1, 2]).tolist()
    [3, 4]
    >>> tree.to_linkage()
    array([[0., 1., 1., 2.],
           [2., 3., 2., 3.]])
    """

    def __init__(self, parent: np.ndarray, n_leaves: int, heights: np.ndarray | None = None):
        self.parent = parent
        self.n_leaves = int(n_leaves)
        self._given_heights = heights

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_parent(cls, parent, n_leaves: int | None = None, heights=None, *,
                    prune: bool = False) -> "Tree":
        """Tree from a parent array (``-1`` marks the root).

        Parameters
        ----------
        parent : array_like of int, shape (n_nodes,)
            Leaves are the nodes ``0..n_leaves-1``. Internal nodes may come in any order;
            they are renumbered so that parents follow children (a no-op when they already do).
        n_leaves : int, optional
            Defaults to the number of nodes without children.
        heights : array_like of float, optional
            One per internal node (in the given numbering).
        prune : bool
            Remove internal nodes without leaves below them and splice out internal nodes
            with a single child (as for the argmax tree of a probabilistic hierarchy).
            Without it, such nodes raise ``ValueError``.
        """
        array = np.asarray(parent)
        if array.ndim != 1 or array.size < 2:
            raise ValueError(f"parent must be a 1-d array with at least 2 nodes, got shape {array.shape}")
        if not np.issubdtype(array.dtype, np.integer):
            if not np.all(np.equal(np.mod(array, 1), 0)):
                raise ValueError("parent must hold integer node indices")
        parent = array.astype(np.int64)
        n_nodes = parent.size
        if parent.min() < -1 or parent.max() >= n_nodes:
            raise ValueError(f"parent indices must lie in [-1, {n_nodes - 1}]")
        roots = np.flatnonzero(parent == -1)
        if roots.size != 1:
            raise ValueError(f"a tree has exactly one root (parent -1); found {roots.size}: {roots[:5].tolist()}")
        if np.any(parent == np.arange(n_nodes)):
            raise ValueError(f"node {int(np.flatnonzero(parent == np.arange(n_nodes))[0])} is its own parent")
        n_children = np.bincount(parent[parent >= 0], minlength=n_nodes)
        if n_leaves is None:
            n_leaves = int(np.argmax(n_children > 0)) if np.any(n_children > 0) else 0
        n_leaves = int(n_leaves)
        if n_leaves < 2 or n_leaves >= n_nodes:
            raise ValueError(f"n_leaves must be in [2, {n_nodes - 1}], got {n_leaves}")
        if np.any(n_children[:n_leaves] > 0):
            raise ValueError(f"leaf {int(np.argmax(n_children[:n_leaves] > 0))} has children")
        up = np.where(parent < 0, roots[0], parent)
        depth, acyclic = _path_sums(up, (parent >= 0).astype(np.int64))
        if not acyclic:
            raise ValueError("parent array has a cycle: some nodes never reach the root")
        if heights is not None:
            heights = np.asarray(heights, dtype=np.float64)
            if heights.shape != (n_nodes - n_leaves,):
                raise ValueError(f"heights must have one entry per internal node ({n_nodes - n_leaves}), "
                                 f"got shape {heights.shape}")
            if not np.all(np.isfinite(heights)):
                raise ValueError("heights must be finite")
        if prune:
            parent, heights = _prune(parent, n_leaves, heights)
            return cls.from_parent(parent, n_leaves, heights)
        internal = np.arange(n_leaves, n_nodes)
        childless = internal[n_children[n_leaves:] == 0]
        if childless.size:
            raise ValueError(f"internal node {int(childless[0])} has no children (use prune=True)")
        unary = internal[n_children[n_leaves:] == 1]
        if unary.size:
            raise ValueError(f"internal node {int(unary[0])} has a single child (use prune=True)")
        nonroot = parent >= 0
        if roots[0] != n_nodes - 1 or np.any(parent[nonroot] <= np.flatnonzero(nonroot)):
            order = n_leaves + np.argsort(-depth[n_leaves:], kind="stable")
            new_index = np.empty(n_nodes, dtype=np.int64)
            new_index[:n_leaves] = np.arange(n_leaves)
            new_index[order] = np.arange(n_leaves, n_nodes)
            relabelled = np.full(n_nodes, -1, dtype=np.int64)
            relabelled[new_index[nonroot]] = new_index[parent[nonroot]]
            parent = relabelled
            if heights is not None:
                heights = heights[order - n_leaves]
        if heights is not None:
            child = np.flatnonzero((parent >= 0) & (np.arange(n_nodes) >= n_leaves))
            if np.any(heights[parent[child] - n_leaves] < heights[child - n_leaves]):
                raise ValueError("heights must not decrease from a child to its parent")
        return cls(parent, n_leaves, heights)

    @classmethod
    def from_linkage(cls, Z) -> "Tree":
        """Tree from a scipy linkage matrix (binary; heights from ``Z[:, 2]``).

        Examples
        --------
        >>> import numpy as np
        >>> from scipy.cluster.hierarchy import linkage
        >>> Z = linkage(np.array([[0.0], [0.1], [1.0], [1.2]]), "average")
        >>> Tree.from_linkage(Z).parent.tolist()
        [4, 4, 5, 5, 6, 6, -1]
        """
        Z = np.asarray(Z)
        if Z.dtype.kind != "f":
            raise ValueError(f"linkage matrix Z must be a float array, got dtype {Z.dtype}")
        if Z.ndim != 2 or Z.shape[1] != 4 or Z.shape[0] < 1:
            raise ValueError(f"linkage matrix Z must have shape (n - 1, 4), got {Z.shape}")
        if not np.all(np.isfinite(Z)):
            raise ValueError("linkage matrix Z has NaN or infinite entries")
        n = Z.shape[0] + 1
        merged = Z[:, :2]
        if np.any(merged != np.round(merged)) or merged.min() < 0:
            raise ValueError("linkage matrix Z: columns 0 and 1 must be non-negative cluster indices")
        merged = merged.astype(np.int64)
        if np.any(merged >= n + np.arange(n - 1)[:, None]):
            raise ValueError("linkage matrix Z uses a cluster before the row that forms it")
        if np.any(np.bincount(merged.ravel(), minlength=2 * n - 1)[:-1] != 1):
            raise ValueError("linkage matrix Z must use every cluster exactly once")
        parent = np.full(2 * n - 1, -1, dtype=np.int64)
        parent[merged[:, 0]] = parent[merged[:, 1]] = n + np.arange(n - 1)
        tree = cls(parent, n, Z[:, 2].astype(np.float64))
        if np.any(tree.sizes[n:] != Z[:, 3]):
            raise ValueError("linkage matrix Z: column 3 must give the number of leaves of each cluster")
        return tree

    # ------------------------------------------------------------------ basic facts
    @property
    def n_nodes(self) -> int:
        return self.parent.size

    @property
    def n_internal(self) -> int:
        return self.n_nodes - self.n_leaves

    @property
    def root(self) -> int:
        return self.n_nodes - 1

    @cached_property
    def n_children(self) -> np.ndarray:
        return np.bincount(self.parent[:-1], minlength=self.n_nodes)

    @property
    def is_binary(self) -> bool:
        return bool(np.all(self.n_children[self.n_leaves:] == 2))

    @cached_property
    def children(self) -> tuple[np.ndarray, np.ndarray]:
        """Children of every node in CSR form ``(indptr, index)``, ascending within a node."""
        index = np.argsort(self.parent[:-1], kind="stable")
        indptr = np.concatenate([[0], np.cumsum(self.n_children)])
        return indptr, index

    def children_of(self, node: int) -> np.ndarray:
        indptr, index = self.children
        return index[indptr[node]:indptr[node + 1]]

    @cached_property
    def sizes(self) -> np.ndarray:
        """Number of leaves below every node (1 for a leaf)."""
        size = [1] * self.n_leaves + [0] * self.n_internal
        for node, par in enumerate(self.parent[:-1].tolist()):
            size[par] += size[node]
        return np.asarray(size, dtype=np.int64)

    @cached_property
    def heights(self) -> np.ndarray:
        if self._given_heights is not None:
            return self._given_heights
        level = [0] * self.n_nodes
        for node, par in enumerate(self.parent[:-1].tolist()):
            if level[node] + 1 > level[par]:
                level[par] = level[node] + 1
        return np.asarray(level[self.n_leaves:], dtype=np.float64)

    @cached_property
    def _up(self) -> np.ndarray:
        up = self.parent.copy()
        up[-1] = self.root
        return up

    @cached_property
    def depth(self) -> np.ndarray:
        """Number of edges from every node to the root."""
        return _path_sums(self._up, (self.parent >= 0).astype(np.int64))[0]

    @cached_property
    def offsets(self) -> np.ndarray:
        """Position of every node's first leaf in :attr:`leaf_order`."""
        indptr, index = self.children
        sizes = self.sizes[index]
        before = np.cumsum(sizes) - sizes                  # leaves of earlier children, globally
        first = np.repeat(before[indptr[:-1]], self.n_children)
        relative = np.zeros(self.n_nodes, dtype=np.int64)
        relative[index] = before - first
        return _path_sums(self._up, relative)[0]

    @cached_property
    def leaf_order(self) -> np.ndarray:
        """Leaves in depth-first order: every cluster is a contiguous slice of it."""
        order = np.empty(self.n_leaves, dtype=np.int64)
        order[self.offsets[: self.n_leaves]] = np.arange(self.n_leaves)
        return order

    def leaves_of(self, node: int) -> np.ndarray:
        start = self.offsets[node]
        return np.sort(self.leaf_order[start:start + self.sizes[node]])

    def cluster_sums(self, values) -> np.ndarray:
        """Sum of a per-leaf quantity over every node's cluster.

        Parameters
        ----------
        values : array_like, shape (n_leaves, ...)

        Returns
        -------
        ndarray, shape (n_nodes, ...)
        """
        values = np.asarray(values)
        if values.shape[:1] != (self.n_leaves,):
            raise ValueError(f"values must have {self.n_leaves} rows, got shape {values.shape}")
        prefix = np.zeros((self.n_leaves + 1,) + values.shape[1:], dtype=np.result_type(values, np.float64))
        np.cumsum(values[self.leaf_order], axis=0, out=prefix[1:])
        return prefix[self.offsets + self.sizes] - prefix[self.offsets]

    # ------------------------------------------------------------------ lowest common ancestors
    @cached_property
    def _lifting(self) -> list[np.ndarray]:
        table = [self._up.astype(np.int32 if self.n_nodes < 2 ** 31 else np.int64)]
        for _ in range(max(1, int(np.ceil(np.log2(self.depth.max() + 1))))):
            table.append(table[-1][table[-1]])
        return table

    def lca(self, u, v) -> np.ndarray:
        """Lowest common ancestors of the node pairs ``(u[i], v[i])``, vectorised.

        ``lca(x, x) = x``; a node is its own ancestor.
        """
        u = np.asarray(u, dtype=np.int64)
        v = np.asarray(v, dtype=np.int64)
        u, v = np.broadcast_arrays(u, v)
        if u.size and (min(u.min(), v.min()) < 0 or max(u.max(), v.max()) >= self.n_nodes):
            raise ValueError(f"node indices must lie in [0, {self.n_nodes - 1}]")
        start, stop = self.offsets, self.offsets + self.sizes
        v_start, v_stop = start[v], stop[v]

        def contains(node):
            return (start[node] <= v_start) & (v_stop <= stop[node])

        node = u.copy()
        for jump in reversed(self._lifting):
            ancestor = jump[node]
            node = np.where(contains(ancestor), node, ancestor)
        return np.where(contains(u), u, self._lifting[0][node]).astype(np.int64)

    # ------------------------------------------------------------------ conversions
    def to_linkage(self) -> np.ndarray:
        """scipy linkage matrix; a node with k children becomes k - 1 merges at its height.

        Rows are ordered by height (ties by node index), so ``Z[:, 2]`` is non-decreasing
        whenever heights never decrease towards the root.
        """
        n = self.n_leaves
        internal_child = np.flatnonzero(np.arange(self.n_nodes - 1) >= n)
        monotone = np.all(self.heights[self.parent[internal_child] - n] >= self.heights[internal_child - n])
        if monotone:
            order = n + np.lexsort((np.arange(self.n_internal), self.heights))
        else:   # e.g. centroid linkage inversions: keep the (topological) node order
            order = np.arange(n, self.n_nodes)
        indptr, index = self.children
        cluster_id = np.arange(self.n_nodes, dtype=np.int64)
        rows = []
        sizes = self.sizes
        for node in order.tolist():
            kids = index[indptr[node]:indptr[node + 1]]
            current, count = cluster_id[kids[0]], sizes[kids[0]]
            height = self.heights[node - n]
            for kid in kids[1:].tolist():
                count += sizes[kid]
                rows.append((current, cluster_id[kid], height, count))
                current = n + len(rows) - 1
            cluster_id[node] = current
        return np.asarray(rows, dtype=np.float64)

    def to_networkx(self):
        """A ``networkx.DiGraph`` with edges parent -> child and node attributes
        ``size`` (number of leaves) and ``height`` (internal nodes)."""
        import networkx as nx

        graph = nx.DiGraph()
        sizes = self.sizes.tolist()
        for node in range(self.n_nodes):
            attributes = {"size": sizes[node]}
            if node >= self.n_leaves:
                attributes["height"] = float(self.heights[node - self.n_leaves])
            graph.add_node(node, **attributes)
        child = np.arange(self.n_nodes - 1)
        graph.add_edges_from(zip(self.parent[:-1].tolist(), child.tolist()))
        return graph

    def contract(self, nodes) -> "Tree":
        """The tree with the given internal nodes removed; their children move up to
        the nearest remaining ancestor. The root cannot be removed."""
        remove = np.zeros(self.n_nodes, dtype=bool)
        remove[np.asarray(nodes, dtype=np.int64)] = True
        if remove[: self.n_leaves].any() or remove[self.root]:
            raise ValueError("only internal non-root nodes can be contracted")
        skip = np.where(remove, self._up, np.arange(self.n_nodes))
        for _ in range(int(np.ceil(np.log2(self.n_nodes + 1))) + 1):
            skip = skip[skip]
        keep = np.flatnonzero(~remove)
        new_index = np.cumsum(~remove) - 1
        parent = np.full(keep.size, -1, dtype=np.int64)
        parent[:-1] = new_index[skip[self.parent[keep[:-1]]]]
        heights = self.heights[keep[self.n_leaves:] - self.n_leaves]
        return Tree(parent, self.n_leaves, heights if self._given_heights is not None else None)

    def cut(self, n_clusters: int) -> np.ndarray:
        """Flat clustering into ``n_clusters`` clusters by undoing the last merges.

        Non-binary nodes are split as their binarised chains are (children in index order).
        Labels are numbered in leaf order.
        """
        n = self.n_leaves
        if not 1 <= n_clusters <= n:
            raise ValueError(f"n_clusters must be in [1, {n}], got {n_clusters}")
        Z = self.to_linkage()[: n - n_clusters]
        k = Z.shape[0]
        ends = np.concatenate([Z[:, 0], Z[:, 1]]).astype(np.int64)
        new = np.tile(n + np.arange(k), 2)
        graph = sparse.coo_matrix((np.ones(2 * k), (ends, new)), shape=(2 * n - 1, 2 * n - 1))
        _, component = connected_components(graph, directed=False)
        _, labels = np.unique(component[:n], return_inverse=True)
        first_seen = np.full(n_clusters, n)
        np.minimum.at(first_seen, labels, self.offsets[:n])
        rank = np.argsort(np.argsort(first_seen))
        return rank[labels]

    def __repr__(self) -> str:
        kind = "binary" if self.is_binary else "non-binary"
        return f"Tree(n_leaves={self.n_leaves}, n_internal={self.n_internal}, {kind})"


def _prune(parent: np.ndarray, n_leaves: int, heights):
    """Drop internal nodes without leaves below them and splice out single-child nodes."""
    n_nodes = parent.size
    has_leaf = np.zeros(n_nodes, dtype=bool)
    has_leaf[:n_leaves] = True
    order = np.argsort(_path_sums(np.where(parent < 0, np.flatnonzero(parent < 0)[0], parent),
                                  (parent >= 0).astype(np.int64))[0])[::-1]
    for node in order.tolist():                       # deepest first
        if has_leaf[node] and parent[node] >= 0:
            has_leaf[parent[node]] = True
    kept_children = np.bincount(parent[has_leaf & (parent >= 0)], minlength=n_nodes)
    drop = ~has_leaf | ((np.arange(n_nodes) >= n_leaves) & (kept_children == 1))
    sentinel = n_nodes
    up = np.append(np.where(parent < 0, sentinel, parent), sentinel)
    skip = np.where(np.append(drop, False), up, np.arange(n_nodes + 1))
    for _ in range(int(np.ceil(np.log2(n_nodes + 2))) + 1):
        skip = skip[skip]
    keep = np.flatnonzero(~drop)
    new_index = np.append(np.cumsum(~drop) - 1, -1)
    new_parent = new_index[skip[up[keep]]]
    if heights is not None:
        heights = heights[keep[keep >= n_leaves] - n_leaves]
    return new_parent, heights


def random_tree(n_leaves: int, *, binary: bool = True, random_state=None) -> Tree:
    """A random hierarchy: random pairwise merges, then (if not ``binary``) a random
    half of the internal non-root nodes contracted.

    Examples
    --------
    >>> tree = random_tree(6, random_state=0)
    >>> tree.n_leaves, tree.is_binary
    (6, True)
    """
    if n_leaves < 2:
        raise ValueError(f"n_leaves must be at least 2, got {n_leaves}")
    rng = np.random.default_rng(random_state)
    parent = np.full(2 * n_leaves - 1, -1, dtype=np.int64)
    active = list(range(n_leaves))
    for new in range(n_leaves, 2 * n_leaves - 1):
        first, second = sorted(rng.choice(len(active), size=2, replace=False), reverse=True)
        parent[active.pop(first)] = new
        parent[active.pop(second)] = new
        active.append(new)
    tree = Tree(parent, n_leaves, np.arange(1, n_leaves, dtype=np.float64))
    if not binary and n_leaves > 2:
        candidates = np.arange(n_leaves, 2 * n_leaves - 2)
        tree = tree.contract(rng.choice(candidates, size=candidates.size // 2, replace=False))
    return tree
