"""Small random weighted graphs shared by the tests."""
import numpy as np


def random_graph(n, seed, self_loops=True, density=0.6):
    """Symmetric random weights on about ``density`` of the pairs; edge 0-1 always present."""
    rng = np.random.default_rng(seed)
    W = rng.random((n, n)) * (rng.random((n, n)) < density)
    W = W + W.T
    if not self_loops:
        np.fill_diagonal(W, 0.0)
    W[0, 1] = W[1, 0] = 1.0
    return W
