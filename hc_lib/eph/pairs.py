"""Graphs as distributions over node pairs, in torch, for training on CPU or GPU.

The learners only ever need a few contractions of the pair distribution ``p(u, v)`` with
tree-shaped quantities. Each class here provides them without an n x n matrix:

* :class:`SparsePairs`: a sparse graph (edge list), optionally re-sampled every step for large
  graphs (pairs drawn ∝ weight, each with weight 1/m: an unbiased estimate of ``p``);
* :class:`SimilarityPairs`: the complete similarity graph of vector data,
  ``s_uv = (1 + x_u . x_v) / 2`` for ``u != v``, through its low-rank structure.

Shared interface (``pa`` is the parent of every leaf among ``n'`` internal nodes):

``degrees``                       ``p(u) = sum_v p(u, v)``
``within(M)``                     ``sum_{u,v} p(u,v) M[u,j] M[v,j]`` for a dense ``M`` (autograd)
``propagate(F, pa, out=None)``    ``R[u, :] = sum_v p(u, v) F[pa[v], :]`` (into ``out`` if given)
``lca_mass(tree)``                 pair mass meeting at each internal node of a sampled tree
"""
from __future__ import annotations

import warnings

import torch

from hc_lib.eph.expected import segment_sum
from hc_lib.graphs import CosineSimilarityGraph, as_graph

__all__ = ["SparsePairs", "SimilarityPairs", "as_pairs"]


class SparsePairs:
    """Ordered node pairs of a sparse graph with probabilities ``W[u, v] / sum(W)``."""

    def __init__(self, rows, cols, probs, n_nodes: int):
        self.rows, self.cols, self.probs = rows, cols, probs
        self.n_nodes = int(n_nodes)
        self.degrees = segment_sum(rows, probs, self.n_nodes)
        self._matrix = None
        self._crow = None

    @classmethod
    def from_adjacency(cls, adjacency, *, dtype=torch.float64, device="cpu") -> "SparsePairs":
        """The edge list of a graph (any input of :func:`hc_lib.graphs.as_graph`)."""
        graph = as_graph(adjacency)
        rows, cols, weights = graph.edges()
        probs = weights / weights.sum()
        return cls(torch.as_tensor(rows, device=device), torch.as_tensor(cols, device=device),
                   torch.as_tensor(probs, dtype=dtype, device=device), graph.n_nodes)

    @property
    def n_pairs(self) -> int:
        return int(self.probs.numel())

    def sample(self, n_pairs: int, generator: torch.Generator | None = None) -> "SparsePairs":
        """``n_pairs`` ordered pairs drawn ∝ ``p`` with weight ``1 / n_pairs``, symmetrised
        (each drawn pair counts half in both directions): an unbiased estimate of ``p``."""
        index = torch.multinomial(self.probs, n_pairs, replacement=True, generator=generator)
        rows, cols = self.rows[index], self.cols[index]
        weight = torch.full((2 * n_pairs,), 0.5 / n_pairs, dtype=self.probs.dtype, device=self.probs.device)
        sampled = SparsePairs(torch.cat([rows, cols]), torch.cat([cols, rows]), weight, self.n_nodes)
        sampled.degrees = self.degrees                     # exact, cheap: keep them
        return sampled

    def _sparse(self):
        if self._matrix is None:
            index = torch.stack([self.rows, self.cols])
            self._matrix = torch.sparse_coo_tensor(index, self.probs, (self.n_nodes, self.n_nodes),
                                                   check_invariants=False).coalesce()
        return self._matrix

    def within(self, M: torch.Tensor) -> torch.Tensor:
        return (M * torch.sparse.mm(self._sparse(), M)).sum(dim=0)

    def propagate(self, F: torch.Tensor, pa: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        # rows are sorted, so the row pointer is fixed; a product with repeated column indices
        # in a row simply adds them up, which is what grouping the neighbours by parent means
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
            grouped = torch.sparse_csr_tensor(self._row_pointer(), pa[self.cols], self.probs,
                                              (self.n_nodes, F.shape[0]), check_invariants=False)
        return grouped @ F if out is None else torch.mm(grouped, F, out=out)

    def _row_pointer(self):
        if self._crow is None:
            if self.rows.numel() > 1 and bool((self.rows[1:] < self.rows[:-1]).any()):
                order = torch.argsort(self.rows, stable=True)
                self.rows, self.cols, self.probs = self.rows[order], self.cols[order], self.probs[order]
            counts = torch.bincount(self.rows, minlength=self.n_nodes)
            self._crow = torch.cat([counts.new_zeros(1), counts.cumsum(0)])
        return self._crow

    def lca_mass(self, tree) -> torch.Tensor:
        """Edge mass meeting at every internal node of a sampled tree (see
        :class:`hc_lib.eph.expected.SampledTree`); a self-loop meets at its leaf's parent."""
        meeting = tree.lca_matrix().view(-1).take(tree.pa[self.rows] * tree.n_internal + tree.pa[self.cols])
        return segment_sum(meeting, self.probs, tree.n_internal)


class SimilarityPairs:
    """The complete similarity graph of unit rows ``X`` (``u != v``), never stored as n x n."""

    def __init__(self, graph: CosineSimilarityGraph, *, dtype=torch.float64, device="cpu"):
        self.n_nodes = graph.n_nodes
        self.rows_ = torch.as_tensor(graph.unit_rows, dtype=dtype, device=device)
        self.total = float(graph.total_weight)
        self.self_similarity = torch.as_tensor(graph.self_similarities, dtype=dtype, device=device)
        self.degrees = torch.as_tensor(graph.degrees / self.total, dtype=dtype, device=device)

    def sample(self, n_pairs: int, generator=None) -> "SimilarityPairs":
        return self                                        # exact contractions cost O(n d)

    def within(self, M: torch.Tensor) -> torch.Tensor:
        sums = M.sum(dim=0)
        projected = self.rows_.T @ M                       # (d, k)
        diagonal = (self.self_similarity[:, None] * M * M).sum(dim=0)
        return (0.5 * sums ** 2 + 0.5 * (projected ** 2).sum(dim=0) - diagonal) / self.total

    def propagate(self, F: torch.Tensor, pa: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        k = F.shape[0]
        count = segment_sum(pa, torch.ones_like(pa, dtype=F.dtype), k)
        row_sums = segment_sum(pa, self.rows_, k)
        result = torch.matmul(self.rows_, row_sums.T @ F, out=out).mul_(0.5).add_(0.5 * (count @ F))
        return result.addcmul_(self.self_similarity[:, None], F.index_select(0, pa), value=-1.0).div_(self.total)

    def lca_mass(self, tree) -> torch.Tensor:
        """Pair mass meeting at every internal node of a sampled tree (see
        :class:`hc_lib.eph.expected.SampledTree`): cluster masses minus those of the children."""
        k = tree.n_internal
        pa = tree.pa
        ones = torch.ones(self.n_nodes, 1, dtype=self.rows_.dtype, device=self.rows_.device)
        per_parent = segment_sum(pa, torch.cat([ones, self.self_similarity[:, None], self.rows_], dim=1), k)
        clusters = tree.subtree_sum(per_parent)
        size, diagonal, sums = clusters[:, 0], clusters[:, 1], clusters[:, 2:]
        inside = (0.5 * size ** 2 + 0.5 * (sums ** 2).sum(dim=1) - diagonal) / self.total
        return tree.minus_children(inside)


def as_pairs(graph, *, dtype=torch.float64, device="cpu"):
    """:class:`SparsePairs` for an adjacency, :class:`SimilarityPairs` for a similarity graph."""
    if isinstance(graph, (SparsePairs, SimilarityPairs)):
        return graph
    graph = as_graph(graph)
    if graph.is_complete:           # its pair distribution is low-rank, never listed
        return SimilarityPairs(graph, dtype=dtype, device=device)
    return SparsePairs.from_adjacency(graph, dtype=dtype, device=device)
