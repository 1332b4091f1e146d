"""Tree type: construction, validation, conversions, vectorised queries against brute force."""
import networkx as nx
import numpy as np
import pytest
from scipy.cluster.hierarchy import dendrogram, fcluster, is_valid_linkage, linkage

from hc_lib.trees import Tree, random_tree


def ancestors(tree, node):
    path = [node]
    while tree.parent[path[-1]] >= 0:
        path.append(int(tree.parent[path[-1]]))
    return path


def naive_lca(tree, u, v):
    above_u = ancestors(tree, u)
    return next(a for a in ancestors(tree, v) if a in above_u)


def leaf_sets(tree):
    """Canonical form: the set of clusters (as frozensets of leaves)."""
    return {frozenset(tree.leaves_of(x).tolist()) for x in range(tree.n_leaves, tree.n_nodes)}


@pytest.fixture(params=[(2, True), (5, True), (9, False), (30, True), (30, False)])
def tree(request):
    n, binary = request.param
    return random_tree(n, binary=binary, random_state=n)


def test_random_tree_is_valid(tree):
    assert tree.parent[-1] == -1
    assert np.all(tree.parent[:-1] > np.arange(tree.n_nodes - 1))
    assert np.all(tree.n_children[tree.n_leaves:] >= 2)
    assert tree.sizes[-1] == tree.n_leaves


def test_sizes_depth_and_leaf_order_against_brute_force(tree):
    for node in range(tree.n_nodes):
        below = [leaf for leaf in range(tree.n_leaves) if node in ancestors(tree, leaf)]
        assert tree.sizes[node] == len(below)
        assert sorted(tree.leaves_of(node).tolist()) == below
        assert tree.depth[node] == len(ancestors(tree, node)) - 1
    assert sorted(tree.leaf_order.tolist()) == list(range(tree.n_leaves))


def test_lca_of_all_node_pairs_against_brute_force(tree):
    u, v = np.meshgrid(np.arange(tree.n_nodes), np.arange(tree.n_nodes))
    fast = tree.lca(u.ravel(), v.ravel())
    slow = [naive_lca(tree, a, b) for a, b in zip(u.ravel().tolist(), v.ravel().tolist())]
    assert fast.tolist() == slow


def test_lca_on_a_deep_chain():
    n = 300                                              # caterpillar: depth n - 1
    parent = np.concatenate([[n, n], n + 1 + np.arange(n - 2), n + np.arange(1, n - 1), [-1]])
    tree = Tree.from_parent(parent)
    assert tree.depth.max() == n - 1
    rng = np.random.default_rng(0)
    u, v = rng.integers(0, tree.n_nodes, size=(2, 500))
    assert tree.lca(u, v).tolist() == [naive_lca(tree, a, b) for a, b in zip(u.tolist(), v.tolist())]


def test_cluster_sums(tree):
    values = np.random.default_rng(1).normal(size=(tree.n_leaves, 3))
    sums = tree.cluster_sums(values)
    for node in range(tree.n_nodes):
        np.testing.assert_allclose(sums[node], values[tree.leaves_of(node)].sum(axis=0), atol=1e-12)


def test_linkage_round_trip_of_scipy_trees():
    X = np.random.default_rng(2).normal(size=(40, 3))
    for method in ("single", "average", "ward", "complete"):
        Z = linkage(X, method)
        tree = Tree.from_linkage(Z)
        back = tree.to_linkage()
        assert is_valid_linkage(back)
        np.testing.assert_array_equal(np.sort(back[:, :2], axis=1), np.sort(Z[:, :2], axis=1))
        np.testing.assert_array_equal(back[:, 2:], Z[:, 2:])
        for k in (2, 5, 11):
            ours = tree.cut(k)
            theirs = fcluster(Z, k, criterion="maxclust")
            assert len(set(ours)) == k
            assert _same_partition(ours, theirs)


def _same_partition(a, b):
    pairs = set(zip(np.asarray(a).tolist(), np.asarray(b).tolist()))
    return len(pairs) == len(set(a)) == len(set(b))


def test_non_binary_trees_binarise_into_equal_height_chains(tree):
    Z = tree.to_linkage()
    assert is_valid_linkage(Z)
    assert Z.shape == (tree.n_leaves - 1, 4)
    assert np.all(np.diff(Z[:, 2]) >= 0)
    dendrogram(Z, no_plot=True)
    back = Tree.from_linkage(Z)
    # fusing each merge into its parent when the heights agree restores the k-ary tree
    heights = back.heights
    child = np.arange(back.n_leaves, back.n_nodes - 1)
    same = child[heights[back.parent[child] - back.n_leaves] == heights[child - back.n_leaves]]
    assert leaf_sets(back.contract(same)) == leaf_sets(tree)


def test_cut_gives_k_clusters_that_are_unions_of_subtrees(tree):
    for k in range(1, tree.n_leaves + 1):
        labels = tree.cut(k)
        assert sorted(set(labels.tolist())) == list(range(k))
    # a k-cut of a binary tree coarsens the (k+1)-cut
    if tree.is_binary and tree.n_leaves > 3:
        assert _refines(tree.cut(4), tree.cut(3))


def _refines(fine, coarse):
    return all(len(set(coarse[fine == f])) == 1 for f in set(fine.tolist()))


def test_to_networkx(tree):
    graph = tree.to_networkx()
    assert nx.is_arborescence(graph)
    assert graph.number_of_nodes() == tree.n_nodes
    assert graph.nodes[tree.root]["size"] == tree.n_leaves
    assert all(graph.out_degree(leaf) == 0 for leaf in range(tree.n_leaves))


def test_from_parent_renumbers_internal_nodes_topologically():
    # root given first among internal nodes: ((0, 1), 2) with root = 3, cluster {0, 1} = 4
    tree = Tree.from_parent([4, 4, 3, -1, 3])
    assert tree.parent.tolist() == [3, 3, 4, 4, -1]
    assert leaf_sets(tree) == {frozenset({0, 1}), frozenset({0, 1, 2})}


def test_prune_removes_empty_and_single_child_nodes():
    # leaves 0..3; node 4 = {0, 1}; node 5 has one child (node 4); node 6 has no children;
    # node 7 = {2, 3}; node 8 (root) has 5, 6 and 7 below it
    parent = [4, 4, 7, 7, 5, 8, 8, 8, -1]
    with pytest.raises(ValueError, match="no children"):
        Tree.from_parent(parent, n_leaves=4)
    with pytest.raises(ValueError, match="single child"):
        Tree.from_parent([2, 2, 3, -1], n_leaves=2)
    tree = Tree.from_parent(parent, n_leaves=4, prune=True)
    assert tree.n_internal == 3
    assert leaf_sets(tree) == {frozenset({0, 1}), frozenset({2, 3}), frozenset({0, 1, 2, 3})}
    # a single-child root is spliced out too
    chain = Tree.from_parent([2, 2, 3, -1], n_leaves=2, prune=True)
    assert chain.parent.tolist() == [2, 2, -1]


def test_contract_keeps_heights_and_clusters():
    tree = random_tree(12, random_state=3)
    removed = [13, 15]
    smaller = tree.contract(removed)
    kept = [x for x in range(12, tree.n_nodes) if x not in removed]
    assert smaller.n_internal == tree.n_internal - 2
    assert leaf_sets(smaller) == {frozenset(tree.leaves_of(x).tolist()) for x in kept}
    np.testing.assert_array_equal(smaller.heights, tree.heights[np.array(kept) - 12])


@pytest.mark.parametrize("parent, message", [
    ([2, 2, -1, -1], "exactly one root"),
    ([2, 2, 3, 2, -1], "cycle"),
    ([3, 3, 4, 4, 0], "exactly one root"),
    ([[2, 2, -1]], "1-d"),
    ([3, 0, 3, -1], "leaf 0 has children"),
    ([1, 5, -1], r"in \[-1, 2\]"),
    ([0, 2, -1], "own parent"),
])
def test_invalid_parent_arrays(parent, message):
    with pytest.raises(ValueError, match=message):
        Tree.from_parent(parent, n_leaves=2 if len(np.ravel(parent)) <= 4 else 2)


def test_decreasing_heights_are_rejected():
    with pytest.raises(ValueError, match="must not decrease"):
        Tree.from_parent([3, 3, 4, 4, -1], heights=[2.0, 1.0])


@pytest.mark.parametrize("Z, message", [
    (np.array([[0, 1, 1, 2]]), "float"),
    (np.zeros((2, 3)), r"shape \(n - 1, 4\)"),
    (np.array([[0.0, 1.0, 1.0, 2.0], [0.0, 2.0, 2.0, 3.0]]), "exactly once"),
    (np.array([[0.0, 3.0, 1.0, 2.0], [1.0, 2.0, 2.0, 3.0]]), "before the row"),
    (np.array([[0.0, 1.0, 1.0, 5.0], [2.0, 3.0, 2.0, 3.0]]), "number of leaves"),
    (np.array([[0.0, 1.0, np.nan, 2.0], [2.0, 3.0, 2.0, 3.0]]), "NaN"),
])
def test_invalid_linkage(Z, message):
    with pytest.raises(ValueError, match=message):
        Tree.from_linkage(Z)


def test_lca_rejects_out_of_range_nodes():
    with pytest.raises(ValueError, match="node indices"):
        random_tree(4, random_state=0).lca([0], [7])
