"""A graph with a planted two-level hierarchy, shared by the learned-baseline tests.

Two groups of two sub-blocks each: edges are dense inside a sub-block, of medium density
between the two sub-blocks of a group and sparse across groups (a hierarchical stochastic
block model). A tree recovers the hierarchy exactly when every group and every sub-block is
one of its clusters, that is when the dendrogram purity of both labellings is 1.
"""
import numpy as np

from hc_lib.metrics import dendrogram_purity


def planted_graph(block_size=12, p_in=0.8, p_sibling=0.2, p_out=0.02, seed=0):
    """``(adjacency, groups, blocks)``: a dense 0/1 adjacency and the labels of both levels."""
    rng = np.random.default_rng(seed)
    blocks = np.repeat(np.arange(4), block_size)
    groups = blocks // 2
    probability = np.where(blocks[:, None] == blocks[None, :], p_in,
                           np.where(groups[:, None] == groups[None, :], p_sibling, p_out))
    upper = np.triu(rng.random(probability.shape) < probability, k=1)
    adjacency = (upper | upper.T).astype(float)
    return adjacency, groups, blocks


def recovered(tree, groups, blocks) -> bool:
    """Whether both groups and all four sub-blocks are clusters of the tree."""
    return dendrogram_purity(tree, groups) == 1.0 and dendrogram_purity(tree, blocks) == 1.0


BAD_INPUTS = [
    (np.ones((2, 3)), "square"),
    (np.array([[0.0, -1.0], [-1.0, 0.0]]), "negative"),
    (np.array([[0.0, np.nan], [np.nan, 0.0]]), "NaN"),
    (np.array([[1.0]]), "at least 2 nodes"),
]
