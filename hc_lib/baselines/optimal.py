"""The exact optimum of the Dasgupta cost and of the TSD on a small graph.

Both scores add up over the internal nodes of a tree: a node x that splits its cluster S into
the clusters of its children contributes through ``p(x)``, the edge mass meeting at x, and
``q(x)``, the mass of independent pairs meeting there. So the best tree on S is the best
split of S plus the best trees on its parts: a dynamic programme over the subsets of the
nodes, ``3^n`` operations, exact for up to about 14 nodes. Refining a node never hurts either
score (a binary refinement keeps every Dasgupta term or makes it smaller, and splits p and q
into finer parts, which cannot lower their KL divergence), so the best binary tree is the best
tree of any shape.

As everywhere in the library, a self-loop ``(u, u)`` meets at the parent of leaf u, and so does
the independent pair ``(u, u)`` in q.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from hc_lib.graphs import as_graph
from hc_lib.metrics import mutual_information
from hc_lib.trees import Tree

__all__ = ["optimal_tree", "MAX_NODES"]

MAX_NODES = 14


def optimal_tree(adjacency, objective: str = "dasgupta") -> tuple[Tree, float]:
    """A tree of optimal score and that score (Dasgupta cost: lowest; ``100 TSD / I``: highest).

    Examples
    --------
    >>> W = [[0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]]
    >>> tree, cost = optimal_tree(W)
    >>> cost, sorted(tree.leaves_of(node).tolist() for node in range(4, 7))
    (2.0, [[0, 1], [0, 1, 2, 3], [2, 3]])
    """
    if objective not in ("dasgupta", "tsd"):
        raise ValueError(f"unknown objective {objective!r}; choose 'dasgupta' or 'tsd'")
    graph = as_graph(adjacency)
    n = graph.n_nodes
    if n < 2:
        raise ValueError("a hierarchy needs at least two nodes")
    if n > MAX_NODES:
        raise ValueError(f"the exact optimum takes 3^n steps: at most {MAX_NODES} nodes, got {n}")
    matrix = graph.to_dense()
    p = matrix / matrix.sum()
    degree = p.sum(axis=1)
    members = [np.flatnonzero([(mask >> i) & 1 for i in range(n)]) for mask in range(1 << n)]

    def node_term(left: int, right: int) -> float:
        a, b = members[left], members[right]
        meet = 2.0 * p[np.ix_(a, b)].sum()
        independent = 2.0 * degree[a].sum() * degree[b].sum()
        for part in (a, b):
            if len(part) == 1:                                # a leaf child: its self-pair meets here
                meet += p[part[0], part[0]]
                independent += degree[part[0]] ** 2
        if objective == "dasgupta":
            return (len(a) + len(b)) * meet
        return -(meet * np.log(meet / independent)) if meet > 0 else 0.0

    @lru_cache(maxsize=None)
    def best(mask: int) -> tuple[float, int]:
        if mask & (mask - 1) == 0:                            # a single leaf
            return 0.0, 0
        lowest = mask & -mask                                 # the left part holds the lowest node
        rest = mask ^ lowest
        result = (np.inf, 0)
        sub = rest
        while True:
            left = lowest | sub
            if left != mask:
                right = mask ^ left
                value = node_term(left, right) + best(left)[0] + best(right)[0]
                if value < result[0] - 1e-15:
                    result = (value, left)
            if sub == 0:
                break
            sub = (sub - 1) & rest
        return result

    parent = np.full(2 * n - 1, -1, dtype=np.int64)
    stack, next_id = [((1 << n) - 1, 2 * n - 2)], 2 * n - 3
    while stack:
        mask, node = stack.pop()
        left = best(mask)[1]
        for part in (left, mask ^ left):
            if part & (part - 1) == 0:
                parent[part.bit_length() - 1] = node
            else:
                parent[next_id] = node
                stack.append((part, next_id))
                next_id -= 1
    value = best((1 << n) - 1)[0]
    if objective == "tsd":
        value = -100.0 * value / mutual_information(graph)
    return Tree.from_parent(parent, n_leaves=n), float(value)
