"""EPH's straight-through gradient for small graphs: every sample of a step at once, densely.

:func:`hc_lib.eph.expected.score_and_gradients` scores one sampled tree at a time with tree
operations, which is what large graphs need but costs a few dozen small tensor operations per
sample. On a graph of a few dozen nodes that fixed cost is the whole step. Here the ``S``
samples of a step are stacked and scored with FPH's dense closed form (Zügner et al., 2022) on
one-hot matrices, ``T = (I - B)^-1``, ``M = A T``, ``C = (I + (T - I)^2)^-1``, and differentiated
by hand in the same batch (:func:`sample_gradients`); :class:`hc_lib.eph.EPH` passes the
gradients on through the Gumbel-softmax as for the tree operations.

Given the same uniform noise, both paths compute the same gradient up to rounding
(``tests/test_tsd_loss.py``).
"""
from __future__ import annotations

import torch

from hc_lib.eph.probabilistic import check_tsd_loss, exact_zeros, published_tsd

__all__ = ["DensePairs", "batched_scores", "sample_gradients", "DENSE_NODE_LIMIT"]

#: graphs up to this many nodes use the dense engine by default: there a step's fixed cost
#: dominates, and the dense tensors (samples x n x n') stay small (benchmarks/eph_tiny.py)
DENSE_NODE_LIMIT = 64


class DensePairs:
    """The pair distribution ``p(u, v)`` of a graph as a dense ``n x n`` tensor, with ``p(u)``."""

    def __init__(self, pairs):
        if hasattr(pairs, "rows_"):                                  # SimilarityPairs
            X = pairs.rows_
            dense = 0.5 * (1.0 + X @ X.T) - torch.diag(pairs.self_similarity)
            self.matrix = dense / pairs.total
        else:
            n = pairs.n_nodes
            self.matrix = torch.zeros(n, n, dtype=pairs.probs.dtype, device=pairs.probs.device)
            self.matrix.index_put_((pairs.rows, pairs.cols), pairs.probs, accumulate=True)
        self.degrees = pairs.degrees
        self.n_nodes = self.matrix.shape[0]


def sample_gradients(graph: DensePairs, A_s, B_s, objective="dasgupta", tsd_loss="published",
                     mutual_information=None):
    """Loss of every one-hot sample ``(A_s[i], B_s[i])`` and its gradient with respect to the
    sample, from FPH's dense closed form, in one batch.

    With ``T = (I - B)^-1``, ``M = A T`` and ``C = (I + (T - I)^2)^-1``, the lca masses are
    ``p = diag(M^T P M) C`` and the sizes ``1^T M``; the gradient follows by the chain rule:
    ``dL/dA = dL/dM T^T``, ``dL/dB = T^T dL/dT T^T``, and ``C``'s inverse passes
    ``-C^T dL/dC C^T`` on to ``(T - I)^2``, whose derivative at a 0/1 matrix is ``2 (T - I)``.

    Returns
    -------
    losses : tensor (S,)
    grad_A : tensor (S, n, k)
    grad_B : tensor (S, k, k)
    """
    check_tsd_loss(tsd_loss)
    k = B_s.shape[-1]
    eye = torch.eye(k, dtype=A_s.dtype, device=A_s.device).expand_as(B_s)
    T = torch.linalg.solve_triangular(eye - B_s, eye, upper=True)
    anc = T - eye
    C = torch.linalg.solve_triangular(eye + anc * anc, eye, upper=True)
    M = A_s @ T                                                       # (S, n, k)
    PM = graph.matrix @ M
    within = (M * PM).sum(dim=-2)                                     # sum_uv p(u,v) M[u] M[v]
    p = exact_zeros(_row_times(within, C))                           # lca mass of every node
    if objective == "dasgupta":
        sizes = M.sum(dim=-2)
        losses, g_p = (p * sizes).sum(dim=-1), sizes
        grad_M = p.unsqueeze(-2).expand_as(M).clone()
    else:
        mass = graph.degrees @ M                                      # (S, k)
        q = exact_zeros(_row_times(mass ** 2, C))
        losses, g_p, g_q = _tsd_gradients(p, q, tsd_loss, mutual_information)
        g_square = _row_times(g_q, C.transpose(-1, -2))
        grad_M = graph.degrees[:, None] * (2.0 * mass * g_square).unsqueeze(-2)
    g_within = _row_times(g_p, C.transpose(-1, -2))
    grad_M += 2.0 * PM * g_within.unsqueeze(-2)
    grad_C = within.unsqueeze(-1) * g_p.unsqueeze(-2)
    if objective == "tsd":
        grad_C += (mass ** 2).unsqueeze(-1) * g_q.unsqueeze(-2)
    C_t = C.transpose(-1, -2)
    grad_T = A_s.transpose(-1, -2) @ grad_M - 2.0 * anc * (C_t @ grad_C @ C_t)
    T_t = T.transpose(-1, -2)
    return losses, grad_M @ T_t, T_t @ grad_T @ T_t


def _row_times(rows: torch.Tensor, matrices: torch.Tensor) -> torch.Tensor:
    """``rows[i] @ matrices[i]`` for a batch of row vectors."""
    return (rows.unsqueeze(-2) @ matrices).squeeze(-2)


def _tsd_gradients(p, q, tsd_loss, mutual_information):
    """Minus the TSD of every sample and its derivatives with respect to p and q."""
    p, q = p.detach().requires_grad_(), q.detach().requires_grad_()
    with torch.enable_grad():
        if tsd_loss == "published":
            losses = -published_tsd(p, q)
        else:
            support = (p > 0) & (q > 0)
            ratio = torch.where(support, p / torch.where(support, q, torch.ones_like(q)), torch.ones_like(p))
            losses = -100.0 / mutual_information * (p * torch.log(ratio)).sum(dim=-1)
        g_p, g_q = torch.autograd.grad(losses.sum(), (p, q))
    return losses.detach(), g_p, g_q


def batched_scores(graph: DensePairs, A_s: torch.Tensor, B_s: torch.Tensor) -> torch.Tensor:
    """Dasgupta cost of the pruned tree of every one-hot hierarchy ``(A_s[i], B_s[i])``.

    Pruning keeps the lca of two distinct leaves, so their terms are those of the one-hot
    closed form; a self-loop meets at the lowest ancestor holding two leaves or more.
    """
    with torch.no_grad():
        k = B_s.shape[-1]
        eye = torch.eye(k, dtype=A_s.dtype, device=A_s.device).expand_as(B_s)
        T = torch.linalg.solve_triangular(eye - B_s, eye, upper=True)
        anc = T - eye
        C = torch.linalg.solve_triangular(eye + anc * anc, eye, upper=True)
        M = A_s @ T
        sizes = M.sum(dim=-2)
        loops = torch.diagonal(graph.matrix)
        between = graph.matrix - torch.diag(loops)
        p = ((M * (between @ M)).sum(dim=-2).unsqueeze(-2) @ C).squeeze(-2)
        holding = torch.where((M > 0.5) & (sizes[:, None, :] >= 2), sizes[:, None, :], torch.inf)
        return (p * sizes).sum(dim=-1) + (holding.amin(dim=-1) * loops).sum(dim=-1)
