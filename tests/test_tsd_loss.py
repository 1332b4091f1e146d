"""The published TSD loss (guarded KL in nats) and the dense engine: gradients on sampled trees
with empty and single-leaf nodes, against a literal dense transcription of the published
formula differentiated by autograd; the dense engine against the tree operations."""
import numpy as np
import pytest
import torch

from hc_lib.eph import EPH
from hc_lib.eph.dense_expected import DensePairs, sample_gradients
from hc_lib.eph.expected import SampledTree, score_and_gradients
from hc_lib.eph.pairs import SimilarityPairs, SparsePairs
from hc_lib.eph.probabilistic import ProbabilisticHierarchy, published_tsd
from hc_lib.graphs import CosineSimilarityGraph
from hc_lib.metrics import mutual_information
from random_graphs import random_graph

GUARD = 1e-7


def literal_published_tsd(A, B, W):
    """The published code's TSD on (A, B), transcribed step by step (torch.inverse, dense W)."""
    P = torch.as_tensor(W / W.sum())
    degrees = P.sum(dim=1)
    eye = torch.eye(B.shape[0], dtype=B.dtype)
    ancestors = torch.inverse(eye - B) - eye
    square_inverse = torch.inverse(eye + torch.triu(ancestors, diagonal=1) ** 2)
    M = A @ (ancestors + eye)
    rows, cols = np.nonzero(W)
    p = ((M[rows] * M[cols]) @ square_inverse * P[rows, cols][:, None]).sum(dim=0)
    q = (((degrees @ M) * (degrees @ M)) @ square_inverse)
    if p.min() < 0:
        p = p - p.min()
        p = p / p.sum()
    if q.min() < 0:
        q = q - q.min()
        q = q / q.sum()
    q = q + GUARD
    q = q / q.sum()
    if (p <= 0).any():
        p = p - p.min() + GUARD
        p = p / p.sum()
    return (p * (p / q.clamp_min(GUARD)).log()).sum()


@pytest.fixture
def awkward_sample():
    """Five leaves, five internal nodes: node 1 holds one leaf and no self-loop (p = 0), node 3
    holds nothing (an empty node), node 2 has a single internal child."""
    W = random_graph(5, 3, self_loops=False, density=0.8)
    pa = torch.tensor([0, 0, 1, 4, 4])
    pb = torch.tensor([2, 4, 4, 4, 4])
    return W, pa, pb


def test_the_sample_has_nodes_without_edge_mass(awkward_sample):
    W, pa, pb = awkward_sample
    pairs = SparsePairs.from_adjacency(W)
    tree = SampledTree(pa, pb)
    p = pairs.lca_mass(tree)
    assert (p.abs() < 1e-15).sum() >= 3   # nodes 1, 2 and 3 meet no edge (up to rounding)


def test_published_gradients_match_autograd_of_the_published_formula(awkward_sample):
    W, pa, pb = awkward_sample
    A, B = (matrix.requires_grad_() for matrix in
            (lambda h: (h.A.clone(), h.B.clone()))(ProbabilisticHierarchy.from_parents(pa, pb)))
    reference = -literal_published_tsd(A, B, W)
    ref_A, ref_B = torch.autograd.grad(reference, (A, B))
    pairs = SparsePairs.from_adjacency(W)
    loss, grad_A, grad_B = score_and_gradients(pairs, SampledTree(pa, pb), "tsd", tsd_loss="published",
                                               mutual_information=mutual_information(W))
    assert float(loss) == pytest.approx(float(reference.detach()), rel=1e-10)
    mask = torch.ones(5, 5, dtype=torch.bool).triu(1)
    torch.testing.assert_close(grad_A, ref_A, rtol=1e-8, atol=1e-10)
    torch.testing.assert_close(grad_B[mask], ref_B[mask], rtol=1e-8, atol=1e-10)


def test_the_guards_change_the_gradient_where_nodes_meet_no_edge(awkward_sample):
    W, pa, pb = awkward_sample
    pairs, info = SparsePairs.from_adjacency(W), mutual_information(W)
    _, pub_A, _ = score_and_gradients(pairs, SampledTree(pa, pb), "tsd", tsd_loss="published",
                                      mutual_information=info)
    exact_loss, exact_A, _ = score_and_gradients(pairs, SampledTree(pa, pb), "tsd", tsd_loss="exact",
                                                 mutual_information=info)
    scaled = pub_A * 100.0 / info                         # the exact loss is in units of 100 / I
    assert not torch.allclose(scaled, exact_A, rtol=1e-3)


def test_published_tsd_is_the_kl_divergence_when_every_node_has_mass():
    generator = torch.Generator().manual_seed(0)
    p = torch.rand(3, 6, generator=generator, dtype=torch.float64)
    q = torch.rand(3, 6, generator=generator, dtype=torch.float64)
    p, q = p / p.sum(dim=1, keepdim=True), q / q.sum(dim=1, keepdim=True)
    exact = (p * (p / q).log()).sum(dim=1)
    torch.testing.assert_close(published_tsd(p, q), exact, atol=1e-5, rtol=0)      # only q + 1e-7 differs
    for row in range(3):                                  # batched rows = one row at a time
        assert float(published_tsd(p[row], q[row])) == pytest.approx(float(published_tsd(p, q)[row]))


@pytest.mark.parametrize("objective, tsd_loss", [("dasgupta", "published"), ("tsd", "published"), ("tsd", "exact")])
def test_dense_engine_matches_the_tree_operations(objective, tsd_loss):
    W = random_graph(7, 4)
    hierarchy = ProbabilisticHierarchy.random(7, 6, generator=torch.Generator().manual_seed(2))
    results = []
    for engine in ("dense", "tree"):
        model = EPH(objective, 6, n_samples=6, engine=engine, tsd_loss=tsd_loss, progress=False)
        model._prepare(W, None)
        results.append(model.expected_gradients(hierarchy.A, hierarchy.B, model._pairs, model._mask,
                                                torch.Generator().manual_seed(9)))
    (dense_A, dense_B, dense_loss), (tree_A, tree_B, tree_loss) = results
    assert dense_loss == pytest.approx(tree_loss, rel=1e-12)
    torch.testing.assert_close(dense_A, tree_A, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(dense_B, tree_B, rtol=1e-9, atol=1e-12)


def test_dense_pairs_of_vectors_are_the_similarity_graph():

    X = np.random.default_rng(0).normal(size=(6, 3))
    graph = CosineSimilarityGraph(X / np.linalg.norm(X, axis=1, keepdims=True))
    dense = DensePairs(SimilarityPairs(graph)).matrix
    expected = graph.to_dense() / graph.to_dense().sum()
    np.testing.assert_allclose(dense, expected, atol=1e-15)


def test_dense_engine_refuses_a_bad_tsd_loss():
    A = np.full((3, 2), 0.5)
    B = np.array([[0.0, 1.0], [0.0, 0.0]])
    with pytest.raises(ValueError, match="unknown tsd_loss"):
        sample_gradients(None, A[None], B[None], "tsd", tsd_loss="nats")
