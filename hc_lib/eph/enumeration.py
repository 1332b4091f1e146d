"""Every tree of a small probabilistic hierarchy, for exact expectations and exact gradients.

A probabilistic hierarchy ``(A, B)`` over ``n`` leaves and ``n'`` internal nodes (see
:mod:`hc_lib.eph.probabilistic`) draws every leaf's parent from its row of ``A`` and every non-root
internal node's parent from its row of ``B``. Its samples are the *parent assignments*
``(pa, pb)``: ``n'^n`` choices of leaf parents times ``(n' - 1)!`` choices of internal parents
(node ``i`` picks one of ``i + 1 .. n' - 1``). For a handful of leaves they can all be listed,
which turns every expectation over sampled trees into a finite sum,

.. math:: \\mathbb{E}_{(A,B)}[f] = \\sum_{pa} \\sum_{pb} P_A(pa)\\, f(pa, pb)\\, P_B(pb)
          = P_A^\\top F P_B ,

with ``P_A(pa) = prod_u A[u, pa_u]`` and ``P_B(pb) = prod_i B[i, pb_i]``: exact, and
differentiable by torch's autograd. :class:`Enumeration` holds the assignments, scores each
one exactly as EPH scores a sampled tree (the unpruned sample, as
:func:`hc_lib.eph.expected.score_and_gradients` does), and groups them into *topologies*: the pruned
tree of a sample (:func:`hc_lib.eph.probabilistic.parents_to_tree`) identified by its set of
clusters. :func:`straight_through_estimate` is EPH's Gumbel-softmax straight-through estimate
of the same gradient, for comparison.

Sizes: 5 leaves and 4 internal nodes give 1 024 x 6 assignments, 6 leaves and 5 internal nodes
15 625 x 24; beyond that, enumeration is not the tool.
"""
from __future__ import annotations

import itertools

import numpy as np
import torch

from hc_lib.eph.estimators import EPH
from hc_lib.graphs import as_graph

__all__ = ["Enumeration", "parent_assignments", "straight_through_estimate"]

_MAX_ASSIGNMENTS = 2_000_000


def parent_assignments(n_leaves: int, n_internal: int) -> tuple[np.ndarray, np.ndarray]:
    """Every leaf-parent vector and every internal-parent vector of a hierarchy.

    Parameters
    ----------
    n_leaves, n_internal : int

    Returns
    -------
    leaf_parents : ndarray of int64, shape (n_internal ** n_leaves, n_leaves)
        Row r gives the internal parent (``0 .. n' - 1``) of every leaf.
    internal_parents : ndarray of int64, shape ((n_internal - 1)!, n_internal)
        Row r gives the parent of every internal node; the root's (last) entry is itself, as
        in :meth:`hc_lib.eph.probabilistic.ProbabilisticHierarchy.sample`.

    Examples
    --------
    >>> leaf_parents, internal_parents = parent_assignments(3, 2)
    >>> leaf_parents.shape, internal_parents.tolist()
    ((8, 3), [[1, 1]])
    """
    if n_leaves < 2 or n_internal < 1:
        raise ValueError(f"need at least 2 leaves and 1 internal node, got {n_leaves} and {n_internal}")
    count = n_internal ** n_leaves * int(np.prod(np.arange(1, n_internal), dtype=np.float64))
    if count > _MAX_ASSIGNMENTS:
        raise ValueError(f"{n_leaves} leaves and {n_internal} internal nodes have {count:.3g} parent "
                         f"assignments: too many to enumerate")
    leaf_parents = np.array(list(itertools.product(range(n_internal), repeat=n_leaves)), dtype=np.int64)
    choices = [range(i + 1, n_internal) for i in range(n_internal - 1)] + [[n_internal - 1]]
    internal_parents = np.array(list(itertools.product(*choices)), dtype=np.int64)
    return leaf_parents.reshape(-1, n_leaves), internal_parents.reshape(-1, n_internal)


class Enumeration:
    """All parent assignments of a hierarchy with ``n_leaves`` leaves and ``n_internal`` internal
    nodes, with their exact scores, probabilities and topologies.

    Parameters
    ----------
    n_leaves : int
    n_internal : int, optional
        Defaults to ``n_leaves - 1``, enough internal nodes for every hierarchy over the leaves.

    Attributes
    ----------
    leaf_parents, internal_parents : ndarray
        See :func:`parent_assignments`; assignment ``(a, b)`` is the pair of row ``a`` of the
        first and row ``b`` of the second. Every array over assignments below has shape
        ``(len(leaf_parents), len(internal_parents))``.
    ancestors : ndarray of bool, shape (n_b, n', n')
        ``ancestors[b, i, x]``: internal node x is i or an ancestor of i under ``internal_parents[b]``.

    Examples
    --------
    Three leaves, two internal nodes: 8 assignments, 4 distinct trees (the star and three
    binary trees).

    >>> import numpy as np
    >>> path = np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]])     # edges 0-1 and 1-2
    >>> enum = Enumeration(3)
    >>> enum.n_assignments, enum.n_topologies
    (8, 4)
    >>> scores = enum.scores(path)
    >>> [round(float(scores[enum.topology_ids == t].min()), 4) for t in range(enum.n_topologies)]
    [3.0, 2.5, 3.0, 2.5]
    >>> import torch
    >>> A = torch.full((3, 2), 0.5, dtype=torch.float64)
    >>> B = torch.tensor([[0.0, 1.0], [0.0, 0.0]], dtype=torch.float64)
    >>> round(float(enum.expectation(A, B, scores)), 4)        # uniform over the 8 assignments
    2.875
    """

    def __init__(self, n_leaves: int, n_internal: int | None = None):
        n_internal = n_leaves - 1 if n_internal is None else int(n_internal)
        self.n_leaves, self.n_internal = int(n_leaves), n_internal
        self.leaf_parents, self.internal_parents = parent_assignments(self.n_leaves, n_internal)
        self.ancestors = np.stack([self._ancestor_or_self(pb) for pb in self.internal_parents])
        # lowest common ancestor of two internal nodes: ancestors have larger indices, so the
        # common ancestor with the smallest index is the lowest one
        common = self.ancestors[:, :, None, :] & self.ancestors[:, None, :, :]
        self._internal_lca = np.argmax(common, axis=3)               # (n_b, n', n')
        self._topologies = None

    def _ancestor_or_self(self, pb: np.ndarray) -> np.ndarray:
        k = self.n_internal
        reach = np.eye(k, dtype=bool)
        for node in range(k - 2, -1, -1):                              # parents first
            reach[node] |= reach[pb[node]]
        return reach

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.leaf_parents), len(self.internal_parents)

    @property
    def n_assignments(self) -> int:
        return self.shape[0] * self.shape[1]

    def sample(self, a: int, b: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Assignment ``(a, b)`` as the ``(pa, pb)`` tensors of a sample."""
        return torch.as_tensor(self.leaf_parents[a]), torch.as_tensor(self.internal_parents[b])

    def one_hot(self, a: int, b: int, *, dtype=torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
        """The one-hot ``(A, B)`` that always draws assignment ``(a, b)``."""
        n, k = self.n_leaves, self.n_internal
        A = torch.zeros(n, k, dtype=dtype)
        A[torch.arange(n), torch.as_tensor(self.leaf_parents[a])] = 1.0
        B = torch.zeros(k, k, dtype=dtype)
        B[torch.arange(k - 1), torch.as_tensor(self.internal_parents[b][:-1])] = 1.0
        return A, B

    # ---- per-assignment quantities --------------------------------------------------------------
    def _leaf_lca(self, b: int, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Internal node where leaves ``rows[j]`` and ``cols[j]`` meet, for every leaf assignment
        (same leaf: its parent), shape (n_a, len(rows))."""
        pa = self.leaf_parents
        return self._internal_lca[b][pa[:, rows], pa[:, cols]]

    def cluster_sizes(self) -> np.ndarray:
        """Leaves below every internal node, shape (n_a, n_b, n')."""
        below = self.ancestors[:, self.leaf_parents, :]              # (n_b, n_a, n, n')
        return below.sum(axis=2).transpose(1, 0, 2)

    def scores(self, adjacency, objective: str = "dasgupta") -> np.ndarray:
        """The exact score of every sampled tree, as EPH scores a sample.

        Parameters
        ----------
        adjacency : array_like or sparse (n x n), or a graph of :mod:`hc_lib.graphs`
        objective : {"dasgupta", "tsd"}
            Dasgupta cost (lower is better), or ``100 * TSD / I`` (higher is better).

        Returns
        -------
        ndarray of float64, shape (n_a, n_b)

        Notes
        -----
        The sample is scored unpruned, like :func:`hc_lib.eph.expected.score_and_gradients`: an
        internal node whose only leaf is ``u`` stays a cluster ``{u}``. The Dasgupta cost is the
        pruned tree's unless the graph has self-loops (a self-loop of such a leaf pays 1
        instead of its pruned parent's size). The TSD differs more: such a node takes the
        same-node term ``p(u)^2`` of ``q`` away from the node where ``u`` meets the others.
        """
        if objective not in ("dasgupta", "tsd"):
            raise ValueError(f"unknown objective {objective!r}; choose 'dasgupta' or 'tsd'")
        graph = as_graph(adjacency)
        if graph.n_nodes != self.n_leaves:
            raise ValueError(f"the graph has {graph.n_nodes} nodes but the hierarchy {self.n_leaves} leaves")
        rows, cols, weights = graph.edges()
        probs = weights / weights.sum()
        k = self.n_internal
        out = np.empty(self.shape)
        if objective == "dasgupta":
            sizes = self.cluster_sizes()
            for b in range(self.shape[1]):
                meet = self._leaf_lca(b, rows, cols)
                out[:, b] = np.take_along_axis(sizes[:, b], meet, axis=1) @ probs
            return out
        degrees = np.bincount(rows, weights=probs, minlength=self.n_leaves)
        info = float(probs @ np.log(probs / (degrees[rows] * degrees[cols])))
        every_u, every_v = (grid.ravel() for grid in np.meshgrid(np.arange(self.n_leaves),
                                                                  np.arange(self.n_leaves), indexing="ij"))
        independent = degrees[every_u] * degrees[every_v]
        nodes = np.arange(k)[None, :, None]
        for b in range(self.shape[1]):
            p = ((self._leaf_lca(b, rows, cols)[:, None, :] == nodes) * probs).sum(axis=2)
            q = ((self._leaf_lca(b, every_u, every_v)[:, None, :] == nodes) * independent).sum(axis=2)
            ratio = np.divide(p, q, out=np.ones_like(p), where=p > 0)
            out[:, b] = 100.0 * (p * np.log(ratio)).sum(axis=1) / info
        return out

    # ---- topologies -----------------------------------------------------------------------------
    def _topology_table(self):
        if self._topologies is None:
            weights = 1 << np.arange(self.n_leaves, dtype=np.int64)
            below = self.ancestors[:, self.leaf_parents, :]              # (n_b, n_a, n, n')
            masks = np.einsum("banx,n->abx", below.astype(np.int64), weights)
            counts = below.sum(axis=2).transpose(1, 0, 2)
            masks = np.where(counts >= 2, masks, 0).reshape(-1, self.n_internal)
            masks.sort(axis=1)
            masks[:, 1:][masks[:, 1:] == masks[:, :-1]] = 0               # a unary chain repeats a cluster
            masks.sort(axis=1)
            unique, ids = np.unique(masks, axis=0, return_inverse=True)
            forms = [frozenset(frozenset(int(u) for u in range(self.n_leaves) if mask >> u & 1)
                               for mask in row if mask) for row in unique]
            self._topologies = (forms, ids.reshape(self.shape))
        return self._topologies

    @property
    def topologies(self) -> list[frozenset]:
        """Distinct pruned trees, each as the frozenset of its clusters (frozensets of leaves,
        internal nodes only: every cluster has at least two leaves; the root's has them all)."""
        return self._topology_table()[0]

    @property
    def topology_ids(self) -> np.ndarray:
        """Index into :attr:`topologies` of every assignment, shape (n_a, n_b)."""
        return self._topology_table()[1]

    @property
    def n_topologies(self) -> int:
        return len(self.topologies)

    # ---- probabilities --------------------------------------------------------------------------
    def probabilities(self, A, B) -> tuple[torch.Tensor, torch.Tensor]:
        """``P_A`` (n_a,) and ``P_B`` (n_b,): the probability of every row of
        :attr:`leaf_parents` and of :attr:`internal_parents` under ``(A, B)``; the probability of
        assignment ``(a, b)`` is their product. Differentiable."""
        A, B = torch.as_tensor(A), torch.as_tensor(B)
        if tuple(A.shape) != (self.n_leaves, self.n_internal) or tuple(B.shape) != (self.n_internal,) * 2:
            raise ValueError(f"A must be ({self.n_leaves}, {self.n_internal}) and B "
                             f"({self.n_internal}, {self.n_internal}); got {tuple(A.shape)}, {tuple(B.shape)}")
        pa = torch.as_tensor(self.leaf_parents, device=A.device)
        pb = torch.as_tensor(self.internal_parents[:, :-1], device=A.device)
        prob_a = A[torch.arange(self.n_leaves, device=A.device), pa].prod(dim=1)
        prob_b = B[torch.arange(self.n_internal - 1, device=A.device), pb].prod(dim=1)
        return prob_a, prob_b

    def expectation(self, A, B, values) -> torch.Tensor:
        """``E[values]`` under ``(A, B)``: ``P_A^T values P_B`` for a per-assignment array
        (e.g. :meth:`scores`). Differentiable in ``A`` and ``B``."""
        prob_a, prob_b = self.probabilities(A, B)
        values = torch.as_tensor(values, dtype=prob_a.dtype, device=prob_a.device)
        return prob_a @ values @ prob_b

    def topology_probabilities(self, A, B) -> np.ndarray:
        """Probability of every topology (pruned tree) under ``(A, B)``, shape (n_topologies,)."""
        with torch.no_grad():
            prob_a, prob_b = self.probabilities(A, B)
            joint = (prob_a[:, None] * prob_b[None, :]).cpu().numpy()
        return np.bincount(self.topology_ids.ravel(), weights=joint.ravel(), minlength=self.n_topologies)


def straight_through_estimate(A, B, pairs, objective: str = "dasgupta", *, n_samples: int = 20,
                              temperature: float = 1.0, mutual_information: float | None = None,
                              generator: torch.Generator | None = None):
    """EPH's Monte Carlo estimate of the expected loss and its Gumbel-softmax straight-through
    gradients at ``(A, B)``: one step's :meth:`hc_lib.eph.EPH.expected_gradients`.

    Parameters
    ----------
    A, B : tensor
        A probabilistic hierarchy.
    pairs : SparsePairs or SimilarityPairs
    objective : {"dasgupta", "tsd"}
        The loss is the Dasgupta cost or minus ``100 * TSD / I`` (EPH's ``tsd_loss="exact"``).
    n_samples : int
        Sampled trees averaged (S).
    temperature : float
    mutual_information : float, optional
        The graph's I, needed for "tsd".
    generator : torch.Generator, optional
        Source of the Gumbel noise (advanced by the call).

    Returns
    -------
    loss : float
        Mean loss of the sampled trees.
    grad_A, grad_B : tensor
        Estimated gradients of the expected loss with respect to ``A`` and ``B``.
    """
    A, B = torch.as_tensor(A), torch.as_tensor(B)
    model = EPH(objective, n_internal=A.shape[1], n_samples=n_samples, temperature=temperature, tsd_loss="exact",
                progress=False)
    model._info = mutual_information
    mask = torch.ones_like(B, dtype=torch.bool).triu(1)
    generator = generator if generator is not None else torch.Generator(device=A.device)
    grad_A, grad_B, loss = model.expected_gradients(A, B, pairs, mask, generator)
    return loss, grad_A, grad_B
