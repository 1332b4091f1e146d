"""The exact optimum by dynamic programming against brute force over every tree."""
import numpy as np
import pytest

from hc_lib.baselines.optimal import optimal_tree
from hc_lib.eph.enumeration import Enumeration
from hc_lib.eph.probabilistic import parents_to_tree
from hc_lib.metrics import dasgupta_cost, tree_sampling_divergence
from random_graphs import random_graph


@pytest.mark.parametrize("n, seed", [(4, 0), (4, 1), (5, 2), (5, 3)])
@pytest.mark.parametrize("self_loops", [True, False])
def test_optimum_is_the_best_of_every_tree(n, seed, self_loops):
    W = random_graph(n, seed, self_loops=self_loops)
    enumeration = Enumeration(n)
    trees = {}
    rows, cols = enumeration.shape
    for a in range(rows):
        for b in range(cols):
            tree = parents_to_tree(*enumeration.sample(a, b))
            trees[tuple(tree.parent)] = tree              # every pruned tree, each once
    for objective, score, better in (("dasgupta", dasgupta_cost, min), ("tsd", tree_sampling_divergence, max)):
        tree, value = optimal_tree(W, objective)
        assert value == pytest.approx(score(W, tree), rel=1e-12)
        assert value == pytest.approx(better(score(W, t) for t in trees.values()), rel=1e-12)


def test_two_cliques_are_split_first():
    W = np.zeros((6, 6))
    W[:3, :3] = W[3:, 3:] = 1
    np.fill_diagonal(W, 0)
    W[2, 3] = W[3, 2] = 0.1
    tree, _ = optimal_tree(W)
    children = tree.children_of(tree.root)
    assert sorted(sorted(tree.leaves_of(child).tolist()) for child in children) == [[0, 1, 2], [3, 4, 5]]


@pytest.mark.parametrize("W, message", [
    (np.ones((15, 15)), "at most 14 nodes"),
    (np.zeros((3, 3)), "empty"),
    (np.ones((1, 1)), "at least two nodes"),
])
def test_bad_input(W, message):
    with pytest.raises(ValueError, match=message):
        optimal_tree(W)


def test_unknown_objective():
    with pytest.raises(ValueError, match="unknown objective"):
        optimal_tree(random_graph(4, 0), "ward")
