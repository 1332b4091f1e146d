"""EPH's straight-through gradient for small graphs: every sample of a step at once, densely.

:func:`hc_lib.eph.expected.score_and_gradients` scores one sampled tree at a time with tree
operations, which is what large graphs need but costs a few dozen small tensor operations per
sample. On a graph of a few dozen nodes that fixed cost is the whole step. Here the ``S``
samples of a step are stacked and scored with FPH's dense closed form (Zügner et al., 2022) on
one-hot matrices, ``T = (I - B)^-1``, ``M = A T``, ``C = (I + (T - I)^2)^-1``, and differentiated
by hand in the same batch (:func:`sample_gradients`).

The arrays are NumPy's: at this size an operation costs about a microsecond in NumPy against
several in torch, and a step is about a hundred of them (:mod:`hc_lib.eph.dense_step` runs the
whole step this way). Given the same uniform noise, this and the tree operations compute the
same gradient up to rounding (``tests/test_tsd_loss.py``).
"""
from __future__ import annotations

import numpy as np
import torch

from hc_lib.eph.probabilistic import check_tsd_loss, published_tsd

__all__ = ["DensePairs", "batched_scores", "sample_gradients", "tree_matrices", "one_hot_parents", "DENSE_NODE_LIMIT"]

#: graphs up to this many nodes use the dense engine by default: there a step's fixed cost
#: dominates, and the dense arrays (samples x n x n') stay small (benchmarks/eph_tiny.py)
DENSE_NODE_LIMIT = 64


class DensePairs:
    """The pair distribution ``p(u, v)`` of a graph as a dense ``n x n`` array, with ``p(u)``.

    Examples
    --------
    >>> from hc_lib.eph.pairs import SparsePairs
    >>> pairs = DensePairs(SparsePairs.from_adjacency(np.array([[0, 1, 0], [1, 0, 3], [0, 3, 0]])))
    >>> pairs.matrix.sum(), pairs.degrees.tolist()
    (np.float64(1.0), [0.125, 0.5, 0.375])
    """

    def __init__(self, pairs):
        if hasattr(pairs, "rows_"):                                  # SimilarityPairs
            X = pairs.rows_
            dense = 0.5 * (1.0 + X @ X.T) - torch.diag(pairs.self_similarity)
            matrix = dense / pairs.total
        else:
            n = pairs.n_nodes
            matrix = torch.zeros(n, n, dtype=pairs.probs.dtype, device=pairs.probs.device)
            matrix.index_put_((pairs.rows, pairs.cols), pairs.probs, accumulate=True)
        self.matrix = matrix.detach().cpu().numpy()
        self.degrees = pairs.degrees.detach().cpu().numpy()
        self.n_nodes = self.matrix.shape[0]


def sample_gradients(graph: DensePairs, A_s: np.ndarray, B_s: np.ndarray, objective="dasgupta",
                     tsd_loss="published", mutual_information=None):
    """Loss of every one-hot sample ``(A_s[i], B_s[i])`` and its gradient with respect to the
    sample, from FPH's dense closed form, in one batch.

    With ``T = (I - B)^-1``, ``M = A T`` and ``C = (I + (T - I)^2)^-1``, the lca masses are
    ``p = diag(M^T P M) C`` and the sizes ``1^T M``; the gradient follows by the chain rule:
    ``dL/dA = dL/dM T^T``, ``dL/dB = T^T dL/dT T^T``, and ``C``'s inverse passes
    ``-C^T dL/dC C^T`` on to ``(T - I)^2``, whose derivative at a 0/1 matrix is ``2 (T - I)``.
    At a tree both matrices are exact without an inverse (:func:`tree_matrices`).

    Returns
    -------
    losses : array (S,)
    grad_A : array (S, n, k)
    grad_B : array (S, k, k)
    """
    check_tsd_loss(tsd_loss)
    T, C = tree_matrices(B_s)
    anc = T - np.eye(T.shape[-1], dtype=T.dtype)
    C_t, T_t = C.swapaxes(-1, -2), T.swapaxes(-1, -2)
    M = A_s @ T                                                       # (S, n, k)
    PM = graph.matrix @ M
    within = (M * PM).sum(axis=-2)                                    # sum_uv p(u,v) M[u] M[v]
    p = _exact_zeros(_row_times(within, C))                           # lca mass of every node
    if objective == "dasgupta":
        sizes = M.sum(axis=-2)
        losses, g_p = (p * sizes).sum(axis=-1), sizes
        grad_M = np.repeat(p[:, None, :], M.shape[1], axis=1)
        grad_C = within[:, :, None] * g_p[:, None, :]
    else:
        mass = graph.degrees @ M                                      # (S, k)
        q = _exact_zeros(_row_times(mass ** 2, C))
        losses, g_p, g_q = _tsd_gradients(p, q, tsd_loss, mutual_information)
        grad_M = graph.degrees[:, None] * (2.0 * mass * _row_times(g_q, C_t))[:, None, :]
        grad_C = within[:, :, None] * g_p[:, None, :] + (mass ** 2)[:, :, None] * g_q[:, None, :]
    grad_M += 2.0 * PM * _row_times(g_p, C_t)[:, None, :]
    grad_T = A_s.swapaxes(-1, -2) @ grad_M - 2.0 * anc * (C_t @ grad_C @ C_t)
    return losses, grad_M @ T_t, T_t @ grad_T @ T_t


def tree_matrices(B_s: np.ndarray):
    """``T = (I - B)^-1`` and ``C = (I + (T - I)^2)^-1`` of a batch of one-hot trees ``B_s``.

    ``T = I + B + B^2 + ...`` marks every node's ancestors (itself included) with 0/1 entries,
    as the ``j``-th ancestor of a node is unique; it is the product of ``I + B^(2^i)``, from
    ``log2 n'`` squarings. ``C`` is then the inverse of ``T`` itself, ``I - B`` (the Möbius
    function of a tree: a node and minus its parent). Both are exact.

    Examples
    --------
    >>> B = np.zeros((1, 3, 3)); B[0, 0, 1] = B[0, 1, 2] = 1.0          # the chain 0 -> 1 -> 2
    >>> T, C = tree_matrices(B)
    >>> T[0].astype(int).tolist(), np.allclose(np.linalg.inv(np.eye(3) - B[0]), T[0])
    ([[1, 1, 1], [0, 1, 1], [0, 0, 1]], True)
    >>> np.array_equal(C[0], np.linalg.inv(np.eye(3) + (T[0] - np.eye(3)) ** 2))
    True
    """
    eye = np.eye(B_s.shape[-1], dtype=B_s.dtype)
    T, power, reach = eye + B_s, B_s, 2
    while reach < B_s.shape[-1]:
        power = power @ power
        T = T @ (eye + power)
        reach *= 2
    return T, eye - B_s


def _row_times(rows: np.ndarray, matrices: np.ndarray) -> np.ndarray:
    """``rows[i] @ matrices[i]`` for a batch of row vectors."""
    return (rows[:, None, :] @ matrices)[:, 0, :]


def _exact_zeros(mass: np.ndarray) -> np.ndarray:
    """:func:`hc_lib.eph.probabilistic.exact_zeros` for arrays: rounding residues of a one-hot
    sample's masses set to exactly zero."""
    size = np.abs(mass)
    return np.where(size <= 64 * np.finfo(mass.dtype).eps * size.sum(axis=-1, keepdims=True), 0.0, mass)


def _tsd_gradients(p, q, tsd_loss, mutual_information):
    """Minus the TSD of every sample and its derivatives with respect to p and q (autograd on
    ``S x n'`` values: the published loss's guards, written once in torch)."""
    p, q = torch.from_numpy(p).requires_grad_(), torch.from_numpy(q).requires_grad_()
    with torch.enable_grad():
        if tsd_loss == "published":
            losses = -published_tsd(p, q)
        else:
            support = (p > 0) & (q > 0)
            ratio = torch.where(support, p / torch.where(support, q, torch.ones_like(q)), torch.ones_like(p))
            losses = -100.0 / mutual_information * (p * torch.log(ratio)).sum(dim=-1)
        g_p, g_q = torch.autograd.grad(losses.sum(), (p, q))
    return losses.detach().numpy(), g_p.numpy(), g_q.numpy()


def one_hot_parents(candidates, n_internal: int, dtype=np.float64):
    """The one-hot ``(A_s, B_s)`` of a list of parent vectors ``(pa, pb)`` (``pb``'s last entry,
    the root's, is ignored), stacked for :func:`sample_gradients` and :func:`batched_scores`."""
    pa = np.stack([np.asarray(parents_a) for parents_a, _ in candidates])
    pb = np.stack([np.asarray(parents_b)[:-1] for _, parents_b in candidates])
    count, n = pa.shape
    A_s = np.zeros((count, n, n_internal), dtype=dtype)
    np.put_along_axis(A_s, pa[:, :, None], 1.0, axis=-1)
    B_s = np.zeros((count, n_internal, n_internal), dtype=dtype)
    np.put_along_axis(B_s[:, :-1], pb[:, :, None], 1.0, axis=-1)
    return A_s, B_s


def batched_scores(graph: DensePairs, A_s: np.ndarray, B_s: np.ndarray) -> np.ndarray:
    """Dasgupta cost of the pruned tree of every one-hot hierarchy ``(A_s[i], B_s[i])``.

    Pruning keeps the lca of two distinct leaves, so their terms are those of the one-hot
    closed form; a self-loop meets at the lowest ancestor holding two leaves or more (the root
    holds them all, so there is one).

    Examples
    --------
    >>> from hc_lib.eph.pairs import SparsePairs
    >>> path = DensePairs(SparsePairs.from_adjacency(np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]])))
    >>> A_s, B_s = one_hot_parents([([0, 0, 1], [1, 1]), ([0, 1, 1], [1, 1])], 2)
    >>> batched_scores(path, A_s, B_s).tolist()   # ((0, 1), 2), and (0, 1, 2) after pruning
    [2.5, 3.0]
    """
    T, C = tree_matrices(B_s)
    M = A_s @ T
    sizes = M.sum(axis=-2)
    loops = np.diagonal(graph.matrix)
    between = graph.matrix - np.diag(loops)
    p = _row_times((M * (between @ M)).sum(axis=-2), C)
    holding = np.where((M > 0.5) & (sizes[:, None, :] >= 2), sizes[:, None, :], np.inf)
    return (p * sizes).sum(axis=-1) + (holding.min(axis=-1) * loops).sum(axis=-1)
