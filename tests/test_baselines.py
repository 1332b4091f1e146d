"""Graph baselines: average linkage by nearest-neighbour chain, recursive Louvain, and the
poster's AL and Louvain rows recomputed with the published procedure."""
import numpy as np
import pytest
from sknetwork.data import karate_club
from sknetwork.hierarchy import LouvainIteration

from hc_lib.baselines import louvain_hierarchy, nn_chain_average_linkage, vector_linkage
from hc_lib.baselines.compression import compress_tree
from hc_lib.baselines.louvain import _legacy_argsort
from hc_lib.datasets import load_graph, load_vectors, normalized_rows, similarity_graph
from hc_lib.experiments import run_experiment
from hc_lib.graphs import CosineSimilarityGraph
from hc_lib.metrics import dasgupta_cost, legacy_tree_sampling_divergence
from hc_lib.trees import Tree


def random_unweighted_graph(n, seed, density=0.25):
    rng = np.random.default_rng(seed)
    A = np.triu(rng.random((n, n)) < density, 1).astype(float)
    A[np.arange(n - 1), np.arange(1, n)] = 1.0            # a path keeps it connected
    A = A + A.T
    A[0, 0] = 2.0                                         # a self-loop, ignored by the linkage
    return A


@pytest.mark.parametrize("seed", range(4))
def test_nn_chain_merges_are_average_linkage_steps(seed):
    """Replaying the merges in row order, each merges a pair of highest linkage
    w(a, b) / (|a| |b|) among all current clusters, at height -log(linkage)."""
    A = random_unweighted_graph(25, seed)
    A = (A > 0).astype(float)
    np.fill_diagonal(A, 0.0)
    tree = nn_chain_average_linkage(A)
    Z = tree.to_linkage()
    members = {u: [u] for u in range(25)}
    for row, (a, b, height, count) in enumerate(Z):
        linkage = {(x, y): A[np.ix_(members[x], members[y])].sum() / (len(members[x]) * len(members[y]))
                   for x in members for y in members if x < y}
        best = max(linkage.values())
        merged = linkage[tuple(sorted((int(a), int(b))))]
        assert merged == pytest.approx(best, rel=1e-12)
        assert height == pytest.approx(-np.log(best), abs=1e-12)
        members[25 + row] = members.pop(int(a)) + members.pop(int(b))
        assert count == len(members[25 + row])


def test_nn_chain_joins_components_at_the_top():
    """Two pairs 0-2 and 1-3: each pair merges at height 0, the pairs join one unit above
    (more in tests/test_disconnected.py)."""
    A = np.zeros((4, 4))
    A[0, 2] = A[2, 0] = A[1, 3] = A[3, 1] = 1.0
    Z = nn_chain_average_linkage(A).to_linkage()
    assert Z.tolist() == [[0, 2, 0, 2], [1, 3, 0, 2], [4, 5, 1, 4]]


def test_louvain_hierarchy_is_scikit_networks_louvain_iteration():
    adjacency = karate_club()
    Z = LouvainIteration(depth=3).fit(adjacency).dendrogram_.copy()
    n = Z.shape[0] + 1
    size = np.ones(2 * n - 1)
    for row, (a, b) in enumerate(Z[:, :2].astype(int)):          # scikit-network's column 3 is off
        size[n + row] = size[a] + size[b]
    Z[:, 3] = size[n:]
    expected = Tree.from_linkage(Z)
    tree = louvain_hierarchy(adjacency)
    assert np.array_equal(tree.parent, expected.parent)
    assert np.array_equal(tree.heights, expected.heights)


@pytest.mark.parametrize("legacy", [False, True])
@pytest.mark.parametrize("depth", [1, 2, 3])
def test_louvain_levels(legacy, depth):
    adjacency, _ = load_graph("polblogs")
    tree = louvain_hierarchy(adjacency, depth=depth, legacy=legacy)
    assert tree.is_binary and tree.n_leaves == adjacency.shape[0]
    # contracting the equal-height chains leaves the k-ary levels: at most depth + 1 edges deep
    n = tree.n_leaves
    internal = np.arange(n, tree.n_nodes - 1)
    chain = internal[tree.heights[tree.parent[internal] - n] == tree.heights[internal - n]]
    levels = tree.contract(chain)
    assert levels.depth[:n].max() <= depth + 1
    assert len(np.unique(tree.heights)) <= depth + 1


def test_louvain_on_vectors_and_bad_input():
    X = np.random.default_rng(0).normal(size=(60, 3))
    tree = louvain_hierarchy(similarity_graph(X), legacy=True)
    assert tree.n_leaves == 60
    with pytest.raises(ValueError, match="depth must be a positive integer"):
        louvain_hierarchy(karate_club(), depth=0)
    rows = np.zeros((5001, 2))
    rows[:, 0] = 1.0
    with pytest.raises(ValueError, match="too large"):
        louvain_hierarchy(CosineSimilarityGraph(rows))


def test_legacy_argsort_sorts_and_keeps_short_runs_stable():
    rng = np.random.default_rng(1)
    for size in (1, 5, 17, 18, 100, 1000):
        values = rng.integers(0, 4, size=size)
        order = _legacy_argsort(values)
        assert sorted(order.tolist()) == list(range(size))
        assert np.all(np.diff(values[order]) >= 0)
        if size <= 17:                                    # insertion sort: stable
            assert np.array_equal(order, np.argsort(values, kind="stable"))


# Rows AL and Louv. of the EPH poster (graphs), as printed: Dasgupta, then TSD (legacy scale).
POSTER = {
    "polblogs": {"AL": (355.61, 25.25), "Louv.": (344.47, 28.86)},
    "brain": {"AL": (556.68, 28.91), "Louv.": (582.45, 30.74)},
    "citeseer": {"AL": (83.69, 67.80), "Louv.": (158.79, 68.09)},
    "genes": {"AL": (196.50, 66.72), "Louv.": (247.27, 67.51)},
    "cora_ml": {"AL": (292.77, 55.30), "Louv.": (335.57, 58.18)},
    "openflight": {"AL": (363.40, 52.02), "Louv.": (501.29, 52.97)},
    "wiki_physics": {"AL": (658.04, 43.15), "Louv.": (798.75, 47.01)},
}


@pytest.mark.parametrize("name", sorted(POSTER))
def test_poster_rows_with_the_published_procedure(name):
    adjacency, _ = load_graph(name)
    trees = {"AL": nn_chain_average_linkage(adjacency), "Louv.": louvain_hierarchy(adjacency, legacy=True)}
    for method, (das, tsd) in POSTER[name].items():
        tree = trees[method]
        cost = dasgupta_cost(adjacency, compress_tree(adjacency, tree, 512, "legacy_dasgupta"))
        small = compress_tree(adjacency, tree, 512, "legacy_tsd")
        small = Tree.from_parent(small.parent, small.n_leaves)     # a height per node, as published
        divergence = legacy_tree_sampling_divergence(adjacency, small)
        # the published code broke some ties by memory address: AL on cora_ml is 0.023 off,
        # Louvain on genes and cora_ml 0.05 and 0.07
        assert cost == pytest.approx(das, abs=0.03 if method == "AL" else 0.08), method
        assert divergence == pytest.approx(tsd, abs=0.02), method


@pytest.mark.parametrize("objective", ["dasgupta", "tsd"])
def test_the_experiment_runner_builds_the_published_rows(objective):
    """hc-repro's baseline rows (run_experiment) are the published procedure above, to the digit,
    and the modern variants are a different tree."""
    for method, row in (("AL", "AL"), ("Louvain", "Louv.")):
        _, _, record = run_experiment("polblogs", method, objective)
        value = record["dasgupta"] if objective == "dasgupta" else record["tsd_legacy"]
        published = POSTER["polblogs"][row][0 if objective == "dasgupta" else 1]
        assert value == pytest.approx(published, abs=0.005) and record["published"] == published
        _, _, modern = run_experiment("polblogs", f"{method}-modern", objective)
        assert modern["dasgupta"] != pytest.approx(record["dasgupta"], abs=0.1) and modern["published"] is None


# Rows of the EPH poster (vector data, n > 512): every linkage, compressed to 512 internal
# nodes with the published compression, comes out to the printed digit.
POSTER_VECTORS = {
    "digits": {"ward": 1126.77, "average": 1121.68, "single": 1166.05, "complete": 1140.26,
               "louvain": 1126.48},
    "segmentation": {"ward": 1266.17, "average": 1258.22, "single": 1368.21, "complete": 1277.48},
}


@pytest.mark.parametrize("name", sorted(POSTER_VECTORS))
def test_poster_vector_rows_with_the_published_compression(name):
    X, _ = load_vectors(name)
    graph, rows = similarity_graph(X), normalized_rows(X)
    for method, printed in POSTER_VECTORS[name].items():
        tree = (louvain_hierarchy(graph, legacy=True) if method == "louvain"
                else vector_linkage(rows, method))
        cost = dasgupta_cost(graph, compress_tree(graph, tree, 512, "legacy_dasgupta"))
        assert round(cost, 2) == printed, method
