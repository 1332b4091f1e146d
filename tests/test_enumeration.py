"""Exhaustive enumeration of small probabilistic hierarchies: counts, exact scores against the
library's sampled-tree scores and tree scores, topologies, probabilities, the ST estimate."""
import numpy as np
import pytest
import torch
from scipy import sparse

from hc_lib.eph.enumeration import Enumeration, parent_assignments, straight_through_estimate
from hc_lib.eph.expected import SampledTree, score_and_gradients
from hc_lib.eph.pairs import SparsePairs
from hc_lib.eph.probabilistic import ProbabilisticHierarchy, parents_to_tree
from hc_lib.metrics import dasgupta_cost, mutual_information


@pytest.fixture(scope="module")
def graph():
    """Five nodes, two weighted communities {0, 1, 2} and {3, 4}, no self-loops."""
    W = np.zeros((5, 5))
    for u, v, w in [(0, 1, 3), (0, 2, 2), (1, 2, 3), (3, 4, 4), (2, 3, 1)]:
        W[u, v] = W[v, u] = w
    return W


@pytest.fixture(scope="module")
def enum5():
    return Enumeration(5)


@pytest.mark.parametrize("n_leaves, n_internal", [(2, 1), (3, 2), (4, 3), (5, 4), (4, 2)])
def test_parent_assignment_counts(n_leaves, n_internal):
    leaf_parents, internal_parents = parent_assignments(n_leaves, n_internal)
    assert leaf_parents.shape == (n_internal ** n_leaves, n_leaves)
    assert internal_parents.shape == (int(np.prod(np.arange(1, n_internal))), n_internal)
    assert len({tuple(row) for row in leaf_parents}) == len(leaf_parents)
    assert np.all(internal_parents[:, -1] == n_internal - 1)
    assert np.all(internal_parents[:, :-1] > np.arange(n_internal - 1))


@pytest.mark.parametrize("n_leaves, expected", [(2, 1), (3, 4), (4, 26), (5, 236)])
def test_every_hierarchy_appears_once(n_leaves, expected):
    # series-reduced rooted trees with labelled leaves (OEIS A000311): 1, 4, 26, 236
    assert Enumeration(n_leaves).n_topologies == expected


def test_too_many_assignments_are_refused():
    with pytest.raises(ValueError, match="too many"):
        parent_assignments(9, 8)


@pytest.mark.parametrize("objective", ["dasgupta", "tsd"])
def test_scores_match_the_sampled_tree_scores(graph, enum5, objective):
    scores = enum5.scores(graph, objective)
    pairs = SparsePairs.from_adjacency(sparse.csr_matrix(graph))
    info = mutual_information(graph)
    rng = np.random.default_rng(0)
    for a, b in zip(rng.integers(enum5.shape[0], size=60), rng.integers(enum5.shape[1], size=60)):
        loss, _, _ = score_and_gradients(pairs, SampledTree(*enum5.sample(a, b)), objective,
                                         mutual_information=info, gradients=False)
        expected = float(loss) if objective == "dasgupta" else -float(loss)
        assert scores[a, b] == pytest.approx(expected, abs=1e-10)


def test_dasgupta_scores_are_the_pruned_trees_without_self_loops(graph, enum5):
    scores = enum5.scores(graph)
    rng = np.random.default_rng(1)
    for a, b in zip(rng.integers(enum5.shape[0], size=60), rng.integers(enum5.shape[1], size=60)):
        assert scores[a, b] == pytest.approx(dasgupta_cost(graph, parents_to_tree(*enum5.sample(a, b))))


def test_topologies_are_the_clusters_of_the_pruned_trees(enum5):
    rng = np.random.default_rng(2)
    for a, b in zip(rng.integers(enum5.shape[0], size=100), rng.integers(enum5.shape[1], size=100)):
        tree = parents_to_tree(*enum5.sample(a, b))
        clusters = frozenset(frozenset(tree.leaves_of(x).tolist()) for x in range(tree.n_leaves, tree.n_nodes))
        assert enum5.topologies[enum5.topology_ids[a, b]] == clusters


def test_probabilities_and_expectations(graph, enum5):
    hierarchy = ProbabilisticHierarchy.random(5, 4, generator=torch.Generator().manual_seed(0))
    prob_a, prob_b = enum5.probabilities(hierarchy.A, hierarchy.B)
    assert float(prob_a.sum()) == pytest.approx(1.0)
    assert float(prob_b.sum()) == pytest.approx(1.0)
    assert enum5.topology_probabilities(hierarchy.A, hierarchy.B).sum() == pytest.approx(1.0)
    scores = enum5.scores(graph)
    A, B = enum5.one_hot(17, 3)
    assert float(enum5.expectation(A, B, scores)) == pytest.approx(scores[17, 3])
    # the expectation is affine in every row: halfway along one row is the mean of the ends
    A2 = A.clone()
    A2[0] = torch.roll(A[0], 1)
    middle = float(enum5.expectation((A + A2) / 2, B, scores))
    ends = float(enum5.expectation(A, B, scores)) + float(enum5.expectation(A2, B, scores))
    assert middle == pytest.approx(ends / 2)
    with pytest.raises(ValueError, match="must be"):
        enum5.probabilities(A[:, :3], B)


def test_straight_through_estimate_averages_single_samples(graph):
    pairs = SparsePairs.from_adjacency(sparse.csr_matrix(graph))
    hierarchy = ProbabilisticHierarchy.random(5, 4, generator=torch.Generator().manual_seed(3))
    loss, grad_A, grad_B = straight_through_estimate(hierarchy.A, hierarchy.B, pairs, n_samples=4,
                                                     generator=torch.Generator().manual_seed(5))
    generator = torch.Generator().manual_seed(5)
    singles = [straight_through_estimate(hierarchy.A, hierarchy.B, pairs, n_samples=1, generator=generator)
               for _ in range(4)]
    assert loss == pytest.approx(np.mean([s[0] for s in singles]))
    torch.testing.assert_close(grad_A, sum(s[1] for s in singles) / 4)
    torch.testing.assert_close(grad_B, sum(s[2] for s in singles) / 4)
