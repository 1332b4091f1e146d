"""Scores against scikit-network, against brute force, and against the poster's printed rows."""
import itertools

import numpy as np
import pytest
from sknetwork.hierarchy import dasgupta_cost as sk_dasgupta
from sknetwork.hierarchy import tree_sampling_divergence as sk_tsd

from hc_lib.baselines import graph_average_linkage, paris, vector_linkage
from hc_lib.datasets import GRAPH_NAMES, load_graph, load_vectors, normalized_rows, similarity_graph
from hc_lib.metrics import (accuracy, ari, dasgupta_cost, dendrogram_purity,
                            legacy_tree_sampling_divergence, mutual_information, nmi,
                            tree_sampling_divergence)
from hc_lib.published import published
from hc_lib.trees import Tree, random_tree
from random_graphs import random_graph

SMALL_GRAPHS = [name for name in GRAPH_NAMES if name != "dblp"]


# ---------------------------------------------------------------- brute force
def lca_of_pair(tree, u, v):
    """lca by walking up, with a self-pair meeting at the leaf's parent."""
    if u == v:
        return int(tree.parent[u])
    above = set()
    node = u
    while node >= 0:
        above.add(node)
        node = int(tree.parent[node])
    node = v
    while node not in above:
        node = int(tree.parent[node])
    return node


def brute_force_scores(W, tree, legacy=False):
    W = np.asarray(W, dtype=float)
    P = W / W.sum()
    deg = P.sum(axis=1)
    n = len(W)
    p = np.zeros(tree.n_nodes)
    q = np.zeros(tree.n_nodes)
    cost = 0.0
    for u, v in itertools.product(range(n), repeat=2):
        x = lca_of_pair(tree, u, v)
        cost += P[u, v] * tree.sizes[x]
        if not legacy or u != v:
            p[x] += P[u, v]
            q[x] += deg[u] * deg[v]
    info = sum(P[u, v] * np.log(P[u, v] / (deg[u] * deg[v]))
               for u, v in itertools.product(range(n), repeat=2) if P[u, v] > 0)
    support = p > 0
    tsd = float(p[support] @ np.log(p[support] / q[support]))
    return cost, tsd, 100 * tsd / info


@pytest.mark.parametrize("n", [2, 3, 5, 8])
@pytest.mark.parametrize("binary", [True, False])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_scores_match_brute_force(n, binary, seed):
    W = random_graph(n, seed)
    tree = random_tree(n, binary=binary, random_state=seed)
    cost, tsd_nats, tsd = brute_force_scores(W, tree)
    assert dasgupta_cost(W, tree) == pytest.approx(cost, rel=1e-12)
    assert tree_sampling_divergence(W, tree, normalized=False) == pytest.approx(tsd_nats, rel=1e-10, abs=1e-14)
    assert tree_sampling_divergence(W, tree) == pytest.approx(tsd, rel=1e-10, abs=1e-12)


@pytest.mark.parametrize("binary", [True, False])
def test_legacy_tsd_matches_its_definition(binary):
    W = random_graph(7, 5)
    # default heights (longest path to a leaf) never tie parent and child: no fusion
    tree = random_tree(7, binary=binary, random_state=4)
    tree = Tree.from_parent(tree.parent)
    _, legacy_nats, legacy = brute_force_scores(W, tree, legacy=True)
    assert legacy_tree_sampling_divergence(W, tree) == pytest.approx(legacy, rel=1e-10)
    assert legacy_tree_sampling_divergence(W, tree, normalized=False) == pytest.approx(legacy_nats, rel=1e-10)


def test_legacy_tsd_fuses_a_merge_with_its_first_equal_height_child():
    W = random_graph(4, 7)
    # ((0, 1) at 1, (2, 3) at 1) at 1: both children tie with the root; only the first fuses
    Z = np.array([[0.0, 1.0, 1.0, 2.0], [2.0, 3.0, 1.0, 2.0], [4.0, 5.0, 1.0, 4.0]])
    fused = Tree.from_parent([5, 5, 4, 4, 5, -1])          # root {0, 1, 2, 3} with children 0, 1, (2, 3)
    _, _, expected = brute_force_scores(W, fused, legacy=True)
    assert legacy_tree_sampling_divergence(W, Z) == pytest.approx(expected, rel=1e-10)


def test_legacy_and_correct_tsd_differ_as_documented():
    adjacency, _ = load_graph("polblogs")
    tree = graph_average_linkage(adjacency)
    correct = tree_sampling_divergence(adjacency, tree)
    legacy = legacy_tree_sampling_divergence(adjacency, tree)
    assert 1.0 < legacy - correct < 5.0


@pytest.mark.parametrize("name", SMALL_GRAPHS)
def test_agree_with_scikit_network(name):
    adjacency, _ = load_graph(name)
    for tree in (paris(adjacency), graph_average_linkage(adjacency)):
        Z = tree.to_linkage()
        assert dasgupta_cost(adjacency, tree) == pytest.approx(
            sk_dasgupta(adjacency, Z, normalized=False), abs=1e-9)
        assert tree_sampling_divergence(adjacency, tree) == pytest.approx(
            100 * sk_tsd(adjacency, Z, normalized=True), abs=1e-9)


def test_linkage_and_tree_inputs_agree():
    adjacency, _ = load_graph("citeseer")
    tree = paris(adjacency)
    Z = tree.to_linkage()
    assert dasgupta_cost(adjacency, Z) == dasgupta_cost(adjacency, tree)
    assert tree_sampling_divergence(adjacency, Z) == pytest.approx(tree_sampling_divergence(adjacency, tree))


def test_similarity_graph_cost_matches_dense_computation():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(25, 4))
    X[:, 2] = 3.0                               # constant feature
    X[5] = X[6]                                 # duplicate rows
    graph = similarity_graph(X)
    for binary in (True, False):
        tree = random_tree(25, binary=binary, random_state=1)
        dense = graph.to_dense()
        assert dasgupta_cost(graph, tree) == pytest.approx(dasgupta_cost(dense, tree), rel=1e-12)


# Rows WL, AL, SL, CL of the EPH poster (vector datasets), as printed (hc_lib.published)
POSTER_ROWS = {"ward": "WL", "average": "AL", "single": "SL", "complete": "CL"}


@pytest.mark.parametrize("name", ["zoo", "iris", "glass"])
def test_poster_linkage_rows_to_the_printed_digit(name):
    X, _ = load_vectors(name)
    graph, rows = similarity_graph(X), normalized_rows(X)
    for method, row in POSTER_ROWS.items():
        printed = published(row, name)
        assert round(dasgupta_cost(graph, vector_linkage(rows, method)), 2) == printed, method


# ---------------------------------------------------------------- purity and flat scores
def brute_force_purity(tree, labels, leaf_of_point):
    labels = np.asarray(labels)
    total, count = 0.0, 0
    for i, j in itertools.combinations(range(len(labels)), 2):
        if labels[i] != labels[j]:
            continue
        a, b = leaf_of_point[i], leaf_of_point[j]
        x = a if a == b else lca_of_pair(tree, a, b)
        members = labels[np.isin(leaf_of_point, tree.leaves_of(x))]
        total += np.mean(members == labels[i])
        count += 1
    return total / count


@pytest.mark.parametrize("binary", [True, False])
def test_dendrogram_purity_against_pairwise_count(binary):
    rng = np.random.default_rng(3)
    tree = random_tree(12, binary=binary, random_state=3)
    labels = rng.integers(0, 3, size=12)
    assert dendrogram_purity(tree, labels) == pytest.approx(
        brute_force_purity(tree, labels, np.arange(12)), rel=1e-12)
    # leaves holding many points
    points = rng.integers(0, 4, size=40)
    leaf_of_point = rng.integers(0, 12, size=40)
    assert dendrogram_purity(tree, points, leaf_of_point) == pytest.approx(
        brute_force_purity(tree, points, leaf_of_point), rel=1e-12)


def test_dendrogram_purity_of_a_perfect_tree_is_one():
    Z_tree = Tree.from_parent([5, 5, 6, 6, 7, 7, 7, -1], n_leaves=5)   # ((0, 1), (2, 3), 4)
    assert dendrogram_purity(Z_tree, ["a", "a", "b", "b", "c"]) == 1.0


def test_flat_metrics():
    truth = [0, 0, 0, 1, 1, 1]
    assert accuracy(truth, [1, 1, 1, 0, 0, 0]) == 1.0
    assert accuracy(truth, [0, 0, 1, 1, 2, 2]) == pytest.approx(4 / 6)
    assert accuracy(truth, list(range(6))) == pytest.approx(2 / 6)      # extra clusters are errors
    assert nmi(truth, [1, 1, 1, 0, 0, 0]) == pytest.approx(1.0)
    assert ari(truth, [1, 1, 1, 0, 0, 0]) == pytest.approx(1.0)
    assert ari(truth, [0, 1, 0, 1, 0, 1]) < 0.1


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize("W, message", [
    (np.array([[0.0, -1.0], [-1.0, 0.0]]), "negative"),
    (np.array([[0.0, np.nan], [np.nan, 0.0]]), "NaN"),
    (np.array([[0.0, 1.0], [0.0, 0.0]]), "not symmetric"),
    (np.zeros((2, 2)), "empty"),
    (np.ones((2, 3)), "square"),
])
def test_bad_graphs_raise(W, message):
    tree = Tree.from_parent([2, 2, -1])
    for score in (dasgupta_cost, tree_sampling_divergence, legacy_tree_sampling_divergence):
        with pytest.raises(ValueError, match=message):
            score(W, tree)


def test_size_mismatch_and_wrong_tree_type():
    with pytest.raises(ValueError, match="3 nodes but the tree has 2 leaves"):
        dasgupta_cost(np.ones((3, 3)), Tree.from_parent([2, 2, -1]))
    with pytest.raises(TypeError, match="Tree or a linkage"):
        dasgupta_cost(np.ones((2, 2)), [[0, 1, 1, 2]])


def test_tsd_undefined_without_mutual_information():
    with pytest.raises(ValueError, match="mutual information"):
        tree_sampling_divergence(np.ones((3, 3)), random_tree(3, random_state=0))
    assert mutual_information(np.ones((3, 3))) == pytest.approx(0.0, abs=1e-15)


def test_label_errors():
    tree = random_tree(4, random_state=0)
    with pytest.raises(ValueError, match="3 entries, expected 4"):
        dendrogram_purity(tree, [0, 1, 1])
    with pytest.raises(ValueError, match="no two points share a class"):
        dendrogram_purity(tree, [0, 1, 2, 3])
    with pytest.raises(ValueError, match="leaf_of_point must lie"):
        dendrogram_purity(tree, [0, 0], [0, 9])
    with pytest.raises(ValueError, match="expected 2"):
        accuracy([0, 1], [0, 1, 1])
