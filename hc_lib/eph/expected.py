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

from hc_lib.eph.probabilistic import check_tsd_loss, exact_zeros, published_tsd

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

    Every whole-tree query costs a few vector operations of length k (binary lifting, and the
    depth-first preorder in which a subtree is a contiguous range) or, for the k x k table of
    lowest common ancestors that the gradients read, a few passes over k x k small integers.
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
        self._lifts = [up]                   # _lifts[j]: the 2^j-th ancestor (the root beyond it)
        for _ in range(max(1, (k - 1).bit_length())):
            depth = depth + depth[jump]
            jump = jump[jump]
            self._lifts.append(jump)
        self.depth = depth
        self._pre = None
        self._lca = None

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
        return _range_sums(_preorder_rows(values, pre), pre, pre + span)

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
            # descendants within 2^(j+1) steps: those within 2^j, and those within 2^j of the
            # nodes exactly 2^j below
            span = torch.ones(k, dtype=torch.long, device=device)
            for level, jump in enumerate(self._lifts[:-1]):
                below = self.depth >= 2 ** level
                span = span + segment_sum(jump[below], span[below], k)
            siblings = torch.argsort(torch.where(self.is_root, -1, up), stable=True)   # root first
            before = torch.cumsum(span[siblings], 0) - span[siblings]
            first_sibling = torch.full((k,), k - 1, dtype=torch.long, device=device)
            first_sibling.scatter_reduce_(0, up[siblings][1:], torch.arange(1, k, device=device), "amin")
            relative = torch.zeros(k, dtype=torch.long, device=device)
            relative[siblings] = before - before[first_sibling[up[siblings]]] + 1
            relative[k - 1] = 0
            self._pre, self._span = self.path_sum(relative), span
        return self._pre, self._span

    def lca_matrix(self) -> torch.Tensor:
        """``L[a, b]``: the lowest common ancestor of internal nodes a and b (k x k).

        Among the ancestors-or-self x of a whose subtree holds b, the lowest has the smallest
        index (parents have larger ones), so the minimum over a's root path, taken by doubling
        along the lifts, is the answer.
        """
        if self._lca is None:
            k, device = self.n_internal, self.up.device
            pre, span = self.preorder()
            dtype = torch.int16 if k < 2 ** 15 else torch.int64       # small integers: fewer bytes to pass
            offset = pre.to(dtype)[None, :] - pre.to(dtype)[:, None]
            inside = (offset >= 0) & (offset < span.to(dtype)[:, None])
            own = torch.arange(k, dtype=dtype, device=device)[:, None]
            table = torch.where(inside, own, torch.full_like(own, k))
            for jump in self._lifts[:-1]:
                table = torch.minimum(table, table.index_select(0, jump))
            self._lca = table.long()
        return self._lca

    def lca(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Lowest common ancestors of internal node pairs ``(a[i], b[i])``."""
        return self.lca_matrix()[a, b]

    def common_path_sums(self, values: torch.Tensor) -> torch.Tensor:
        """``F[a, b] = sum of values over the common ancestors of a and b`` (= the path sum
        at their lca), i.e. ``T diag(values) T^T`` with T the ancestor relation, shape (k, k)."""
        return self.path_sum(values).take(self.lca_matrix())


def _preorder_rows(values: torch.Tensor, pre: torch.Tensor) -> torch.Tensor:
    """``values`` with row x moved to position ``pre[x]``."""
    return values.new_empty(values.shape).index_copy_(0, pre, values)


def _range_sums(rows: torch.Tensor, start: torch.Tensor, stop: torch.Tensor) -> torch.Tensor:
    """``sum(rows[start[i]:stop[i]])`` for every i, from prefix sums over the rows (for a
    matrix taken along its transpose's last axis: torch's cumulative sum over the first axis
    of a matrix is several times slower than over the last)."""
    if rows.ndim == 1:
        prefix = torch.cat([rows.new_zeros(1), rows.cumsum(0)])
    else:
        transposed = rows.new_zeros(rows.shape[1], rows.shape[0] + 1)
        transposed[:, 1:] = rows.T
        prefix = transposed.cumsum_(1).T.contiguous()
    return prefix.index_select(0, stop) - prefix.index_select(0, start)


def score_and_gradients(pairs, tree: SampledTree, objective: str = "dasgupta", *,
                        mutual_information: float | None = None, gradients: bool = True,
                        tsd_loss: str = "exact", out: torch.Tensor | None = None):
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
        the published code's guarded KL in nats (:func:`hc_lib.eph.probabilistic.published_tsd`),
        which keeps those nodes in the gradient.
    out : tensor (n, k), optional
        Where to write ``grad_A`` (a learner reuses one buffer for all its samples).

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
    grad_A = pairs.propagate(2.0 * F_p, pa, out=out)
    nonroot = (~tree.is_root).to(dtype)[:, None]
    parent_rows = -2.0 * nonroot * p[:, None] * F_p.index_select(0, tree.up)
    if g_size is not None:
        grad_A += tree.path_sum(g_size)[None, :]
    if q is not None:
        g_qq = tree.minus_parent(g_q)
        grad_A.addr_(pairs.degrees, tree.path_sum(mass * g_qq), alpha=2.0)
        parent_rows = parent_rows - 2.0 * nonroot * q[:, None] * tree.common_path_sums(g_qq).index_select(0, tree.up)
    # rows summed per parent straight into preorder positions, then over subtrees
    pre, span = tree.preorder()
    rows = grad_A.new_zeros(k, grad_A.shape[1]).index_add_(0, pre.index_select(0, pa), grad_A)
    grad_B = _range_sums(rows.index_add_(0, pre, parent_rows), pre, pre + span)
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
