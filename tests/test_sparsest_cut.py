"""RSC: recursive sparsest cut by spectral sweep (hc_lib/baselines/sparsest_cut.py)."""
import itertools

import numpy as np
import pytest
from scipy import sparse

from hc_lib.baselines.sparsest_cut import RecursiveSpectralSweep, sweep_cut
from hc_lib.datasets import similarity_graph
from hc_lib.experiments import run_experiment
from hc_lib.graphs import as_graph as check_graph
from planted import BAD_INPUTS, planted_graph, recovered


@pytest.mark.parametrize("criterion", ["sparsity", "conductance"])
@pytest.mark.parametrize("seed", range(3))
def test_recovers_the_planted_hierarchy(criterion, seed):
    adjacency, groups, blocks = planted_graph(seed=seed)
    tree = RecursiveSpectralSweep(criterion, random_state=0).fit(sparse.csr_matrix(adjacency)).tree_
    assert tree.n_leaves == adjacency.shape[0]
    assert recovered(tree, groups, blocks)


def test_lanczos_and_dense_eigenvectors_agree():
    """Forcing Lanczos (dense_limit=3) gives the same planted top split as the dense path."""
    adjacency, groups, blocks = planted_graph(seed=4)
    tree = RecursiveSpectralSweep(dense_limit=3, random_state=1).fit(adjacency).tree_
    assert recovered(tree, groups, blocks)


def test_vector_data_through_the_implicit_similarity_graph():
    """Four clusters of points, two per half-space: dense and Lanczos paths both recover them."""
    rng = np.random.default_rng(0)
    centres = np.array([[4.0, 1.0, 0.0], [4.0, -1.0, 0.0], [-4.0, 0.0, 1.0], [-4.0, 0.0, -1.0]])
    X = np.repeat(centres, 10, axis=0) + rng.normal(scale=0.3, size=(40, 3))
    blocks = np.repeat(np.arange(4), 10)
    for dense_limit in (256, 3):
        tree = RecursiveSpectralSweep(dense_limit=dense_limit, random_state=0).fit(similarity_graph(X)).tree_
        assert recovered(tree, blocks // 2, blocks)


def test_sweep_finds_the_sparsest_prefix_by_brute_force():
    rng = np.random.default_rng(3)
    W = rng.random((7, 7))
    W = sparse.csr_matrix(np.triu(W, 1) + np.triu(W, 1).T)
    values = rng.random(7)
    order = np.argsort(values)
    side, score = sweep_cut(W, values)
    dense = W.toarray()
    scores = []
    for k in range(1, 7):
        inside = np.zeros(7, dtype=bool)
        inside[order[:k]] = True
        scores.append(dense[inside][:, ~inside].sum() / (k * (7 - k)))
    assert score == pytest.approx(min(scores))
    assert side.sum() == int(np.argmin(scores)) + 1


def test_disconnected_graph_splits_its_components_first():
    adjacency, groups, blocks = planted_graph(p_out=0.0, seed=1)
    n = adjacency.shape[0]
    padded = np.zeros((n + 2, n + 2))
    padded[:n, :n] = adjacency                               # plus two isolated nodes
    tree = RecursiveSpectralSweep(random_state=0).fit(padded).tree_
    assert tree.n_leaves == n + 2
    assert tree.n_children[tree.root] == 4                   # two groups, two isolated nodes
    assert recovered(tree, np.append(groups, [2, 3]), np.append(blocks, [4, 5]))


def test_tiny_graphs():
    assert RecursiveSpectralSweep().fit([[0, 1], [1, 0]]).tree_.parent.tolist() == [2, 2, -1]
    tree = RecursiveSpectralSweep().fit([[0, 1, 0], [1, 0, 1], [0, 1, 0]]).tree_
    assert tree.n_leaves == 3 and tree.is_binary
    for size in range(3, 7):                                  # complete graphs: every split ties
        tree = RecursiveSpectralSweep().fit(np.ones((size, size))).tree_
        assert tree.is_binary and tree.n_leaves == size


@pytest.mark.parametrize("graph, message", BAD_INPUTS)
def test_bad_input(graph, message):
    with pytest.raises(ValueError, match=message):
        RecursiveSpectralSweep().fit(graph)


def test_bad_settings():
    with pytest.raises(ValueError, match="unknown criterion 'cheeger'"):
        RecursiveSpectralSweep("cheeger")
    with pytest.raises(ValueError, match="dense_limit must be at least 3"):
        RecursiveSpectralSweep(dense_limit=1)


def test_every_split_is_a_valid_partition():
    adjacency, _, _ = planted_graph(seed=2)
    tree = RecursiveSpectralSweep(random_state=0).fit(check_graph(adjacency)).tree_
    for node in range(tree.n_leaves, tree.n_nodes):
        children = tree.children_of(node)
        leaves = [set(tree.leaves_of(int(c)).tolist()) for c in children]
        assert set().union(*leaves) == set(tree.leaves_of(node).tolist())
        assert all(a.isdisjoint(b) for a, b in itertools.combinations(leaves, 2))


def test_rsc_row_of_the_tables():
    """run_experiment builds the row at full resolution, then compresses it to n'."""

    _, tree, record = run_experiment("zoo", "RSC", n_internal=20, progress=False, criterion="conductance")
    assert tree.n_internal == record["n_internal"] == 20
    assert record["published"] == 55.94 and record["settings"] == {"criterion": "conductance"}
    with pytest.raises(ValueError, match="RecursiveSpectralSweep takes no setting n_epochs"):
        run_experiment("zoo", "RSC", n_epochs=3)
