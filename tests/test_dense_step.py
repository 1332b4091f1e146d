"""The dense engine's NumPy step against the torch code it stands for: the tree matrices
against inverses, Adamax against torch's, the projection against the torch projection, and
whole fits against the tree engine on the same noise."""
import numpy as np
import pytest
import torch

from hc_lib.eph import EPH
from hc_lib.eph.dense_expected import tree_matrices
from hc_lib.eph.dense_step import adamax_step, project_rows
from hc_lib.eph.probabilistic import project_rows_to_simplex
from random_graphs import random_graph


def random_trees(count, k, seed, dtype=np.float64):
    """One-hot B of random trees over k internal nodes (node i's parent has a larger index)."""
    rng = np.random.default_rng(seed)
    B = np.zeros((count, k, k), dtype=dtype)
    for tree in B:
        for node in range(k - 1):
            tree[node, rng.integers(node + 1, k)] = 1.0
    return B


@pytest.mark.parametrize("k", [2, 3, 5, 8, 9, 70])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_tree_matrices_are_the_exact_inverses(k, dtype):
    B = random_trees(6, k, k, dtype)
    T, C = tree_matrices(B)
    eye = np.eye(k)
    for b, t, c in zip(B, T, C):
        assert np.array_equal(t, np.round(np.linalg.inv(eye - b)))        # 0/1 ancestor marks
        anc = t - eye
        assert np.array_equal(c, np.round(np.linalg.inv(eye + anc * anc)))


def test_adamax_step_is_torchs_adamax():
    rng = np.random.default_rng(0)
    start = [torch.from_numpy(rng.random((4, 3))), torch.from_numpy(rng.random((3, 3)))]
    ours = [tensor.clone() for tensor in start]
    theirs = [tensor.clone() for tensor in start]
    groups = lambda params: [{"params": [params[0]], "lr": 0.05}, {"params": [params[1]], "lr": 0.1}]
    our_optimizer, their_optimizer = torch.optim.Adamax(groups(ours)), torch.optim.Adamax(groups(theirs))
    for _ in range(30):
        grads = [rng.normal(size=(4, 3)) * 10.0 ** rng.integers(-6, 2), rng.normal(size=(3, 3))]
        adamax_step(our_optimizer, grads)
        for param, grad in zip(theirs, grads):
            param.grad = torch.from_numpy(grad)
        their_optimizer.step()
    for mine, reference in zip(ours, theirs):
        torch.testing.assert_close(mine, reference, rtol=1e-13, atol=0)
    state = our_optimizer.state_dict()["state"]
    torch.testing.assert_close(state[0]["exp_inf"], their_optimizer.state_dict()["state"][0]["exp_inf"],
                               rtol=1e-13, atol=0)
    assert float(state[1]["step"]) == 30.0


@pytest.mark.parametrize("width", [4, 64, 65, 130])
@pytest.mark.parametrize("masked", [False, True])
def test_projection_is_the_torch_projection(width, masked):
    values = np.random.default_rng(width).normal(size=(width, width))
    mask = np.triu(np.ones((width, width), dtype=bool), 1) if masked else None
    expected = project_rows_to_simplex(torch.from_numpy(values), None if mask is None else torch.from_numpy(mask))
    assert np.array_equal(project_rows(values, mask), expected.numpy())


@pytest.mark.parametrize("objective", ["dasgupta", "tsd"])
def test_a_dense_fit_follows_the_tree_engine(objective):
    """Both engines draw the same noise in the same order: the whole fit, Adamax and the
    projections included, gives the same trees step by step."""
    W = random_graph(9, 1)
    fits = [EPH(objective, 6, n_steps=60, n_samples=4, reset_every=20, engine=engine, random_state=3,
                progress=False).fit(W) for engine in ("dense", "tree")]
    dense, tree = fits
    assert dense.history_["score"] == tree.history_["score"]
    np.testing.assert_allclose(dense.history_["objective"][1:], tree.history_["objective"][1:], rtol=1e-12)
    torch.testing.assert_close(dense.hierarchy_.A, tree.hierarchy_.A, rtol=1e-6, atol=1e-8)   # Adamax amplifies rounding
