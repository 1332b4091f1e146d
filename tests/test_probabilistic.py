"""Probabilistic hierarchies: exact expectations by enumeration, Monte Carlo, closed forms,
straight-through gradients against autograd and finite differences, sparse vs dense pairs."""
import itertools

import numpy as np
import pytest
import torch

from hc_lib.eph.expected import SampledTree, score_and_gradients
from hc_lib.eph.pairs import SimilarityPairs, SparsePairs
from hc_lib.eph.probabilistic import ProbabilisticHierarchy, parents_to_tree, project_rows_to_simplex
from hc_lib.graphs import CosineSimilarityGraph
from hc_lib.metrics import dasgupta_cost, mutual_information, tree_sampling_divergence
from hc_lib.trees import random_tree
from random_graphs import random_graph


def one_hot(pa, pb, k):
    A = torch.zeros(len(pa), k, dtype=torch.float64)
    A[torch.arange(len(pa)), torch.as_tensor(pa)] = 1.0
    B = torch.zeros(k, k, dtype=torch.float64)
    B[torch.arange(k - 1), torch.as_tensor(pb[:-1])] = 1.0
    return A, B


def all_samples(hierarchy):
    """Every (pa, pb) with its probability."""
    n, k = hierarchy.n_leaves, hierarchy.n_internal
    A, B = hierarchy.A.numpy(), hierarchy.B.numpy()
    leaf_choices = itertools.product(range(k), repeat=n)
    internal_choices = list(itertools.product(*[range(i + 1, k) for i in range(k - 1)]))
    for pa in leaf_choices:
        weight_a = np.prod(A[np.arange(n), pa])
        for pb in internal_choices:
            weight = weight_a * np.prod(B[np.arange(k - 1), pb]) if k > 1 else weight_a
            yield np.array(pa), np.array(list(pb) + [k - 1]), weight


@pytest.fixture
def small():
    W = random_graph(5, 0, self_loops=False, density=0.7)
    hierarchy = ProbabilisticHierarchy.random(5, 3, generator=torch.Generator().manual_seed(0))
    return W, hierarchy


def test_every_sample_is_a_valid_tree_with_the_closed_form_score(small):
    W, hierarchy = small
    pairs = SparsePairs.from_adjacency(W)
    total = 0.0
    for pa, pb, weight in all_samples(hierarchy):
        total += weight
        tree = parents_to_tree(torch.as_tensor(pa), torch.as_tensor(pb))
        assert tree.n_leaves == 5
        loss, _, _ = score_and_gradients(pairs, SampledTree(torch.as_tensor(pa), torch.as_tensor(pb)),
                                         gradients=False)
        A, B = one_hot(pa, pb, 3)
        closed = ProbabilisticHierarchy(A, B).soft_dasgupta(pairs)
        assert float(loss) == pytest.approx(float(closed), rel=1e-12)
        assert float(loss) == pytest.approx(dasgupta_cost(W, tree), rel=1e-12)   # no self-loops
    assert total == pytest.approx(1.0)


def test_monte_carlo_matches_exhaustive_expectation(small):
    W, hierarchy = small
    pairs = SparsePairs.from_adjacency(W)
    info = mutual_information(W)
    for objective in ("dasgupta", "tsd"):
        exact = sum(weight * float(score_and_gradients(
            pairs, SampledTree(torch.as_tensor(pa), torch.as_tensor(pb)), objective,
            mutual_information=info, gradients=False)[0]) for pa, pb, weight in all_samples(hierarchy))
        generator = torch.Generator().manual_seed(1)
        draws = [float(score_and_gradients(pairs, SampledTree(*hierarchy.sample(generator)), objective,
                                           mutual_information=info, gradients=False)[0])
                 for _ in range(4000)]
        standard_error = np.std(draws) / np.sqrt(len(draws))
        assert abs(np.mean(draws) - exact) < 4 * standard_error


def test_expectation_and_relaxation_agree_on_one_hot_hierarchies_only(small):
    W, _ = small
    pairs = SparsePairs.from_adjacency(W)
    tree = random_tree(5, random_state=2)
    deterministic = ProbabilisticHierarchy.from_tree(tree)
    assert float(deterministic.soft_dasgupta(pairs)) == pytest.approx(dasgupta_cost(W, tree), rel=1e-12)
    assert float(deterministic.soft_tsd(pairs, mutual_information(W))) == pytest.approx(
        tree_sampling_divergence(W, tree), rel=1e-10)
    # a genuinely random hierarchy: the relaxation is not the expectation
    hierarchy = ProbabilisticHierarchy.random(5, 3, generator=torch.Generator().manual_seed(3))
    exact = sum(weight * float(score_and_gradients(pairs, SampledTree(torch.as_tensor(pa), torch.as_tensor(pb)),
                                                   gradients=False)[0])
                for pa, pb, weight in all_samples(hierarchy))
    assert abs(float(hierarchy.soft_dasgupta(pairs)) - exact) > 1e-3


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("objective", ["dasgupta", "tsd"])
def test_closed_form_gradients_match_autograd(seed, objective):
    n, k = 9, 6
    W = random_graph(n, seed, self_loops=True)
    pairs = SparsePairs.from_adjacency(W)
    info = mutual_information(W)
    generator = torch.Generator().manual_seed(seed)
    pa, pb = ProbabilisticHierarchy.random(n, k, generator=generator).sample(generator)
    A, B = one_hot(pa, pb, k)
    A.requires_grad_()
    B.requires_grad_()
    dense = ProbabilisticHierarchy(A, B, validate=False)
    reference = dense.soft_dasgupta(pairs) if objective == "dasgupta" else -dense.soft_tsd(pairs, info)
    grad_A, grad_B = torch.autograd.grad(reference, [A, B])
    loss, ours_A, ours_B = score_and_gradients(pairs, SampledTree(pa, pb), objective, mutual_information=info)
    upper = torch.ones(k, k, dtype=torch.bool).triu(1)
    assert float(loss) == pytest.approx(float(reference.detach()), rel=1e-12)
    torch.testing.assert_close(ours_A, grad_A, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(ours_B[upper], grad_B[upper], rtol=1e-10, atol=1e-10)


def test_similarity_pairs_match_their_dense_graph():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(10, 3))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    X[4] = 0.0
    graph = CosineSimilarityGraph(X)
    low_rank, sparse = SimilarityPairs(graph), SparsePairs.from_adjacency(graph.to_dense())
    generator = torch.Generator().manual_seed(0)
    hierarchy = ProbabilisticHierarchy.random(10, 5, generator=generator)
    M = hierarchy.ancestor_probabilities()
    torch.testing.assert_close(low_rank.within(M), sparse.within(M))
    torch.testing.assert_close(low_rank.degrees, sparse.degrees)
    pa, pb = hierarchy.sample(generator)
    tree = SampledTree(pa, pb)
    for a, b in zip(score_and_gradients(low_rank, tree), score_and_gradients(sparse, SampledTree(pa, pb))):
        torch.testing.assert_close(a, b)


def test_closed_form_gradient_against_finite_differences():
    W = random_graph(6, 5, self_loops=False, density=0.7)
    pairs = SparsePairs.from_adjacency(W)
    hierarchy = ProbabilisticHierarchy.random(6, 4, generator=torch.Generator().manual_seed(5))
    A = hierarchy.A.clone().requires_grad_()
    B = hierarchy.B.clone().requires_grad_()
    value = ProbabilisticHierarchy(A, B, validate=False).soft_dasgupta(pairs)
    grad_A, grad_B = torch.autograd.grad(value, [A, B])
    direction_A = torch.randn(6, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(6))
    direction_B = torch.randn(4, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(7)).triu(1)
    step = 1e-6

    def at(t):
        return float(ProbabilisticHierarchy(hierarchy.A + t * direction_A, hierarchy.B + t * direction_B,
                                            validate=False).soft_dasgupta(pairs))

    numeric = (at(step) - at(-step)) / (2 * step)
    analytic = float((grad_A * direction_A).sum() + (grad_B * direction_B).sum())
    assert numeric == pytest.approx(analytic, rel=1e-6)


def test_lca_table_of_sampled_trees_against_brute_force():
    generator = torch.Generator().manual_seed(8)
    hierarchy = ProbabilisticHierarchy.random(30, 40, generator=generator)
    for _ in range(3):
        _, pb = hierarchy.sample(generator)
        tree = SampledTree(torch.zeros(30, dtype=torch.long), pb)
        up = pb.tolist()

        def ancestors(x):
            path = [x]
            while path[-1] != 39:
                path.append(up[path[-1]])
            return path

        a, b = torch.meshgrid(torch.arange(40), torch.arange(40), indexing="ij")
        table = tree.lca(a.reshape(-1), b.reshape(-1)).reshape(40, 40).tolist()
        values = torch.randn(40, dtype=torch.float64, generator=generator)
        sums = tree.common_path_sums(values)
        for a in range(40):
            above = ancestors(a)
            for b in range(40):
                lowest = next(x for x in ancestors(b) if x in above)
                assert table[a][b] == lowest
                assert float(sums[a, b]) == pytest.approx(float(values[ancestors(lowest)].sum()))


def test_sampling_frequencies_follow_the_rows():
    hierarchy = ProbabilisticHierarchy.random(3, 3, generator=torch.Generator().manual_seed(9))
    generator = torch.Generator().manual_seed(10)
    draws = torch.stack([hierarchy.sample(generator)[0] for _ in range(6000)])
    frequencies = torch.stack([(draws == j).double().mean(dim=0) for j in range(3)], dim=1)
    torch.testing.assert_close(frequencies, hierarchy.A, atol=0.03, rtol=0)


def test_from_tree_and_argmax_tree_round_trip():
    tree = random_tree(12, binary=False, random_state=11)
    back = ProbabilisticHierarchy.from_tree(tree).argmax_tree()
    assert back.parent.tolist() == tree.parent.tolist()


def test_projection_onto_the_simplex():
    rows = torch.randn(50, 7, dtype=torch.float64, generator=torch.Generator().manual_seed(12))
    projected = project_rows_to_simplex(rows)
    assert torch.all(projected >= 0)
    torch.testing.assert_close(projected.sum(dim=1), torch.ones(50, dtype=torch.float64))
    torch.testing.assert_close(project_rows_to_simplex(projected), projected)
    # optimality: no feasible point nearby is closer (random feasible perturbations)
    for _ in range(20):
        other = project_rows_to_simplex(projected + 0.1 * torch.randn_like(projected))
        assert torch.all(((other - rows) ** 2).sum(1) >= ((projected - rows) ** 2).sum(1) - 1e-12)
    mask = torch.ones(4, 4, dtype=torch.bool).triu(1)
    masked = project_rows_to_simplex(torch.rand(4, 4, dtype=torch.float64), mask)
    assert torch.all(masked[~mask] == 0)
    torch.testing.assert_close(masked[:-1].sum(1), torch.ones(3, dtype=torch.float64))



def _sorted_projection(rows):
    """The textbook projection: sort, find the last index whose entry stays positive."""
    ordered = torch.sort(rows, dim=1, descending=True).values
    cumulative = ordered.cumsum(dim=1) - 1.0
    ranks = torch.arange(1, rows.shape[1] + 1, dtype=rows.dtype)
    count = (ordered - cumulative / ranks > 0).sum(dim=1, keepdim=True)
    return (rows - cumulative.gather(1, count - 1) / count).clamp(min=0.0)


@pytest.mark.parametrize("scale", [0.01, 1.0, 100.0])
@pytest.mark.parametrize("width", [8, 300])                  # sorted, and by Michelot's algorithm
def test_projection_equals_the_sorting_algorithm(scale, width):
    generator = torch.Generator().manual_seed(13)
    rows = scale * torch.randn(200, width, dtype=torch.float64, generator=generator)
    rows[:8] = torch.eye(width, dtype=torch.float64)[:8] + 0.05 * torch.sign(rows[:8])    # one-hot after a step
    torch.testing.assert_close(project_rows_to_simplex(rows), _sorted_projection(rows), rtol=0, atol=1e-14)

@pytest.mark.parametrize("A, B, message", [
    (torch.ones(3, 2) / 2, torch.tensor([[0.0, 1.0], [1.0, 0.0]]), "upper-triangular"),
    (torch.ones(3, 2), torch.tensor([[0.0, 1.0], [0.0, 0.0]]), "sum to one"),
    (-torch.ones(3, 2) / 2, torch.tensor([[0.0, 1.0], [0.0, 0.0]]), "negative"),
    (torch.full((3, 2), float("nan")), torch.tensor([[0.0, 1.0], [0.0, 0.0]]), "NaN"),
    (torch.ones(3, 2) / 2, torch.zeros(3, 3), "A must be"),
])
def test_invalid_hierarchies(A, B, message):
    with pytest.raises(ValueError, match=message):
        ProbabilisticHierarchy(A.double(), B.double())


def test_random_hierarchies_stay_finite_in_float32():
    """float32 draws an exact zero about once in 2^24 uniforms (this seed draws one among A's);
    a large random start must not turn it into an infinite weight."""
    hierarchy = ProbabilisticHierarchy.random(20_000, 512, generator=torch.Generator().manual_seed(1),
                                              dtype=torch.float32)
    assert torch.isfinite(hierarchy.A).all() and torch.isfinite(hierarchy.B).all()
