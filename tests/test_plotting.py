"""hc_lib.plotting: dendrograms of shallow and very deep trees, their class strips, graph drawings."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import scipy.sparse as sp
from scipy.cluster.hierarchy import dendrogram

from hc_lib.plotting import MAX_DRAWN_DEPTH, _last_clusters, class_colours, draw_graph, plot_dendrogram
from hc_lib.trees import Tree, random_tree


def caterpillar(n_leaves: int) -> Tree:
    """Leaves 0 and 1 merge first, then each further leaf joins the cluster so far."""
    parent = np.empty(2 * n_leaves - 1, dtype=np.int64)
    parent[0] = n_leaves
    parent[1:n_leaves] = n_leaves + np.maximum(np.arange(1, n_leaves) - 1, 0)
    parent[n_leaves:-1] = np.arange(n_leaves + 1, 2 * n_leaves - 1)
    parent[-1] = -1
    return Tree.from_parent(parent, n_leaves)


def strip_colours(ax) -> np.ndarray:
    return ax.collections[-1].get_facecolors()


def test_shallow_tree_marks_every_leaf_with_its_class_in_drawing_order():
    tree = random_tree(30, random_state=0)
    labels = np.arange(30) % 3
    fig, ax = plt.subplots()
    plot_dendrogram(tree, ax, labels=labels)
    order = dendrogram(tree.to_linkage(), no_plot=True)["leaves"]
    np.testing.assert_allclose(strip_colours(ax), class_colours(labels)[order])
    plt.close(fig)


def test_deep_tree_is_drawn_to_its_last_clusters_each_with_its_majority_class():
    n = 3 * MAX_DRAWN_DEPTH        # far deeper than scipy's recursion allows
    tree = caterpillar(n)
    labels = (np.arange(n) >= n - 50).astype(int)    # the last 50 leaves to join form class 1
    fig, ax = plt.subplots()
    plot_dendrogram(tree, ax, labels=labels, heights="level", max_leaves=100)
    colours = strip_colours(ax)
    assert len(colours) == 100
    # the caterpillar's last 99 merges add single leaves (n - 99 ... n - 1) to one big cluster of
    # class 0: 49 of those leaves and the big cluster are class 0, the other 50 class 1
    blue, orange = class_colours([0, 1])
    assert sum(np.allclose(c, blue) for c in colours) == 50
    assert sum(np.allclose(c, orange) for c in colours) == 50
    plt.close(fig)


def test_last_clusters_are_the_clusters_scipy_draws():
    tree = random_tree(200, random_state=1)
    Z = tree.to_linkage()
    drawn = dendrogram(Z, truncate_mode="lastp", p=12, no_plot=True)
    members = _last_clusters(Z, 12)
    sizes = [int(text.strip("()")) if text.startswith("(") else 1 for text in drawn["ivl"]]
    assert [int(np.sum(members == c)) for c in drawn["leaves"]] == sizes
    assert sorted(np.unique(members)) == sorted(drawn["leaves"])


def test_unknown_heights_are_refused():
    with pytest.raises(ValueError, match="heights must be"):
        plot_dendrogram(random_tree(4, random_state=0), heights="depth")


def test_draw_graph_places_every_node():
    adjacency = sp.csr_matrix(np.array([[0, 1, 0], [1, 0, 2], [0, 2, 0]], dtype=float))
    fig, ax = plt.subplots()
    pos = draw_graph(adjacency, ax, labels=[0, 0, 1])
    assert sorted(pos) == [0, 1, 2]
    plt.close(fig)
