"""Greedy compression: every step against brute force over all single contractions."""
import numpy as np
import pytest

from hc_lib.baselines.compression import OBJECTIVES, compress_tree, contraction_order
from hc_lib.datasets import similarity_graph
from hc_lib.metrics import dasgupta_cost, lca_distribution, tree_sampling_divergence
from hc_lib.trees import Tree, random_tree


def random_graph(n, seed):
    rng = np.random.default_rng(seed)
    W = rng.random((n, n)) * (rng.random((n, n)) < 0.5)
    W = W + W.T                                   # self-loops included
    W[0, 1] = W[1, 0] = 1.0
    return W


def clusters(tree):
    return {frozenset(tree.leaves_of(x).tolist()) for x in range(tree.n_leaves, tree.n_nodes)}


def plogpq(p, q):
    return sum(a * np.log(a / b) for a, b in zip(p, q) if a > 0)


def legacy_score(W, tree, removed, objective):
    """The published stand-ins, from their definition: masses of the original nodes are
    pooled into the nearest surviving ancestor."""
    n = tree.n_leaves
    loops = np.diag(W)
    p = lca_distribution(W - np.diag(loops), tree)
    degree = W.sum(axis=1) + loops
    mass = tree.cluster_sums(degree / degree.sum())
    gone = set(removed)
    pooled_p, pooled_s, pooled_q = {}, {}, {}
    for x in range(n, tree.n_nodes):
        home = x
        while home in gone:
            home = int(tree.parent[home])
        children = tree.children_of(x)
        pooled_p[home] = pooled_p.get(home, 0.0) + p[x - n]
        pooled_s[home] = pooled_s.get(home, 0.0) + mass[x]
        pooled_q[home] = pooled_q.get(home, 0.0) + mass[x] ** 2 - np.sum(mass[children] ** 2)
    if objective == "legacy_dasgupta":
        return sum(pooled_p[x] * pooled_s[x] for x in pooled_p)
    keys = sorted(pooled_p)
    return plogpq([pooled_p[x] for x in keys], [pooled_q[x] for x in keys])


def brute_score(W, tree, removed, objective):
    """Lower is better for every objective."""
    if objective.startswith("legacy"):
        value = legacy_score(W, tree, removed, objective)
        return value if objective == "legacy_dasgupta" else -value
    contracted = tree.contract(list(removed))
    if objective == "dasgupta":
        return dasgupta_cost(W, contracted)
    return -tree_sampling_divergence(W, contracted, normalized=False)


@pytest.mark.parametrize("objective", OBJECTIVES)
@pytest.mark.parametrize("n, seed, binary", [(10, 0, True), (13, 1, True), (15, 2, False), (12, 3, True)])
def test_every_greedy_step_is_the_best_single_contraction(objective, n, seed, binary):
    W = random_graph(n, seed)
    tree = random_tree(n, binary=binary, random_state=seed)
    order = contraction_order(W, tree, 1, objective).tolist()
    assert len(order) == tree.n_internal - 1 and len(set(order)) == len(order)
    internal = range(n, tree.n_nodes - 1)
    previous = brute_score(W, tree, [], objective)
    for step, chosen in enumerate(order):
        removed = order[:step]
        candidates = [x for x in internal if x not in removed]
        scores = {x: brute_score(W, tree, removed + [x], objective) for x in candidates}
        best = min(scores.values())
        assert scores[chosen] == pytest.approx(best, rel=1e-9, abs=1e-12), (step, chosen)
        assert scores[chosen] >= previous - 1e-12        # Dasgupta never falls, TSD never rises
        previous = scores[chosen]


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_result_is_a_coarser_valid_tree(objective):
    W = random_graph(40, 7)
    tree = random_tree(40, random_state=7)
    for n_internal in (1, 5, 20, 38):
        small = compress_tree(W, tree, n_internal, objective)
        assert small.n_internal == n_internal
        Tree.from_parent(small.parent, small.n_leaves)          # validates
        assert clusters(small) <= clusters(tree)
        assert np.all(np.diff(small.to_linkage()[:, 2]) >= 0)   # heights kept, still monotone
    assert compress_tree(W, tree, 39, objective) is tree
    assert compress_tree(W, tree, 100, objective) is tree


def test_order_prefix_is_the_compression_and_scores_move_one_way():
    W = random_graph(30, 4)
    tree = random_tree(30, binary=False, random_state=4)
    order = contraction_order(W, tree, 3, "dasgupta")
    assert order.size == tree.n_internal - 3
    assert clusters(compress_tree(W, tree, 3)) == clusters(tree.contract(order))
    costs = [dasgupta_cost(W, tree.contract(order[:k])) for k in range(order.size + 1)]
    assert np.all(np.diff(costs) >= -1e-12)
    order = contraction_order(W, tree, 3, "tsd")
    values = [tree_sampling_divergence(W, tree.contract(order[:k])) for k in range(order.size + 1)]
    assert np.all(np.diff(values) <= 1e-12)


def test_similarity_graph_gives_the_dense_graph_order():
    X = np.random.default_rng(5).normal(size=(30, 4))
    graph = similarity_graph(X)
    tree = random_tree(30, random_state=5)
    for objective in ("dasgupta", "legacy_dasgupta"):
        assert np.array_equal(contraction_order(graph, tree, 4, objective),
                              contraction_order(graph.to_dense(), tree, 4, objective))
    with pytest.raises(ValueError, match="adjacency matrix"):
        compress_tree(graph, tree, 4, "tsd")


def test_linkage_matrix_is_accepted():
    W = random_graph(12, 6)
    tree = random_tree(12, random_state=6)
    assert clusters(compress_tree(W, tree.to_linkage(), 4)) == clusters(compress_tree(W, tree, 4))


@pytest.mark.parametrize("n_internal, objective, message", [
    (0, "dasgupta", "n_internal must be at least 1"),
    (-3, "tsd", "n_internal must be at least 1"),
    (2.5, "dasgupta", "n_internal must be an integer"),
    (True, "dasgupta", "n_internal must be an integer"),
    (3, "ward", "unknown objective 'ward'"),
])
def test_bad_input(n_internal, objective, message):
    W = random_graph(6, 0)
    with pytest.raises(ValueError, match=message):
        compress_tree(W, random_tree(6, random_state=0), n_internal, objective)
    with pytest.raises(ValueError, match=message):
        contraction_order(W, random_tree(6, random_state=0), n_internal, objective)


def test_graph_and_tree_must_match():
    with pytest.raises(ValueError, match="5 nodes but the tree has 6 leaves"):
        compress_tree(random_graph(5, 0), random_tree(6, random_state=0), 2)
