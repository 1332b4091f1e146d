"""CoHiClust evaluation and figures: hand-computed scores, brute-force class distances."""
import math

import matplotlib
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from hc_lib.cohiclust.evaluation import (assign_clusters, class_distance_matrix, evaluate, leaf_distances,
                                         leaf_probabilities)
from hc_lib.cohiclust.figures import _layout, image_grid, plot_class_distances, plot_tree_with_images
from hc_lib.cohiclust.soft_tree import heap_tree, leaf_to_tree_leaf, node_masses
from hc_lib.metrics import dendrogram_purity
from hc_lib.trees import Tree, random_tree

matplotlib.use("Agg")


def one_hot(clusters, n_leaves):
    return np.eye(n_leaves)[np.asarray(clusters)]


def test_perfect_clustering_scores_one():
    labels = np.repeat([0, 1, 2], 4)
    mask = np.array([True, False, True, True, False, False, True, False])
    clusters = np.array([0, 2, 3])[labels]
    probs = 0.6 * one_hot(clusters, 8) + 0.4 / 8
    scores = evaluate(probs, labels, leaf_mask=mask)
    assert scores == {"nmi": 1.0, "acc": 1.0, "ari": 1.0, "dp": 1.0, "n_clusters": 3}


def test_known_confusion_against_hand_computation():
    # leaf 0 holds classes (0, 0, 1), leaf 1 holds (1): the tree is root -> (leaf 0, leaf 1)
    scores = evaluate(one_hot([0, 0, 0, 1], 2), [0, 0, 1, 1])
    assert scores["acc"] == 0.75
    assert math.isclose(scores["ari"], 0.0, abs_tol=1e-12)          # sum C(n_ij, 2) = 1 = its expectation
    # I = .5 ln(4/3) + .25 ln 2 + .25 ln(2/3); NMI = I / mean(H(.75, .25), ln 2)
    mutual = 0.5 * math.log(4 / 3) + 0.25 * math.log(2) + 0.25 * math.log(2 / 3)
    entropy = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    assert math.isclose(scores["nmi"], mutual / ((entropy + math.log(2)) / 2), rel_tol=1e-9)
    # pair (0, 0) meets in leaf 0 (class share 2/3), pair (1, 1) at the root (share 1/2)
    assert math.isclose(scores["dp"], (2 / 3 + 1 / 2) / 2, rel_tol=1e-12)


def test_node_masses_and_tensors_are_accepted():
    torch.manual_seed(0)
    p_left = torch.rand(40, 7)
    masses = node_masses(p_left)
    labels = torch.randint(0, 3, (40,))
    mask = torch.tensor([True, True, False, True, True, True, False, True])
    from_masses = evaluate(masses, labels, leaf_mask=mask, depth=3)
    from_leaves = evaluate(masses[:, 7:].numpy(), labels.numpy(), leaf_mask=mask.numpy())
    assert from_masses == pytest.approx(from_leaves)
    leaves, depth = leaf_probabilities(masses)
    assert depth == 3 and np.allclose(leaves.sum(axis=1), 1)


def test_clusters_are_the_most_likely_kept_leaf():
    probs = np.array([[0.5, 0.3, 0.2, 0.0], [0.1, 0.2, 0.3, 0.4]])
    assert assign_clusters(probs).tolist() == [0, 3]
    assert assign_clusters(probs, np.array([False, True, True, False])).tolist() == [1, 2]


def test_dendrogram_purity_ignores_splicing():
    # splicing single-child nodes keeps every pair's lca cluster: DP on the pruned tree equals
    # DP on the complete tree with empty leaves, computed with the metrics module directly
    rng = np.random.default_rng(1)
    mask = np.zeros(16, dtype=bool)
    mask[[0, 3, 4, 5, 9, 14]] = True
    clusters = rng.choice(np.flatnonzero(mask), size=200)
    labels = rng.integers(0, 4, size=200)
    complete = dendrogram_purity(heap_tree(4, np.ones(16, dtype=bool)), labels, clusters)
    assert math.isclose(evaluate(one_hot(clusters, 16), labels, leaf_mask=mask)["dp"], complete, rel_tol=1e-12)


def test_evaluation_errors():
    with pytest.raises(ValueError, match="neither"):
        evaluate(np.ones((3, 5)) / 5, [0, 1, 1])
    with pytest.raises(ValueError, match="depth 3 does not match"):
        evaluate(np.ones((3, 4)) / 4, [0, 1, 1], depth=3)
    with pytest.raises(ValueError, match="labels must have shape"):
        evaluate(np.ones((3, 4)) / 4, [0, 1])
    with pytest.raises(ValueError, match="keeps 1 leaves"):
        evaluate(np.ones((3, 4)) / 4, [0, 1, 1], leaf_mask=np.array([True, False, False, False]))
    with pytest.raises(ValueError, match="NaN"):
        evaluate(np.full((3, 4), np.nan), [0, 1, 1])


# ---------------------------------------------------------------------- class distances
def test_distance_matrix_on_a_hand_built_tree():
    tree = Tree.from_parent([5, 5, 6, 6, 8, 7, 7, 8, -1])       # (((0, 1), (2, 3)), 4)
    assert leaf_distances(tree)[0].tolist() == [0, 2, 4, 4, 4]
    assert leaf_distances(tree)[2].tolist() == [4, 4, 0, 2, 4]
    # every class in one leaf: zero diagonal, the leaf distances off it
    matrix = class_distance_matrix([0, 0, 1, 4, 4], ["x", "x", "y", "z", "z"], tree)
    assert np.array_equal(matrix, [[0, 2, 4], [2, 0, 4], [4, 4, 0]])
    # class x split over leaves 0, 0, 1: its 3 pairs are 0, 2, 2 edges apart; x to z: 4 each
    matrix = class_distance_matrix([0, 0, 1, 4], ["x", "x", "x", "z"], tree)
    assert np.allclose(matrix, [[4 / 3, 4], [4, 0]])
    assert np.array_equal(class_distance_matrix([0, 0, 1, 4], [0, 0, 0, 1], tree, how="majority"),
                          [[0, 4], [4, 0]])


def test_distance_matrix_against_brute_force():
    rng = np.random.default_rng(0)
    tree = random_tree(9, binary=False, random_state=3)
    leaf_of = rng.integers(0, 9, size=60)
    labels = rng.integers(0, 4, size=60)
    matrix = class_distance_matrix(leaf_of, labels, tree)

    def path(u, v):
        up = {u: 0}
        node, steps = u, 0
        while tree.parent[node] >= 0:
            node, steps = tree.parent[node], steps + 1
            up[node] = steps
        node, steps = v, 0
        while node not in up:
            node, steps = tree.parent[node], steps + 1
        return up[node] + steps

    for a in range(4):
        for b in range(4):
            pairs = [path(leaf_of[i], leaf_of[j]) for i in np.flatnonzero(labels == a)
                     for j in np.flatnonzero(labels == b) if i != j]
            assert math.isclose(matrix[a, b], np.mean(pairs), rel_tol=1e-12)
    assert np.allclose(matrix, matrix.T)


def test_distance_matrix_errors():
    tree = heap_tree(2, np.ones(4, dtype=bool))
    with pytest.raises(ValueError, match=r"\[0, 3\]"):
        class_distance_matrix([0, 4], [0, 1], tree)
    with pytest.raises(ValueError, match="how"):
        class_distance_matrix([0, 1], [0, 1], tree, how="median")
    with pytest.raises(TypeError, match="Tree"):
        class_distance_matrix([0, 1], [0, 1], np.zeros((3, 4)))


# ---------------------------------------------------------------------- figures
def test_layout_centres_parents_over_children():
    tree = heap_tree(3, np.array([True, True, False, True, True, True, True, False]))
    x, y = _layout(tree)
    assert sorted(x[: tree.n_leaves].tolist()) == list(range(tree.n_leaves))
    for node in range(tree.n_leaves, tree.n_nodes):
        children = tree.children_of(node)
        assert math.isclose(x[node], (x[children].min() + x[children].max()) / 2)
        assert np.all(y[children] < y[node])


def test_figures_are_returned():
    rng = np.random.default_rng(0)
    mask = np.array([True, True, True, False])
    tree = heap_tree(2, mask)
    images = rng.integers(0, 256, size=(30, 3, 6, 6), dtype=np.uint8)
    clusters = rng.choice(np.flatnonzero(mask), size=30)
    leaf = leaf_to_tree_leaf(2, mask)[clusters]
    labels = rng.integers(0, 3, size=30)
    for show in ("mean", "samples"):
        fig = plot_tree_with_images(tree, images, leaf, labels, ["a", "b", "c"], show=show)
        assert isinstance(fig, Figure)
    grey = plot_tree_with_images(heap_tree(2, np.ones(4, dtype=bool)), torch.rand(30, 6, 6), clusters)
    assert isinstance(grey, Figure)
    matrix = class_distance_matrix(leaf, labels, tree)
    assert isinstance(plot_class_distances(matrix, ["a", "b", "c"]), Figure)
    with pytest.raises(ValueError, match="square"):
        plot_class_distances(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="assignments"):
        plot_tree_with_images(tree, images, leaf[:5])
    assert image_grid(np.zeros((5, 4, 3, 1)), pad=1).shape == (9, 11, 1)
    matplotlib.pyplot.close("all")
