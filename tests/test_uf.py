"""UF: ultrametric fitting by gradient descent on higra (hc_lib/baselines/ultrametric_fitting.py)."""
import higra as hg
import numpy as np
import pytest
import torch

from hc_lib.baselines.ultrametric_fitting import UltrametricFitting, _ancestor_table, _soft_area
from hc_lib.datasets import similarity_graph
from hc_lib.experiments import run_experiment
from hc_lib.metrics import dasgupta_cost, dendrogram_purity
from planted import BAD_INPUTS, planted_graph, recovered


def clustered_points(seed=0):
    """Four clusters of 12 points, two on each side of the origin: a planted hierarchy."""
    rng = np.random.default_rng(seed)
    centres = np.array([[4.0, 1.0, 0.0], [4.0, -1.0, 0.0], [-4.0, 0.0, 1.0], [-4.0, 0.0, -1.0]])
    blocks = np.repeat(np.arange(4), 12)
    return centres[blocks] + rng.normal(scale=0.3, size=(48, 3)), blocks


@pytest.mark.parametrize("seed", range(2))
def test_recovers_the_planted_hierarchy_of_a_weighted_graph(seed):
    """Similarities measured with noise on the planted SBM's edges."""
    adjacency, groups, blocks = planted_graph(seed=seed)
    noise = np.random.default_rng(seed).random(adjacency.shape)
    weights = adjacency * np.where(blocks[:, None] == blocks[None, :], 3.0,
                                   np.where(groups[:, None] == groups[None, :], 2.0, 1.0)) * (1 + 0.1 * (noise + noise.T))
    model = UltrametricFitting().fit(weights)
    assert recovered(model.tree_, groups, blocks)
    assert model.history_[-1] <= model.history_[0]


@pytest.mark.parametrize("n_neighbors", [None, 20])
def test_recovers_clusters_of_vector_data(n_neighbors):
    X, blocks = clustered_points()
    tree = UltrametricFitting(n_neighbors=n_neighbors).fit(similarity_graph(X)).tree_
    assert recovered(tree, blocks // 2, blocks)


def test_unweighted_graph_top_split():
    """Unweighted graphs tie every dissimilarity: UF starts from higra's tie order and, on the
    planted SBM, finds the two groups (the sub-blocks only in part, see the module docstring)."""
    adjacency, groups, blocks = planted_graph(seed=0)
    tree = UltrametricFitting().fit(adjacency).tree_
    assert dendrogram_purity(tree, groups) == 1.0
    assert dendrogram_purity(tree, blocks) > 0.5


def test_the_fit_lowers_the_dasgupta_cost_of_its_start():
    adjacency, _, _ = planted_graph(seed=1)
    start = UltrametricFitting(n_epochs=1).fit(adjacency).tree_
    fitted = UltrametricFitting().fit(adjacency).tree_
    assert dasgupta_cost(adjacency, fitted) < dasgupta_cost(adjacency, start)


@pytest.mark.parametrize("loss", ["closest", "closest+size"])
def test_other_losses_fit_a_tree(loss):
    X, blocks = clustered_points(1)
    model = UltrametricFitting(loss, n_epochs=50).fit(similarity_graph(X))
    assert model.tree_.n_leaves == 48 and model.tree_.is_binary
    assert dendrogram_purity(model.tree_, blocks) > 0.9


def test_soft_cardinality_tends_to_three_quarters_of_the_size():
    """The paper's soft cardinality counts the pairs meeting at the node itself one half."""
    rng = np.random.default_rng(0)
    graph = hg.get_4_adjacency_graph((4, 5))
    tree, altitudes = hg.bpt_canonical(graph, rng.permutation(graph.num_edges()) + 1.0)
    u, v = graph.edge_list()
    ancestors, gains = _ancestor_table(tree)
    ends = np.stack([u, v], axis=1)[tree.mst_edge_map]
    soft = _soft_area(torch.tensor(altitudes, dtype=torch.float64), ancestors, gains, ends, 1e3)
    assert soft.numpy() == pytest.approx(0.75 * hg.attribute_area(tree)[20:], abs=1e-6)


def test_disconnected_graph_joins_components_at_the_top():
    adjacency, groups, blocks = planted_graph(p_out=0.0, seed=2)
    n = adjacency.shape[0]
    padded = np.zeros((n + 3, n + 3))
    padded[:n, :n] = adjacency
    padded[n, n + 1] = padded[n + 1, n] = 1.0                 # a component of two nodes, one isolated node
    tree = UltrametricFitting(n_epochs=30).fit(padded).tree_
    assert tree.n_leaves == n + 3 and tree.is_binary
    labels = np.append(groups, [2, 2, 3])
    assert dendrogram_purity(tree, labels) == 1.0


@pytest.mark.parametrize("graph, message", BAD_INPUTS)
def test_bad_input(graph, message):
    with pytest.raises(ValueError, match=message):
        UltrametricFitting().fit(graph)


@pytest.mark.parametrize("settings, message", [
    ({"loss": "ward"}, "unknown loss 'ward'"),
    ({"n_epochs": 0}, "n_epochs must be positive"),
    ({"sharpness": -1.0}, "sharpness must be positive"),
    ({"gamma": -1.0}, "must be non-negative"),
    ({"n_neighbors": 0}, "n_neighbors must be a positive integer"),
])
def test_bad_settings(settings, message):
    with pytest.raises(ValueError, match=message):
        UltrametricFitting(**settings)


def test_uf_row_of_the_tables():

    _, tree, record = run_experiment("zoo", "UF", n_internal=30, progress=False, n_epochs=5)
    assert tree.n_internal == 30 and record["published"] == 56.28
    with pytest.raises(ValueError, match="UltrametricFitting takes no setting random_state"):
        run_experiment("zoo", "UF", random_state=3)
