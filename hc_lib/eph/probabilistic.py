"""Probabilistic hierarchies (FPH, EPH): a distribution over trees given by two matrices.

``A`` (n x n') holds every leaf's probabilities of having each internal node as parent,
``B`` (n' x n') every internal node's; ``B`` is strictly upper-triangular (a parent has a larger
index) and its last row, the root's, is zero. Drawing each node's parent independently from
its row (ancestral sampling) always yields a valid tree.

Closed forms (Zügner et al., 2022), with ``T = (I - B)^-1``:

* ``M = A T``: ``M[u, k]`` is the probability that internal node k is an ancestor of leaf u;
* ``lca(u, v) = (M[u] * M[v]) C`` with ``C = (I + (T - I)^2)^-1`` (elementwise square);
* expected cluster sizes ``sum_u M[u]``.

FPH's soft Dasgupta cost and soft TSD plug these into the scores; on a one-hot (A, B) they are
the exact discrete scores, which is what EPH's expectation over sampled trees builds on.
"""
from __future__ import annotations

import numpy as np
import torch

from hc_lib.trees import Tree

__all__ = ["ProbabilisticHierarchy", "parents_to_tree", "project_rows_to_simplex", "published_tsd",
           "exact_zeros", "check_tsd_loss", "TSD_LOSSES"]

TSD_LOSSES = ("published", "exact")
_GUARD = 1e-7


def check_tsd_loss(tsd_loss: str) -> str:
    """``tsd_loss`` if it names a TSD loss, else a ``ValueError`` that lists them."""
    if tsd_loss not in TSD_LOSSES:
        raise ValueError(f"unknown tsd_loss {tsd_loss!r}; choose one of {', '.join(TSD_LOSSES)}")
    return tsd_loss


def published_tsd(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """``KL(p || q)`` in nats over the internal nodes (the last axis), with the numerical
    guards of the published FPH and EPH code: their TSD loss, differentiable, batched.

    * ``p`` or ``q`` with a negative entry (rounding) is shifted up by its minimum and renormalised;
    * ``q`` gets ``+ 1e-7`` everywhere and is renormalised, and is clamped below at ``1e-7``
      inside the logarithm (an entry with ``q = 0`` then carries no gradient);
    * when any node has ``p(x) <= 0`` (no edge meets it: an empty node, or a single leaf without
      a self-loop), ``p`` becomes ``(p - min p + 1e-7) / sum``. The gradient flows through that
      minimum, split evenly over the nodes that attain it, as torch's ``min`` does.

    So nodes that no edge meets stay in the objective with a small mass, where the exact TSD
    leaves them out (compare :meth:`ProbabilisticHierarchy.soft_tsd` with ``loss="exact"``).

    Examples
    --------
    >>> p, q = torch.tensor([0.5, 0.5, 0.0]), torch.tensor([0.25, 0.25, 0.5])
    >>> round(float(published_tsd(p, q)), 4), round(float((p[:2] * (p[:2] / q[:2]).log()).sum()), 4)
    (0.6931, 0.6931)
    """
    p, q = _lift_negative(p), _lift_negative(q)
    q = q + _GUARD
    q = q / q.sum(dim=-1, keepdim=True)
    lifted = p - p.amin(dim=-1, keepdim=True) + _GUARD
    p = torch.where((p <= 0).any(dim=-1, keepdim=True), lifted / lifted.sum(dim=-1, keepdim=True), p)
    return (p * torch.log(p / q.clamp_min(_GUARD))).sum(dim=-1)


def exact_zeros(mass: torch.Tensor) -> torch.Tensor:
    """Masses over the last axis with rounding residues (below 64 machine epsilons of their sum,
    about 1e-17) set to exactly zero, as a one-hot sample gives them in exact arithmetic, so that
    :func:`published_tsd`'s guards see the same zeros; the gradient passes through unchanged."""
    noise = mass.detach().abs() <= 64 * torch.finfo(mass.dtype).eps * mass.detach().abs().sum(dim=-1, keepdim=True)
    return torch.where(noise, mass - mass.detach(), mass)


def _lift_negative(x: torch.Tensor) -> torch.Tensor:
    low = x.amin(dim=-1, keepdim=True)
    shifted = x - low
    return torch.where(low < 0, shifted / shifted.sum(dim=-1, keepdim=True), x)


_SORT_WIDTH = 64          # rows up to this long are projected by sorting


def project_rows_to_simplex(matrix: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Euclidean projection of every row onto the probability simplex (over ``mask``'s
    entries; rows without any allowed entry become zero).

    The projection is ``max(x - t, 0)`` with the row's threshold t. Short rows find t by sorting;
    long ones by Michelot's algorithm (J. Optim. Theory Appl., 1986), which needs no sort: from a
    lower bound of t, set t to ``(sum of the entries above t - 1) / their number`` until it stops
    moving; t only rises and the set only shrinks, so a few passes suffice (about ten on the EPH
    tables' rows of 512, where it is three times faster than sorting).

    Examples
    --------
    >>> project_rows_to_simplex(torch.tensor([[0.5, 0.9], [2.0, -1.0]]))
    tensor([[0.3000, 0.7000],
            [1.0000, 0.0000]])
    """
    values = matrix if mask is None else torch.where(mask, matrix, torch.full_like(matrix, -1e30))
    if matrix.shape[1] <= _SORT_WIDTH:
        ordered = torch.sort(values, dim=1, descending=True).values
        cumulative = ordered.cumsum(dim=1) - 1.0
        ranks = torch.arange(1, matrix.shape[1] + 1, dtype=matrix.dtype, device=matrix.device)
        count = (ordered - cumulative / ranks > 0).sum(dim=1, keepdim=True).clamp(min=1)
        threshold = cumulative.gather(1, count - 1) / count.to(matrix.dtype)
    else:
        threshold = values.amax(dim=1, keepdim=True) - 1.0      # the largest entry alone sums to 1 here
        for _ in range(matrix.shape[1] + 1):
            above = values > threshold
            count = above.sum(dim=1, keepdim=True).clamp(min=1)
            updated = (torch.where(above, values, 0.0).sum(dim=1, keepdim=True) - 1.0) / count
            if torch.equal(updated, threshold):
                break
            threshold = updated
    projected = (values - threshold).clamp_(min=0.0)
    if mask is not None:
        projected = torch.where(mask, projected, torch.zeros_like(projected))
    return projected


class ProbabilisticHierarchy:
    """A probabilistic hierarchy ``(A, B)`` over ``n`` leaves and ``n'`` internal nodes.

    Parameters
    ----------
    A : tensor (n, n')
    B : tensor (n', n')
    validate : bool
        Check shapes, finiteness, non-negativity, row sums and the triangular structure.

    Examples
    --------
    >>> from hc_lib.trees import Tree
    >>> hierarchy = ProbabilisticHierarchy.from_tree(Tree.from_parent([3, 3, 4, 4, -1]))
    >>> hierarchy.expected_cluster_sizes().tolist()
    [2.0, 3.0]
    >>> hierarchy.argmax_tree().parent.tolist()
    [3, 3, 4, 4, -1]
    """

    def __init__(self, A, B, *, validate: bool = True):
        self.A = torch.as_tensor(A)
        self.B = torch.as_tensor(B, dtype=self.A.dtype, device=self.A.device)
        if validate:
            self._validate()

    def _validate(self):
        A, B = self.A, self.B
        if A.ndim != 2 or B.ndim != 2 or B.shape[0] != B.shape[1] or A.shape[1] != B.shape[0]:
            raise ValueError(f"A must be (n, n') and B (n', n'); got {tuple(A.shape)} and {tuple(B.shape)}")
        if A.shape[1] < 1:
            raise ValueError("a hierarchy needs at least one internal node")
        for name, matrix in (("A", A), ("B", B)):
            if not torch.isfinite(matrix).all():
                raise ValueError(f"{name} has NaN or infinite entries")
            if (matrix < 0).any():
                raise ValueError(f"{name} has negative entries")
        if torch.triu(B).ne(B).any() or torch.diagonal(B).ne(0).any():
            raise ValueError("B must be strictly upper-triangular (a parent has a larger index)")
        tolerance = 1e-6 if A.dtype == torch.float64 else 1e-3
        if (A.sum(dim=1) - 1).abs().max() > tolerance:
            raise ValueError("every row of A must sum to one")
        if B.shape[0] > 1 and (B[:-1].sum(dim=1) - 1).abs().max() > tolerance:
            raise ValueError("every row of B but the root's (the last) must sum to one")

    @property
    def n_leaves(self) -> int:
        return self.A.shape[0]

    @property
    def n_internal(self) -> int:
        return self.A.shape[1]

    @property
    def parent_mask(self) -> torch.Tensor:
        """Allowed entries of B: strictly above the diagonal."""
        k = self.n_internal
        return torch.ones(k, k, dtype=torch.bool, device=self.A.device).triu(1)

    # ---- construction -------------------------------------------------------------------
    @classmethod
    def from_tree(cls, tree: Tree, *, n_internal: int | None = None, dtype=torch.float64,
                  device="cpu") -> "ProbabilisticHierarchy":
        """The one-hot hierarchy of a discrete tree (internal node i is tree node n + i).

        With ``n_internal`` larger than the tree's, the extra internal nodes come first, empty,
        each a child of the root: room that training can fill.
        """
        n, used = tree.n_leaves, tree.n_internal
        k = used if n_internal is None else int(n_internal)
        if k < used:
            raise ValueError(f"the tree has {used} internal nodes, more than n_internal = {k}")
        extra = k - used
        A = torch.zeros(n, k, dtype=dtype, device=device)
        A[torch.arange(n), torch.as_tensor(tree.parent[:n] - n + extra)] = 1.0
        B = torch.zeros(k, k, dtype=dtype, device=device)
        B[torch.arange(extra), k - 1] = 1.0
        if used > 1:
            B[torch.arange(extra, k - 1), torch.as_tensor(tree.parent[n:-1] - n + extra)] = 1.0
        return cls(A, B, validate=False)

    @classmethod
    def from_parents(cls, pa: torch.Tensor, pb: torch.Tensor, *, dtype=torch.float64) -> "ProbabilisticHierarchy":
        """The one-hot hierarchy of parent vectors ``(pa, pb)`` (``pb``'s last entry, the root's,
        is ignored), as :meth:`sample` and :meth:`argmax_parents` return them."""
        n, k = pa.shape[0], pb.shape[0]
        A = torch.zeros(n, k, dtype=dtype, device=pa.device)
        A[torch.arange(n, device=pa.device), pa] = 1.0
        B = torch.zeros(k, k, dtype=dtype, device=pa.device)
        B[torch.arange(k - 1, device=pa.device), pb[:-1]] = 1.0
        return cls(A, B, validate=False)

    @classmethod
    def random(cls, n_leaves: int, n_internal: int, *, generator=None,
               dtype=torch.float64, device="cpu") -> "ProbabilisticHierarchy":
        """Rows drawn uniformly from the simplex (B's over its allowed entries)."""
        tiny = torch.finfo(dtype).tiny            # float32 draws an exact 0 about once in 2^24
        A = -torch.log(torch.rand(n_leaves, n_internal, generator=generator, dtype=dtype,
                                  device=device).clamp_min(tiny))
        B = -torch.log(torch.rand(n_internal, n_internal, generator=generator, dtype=dtype,
                                  device=device).clamp_min(tiny)).triu(1)
        A = A / A.sum(dim=1, keepdim=True)
        B[:-1] = B[:-1] / B[:-1].sum(dim=1, keepdim=True)
        return cls(A, B)

    # ---- closed forms ---------------------------------------------------------------------
    def internal_ancestors(self) -> torch.Tensor:
        """``T - I``: ``[i, k]`` is the probability that k is a proper ancestor of internal node i."""
        k = self.n_internal
        eye = torch.eye(k, dtype=self.A.dtype, device=self.A.device)
        return torch.linalg.solve_triangular(eye - self.B, eye, upper=True) - eye

    def ancestor_probabilities(self) -> torch.Tensor:
        """``M = A T`` (n x n'): probability that internal node k is an ancestor of leaf u."""
        return self.A + self.A @ self.internal_ancestors()

    def lca_matrix(self) -> torch.Tensor:
        """``C = (I + (T - I)^2)^-1``, which turns common-ancestor probabilities into lca ones."""
        anc = self.internal_ancestors()
        eye = torch.eye(self.n_internal, dtype=self.A.dtype, device=self.A.device)
        return torch.linalg.solve_triangular(eye + anc * anc, eye, upper=True)

    def lca_probabilities(self, u, v) -> torch.Tensor:
        """Probability that each internal node is the lca of ``(u[i], v[i])``, shape (len, n')."""
        M = self.ancestor_probabilities()
        return (M[torch.as_tensor(u)] * M[torch.as_tensor(v)]) @ self.lca_matrix()

    def expected_cluster_sizes(self) -> torch.Tensor:
        return self.ancestor_probabilities().sum(dim=0)

    def soft_distributions(self, pairs):
        """FPH's relaxed ``p(x)`` (edges) and ``q(x)`` (independent node pairs) over internal
        nodes, and the expected cluster sizes."""
        M = self.ancestor_probabilities()
        C = self.lca_matrix()
        p = pairs.within(M) @ C
        q = ((pairs.degrees @ M) ** 2) @ C
        return p, q, M.sum(dim=0)

    def soft_dasgupta(self, pairs) -> torch.Tensor:
        """FPH's relaxed Dasgupta cost ``sum_uv p(u,v) sum_k lca(u,v)_k |k|``."""
        p, _, sizes = self.soft_distributions(pairs)
        return (p * sizes).sum()

    def soft_tsd(self, pairs, mutual_information: float, *, loss: str = "exact") -> torch.Tensor:
        """FPH's relaxed TSD, ``100 * KL(p || q) / I`` with the soft p and q.

        ``loss="exact"`` leaves out the nodes where p or q vanish; ``loss="published"`` is the
        published code's guarded KL (:func:`published_tsd`), still reported as ``100 KL / I``.
        """
        check_tsd_loss(loss)
        p, q, _ = self.soft_distributions(pairs)
        if loss == "published":
            return 100.0 * published_tsd(p, q) / mutual_information
        support = (p > 0) & (q > 0)       # rounding can leave p ~ 1e-17 where q <= 0
        return 100.0 * (p[support] * torch.log(p[support] / q[support])).sum() / mutual_information

    # ---- discrete trees -------------------------------------------------------------------
    def sample(self, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """One exact ancestral sample: every node's parent drawn from its row.

        Returns ``(pa, pb)``: internal parent of every leaf, and of every internal node
        (the root's entry is itself).
        """
        pa = torch.multinomial(self.A, 1, generator=generator).squeeze(1)
        k = self.n_internal
        pb = torch.full((k,), k - 1, dtype=torch.long, device=self.A.device)
        if k > 1:
            pb[:-1] = torch.multinomial(self.B[:-1], 1, generator=generator).squeeze(1)
        return pa, pb

    def argmax_parents(self) -> tuple[torch.Tensor, torch.Tensor]:
        pa = self.A.argmax(dim=1)
        k = self.n_internal
        pb = torch.full((k,), k - 1, dtype=torch.long, device=self.A.device)
        if k > 1:
            pb[:-1] = torch.where(self.parent_mask[:-1], self.B[:-1], torch.full_like(self.B[:-1], -1.0)).argmax(dim=1)
        return pa, pb

    def argmax_tree(self) -> Tree:
        """Every node's most likely parent; internal nodes with <= 1 child are removed."""
        return parents_to_tree(*self.argmax_parents())


def parents_to_tree(pa: torch.Tensor, pb: torch.Tensor) -> Tree:
    """The :class:`~hc_lib.trees.Tree` of a sampled ``(pa, pb)``, pruned of empty and
    single-child internal nodes."""
    n = pa.shape[0]
    parent = np.concatenate([pa.cpu().numpy() + n, pb.cpu().numpy() + n]).astype(np.int64)
    parent[-1] = -1
    return Tree.from_parent(parent, n_leaves=n, prune=True)
