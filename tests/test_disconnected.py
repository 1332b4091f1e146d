"""Disconnected graphs and isolated nodes, end to end: baselines, compression, scores, learners.

A hierarchy of a disconnected graph builds each component's tree and joins the components at
the top (the rule of :mod:`hc_lib.components`). Checked here against brute force over every
binary tree of 6 leaves, against scikit-network, and by removing an isolated node.
"""
import numpy as np
import pytest
from scipy.cluster.hierarchy import is_valid_linkage
from scipy.linalg import block_diag
from sknetwork.hierarchy import dasgupta_cost as sk_dasgupta
from sknetwork.hierarchy import tree_sampling_divergence as sk_tsd

from hc_lib.baselines import graph_average_linkage, louvain_hierarchy, nn_chain_average_linkage, paris
from hc_lib.baselines.compression import OBJECTIVES, compress_tree, contraction_order
from hc_lib.components import component_labels, join_components
from hc_lib.eph import EPH, FPH, initial_tree
from hc_lib.graphs import check_adjacency
from hc_lib.metrics import (dasgupta_cost, legacy_tree_sampling_divergence, mutual_information,
                            tree_sampling_divergence)
from hc_lib.trees import Tree, random_tree
from random_graphs import random_graph


# ---------------------------------------------------------------- graphs and helpers
def glue(blocks, seed):
    """Block-diagonal graph of the blocks, nodes shuffled so that the components interleave."""
    W = block_diag(*blocks)
    order = np.random.default_rng(seed).permutation(len(W))
    return W[np.ix_(order, order)]


GRAPHS = {
    "two components": lambda seed: glue([random_graph(4, seed), random_graph(3, seed + 50)], seed),
    "isolated node": lambda seed: glue([random_graph(6, seed), np.zeros((1, 1))], seed),
    # five components: two graphs, an isolated node, a node with only a self-loop, a pair
    "many components": lambda seed: glue([random_graph(6, seed), random_graph(5, seed + 50), np.zeros((1, 1)),
                                          np.ones((1, 1)), np.array([[0.0, 2.0], [2.0, 0.0]])], seed),
}
SMALL = {   # six nodes: every binary tree can be listed (945 of them)
    "two components": lambda seed: glue([random_graph(3, seed), random_graph(3, seed + 50)], seed),
    "isolated node": lambda seed: glue([random_graph(5, seed), np.zeros((1, 1))], seed),
    "three components": lambda seed: glue([random_graph(3, seed), random_graph(2, seed), np.zeros((1, 1))], seed),
}
LINKAGES = {"nn_chain_average_linkage": nn_chain_average_linkage,
            "graph_average_linkage": graph_average_linkage, "paris": paris}
BASELINES = {**LINKAGES, "louvain": louvain_hierarchy,
             "louvain legacy": lambda W: louvain_hierarchy(W, legacy=True)}


def labels_of(W):
    return component_labels(check_adjacency(W))[1]


def mixed(tree, labels):
    """Mask over internal nodes: True where the cluster spans more than one component."""
    counts = tree.cluster_sums(np.eye(labels.max() + 1)[labels])[tree.n_leaves:]
    return (counts > 0).sum(axis=1) > 1


def clusters(tree):
    return {frozenset(tree.leaves_of(x).tolist()) for x in range(tree.n_leaves, tree.n_nodes)}


def heights_by_cluster(tree, names=None):
    """{cluster: height}, leaves renamed by ``names`` (an array) if given."""
    names = np.arange(tree.n_leaves) if names is None else names
    return {frozenset(names[tree.leaves_of(x)].tolist()): h for x, h in zip(range(tree.n_leaves, tree.n_nodes),
                                                                             tree.heights.tolist())}


def every_tree(n):
    """Every rooted binary tree over n leaves ((2n - 3)!! of them) as ``(Z, Tree)``; leaf k
    hangs above any node of a tree over the first k leaves. Heights: the row numbers."""
    def insert(tree, leaf):
        yield (tree, leaf)
        if isinstance(tree, tuple):
            yield from ((left, tree[1]) for left in insert(tree[0], leaf))
            yield from ((tree[0], right) for right in insert(tree[1], leaf))

    def visit(node, rows):
        if not isinstance(node, tuple):
            return node, 1
        (a, size_a), (b, size_b) = visit(node[0], rows), visit(node[1], rows)
        rows.append([a, b, len(rows) + 1, size_a + size_b])
        return n + len(rows) - 1, size_a + size_b

    trees = [0]
    for leaf in range(1, n):
        trees = [bigger for tree in trees for bigger in insert(tree, leaf)]
    for nested in trees:
        rows = []
        visit(nested, rows)
        Z = np.asarray(rows, dtype=np.float64)
        yield Z, Tree.from_linkage(Z)


def brute_dasgupta(W, cluster_sets):
    """sum p(u, v) |smallest cluster holding u and v| (a self-loop: the smallest non-leaf one)."""
    P = W / W.sum()
    cost = 0.0
    for u, v in zip(*np.nonzero(P)):
        cost += P[u, v] * min(len(c) for c in cluster_sets if u in c and v in c)
    return cost


def joins_at_the_top(cluster_sets, labels):
    """Every cluster lies inside one component or is a union of whole components."""
    sizes = np.bincount(labels)
    for c in cluster_sets:
        parts, counts = np.unique(labels[list(c)], return_counts=True)
        if parts.size > 1 and np.any(counts != sizes[parts]):
            return False
    return True


def restrict_and_join(cluster_sets, labels):
    """The clusters of the tree restricted to each component, plus the top: the tree that
    keeps the order inside every component and joins the components only at the root."""
    parts = [frozenset(np.flatnonzero(labels == c).tolist()) for c in range(labels.max() + 1)]
    kept = {c & part for c in cluster_sets for part in parts if len(c & part) > 1}
    return kept | {frozenset(range(labels.size))}


# ---------------------------------------------------------------- (1) baselines and the initial tree
@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("graph", GRAPHS)
@pytest.mark.parametrize("name", BASELINES)
def test_baselines_give_valid_trees_that_join_components_at_the_top(name, graph, seed):
    W = GRAPHS[graph](seed)
    n, labels = len(W), labels_of(W)
    tree = BASELINES[name](W)
    assert tree.n_leaves == n and tree.is_binary
    Z = tree.to_linkage()
    assert is_valid_linkage(Z) and np.all(np.isfinite(Z)) and np.all(np.diff(Z[:, 2]) >= 0)
    assert clusters(Tree.from_linkage(Z)) == clusters(tree)
    top = mixed(tree, labels)
    assert top[-1]
    if name.startswith("louvain"):
        # Louvain's clusters lie in one component; only the root's equal-height chain mixes them
        assert np.all(tree.heights[top] == tree.heights[-1])
    else:
        # exactly the c - 1 joins, all at one height above every merge inside a component
        assert top.sum() == labels.max()
        assert np.all(tree.heights[top] == tree.heights[-1])
        assert tree.heights[top].min() == pytest.approx(tree.heights[~top].max() + 1.0)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("name", LINKAGES)
def test_a_component_gets_the_tree_of_the_component_alone(name, seed):
    W = GRAPHS["many components"](seed)
    labels = labels_of(W)
    tree = LINKAGES[name](W)
    inside = {c for c in clusters(tree) if len(set(labels[list(c)])) == 1}
    for component in range(labels.max() + 1):
        members = np.flatnonzero(labels == component)
        if members.size < 2:
            continue
        expected = heights_by_cluster(LINKAGES[name](W[np.ix_(members, members)]), members)
        assert {c for c in inside if c <= set(members.tolist())} == set(expected)
        if name == "nn_chain_average_linkage":          # its heights do not depend on the graph's size
            ours = heights_by_cluster(tree)
            assert all(ours[c] == h for c, h in expected.items())


@pytest.mark.parametrize("name", LINKAGES)
def test_joining_rule_orders_components_by_lowest_node(name):
    W = np.zeros((5, 5))
    W[1, 4] = W[4, 1] = 1.0                      # components {0}, {1, 4}, {2}, {3 with a self-loop}
    W[3, 3] = 1.0
    assert component_labels(check_adjacency(W))[1].tolist() == [0, 1, 2, 3, 1]
    tree = LINKAGES[name](W)
    h = tree.heights[0]
    expected = Tree.from_linkage(np.array([[1, 4, h, 2], [0, 5, h + 1, 3], [6, 2, h + 1, 4], [7, 3, h + 1, 5]]))
    assert heights_by_cluster(tree) == heights_by_cluster(expected)
    joined = join_components([[1, 4, 0.5, 2]], 5)
    assert joined[1:, :2].tolist() == [[0, 5], [6, 2], [7, 3]] and np.all(joined[1:, 2] == 1.5)
    only_loops = np.diag([1.0, 2.0, 0.0])        # no edge between two nodes: all joins at height 1
    assert LINKAGES[name](only_loops).to_linkage().tolist() == [[0, 1, 1, 2], [2, 3, 1, 3]]


@pytest.mark.parametrize("published", [True, False])
@pytest.mark.parametrize("graph", GRAPHS)
def test_initial_tree_covers_every_node(graph, published):
    W = GRAPHS[graph](0)
    n = len(W)
    for k in range(1, n):
        tree = initial_tree(W, k, published=published)
        assert tree.n_leaves == n and tree.n_internal == k
        assert is_valid_linkage(tree.to_linkage())
        assert np.isfinite(dasgupta_cost(W, tree)) and np.isfinite(tree_sampling_divergence(W, tree))


# ---------------------------------------------------------------- (2) brute force and scikit-network
@pytest.mark.parametrize("seed", range(2))
@pytest.mark.parametrize("graph", SMALL)
def test_scores_on_every_binary_tree_agree_with_scikit_network(graph, seed):
    W = SMALL[graph](seed)
    n, labels = len(W), labels_of(W)
    adjacency = check_adjacency(W)
    first_of_group, group_sizes = {}, {}
    for count, (Z, tree) in enumerate(every_tree(n), start=1):
        sets = clusters(tree)
        cost, tsd = dasgupta_cost(W, tree), tree_sampling_divergence(W, tree)
        assert cost == pytest.approx(brute_dasgupta(W, sets), rel=1e-12)
        # scikit-network accumulates in float32
        assert cost == pytest.approx(sk_dasgupta(adjacency, Z, weights="uniform", normalized=False), rel=1e-6)
        assert tsd == pytest.approx(100 * sk_tsd(adjacency, Z, normalized=True), rel=1e-9, abs=1e-9)
        assert np.isfinite(legacy_tree_sampling_divergence(W, tree))
        if joins_at_the_top(sets, labels):
            # trees with the same component trees score the same, however they are joined
            inner = frozenset(c for c in sets if len(set(labels[list(c)])) == 1)
            first = first_of_group.setdefault(inner, (cost, tsd))
            group_sizes[inner] = group_sizes.get(inner, 0) + 1
            assert (cost, tsd) == pytest.approx(first, rel=1e-12)
    assert count == 945
    if labels.max() >= 2:                      # three components can be joined in three ways
        assert max(group_sizes.values()) == 3


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("graph", SMALL)
def test_without_self_loops_joining_at_the_top_is_never_worse(graph, seed):
    W = SMALL[graph](seed)
    np.fill_diagonal(W, 0.0)
    labels = labels_of(W)
    best_mixing, best_joining = np.inf, np.inf
    for _, tree in every_tree(len(W)):
        sets = clusters(tree)
        cost = dasgupta_cost(W, tree)
        assert brute_dasgupta(W, restrict_and_join(sets, labels)) <= cost * (1 + 1e-12)
        if joins_at_the_top(sets, labels):
            best_joining = min(best_joining, cost)
        else:
            best_mixing = min(best_mixing, cost)
    assert best_joining <= best_mixing < np.inf
    assert dasgupta_cost(W, nn_chain_average_linkage(W)) >= best_joining


def test_a_heavy_self_loop_can_pay_for_mixing_components():
    """A self-loop meets at its leaf's parent (the convention of the tables), so pairing node 2
    (self-loop of weight 10) with the isolated node 3 beats every tree joining at the top."""
    W = np.zeros((4, 4))
    W[0, 1] = W[1, 0] = 1.0
    W[1, 2] = W[2, 1] = 0.01
    W[2, 2] = 10.0
    labels = labels_of(W)
    costs = {True: [], False: []}
    for _, tree in every_tree(4):
        costs[joins_at_the_top(clusters(tree), labels)].append(dasgupta_cost(W, tree))
    mixed_best = Tree.from_parent([4, 4, 5, 5, 6, 6, -1])          # ((0, 1), (2, 3))
    assert min(costs[False]) == pytest.approx(dasgupta_cost(W, mixed_best))
    assert min(costs[False]) < min(costs[True])


# ---------------------------------------------------------------- (3) a node of degree zero
def without_leaf(tree, leaf):
    """The tree with one leaf removed (a parent left with a single child is spliced out)."""
    keep = np.delete(np.arange(tree.n_nodes), leaf)
    index = np.append(np.cumsum(np.arange(tree.n_nodes) != leaf) - 1, -1)     # index[-1] = -1: the root
    return Tree.from_parent(index[tree.parent[keep]], tree.n_leaves - 1, prune=True)


@pytest.mark.parametrize("binary", [True, False])
def test_tsd_with_an_isolated_node_is_that_of_the_tree_without_it(binary):
    """Removing a zero-degree leaf z changes no p(x), q(x) or mutual information unless z's
    parent is spliced out with a leaf sibling c: then c's same-node mass p(c)^2 in q moves up
    one node, and the correct TSD may change (the legacy one, without those masses, does not)."""
    kinds = set()
    for seed in range(40):
        W = GRAPHS["isolated node"](seed)
        z = int(np.flatnonzero(W.sum(axis=1) == 0)[0])
        rest = np.delete(np.delete(W, z, axis=0), z, axis=1)
        assert mutual_information(W) == pytest.approx(mutual_information(rest), rel=1e-12)
        tree = random_tree(len(W), binary=binary, random_state=seed)
        smaller = without_leaf(tree, z)
        scores = [tree_sampling_divergence(W, tree), legacy_tree_sampling_divergence(W, tree)]
        assert np.all(np.isfinite(scores + [dasgupta_cost(W, tree)]))
        assert scores[1] == pytest.approx(legacy_tree_sampling_divergence(rest, smaller), rel=1e-12)
        siblings = tree.children_of(tree.parent[z])
        spliced_leaf = siblings.size == 2 and siblings[siblings != z][0] < tree.n_leaves
        kinds.add(spliced_leaf)
        if not spliced_leaf:
            assert scores[0] == pytest.approx(tree_sampling_divergence(rest, smaller), rel=1e-12)
    if binary:
        assert kinds == {True, False}


# ---------------------------------------------------------------- (4) compression
@pytest.mark.parametrize("objective", OBJECTIVES)
@pytest.mark.parametrize("graph", GRAPHS)
def test_compression_to_every_size(graph, objective):
    W = GRAPHS[graph](1)
    n, labels = len(W), labels_of(W)
    n_joins = int(labels.max())
    for tree in (nn_chain_average_linkage(W), random_tree(n, random_state=1)):
        for k in range(1, n):
            small = compress_tree(W, tree, k, objective)
            assert small.n_leaves == n and small.n_internal == k
            assert clusters(small) <= clusters(tree)
            assert is_valid_linkage(small.to_linkage())
            assert np.all(np.isfinite([score(W, small) for score in (
                dasgupta_cost, tree_sampling_divergence, legacy_tree_sampling_divergence)]))
    # no edge meets at a join: the Dasgupta rules fold the chain of joins into one k-ary root
    # first, and the TSD rules spend their first steps without loss (a component hanging from
    # a join of zero q, above an isolated node, may go first: that costs nothing either)
    alone = np.bincount(labels)[labels] == 1
    W[alone, alone] = 0.0                  # a self-loop on a node alone would meet at a join
    tree = nn_chain_average_linkage(W)
    joins = np.flatnonzero(mixed(tree, labels)) + n
    first = contraction_order(W, tree, 1, objective)[:n_joins - 1]
    if objective.endswith("dasgupta"):
        assert set(first.tolist()) == set(joins[:-1].tolist())
        assert tree.contract(first).n_children[-1] == n_joins + 1
    else:
        score = tree_sampling_divergence if objective == "tsd" else legacy_tree_sampling_divergence
        assert score(W, tree.contract(first)) == pytest.approx(score(W, tree), rel=1e-12)


# ---------------------------------------------------------------- bad input still fails clearly
@pytest.mark.parametrize("W, message", [
    (np.zeros((3, 3)), "empty"),
    (np.array([[0.0, -1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 0.0]]), "negative"),
    (np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]), "not symmetric"),
])
def test_bad_input_still_raises(W, message):
    for build in (*BASELINES.values(), lambda W: initial_tree(W, 2)):
        with pytest.raises(ValueError, match=message):
            build(W)
    with pytest.raises(ValueError, match="at least 1"):
        initial_tree(GRAPHS["isolated node"](0), 0)
    with pytest.raises(ValueError, match="finite"):
        join_components([[0, 1, np.inf, 2]], 3)
    with pytest.raises(ValueError, match="at most 2 merges"):
        join_components(np.zeros((3, 4)), 3)


# ---------------------------------------------------------------- the learners
@pytest.mark.parametrize("objective", ["dasgupta", "tsd"])
@pytest.mark.parametrize("graph", ["two components", "isolated node"])
def test_eph_and_fph_fit_disconnected_graphs(graph, objective):
    W = GRAPHS[graph](0)
    for model in (EPH(objective, n_internal=4, n_steps=20, n_samples=4, progress=False, random_state=0),
                  FPH(objective, n_internal=4, n_steps=20, progress=False, random_state=0)):
        model.fit(W)
        assert model.tree_.n_leaves == len(W)
        assert is_valid_linkage(model.tree_.to_linkage())
        score = dasgupta_cost(W, model.tree_) if objective == "dasgupta" else tree_sampling_divergence(W, model.tree_)
        assert np.isfinite(score) and model.score_ == pytest.approx(score)
