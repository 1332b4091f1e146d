"""One graph interface (hc_lib/graphs.py): both kinds answer alike, input is validated once."""
import sys

import numpy as np
import pytest
from scipy import sparse

from hc_lib.baselines.compression import OBJECTIVES, compress_tree
from hc_lib.datasets import normalized_rows
from hc_lib.eph import FPH
import hc_lib.graphs
from hc_lib.graphs import (CosineSimilarityGraph, SparseGraph, as_graph, as_loop_free_graph, check_adjacency,
                           edge_list)
from hc_lib.trees import random_tree
from random_graphs import random_graph


@pytest.fixture
def both():
    """``(cosine, sparse)``: one similarity graph in both kinds; rows 0 and 1 are antipodal (weight
    0, so no edge) and row 2 is zero."""
    rows = normalized_rows(np.random.default_rng(0).normal(size=(11, 3)))
    rows[:3] = [[1.0, 0.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 0.0]]
    cosine = CosineSimilarityGraph(rows)
    return cosine, SparseGraph(cosine.to_sparse())


def test_both_kinds_give_the_same_sizes_degrees_and_totals(both):
    cosine, sparse_graph = both
    assert cosine.is_complete and not sparse_graph.is_complete
    assert cosine.n_nodes == sparse_graph.n_nodes == 11
    assert cosine.shape == sparse_graph.shape == (11, 11)
    np.testing.assert_allclose(cosine.degrees, sparse_graph.degrees, rtol=1e-12)
    assert cosine.total_weight == pytest.approx(sparse_graph.total_weight, rel=1e-12)


def test_both_kinds_give_the_same_pair_weights_and_products(both):
    cosine, sparse_graph = both
    rng = np.random.default_rng(1)
    rows, cols = rng.integers(11, size=200), rng.integers(11, size=200)
    rows[:11] = cols[:11] = np.arange(11)                        # the diagonal: no self-loop, weight 0
    np.testing.assert_allclose(cosine.pair_weights(rows, cols), sparse_graph.pair_weights(rows, cols), atol=1e-14)
    assert cosine.pair_weights([0, 0], [1, 2]).tolist() == [0.0, 0.5]
    vector = rng.normal(size=11)
    np.testing.assert_allclose(cosine.matvec(vector), sparse_graph.matvec(vector), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(cosine.to_dense(), sparse_graph.to_dense(), atol=0)
    np.testing.assert_allclose(cosine.to_sparse().toarray(), sparse_graph.to_sparse().toarray(), atol=0)


@pytest.mark.parametrize("upper", [False, True])
def test_both_kinds_list_the_same_edges(both, upper):
    cosine, sparse_graph = both
    (rows, cols, weights), (rows_s, cols_s, weights_s) = cosine.edges(upper=upper), sparse_graph.edges(upper=upper)
    assert rows.dtype == cols.dtype == rows_s.dtype == cols_s.dtype == np.int64
    assert rows.tolist() == rows_s.tolist() and cols.tolist() == cols_s.tolist()
    np.testing.assert_allclose(weights, weights_s, rtol=1e-12)
    assert len(rows) == (55 if upper else 110) - (1 if upper else 2)    # the antipodal pair is left out
    assert np.all(rows < cols) if upper else np.all(rows != cols)


@pytest.mark.parametrize("k", [1, 3, 50])
def test_both_kinds_find_the_same_neighbours(both, k):
    cosine, sparse_graph = both
    found = [sorted(row.tolist()) for row in cosine.top_neighbours(k)]
    assert found == [sorted(row.tolist()) for row in sparse_graph.top_neighbours(k)]
    assert all(node not in row for node, row in enumerate(found))
    assert [len(row) for row in found] == [min(k, 9)] * 2 + [min(k, 10)] * 9     # 0 and 1: antipodal
    if k == 3:
        weights = sparse_graph.to_dense()
        assert all(weights[node, row].tolist() == sorted(weights[node, row], reverse=True)
                   for node, row in enumerate(sparse_graph.top_neighbours(k)))       # heaviest first


def test_both_kinds_restrict_to_the_same_subgraph(both):
    cosine, sparse_graph = both
    members = np.array([7, 0, 2, 5])
    small, small_sparse = cosine.subgraph(members), sparse_graph.subgraph(members)
    assert small.is_complete and not small_sparse.is_complete and small.n_nodes == small_sparse.n_nodes == 4
    np.testing.assert_allclose(small.to_dense(), small_sparse.to_dense(), atol=0)
    np.testing.assert_allclose(small.degrees, small_sparse.degrees, rtol=1e-12)
    assert cosine.without_self_loops() is cosine and sparse_graph.without_self_loops() is sparse_graph


def test_self_loops_are_weights_but_not_neighbours():
    W = random_graph(6, 0)                                       # self-loops on the diagonal
    graph = as_graph(W)
    assert graph.pair_weights(np.arange(6), np.arange(6)).tolist() == np.diag(W).tolist()
    assert all(node not in row for node, row in enumerate(graph.top_neighbours(6)))
    rows, cols, weights = graph.edges()
    assert np.array_equal(sparse.coo_matrix((weights, (rows, cols)), shape=(6, 6)).toarray(), W)
    upper = sparse.triu(W, k=1).tocoo()
    assert [part.tolist() for part in graph.edges(upper=True)] == [upper.row.tolist(), upper.col.tolist(),
                                                                  upper.data.tolist()]
    loop_free = graph.without_self_loops()
    assert np.array_equal(loop_free.to_dense(), W - np.diag(np.diag(W)))
    assert loop_free.top_neighbours(2)[0].tolist() == graph.top_neighbours(2)[0].tolist()
    rows, cols, probs = edge_list(W)
    np.testing.assert_allclose(probs, W[rows, cols] / W.sum(), rtol=1e-12)


def test_listing_every_pair_of_a_large_similarity_graph_is_refused(both, monkeypatch):
    cosine, _ = both
    monkeypatch.setattr(hc_lib.graphs, "MAX_LISTED_PAIRS", 100)
    assert len(cosine.edges(upper=True)[0]) == 54                 # 55 pairs: below the limit
    with pytest.raises(ValueError, match="on 11 nodes takes 110 pairs, more than MAX_LISTED_PAIRS = 100"):
        cosine.edges()


# ---------------------------------------------------------------- as_graph
def test_as_graph_returns_graphs_unchanged(both):
    cosine, sparse_graph = both
    assert as_graph(cosine) is cosine and as_graph(sparse_graph) is sparse_graph
    W = random_graph(5, 1)
    for data in (W, W.tolist(), sparse.csr_matrix(W), sparse.coo_array(W)):
        graph = as_graph(data)
        assert isinstance(graph, SparseGraph) and np.array_equal(graph.to_dense(), W)
        assert graph.to_sparse() is graph.to_sparse()              # the stored matrix, not a copy
    assert isinstance(check_adjacency(as_graph(W)), sparse.csr_matrix)
    with pytest.raises(TypeError, match="not a sparse adjacency"):
        check_adjacency(cosine)
    with pytest.raises(TypeError, match="validated square float64 CSR matrix"):
        SparseGraph(W)


BAD = {"negative weights": np.array([[0.0, -1.0], [-1.0, 0.0]]),
       "NaN weights": np.array([[0.0, np.nan], [np.nan, 0.0]]),
       "infinite weights": np.array([[0.0, np.inf], [np.inf, 0.0]]),
       "not symmetric": np.array([[0.0, 1.0], [2.0, 0.0]]),
       "must be square": np.ones((2, 3)),
       "no edge of positive weight": np.zeros((3, 3))}


@pytest.mark.parametrize("message", BAD)
@pytest.mark.parametrize("kind", [np.asarray, np.ndarray.tolist, sparse.csr_matrix])
def test_as_graph_rejects_bad_input(message, kind):
    with pytest.raises(ValueError, match=message):
        as_graph(kind(BAD[message]))


def test_as_graph_rejects_no_nodes_and_text():
    with pytest.raises(ValueError, match="no nodes"):
        as_graph(np.zeros((0, 0)))
    with pytest.raises(ValueError, match="must be numeric"):
        as_graph([["a", "b"], ["c", "d"]])


def test_the_learned_baselines_input_drops_self_loops_and_needs_two_nodes(both):
    cosine, _ = both
    assert as_loop_free_graph(cosine) is cosine
    with pytest.raises(ValueError, match="at least 2 nodes, got 1"):
        as_loop_free_graph([[1.0]])


# ---------------------------------------------------------------- validated once
@pytest.fixture
def validations(monkeypatch):
    """A list that grows by one at every call of check_adjacency, however a module imported it."""
    calls, original = [], hc_lib.graphs.check_adjacency

    def counting(*args, **kwargs):
        calls.append(args)
        return original(*args, **kwargs)

    for name, module in list(sys.modules.items()):
        if name.startswith("hc_lib") and getattr(module, "check_adjacency", None) is original:
            monkeypatch.setattr(module, "check_adjacency", counting)
    return calls


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_compress_tree_validates_a_sparse_input_once(validations, objective):
    W = sparse.csr_matrix(random_graph(12, 2))
    compress_tree(W, random_tree(12, random_state=0), 4, objective)
    assert len(validations) == 1


def test_a_fit_validates_its_graph_once(validations):
    FPH(n_internal=4, n_steps=2, progress=False).fit(random_graph(10, 3))
    assert len(validations) == 1
