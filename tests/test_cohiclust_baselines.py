"""Table 5's baselines (hc_lib.cohiclust.baselines): each runs on a few hundred MNIST images and
returns a tree over them; our dendrogram purity agrees with ClustPy's; bad input is refused."""
import numpy as np
import pytest
import torch
from clustpy.metrics.external import dendrogram_purity as clustpy_dendrogram_purity
from scipy.cluster.hierarchy import linkage

from hc_lib.cohiclust.baselines import (METHODS, PROFILES, HierarchicalBaseline, evaluate_baseline,
                                        profile_settings, tree_over_clusters)
from hc_lib.cohiclust.data import load_images
from hc_lib.metrics import dendrogram_purity
from hc_lib.published import COHICLUST_TABLE5, cohiclust_table5
from hc_lib.trees import Tree

pytestmark = pytest.mark.usefixtures("one_thread")

N_IMAGES = 300
TINY = {"batch_size": 64, "pretrain_epochs": 1, "clustering_epochs": 2, "grow_interval": 1}


@pytest.fixture(scope="module")
def mnist():
    return load_images("mnist-5k", "all", limit=N_IMAGES)



@pytest.mark.parametrize("method", METHODS)
def test_every_baseline_gives_a_tree_over_the_images_and_flat_labels(mnist, method):
    model = HierarchicalBaseline(method, 10, **TINY, random_state=0).fit(mnist.images)
    assert isinstance(model.tree_, Tree) and model.tree_.n_leaves == N_IMAGES
    assert model.labels_.shape == (N_IMAGES,) and model.labels_.dtype == np.int64
    assert 1 <= np.unique(model.labels_).size <= 10
    assert model.embedding_.shape == (N_IMAGES, 10)
    scores = model.scores(mnist.labels)
    assert set(scores) == {"nmi", "acc", "ari", "dp", "n_clusters"}
    assert all(0.0 <= scores[key] <= 1.0 for key in ("nmi", "acc", "dp"))
    if method == "IDEC":          # complete linkage over the images themselves
        assert model.tree_.is_binary and model.n_tree_clusters_ == N_IMAGES
    else:                         # leaf clusters with their images hung under them
        assert model.tree_.n_internal < N_IMAGES // 2


def clustpy_safe(Z, leaf_of_point):
    """``Z`` and the points' leaves renumbered so that the leaves holding points come first.

    ClustPy 0.0.3's ``dendrogram_purity`` puts a point with predicted label ``c`` in the leaf
    whose rank ``c`` has among the labels that occur (``np.unique``), not in leaf ``c``: the two
    agree only when every leaf of the tree holds a point. DeepECT's trees may have empty leaves.
    """
    n_leaves = Z.shape[0] + 1
    present = np.unique(leaf_of_point)
    new = np.empty(n_leaves, dtype=np.int64)
    new[np.concatenate([present, np.setdiff1d(np.arange(n_leaves), present)])] = np.arange(n_leaves)
    Z = Z.astype(float)
    merged = Z[:, :2].astype(np.int64)
    Z[:, :2] = np.where(merged < n_leaves, new[np.minimum(merged, n_leaves - 1)], merged)
    return Z, new[np.asarray(leaf_of_point, dtype=np.int64)]


def test_our_dendrogram_purity_agrees_with_clustpys_on_a_deepect_tree(mnist):
    # no pruning, so that DeepECT's leaves keep the labels 0..L-1 that ClustPy's export expects
    model = HierarchicalBaseline("DeepECT", 10, **{**TINY, "clustering_epochs": 4}, pruning_threshold=0.0,
                                 random_state=1).fit(mnist.images)
    deepect, classes = model.estimator_, mnist.labels.numpy()
    assert deepect.tree_.n_leaf_nodes_ >= 4
    # ClustPy's representation: its cluster tree as a linkage over the leaves, points by leaf
    Z, leaf_of_point = clustpy_safe(deepect.tree_.export_sklearn_dendrogram(), deepect.labels_)
    theirs = clustpy_dendrogram_purity(Z, classes, leaf_of_point)
    # ours: the Tree over the images that HierarchicalBaseline made of the same ClustPy tree
    assert dendrogram_purity(model.tree_, classes) == pytest.approx(theirs, abs=1e-12)
    assert dendrogram_purity(Tree.from_linkage(Z), classes, leaf_of_point) == pytest.approx(theirs, abs=1e-12)


def test_our_dendrogram_purity_agrees_with_clustpys_on_a_linkage_over_points():
    rng = np.random.default_rng(0)
    classes = rng.integers(0, 4, 120)
    points = rng.normal(size=(120, 3)) + classes[:, None]
    Z = linkage(points, method="complete")
    assert dendrogram_purity(Tree.from_linkage(Z), classes) == pytest.approx(
        clustpy_dendrogram_purity(Z, classes), abs=1e-12)


def test_tree_over_clusters_drops_empty_clusters_and_splices_single_images():
    # cluster tree: 0 -> (1, 2), 1 -> (3, 4); cluster 3 empty, cluster 4 holds one image
    tree = tree_over_clusters([-1, 0, 0, 1, 1], [4, 2, 2, 2])
    assert tree.n_leaves == 4 and tree.n_internal == 2
    assert tree.parent[0] == tree.root                # the lone image hangs from the root now
    assert dendrogram_purity(tree, [0, 1, 1, 1]) == 1.0
    assert evaluate_baseline(tree, [0, 1, 1, 1], [0, 1, 1, 1])["dp"] == 1.0


@pytest.mark.parametrize("images, settings, words", [
    (torch.zeros(20, 1, 8, 8, dtype=torch.uint8), {"method": "DEC"}, "unknown method 'DEC'"),
    (torch.zeros(20, 64, dtype=torch.uint8), {}, "shape"),
    (torch.zeros(20, 2, 8, 8, dtype=torch.uint8), {}, "1 or 3 channels"),
    (torch.zeros(20, 1, 8, 8), {}, "uint8"),
    ([[0, 1], [2, 3]], {}, "uint8 tensor or array"),
    (torch.zeros(20, 1, 8, 8, dtype=torch.uint8), {"n_clusters": 1}, "n_clusters must be at least 2"),
    (torch.zeros(5, 1, 8, 8, dtype=torch.uint8), {"n_clusters": 10}, "5 images cannot form"),
    (torch.zeros(20, 1, 8, 8, dtype=torch.uint8), {"n_clusters": 3}, "constant channel"),
])
def test_bad_input_is_refused_with_the_reason(images, settings, words):
    with pytest.raises(ValueError, match=words):
        HierarchicalBaseline(**{"pretrain_epochs": 0, **settings}).fit(images)


def test_profiles_and_the_papers_table():
    assert set(PROFILES) == {"quick", "paper"}
    assert profile_settings("paper")["max_leaves"] == 20
    with pytest.raises(ValueError, match="unknown profile 'full'"):
        profile_settings("full")
    model_keys = set(HierarchicalBaseline().get_params())
    for profile in PROFILES:
        assert set(profile_settings(profile)) - {"n_images"} <= model_keys
    assert set(COHICLUST_TABLE5) == set(METHODS) | {"CoHiClust"}
    assert cohiclust_table5("IDEC", "fashion-mnist") == {"dp": 0.35, "nmi": 0.58, "acc": 0.53}
    assert cohiclust_table5("CoHiClust", "mnist-5k") == cohiclust_table5("CoHiClust", "mnist")
