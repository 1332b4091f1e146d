"""Scores of sampled discrete trees and their straight-through gradients, in closed form.

EPH estimates the expected score of a probabilistic hierarchy (A, B) by sampling discrete
trees and differentiates FPH's closed-form score at each one-hot sample (Gumbel-softmax,
straight-through). Evaluated naively, that closed form and its gradient cost dense
``n x n' x n'`` products per sample. At a one-hot sample, though, every matrix in it is a
tree operation: ``(I - B)^-1`` is the ancestor relation, its inverse ``I - B``, and products
with them are sums along root paths or over subtrees. This module computes the score and the
exact gradient of the closed form with respect to the sampled A and B with those tree
operations and one sparse product per sample: O(|E| n' + n n') instead of O(n n'^2).

The gradient formulas are checked against torch's autograd of the dense closed form in
``tests/test_expected.py``.
"""
from __future__ import annotations

import torch

from hc_lib.probabilistic import check_tsd_loss, exact_zeros, published_tsd

__all__ = ["SampledTree", "score_and_gradients", "segment_sum", "OBJECTIVES"]

OBJECTIVES = ("dasgupta", "tsd")


def segment_sum(index: torch.Tensor, values: torch.Tensor, size: int, dim: int = 0) -> torch.Tensor:
    """``out[i] = sum of values[j] over index[j] == i`` along ``dim`` (``index_add`` semantics;
    ``scatter_add`` is much faster than ``index_add`` on CPU when indices repeat a lot)."""
    shape = list(values.shape)
    shape[dim] = size
    view = [1] * values.ndim
    view[dim] = -1
    return values.new_zeros(shape).scatter_add_(dim, index.view(view).expand_as(values), values)


class SampledTree:
    """A discrete tree drawn from (A, B): leaf parents ``pa`` and internal parents ``pb``.

    Internal nodes ``0..k-1`` (k = n'), parents have larger indices, ``k - 1`` is the root;
    ``pb[k - 1]`` is ignored. Internal nodes may have no leaf below them or a single child.
    """

    def __init__(self, pa: torch.Tensor, pb: torch.Tensor):
        self.pa = pa
        k = pb.shape[0]
        self.n_internal = k
        up = pb.clone()
        up[k - 1] = k - 1
        self.up = up
        self.is_root = torch.zeros(k, dtype=torch.bool, device=pb.device)
        self.is_root[k - 1] = True
        depth = (~self.is_root).long()
        jump = up.clone()
        self._lifts = [up]
        for _ in range(max(1, (k - 1).bit_length())):
            depth = depth + depth[jump]
            jump = jump[jump]
            self._lifts.append(jump)
        self.depth = depth
        self._pre = None
        self._ancestors = None

    # ---- tree operations ---------------------------------------------------------------
    def path_sum(self, values: torch.Tensor) -> torch.Tensor:
        """``sum_{k ancestor-or-self of x} values[k]`` for every internal node x."""
        root_value = values[-1]
        sums = values.clone()
        sums[-1] = 0
        for jump in self._lifts[:-1]:
            sums = sums + sums[jump]
        # after the doublings each node has summed its whole path below the root
        return sums + root_value

    def subtree_sum(self, values: torch.Tensor) -> torch.Tensor:
        """Sum of ``values`` (rows) over every internal node's descendants-or-self: in preorder
        a subtree is a contiguous range, so this is a difference of prefix sums."""
        pre, span = self.preorder()
        prefix = torch.zeros((values.shape[0] + 1,) + values.shape[1:], dtype=values.dtype, device=values.device)
        prefix[1:][pre] = values
        prefix = prefix.cumsum(dim=0)
        return prefix[pre + span] - prefix[pre]

    def minus_children(self, values: torch.Tensor) -> torch.Tensor:
        """``values[x] - sum over internal children c of values[c]`` (``values (I - B)``)."""
        nonroot = ~self.is_root
        return values - segment_sum(self.up[nonroot], values[nonroot], values.shape[0])

    def minus_parent(self, values: torch.Tensor) -> torch.Tensor:
        """``values[x] - values[parent(x)]`` (0 for the root's parent): ``(I - B) values``."""
        return values - torch.where(self.is_root, torch.zeros_like(values), values[self.up])

    def preorder(self):
        """Depth-first preorder position of every internal node and its number of descendants
        (itself included): the subtree of x is the position range [pre[x], pre[x] + span[x])."""
        if self._pre is None:
            k, up, device = self.n_internal, self.up, self.up.device
            span = self.ancestor_matrix().sum(dim=0)                                 # descendants-or-self
            siblings = torch.argsort(torch.where(self.is_root, -1, up), stable=True)   # root first
            before = torch.cumsum(span[siblings], 0) - span[siblings]
            first_sibling = torch.full((k,), k - 1, dtype=torch.long, device=device)
            first_sibling.scatter_reduce_(0, up[siblings][1:], torch.arange(1, k, device=device), "amin")
            relative = torch.zeros(k, dtype=torch.long, device=device)
            relative[siblings] = before - before[first_sibling[up[siblings]]] + 1
            relative[k - 1] = 0
            self._pre, self._span = self.path_sum(relative), span
        return self._pre, self._span

    def ancestor_matrix(self) -> torch.Tensor:
        """``T[a, x]``: x is an ancestor of a or a itself (the matrix ``(I - B)^-1``), built by
        doubling: the ancestors within 2^(j+1) steps of a are those within 2^j steps of a and
        of its 2^j-th ancestor."""
        if self._ancestors is None:
            k = self.n_internal
            reach = torch.eye(k, dtype=torch.bool, device=self.up.device)
            for jump in self._lifts[:-1]:
                reach = reach | reach[jump]
            self._ancestors = reach
        return self._ancestors

    def lca(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Lowest common ancestors of internal node pairs ``(a[i], b[i])``."""
        pre, span = self.preorder()
        pre_b = pre[b]

        def contains(x):
            return (pre[x] <= pre_b) & (pre_b < pre[x] + span[x])

        node = a
        for jump in reversed(self._lifts[:-1]):
            ancestor = jump[node]
            node = torch.where(contains(ancestor), node, ancestor)
        return torch.where(contains(a), a, self.up[node])

    def common_path_sums(self, values: torch.Tensor) -> torch.Tensor:
        """``F[a, b] = sum of values over the common ancestors of a and b`` (= the path sum
        at their lca), i.e. ``T diag(values) T^T``, shape (k, k), in O(k^2).

        Row a adds ``values[x]`` over the preorder range of every ancestor x of a (a
        difference array along the preorder, then a cumulative sum).
        """
        k = self.n_internal
        pre, span = self.preorder()
        weighted = self.ancestor_matrix() * values[None, :]
        steps = segment_sum(pre, weighted, k + 1, dim=1) - segment_sum(pre + span, weighted, k + 1, dim=1)
        return steps[:, :k].cumsum(dim=1)[:, pre]


def score_and_gradients(pairs, tree: SampledTree, objective: str = "dasgupta", *,
                        mutual_information: float | None = None, gradients: bool = True,
                        tsd_loss: str = "exact"):
    """Score of a sampled tree and the gradient of FPH's closed form at that one-hot point.

    Parameters
    ----------
    pairs : SparsePairs or SimilarityPairs
    tree : SampledTree
    objective : {"dasgupta", "tsd"}
        The *loss*: the Dasgupta cost, or minus ``100 * TSD / I``.
    mutual_information : float
        The graph's I (required for "tsd").
    tsd_loss : {"exact", "published"}
        "exact": minus ``100 * TSD / I``, nodes that no edge meets left out. "published": minus
        the published code's guarded KL in nats (:func:`hc_lib.probabilistic.published_tsd`),
        which keeps those nodes in the gradient.

    Returns
    -------
    loss : float tensor (scalar)
    grad_A : tensor (n, k) or None
        d loss / d A at the sample.
    grad_B : tensor (k, k) or None
        d loss / d B at the sample (only entries above the diagonal are meaningful).
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"unknown objective {objective!r}; choose one of {', '.join(OBJECTIVES)}")
    pa, k = tree.pa, tree.n_internal
    dtype = pairs.degrees.dtype
    ones = torch.ones_like(pa, dtype=dtype)
    size = tree.subtree_sum(segment_sum(pa, ones, k))
    p = pairs.lca_mass(tree)
    if objective == "dasgupta":
        loss = (p * size).sum()
        g_p, g_size, q = size, p, None
    else:
        if mutual_information is None:
            raise ValueError("the TSD objective needs the graph's mutual_information")
        check_tsd_loss(tsd_loss)
        mass = tree.subtree_sum(segment_sum(pa, pairs.degrees, k))
        q = tree.minus_children(mass ** 2)
        if tsd_loss == "published":
            loss, g_p, g_q = _published_tsd_gradients(p, q)
        else:
            scale = 100.0 / mutual_information
            support = p > 0
            ratio = torch.where(support, p / torch.where(support, q, torch.ones_like(q)), torch.ones_like(p))
            loss = -scale * (p * torch.log(ratio)).sum()
            # nodes where no edge meets (p = 0) contribute nothing, as in the masked closed form
            g_p = torch.where(support, -scale * (torch.log(ratio) + 1.0), torch.zeros_like(p))
            g_q = torch.where(support, scale * ratio, torch.zeros_like(p))
        g_size = None
    if not gradients:
        return loss, None, None

    g_qp = tree.minus_parent(g_p)
    F_p = tree.common_path_sums(g_qp)
    grad_A = 2.0 * pairs.propagate(F_p, pa)
    nonroot = (~tree.is_root).to(dtype)[:, None]
    parent_rows = -2.0 * nonroot * p[:, None] * F_p[tree.up]
    if g_size is not None:
        grad_A = grad_A + tree.path_sum(g_size)[None, :]
    if q is not None:
        g_qq = tree.minus_parent(g_q)
        grad_A = grad_A + 2.0 * pairs.degrees[:, None] * tree.path_sum(mass * g_qq)[None, :]
        parent_rows = parent_rows - 2.0 * nonroot * q[:, None] * tree.common_path_sums(g_qq)[tree.up]
    per_parent = segment_sum(pa, grad_A, k)
    grad_B = tree.subtree_sum(per_parent + parent_rows)
    return loss, grad_A, grad_B


def _published_tsd_gradients(p: torch.Tensor, q: torch.Tensor):
    """Minus the published guarded TSD (nats) of a sampled tree's ``p`` and ``q``, and its
    derivatives with respect to both (autograd on two vectors of length n').

    The tree operations leave rounding residues where a node's mass is zero; :func:`exact_zeros`
    removes them first, so that the guards see the zeros of exact arithmetic.
    """
    p = exact_zeros(p).detach().requires_grad_()
    q = exact_zeros(q).detach().requires_grad_()
    with torch.enable_grad():
        loss = -published_tsd(p, q)
        g_p, g_q = torch.autograd.grad(loss, (p, q))
    return loss.detach(), g_p, g_q
