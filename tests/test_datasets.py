"""hc_lib.datasets: the vendored data, the papers' preprocessing and the similarity graph."""

import hashlib
import os
import shutil
import time

import numpy as np
import pytest
from scipy import sparse
from scipy.sparse import csgraph
from sklearn.datasets import load_digits, load_iris

from hc_lib import datasets
from hc_lib.cohiclust.pretrained import MODELS
from hc_lib.datasets import (GRAPH_NAMES, VECTOR_NAMES, class_names, data_dir, load_graph,
                             load_vectors, normalized_rows, preprocess_graph, similarity_graph)
from hc_lib.graphs import CosineSimilarityGraph

# data/README.md: nodes, undirected edges (self-loops included), self-loops after preprocessing;
# whether the raw graph is directed (then some edges have weight 1); number of classes or None.
GRAPHS = {
    "polblogs": (1222, 16717, 3, True, 2),
    "brain": (1770, 9010, 105, False, None),
    "citeseer": (2110, 3720, 52, True, 6),
    "genes": (2194, 2688, 0, False, None),
    "cora_ml": (2810, 7981, 0, True, 7),
    "openflight": (3097, 18193, 0, False, None),
    "wiki_physics": (3309, 31251, 0, False, None),
}
VECTORS = {"zoo": (101, 16, 7), "iris": (150, 4, 3), "glass": (214, 9, 6), "digits": (1797, 64, 10),
           "segmentation": (2310, 19, 7), "spambase": (4601, 57, 2), "letter": (20000, 16, 26)}


def graph_counts(adjacency):
    loops = int(np.count_nonzero(adjacency.diagonal()))
    return adjacency.shape[0], (adjacency.nnz - loops) // 2 + loops, loops


@pytest.mark.parametrize("name", list(GRAPHS))
def test_graph_matches_readme(name):
    n_nodes, n_edges, n_loops, directed, n_classes = GRAPHS[name]
    adjacency, labels = load_graph(name)
    assert type(adjacency) is sparse.csr_matrix and adjacency.dtype == np.float64
    assert adjacency.has_sorted_indices and adjacency.has_canonical_format
    assert graph_counts(adjacency) == (n_nodes, n_edges, n_loops)
    assert abs(adjacency - adjacency.T).nnz == 0
    assert csgraph.connected_components(adjacency, directed=False)[0] == 1
    diagonal = adjacency.diagonal()
    assert set(np.unique(diagonal[diagonal != 0])) <= {2.0}
    off_diagonal = sparse.triu(adjacency, k=1).data
    assert set(np.unique(off_diagonal)) == ({1.0, 2.0} if directed else {2.0})
    if n_classes is None:
        assert labels is None
    else:
        assert labels.dtype == np.int64 and labels.shape == (n_nodes,)
        assert set(np.unique(labels)) == set(range(n_classes))


def test_dblp_loads_quickly():
    start = time.perf_counter()
    adjacency, labels = load_graph("dblp")
    elapsed = time.perf_counter() - start
    assert graph_counts(adjacency) == (317080, 1049866, 0)
    assert set(np.unique(adjacency.data)) == {2.0}
    assert labels.shape == (317080,) and labels.min() == -1 and labels.max() == 4999
    assert elapsed < 10, f"load_graph('dblp') took {elapsed:.1f} s"


def test_class_names():
    assert class_names("citeseer") == ("AI", "Agents", "DB", "HCI", "IR", "ML")
    assert len(class_names("cora_ml")) == 7
    assert class_names("iris") == ("Iris-setosa", "Iris-versicolor", "Iris-virginica")
    assert class_names("digits") == tuple("0123456789")
    for name in ("polblogs", "dblp", "brain", "genes", "openflight", "wiki_physics"):
        assert class_names(name) is None


def test_preprocess_graph_follows_the_papers():
    raw = np.zeros((7, 7))
    raw[0, 1] = 1.0                 # a smaller component first: dropped
    raw[2, 3] = 3.0                 # one-way edge of weight 3 -> 1
    raw[3, 4] = raw[4, 3] = 1.0     # reciprocal pair -> 2
    raw[4, 4] = 1.0                 # self-loop -> 2
    raw[5, 2] = 0.5                 # one-way edge -> 1
    raw[6, 6] = 1.0                 # an isolated node with a self-loop: dropped
    adjacency, kept = preprocess_graph(sparse.csr_matrix(raw))
    assert kept.tolist() == [2, 3, 4, 5]
    expected = [[0, 1, 0, 1], [1, 0, 2, 0], [0, 2, 2, 0], [1, 0, 0, 0]]
    np.testing.assert_array_equal(adjacency.toarray(), expected)
    with pytest.raises(ValueError, match="square"):
        preprocess_graph(np.ones((2, 3)))


@pytest.mark.parametrize("name", VECTOR_NAMES)
def test_vector_shapes(name):
    n, d, n_classes = VECTORS[name]
    X, y = load_vectors(name)
    assert X.shape == (n, d) and X.dtype == np.float64 and np.all(np.isfinite(X))
    assert y.shape == (n,) and y.dtype == np.int64
    assert set(np.unique(y)) == set(range(n_classes)) and len(class_names(name)) == n_classes


def test_iris_is_the_uci_file():
    X, y = load_vectors("iris")
    sk = load_iris()
    differing = np.flatnonzero((X != sk.data).any(axis=1))
    assert differing.tolist() == [34, 37]   # samples 35 and 38, counted from 1
    np.testing.assert_array_equal(y, sk.target)


def test_digits_is_scikit_learn():
    X, y = load_vectors("digits")
    np.testing.assert_array_equal(X, load_digits().data)
    np.testing.assert_array_equal(y, load_digits().target)


def test_segmentation_graph_has_unit_or_zero_rows():
    X, _ = load_vectors("segmentation")
    assert np.ptp(X[:, 2]) == 0                      # the constant column (3rd, 1-based)
    graph = similarity_graph(X)
    rows = graph.unit_rows
    assert np.all(np.isfinite(rows)) and np.all(rows[:, 2] == 0)
    norms = np.linalg.norm(rows, axis=1)
    assert np.all(np.isclose(norms, 1.0) | (norms == 0))
    assert np.isfinite(graph.total_weight) and np.all(np.isfinite(graph.degrees))


def direct_similarity(X):
    """(1 + cos) / 2 computed the long way, with sample std (ddof=1: the scale cancels)."""
    X = np.asarray(X, dtype=np.float64)
    varies = np.ptp(X, axis=0) > 0   # not std > 0: the std of a constant float column can be 1e-16
    Z = np.zeros_like(X)
    Z[:, varies] = (X[:, varies] - X[:, varies].mean(axis=0)) / X[:, varies].std(axis=0, ddof=1)
    n = len(X)
    S = np.empty((n, n))
    for i in range(n):
        for j in range(n):
            a, b = np.linalg.norm(Z[i]), np.linalg.norm(Z[j])
            cos = Z[i] @ Z[j] / (a * b) if a > 0 and b > 0 else 0.0
            S[i, j] = 0.0 if i == j else (1 + cos) / 2
    return S


def random_data():
    rng = np.random.default_rng(0)
    floats = np.column_stack([rng.normal(size=(12, 3)), np.full(12, 4.2), rng.exponential(size=12)])
    half = rng.integers(-5, 6, size=(5, 3)).astype(float)
    integers = np.column_stack([np.vstack([half, -half, np.zeros((1, 3))]), np.full(11, 3.0)])
    return [floats, integers]   # `integers` has a row equal to the column means: a zero row


@pytest.mark.parametrize("X", random_data())
def test_similarity_graph_equals_direct_computation(X):
    graph = similarity_graph(X)
    assert isinstance(graph, CosineSimilarityGraph)
    dense = graph.to_dense()
    np.testing.assert_allclose(dense, direct_similarity(X), atol=1e-12)
    np.testing.assert_allclose(graph.total_weight, dense.sum(), rtol=1e-12)
    np.testing.assert_allclose(graph.degrees, dense.sum(axis=1), rtol=1e-12)


def test_normalized_rows_zero_row_and_bad_input():
    rows = normalized_rows(random_data()[1])
    assert np.all(rows[-1] == 0) and np.all(rows[:, 3] == 0)
    np.testing.assert_allclose(np.linalg.norm(rows[:-1], axis=1), 1.0)
    with pytest.raises(ValueError, match="2-d"):
        normalized_rows([1.0, 2.0])
    with pytest.raises(ValueError, match="NaN"):
        normalized_rows([[1.0, np.nan], [2.0, 3.0]])


def test_every_file_matches_sha256sums():
    root = data_dir()
    listed = {}
    for line in (root / "SHA256SUMS").read_text().splitlines():
        digest, path = line.split()
        listed[path] = digest
    on_disk = {str(p.relative_to(root)) for p in [*root.glob("*/*.npz"), *root.glob("models/*.pt")]}
    expected = {f"graphs/{g}.npz" for g in GRAPH_NAMES}
    expected |= {f"vectors/{v}.npz" for v in VECTOR_NAMES if v != "digits"}
    expected |= {model.file for model in MODELS.values()}          # the shipped CoHiClust models
    assert set(listed) == on_disk == expected
    for path, digest in listed.items():
        assert hashlib.sha256((root / path).read_bytes()).hexdigest() == digest


def test_hc_lib_data_override_and_checksum(tmp_path, monkeypatch):
    (tmp_path / "graphs").mkdir()
    copy = tmp_path / "graphs" / "polblogs.npz"
    shutil.copyfile(data_dir() / "graphs" / "polblogs.npz", copy)
    monkeypatch.setenv("HC_LIB_DATA", str(tmp_path))
    assert data_dir() == tmp_path
    assert load_graph("polblogs")[0].shape == (1222, 1222)     # an intact copy loads
    with pytest.raises(FileNotFoundError, match="citeseer.npz"):
        load_graph("citeseer")
    content = bytearray(copy.read_bytes())
    content[len(content) // 2] ^= 0xFF
    copy.write_bytes(bytes(content))
    os.utime(copy, ns=(1, 1))   # a changed file gets a new cache key even on coarse clocks
    with pytest.raises(OSError, match="checksum mismatch for .*polblogs.npz"):
        load_graph("polblogs")
    with pytest.raises(OSError, match="checksum mismatch"):
        class_names("polblogs")


def test_verification_is_cached(monkeypatch):
    load_vectors("zoo")
    calls = []
    real = hashlib.sha256
    monkeypatch.setattr(datasets.hashlib, "sha256", lambda *a: calls.append(a) or real(*a))
    load_vectors("zoo")
    assert calls == []


def test_unknown_names():
    with pytest.raises(ValueError, match="unknown graph 'polblog'; known graphs: brain, citeseer"):
        load_graph("polblog")
    with pytest.raises(ValueError, match="unknown vector dataset 'iris2'; known vector datasets: "
                                         "digits, glass, iris"):
        load_vectors("iris2")
    with pytest.raises(ValueError, match="unknown graph 'iris'"):
        load_graph("iris")
    with pytest.raises(ValueError, match="unknown dataset"):
        class_names(None)
