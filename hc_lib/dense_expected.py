"""EPH's straight-through gradient for small graphs: every sample of a step at once, densely.

:func:`hc_lib.expected.score_and_gradients` scores one sampled tree at a time with tree
operations, which is what large graphs need but costs a few dozen small tensor operations per
sample. On a graph of a few dozen nodes that fixed cost is the whole step. Here the ``S``
samples of a step are stacked and scored with FPH's dense closed form (Zügner et al., 2022) on
one-hot matrices, ``T = (I - B)^-1``, ``M = A T``, ``C = (I + (T - I)^2)^-1``, and torch's
autograd differentiates the Gumbel-softmax straight-through estimate (a hard sample forward,
the softmax's gradient backward), exactly as the published EPH code does, in one batch.

Given the same uniform noise, both paths compute the same gradient up to rounding
(``tests/test_tsd_loss.py``).
"""
from __future__ import annotations

import torch

from hc_lib.probabilistic import check_tsd_loss, exact_zeros, published_tsd

__all__ = ["DensePairs", "batched_scores", "dense_expected_gradients", "DENSE_NODE_LIMIT"]

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


def _straight_through(weights: torch.Tensor, uniform: torch.Tensor, temperature: float) -> torch.Tensor:
    """Hard one-hot samples forward, the Gumbel-softmax's gradient backward.

    ``softmax((log w + G) / t)`` with ``G = -log(-log U)`` is ``(w / E)^(1/t)`` normalised,
    ``E = -log U``; its argmax is an exact categorical sample of the rows of ``w``.
    """
    noisy = weights / -torch.log(uniform.clamp_min(torch.finfo(weights.dtype).tiny))
    if temperature != 1.0:
        noisy = (noisy / noisy.detach().amax(dim=-1, keepdim=True)) ** (1.0 / temperature)
    soft = noisy / noisy.sum(dim=-1, keepdim=True)
    hard = torch.zeros_like(soft).scatter_(-1, soft.detach().argmax(dim=-1, keepdim=True), 1.0)
    return hard + soft - soft.detach()


def _batched_losses(graph: DensePairs, A_s, B_s, objective, tsd_loss, mutual_information):
    """Closed-form loss of each one-hot sample ``(A_s[i], B_s[i])``: shape (S,)."""
    k = B_s.shape[-1]
    eye = torch.eye(k, dtype=A_s.dtype, device=A_s.device).expand_as(B_s)
    T = torch.linalg.solve_triangular(eye - B_s, eye, upper=True)
    anc = T - eye
    C = torch.linalg.solve_triangular(eye + anc * anc, eye, upper=True)
    M = A_s @ T                                                       # (S, n, k)
    within = (M * (graph.matrix @ M)).sum(dim=-2)                     # sum_uv p(u,v) M[u] M[v]
    p = exact_zeros((within.unsqueeze(-2) @ C).squeeze(-2))          # lca mass of every node
    if objective == "dasgupta":
        return (p * M.sum(dim=-2)).sum(dim=-1)
    q = exact_zeros((((graph.degrees @ M) ** 2).unsqueeze(-2) @ C).squeeze(-2))
    if tsd_loss == "published":
        return -published_tsd(p, q)
    support = (p > 0) & (q > 0)
    ratio = torch.where(support, p / torch.where(support, q, torch.ones_like(q)), torch.ones_like(p))
    return -100.0 / mutual_information * (p * torch.log(ratio)).sum(dim=-1)


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


def dense_expected_gradients(graph: DensePairs, A, B, mask, uniforms, *, objective="dasgupta",
                             tsd_loss="published", mutual_information=None, temperature=1.0,
                             log_offset=1e-9):
    """Monte Carlo estimate of the expected loss of ``(A, B)`` and its straight-through gradients.

    Parameters
    ----------
    graph : DensePairs
    A, B : tensors (n, k) and (k, k)
    mask : bool tensor (k, k)
        Allowed entries of B (strictly upper-triangular).
    uniforms : list of (U_A, U_B) pairs
        The uniform noise of every sample: ``U_A`` of A's shape, ``U_B`` of ``B[:-1]``'s.
    objective, tsd_loss, mutual_information, temperature
        As in :class:`hc_lib.eph.EPH`.

    Returns
    -------
    grad_A, grad_B : tensors
    loss : float
        The mean loss of the samples.
    """
    check_tsd_loss(tsd_loss)
    A = A.detach().requires_grad_()
    B = B.detach().requires_grad_()
    with torch.enable_grad():
        weights_A = A + log_offset
        weights_B = torch.where(mask, B + log_offset, torch.zeros_like(B))[:-1]
        U_A = torch.stack([u for u, _ in uniforms])
        U_B = torch.stack([u for _, u in uniforms])
        A_s = _straight_through(weights_A.expand_as(U_A), U_A, temperature)
        rows = _straight_through(weights_B.expand_as(U_B), U_B, temperature)
        B_s = torch.cat([rows, rows.new_zeros(rows.shape[0], 1, rows.shape[2])], dim=1)   # the root: no parent
        losses = _batched_losses(graph, A_s, B_s, objective, tsd_loss, mutual_information)
        loss = losses.mean()
        grad_A, grad_B = torch.autograd.grad(loss, (A, B))
    return grad_A, grad_B, float(loss.detach())
