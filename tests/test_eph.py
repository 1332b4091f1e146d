"""EPH and FPH estimators: short runs improve on their initialisation, seeds repeat, bad input."""
import numpy as np
import pytest

from hc_lib.datasets import load_graph, load_vectors, similarity_graph
from hc_lib.eph import EPH, FPH, initial_tree
from hc_lib.metrics import dasgupta_cost, tree_sampling_divergence


@pytest.fixture(scope="module")
def citeseer():
    adjacency, _ = load_graph("citeseer")
    return adjacency, initial_tree(adjacency, 64)


@pytest.mark.parametrize("objective", ["dasgupta", "tsd"])
def test_short_eph_run_improves_on_its_initialisation(citeseer, objective):
    adjacency, init = citeseer
    model = EPH(objective, n_internal=64, n_steps=25, n_samples=5, random_state=0, progress=False)
    model.fit(adjacency, init_tree=init)
    start = model.history_["score"][0]
    if objective == "dasgupta":
        assert start == pytest.approx(dasgupta_cost(adjacency, init))
        assert model.score_ < start
        assert model.score_ == pytest.approx(dasgupta_cost(adjacency, model.tree_))
    else:
        assert model.score_ > start
        assert model.score_ == pytest.approx(tree_sampling_divergence(adjacency, model.tree_))
    assert len(model.history_["step"]) == 26
    assert model.hierarchy_.argmax_tree().parent.tolist() == model.tree_.parent.tolist()


def test_short_fph_run_improves_on_its_initialisation(citeseer):
    adjacency, init = citeseer
    model = FPH("dasgupta", n_internal=64, n_steps=30, random_state=0, progress=False).fit(adjacency, init_tree=init)
    assert model.score_ <= model.history_["score"][0]
    assert model.score_ == pytest.approx(dasgupta_cost(adjacency, model.tree_))


def test_same_seed_same_tree(citeseer):
    adjacency, init = citeseer
    runs = [EPH(n_internal=64, n_steps=5, n_samples=3, random_state=7, progress=False).fit(adjacency, init_tree=init)
            for _ in range(2)]
    assert runs[0].tree_.parent.tolist() == runs[1].tree_.parent.tolist()
    assert runs[0].history_["objective"][1:] == runs[1].history_["objective"][1:]


def test_eph_on_vector_data_uses_the_exact_similarity_graph():
    X, _ = load_vectors("iris")
    graph = similarity_graph(X)
    model = EPH(n_internal=20, n_steps=10, n_samples=4, random_state=0, progress=False).fit(graph)
    assert model.score_ <= model.history_["score"][0]
    assert model.score_ == pytest.approx(dasgupta_cost(graph, model.tree_))


def test_edge_sampling_is_used_when_asked(citeseer):
    adjacency, init = citeseer
    model = EPH(n_internal=64, n_steps=5, n_samples=2, n_pairs=2000, random_state=0, progress=False)
    model.fit(adjacency, init_tree=init)
    # the reported score stays the exact one on the whole graph
    assert model.score_ == pytest.approx(dasgupta_cost(adjacency, model.tree_))


@pytest.mark.parametrize("make, message", [
    (lambda: EPH("dasgupt"), "unknown objective 'dasgupt'"),
    (lambda: EPH(n_internal=0), "at least 1"),
    (lambda: EPH(n_samples=0), "n_samples"),
    (lambda: FPH("tsdd"), "unknown objective"),
])
def test_bad_settings(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize("graph, message", [
    (np.zeros((4, 4)), "empty"),
    (np.array([[0.0, -1.0], [-1.0, 0.0]]), "negative"),
    (np.array([[0.0, np.nan], [np.nan, 0.0]]), "NaN"),
    (np.ones((3, 3)) - np.eye(3), "exceeds n - 1"),
])
def test_bad_graphs(graph, message):
    with pytest.raises(ValueError, match=message):
        EPH(n_internal=5, n_steps=1, progress=False).fit(graph)


def test_tsd_on_vectors_is_refused():
    X, _ = load_vectors("iris")
    with pytest.raises(ValueError, match="sparse graphs only"):
        EPH("tsd", n_internal=5, n_steps=1, progress=False).fit(similarity_graph(X))
