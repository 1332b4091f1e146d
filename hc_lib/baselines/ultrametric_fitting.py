"""Ultrametric fitting by gradient descent (UF): the "UF" row of the EPH poster.

Chierchia & Perret (NeurIPS 2019) fit an ultrametric ``u`` to an edge-weighted graph by
writing it as the subdominant ultrametric of free edge values, ``u = Phi(softplus(x))``, and
running gradient descent on ``x``. ``Phi`` is single linkage: ``Phi(x)(e)`` is the value of
the minimum-spanning-tree edge that builds the lowest common ancestor of ``e``'s endpoints.
Here :func:`higra.bpt_canonical` builds that tree (with its ``mst_edge_map``) and
:func:`higra.attribute_lca_map` the ancestors; ``Phi`` is then a gather of ``softplus(x)``
through these maps, so torch's autograd gives the paper's subgradient (one unit on the
building edge).

The losses are the paper's, on dissimilarities ``d`` (``E`` the edges, ``|.|`` cluster sizes):

``"dasgupta"`` (default)
    The relaxed Dasgupta cost ``mean_e A(lca(e)) / d(e)``. ``A`` is the paper's soft
    cardinality: for the node ``r`` built by the MST edge ``xy`` at altitude ``a_r``,
    ``A(r) = (c(x, a_r) + c(y, a_r)) / 2`` with ``c(x, a) = sum_z sigmoid(lambda (a - u(x, z)))``
    (``u(x, x) = 0``). As ``lambda -> infinity`` it tends to ``3 |r| / 4`` (the pairs that
    meet at ``r`` itself count one half), a constant factor of the cost.
``"closest"``
    The closest ultrametric, ``mean_e (u(e) - d(e))^2``.
``"closest+size"``
    Closest plus ``gamma`` times the cluster-size regulariser
    ``mean_e u(e) / min_{c child of lca(e)} |c|``, restricted to the ``top_nodes`` highest
    nodes if given (all nodes by default).

Defaults are those of the paper's published Dasgupta experiment: 500 epochs of Adam
(amsgrad) with learning rate 0.1, ``lambda = 50``, dissimilarities divided by their maximum,
``x`` started at the subdominant ultrametric of ``d``, the iterate of lowest loss kept, and
the run stopped when the mean loss of the last 30 epochs differs from that of the 30 before
by less than 0.5 % of its range. ``gamma = 1`` is the paper code's default weight of the size
term.

**The EPH poster's setting (similarity graphs).** The scores here are Dasgupta costs
``sum w(e) |lca(e)|`` of similarities ``w``. We fit UF to the dissimilarity ``d = min(w) / w``
(``d`` in ``(0, 1]``, the most similar pairs closest), for which the paper's dissimilarity
form ``A / d`` is ``A w / min(w)``: the relaxed loss is the similarity Dasgupta cost up to a
constant. Pairs of weight 0 and self-loops carry no cost and are left out. Vector data is the
complete cosine-similarity graph (``n (n - 1) / 2`` edges) unless ``n_neighbors`` asks for the
symmetrised k-nearest-neighbour graph of the same similarities. Each connected component is
fitted on its own (single linkage needs a connected graph) and the components are joined at
the top by the rule of :mod:`hc_lib.components`.

**Unweighted graphs** tie every dissimilarity, so the start is a flat ultrametric in higra's
tie order (by edge index), whose soft cardinalities all sit at the sigmoid's midpoint. From
there, on the planted stochastic block model of ``tests/test_uf.py``, UF separates the two
groups but only part of the sub-blocks; with similarities that vary (the same graph with
noisy weights, or vector data) it recovers the whole planted hierarchy.

**Memory.** Per epoch the soft cardinalities take ``O(n h)`` numbers (``h`` the height of the
current single-linkage tree, at most ``n``), and the loss ``O(|E|)``: on dblp (317 080 nodes,
1 M edges) or cifar's complete graph (50 000 points, 1.25 G pairs) that is past a workstation,
where the poster prints "OOM" too.
"""
from __future__ import annotations

import higra as hg
import numpy as np
import torch
from scipy import sparse
from scipy.sparse import csgraph

from hc_lib.components import join_components
from hc_lib.graphs import as_loop_free_graph
from hc_lib.trees import Tree

__all__ = ["LOSSES", "UltrametricFitting"]

LOSSES = ("dasgupta", "closest", "closest+size")
_CHUNK = 1 << 22           # soft cardinalities are summed over at most this many entries at a time


def _ancestor_table(tree) -> tuple[np.ndarray, np.ndarray]:
    """Every leaf's ancestors (padded with the root) and the number of leaves each one adds."""
    parents, n_leaves = tree.parents(), tree.num_leaves()
    root = parents.size - 1
    area = hg.attribute_area(tree)
    columns, gains = [], []
    current = np.arange(n_leaves)
    while np.any(current != root):
        above = np.where(current == root, root, parents[current])
        columns.append(above)
        gains.append(np.where(current == root, 0.0, area[above] - area[current]))
        current = above
    return np.stack(columns, axis=1), np.stack(gains, axis=1)


def _soft_area(altitudes, ancestors, gains, ends, sharpness):
    """The paper's soft cardinality of every internal node (``ends``: its MST edge's ends)."""
    internal = altitudes[-ends.shape[0]:]
    total = []
    for start in range(0, ends.shape[0], max(1, _CHUNK // (2 * ancestors.shape[1]))):
        stop = start + max(1, _CHUNK // (2 * ancestors.shape[1]))
        a = internal[start:stop, None, None]
        rows = torch.from_numpy(ends[start:stop])
        joined = torch.sigmoid(sharpness * (a - altitudes[torch.from_numpy(ancestors)[rows]]))
        counts = (joined * torch.from_numpy(gains)[rows]).sum(dim=2)
        total.append(torch.sigmoid(sharpness * internal[start:stop]) + counts.mean(dim=1))
    return torch.cat(total)


class UltrametricFitting:
    """Hierarchy of a similarity graph by ultrametric fitting (Chierchia & Perret, NeurIPS 2019).

    Parameters
    ----------
    loss : {"dasgupta", "closest", "closest+size"}
        The paper's cost (module docstring); "dasgupta" is the one the poster's scores measure.
    n_epochs : int
        Most gradient steps (full batch), 500 in the paper.
    lr : float
        Adam's learning rate, 0.1 in the paper.
    sharpness : float
        ``lambda`` of the soft cardinality's sigmoid, 50 in the paper.
    gamma : float
        Weight of the cluster-size term of "closest+size".
    top_nodes : int
        Size term over the ``top_nodes`` highest nodes only (0: all).
    early_stop : bool
        Stop at the paper's convergence test (30-epoch windows, 0.5 %).
    n_neighbors : int or None
        On vector data, fit the symmetrised k-nearest-neighbour graph instead of the complete
        similarity graph.

    Attributes
    ----------
    tree_ : Tree
        Binary; heights are the fitted ultrametric (per component, components joined above).
    history_ : list of float
        Loss per epoch (of the largest component).
    n_epochs_run_ : int

    Examples
    --------
    >>> blocks = np.kron(np.eye(2), np.ones((3, 3))) + 0.01
    >>> UltrametricFitting(n_epochs=20).fit(blocks).tree_.cut(2).tolist()
    [0, 0, 0, 1, 1, 1]
    """

    def __init__(self, loss: str = "dasgupta", *, n_epochs: int = 500, lr: float = 0.1, sharpness: float = 50.0,
                 gamma: float = 1.0, top_nodes: int = 0, early_stop: bool = True, n_neighbors: int | None = None):
        if loss not in LOSSES:
            raise ValueError(f"unknown loss {loss!r}; choose one of {', '.join(LOSSES)}")
        for name, value in (("n_epochs", n_epochs), ("lr", lr), ("sharpness", sharpness)):
            if not value > 0:
                raise ValueError(f"{name} must be positive, got {value}")
        if gamma < 0 or top_nodes < 0:
            raise ValueError(f"gamma and top_nodes must be non-negative, got {gamma} and {top_nodes}")
        if n_neighbors is not None and int(n_neighbors) < 1:
            raise ValueError(f"n_neighbors must be a positive integer or None, got {n_neighbors}")
        self.loss, self.n_epochs, self.lr, self.sharpness = loss, int(n_epochs), float(lr), float(sharpness)
        self.gamma, self.top_nodes, self.early_stop = float(gamma), int(top_nodes), bool(early_stop)
        self.n_neighbors = None if n_neighbors is None else int(n_neighbors)

    def get_params(self) -> dict:
        return {"loss": self.loss, "n_epochs": self.n_epochs, "lr": self.lr, "sharpness": self.sharpness,
                "gamma": self.gamma, "top_nodes": self.top_nodes, "early_stop": self.early_stop,
                "n_neighbors": self.n_neighbors}

    def _edges(self, graph):
        """Every edge once (``u < v``): the graph's, or on vector data with ``n_neighbors`` the
        symmetrised k-nearest-neighbour graph's."""
        if graph.is_complete and self.n_neighbors is not None:
            neighbours = graph.top_neighbours(self.n_neighbors)
            rows = np.repeat(np.arange(graph.n_nodes), [len(row) for row in neighbours])
            cols = np.concatenate(neighbours)
            u, v = np.minimum(rows, cols), np.maximum(rows, cols)
            pairs = np.unique(np.stack([u, v], axis=1), axis=0)
            weights = graph.pair_weights(pairs[:, 0], pairs[:, 1])
            keep = weights > 0
            return pairs[keep, 0], pairs[keep, 1], weights[keep]
        return graph.edges(upper=True)

    def _loss(self, x, tree, leaf_graph, dissimilarity, ends):
        n_leaves = tree.num_leaves()
        mst = torch.from_numpy(tree.mst_edge_map.astype(np.int64))
        altitudes = torch.cat([torch.zeros(n_leaves, dtype=x.dtype), x[mst]])
        lca = torch.from_numpy(hg.attribute_lca_map(tree, leaf_graph=leaf_graph).astype(np.int64))
        ultrametric = altitudes[lca]
        if self.loss == "dasgupta":
            ancestors, gains = _ancestor_table(tree)
            area = _soft_area(altitudes, ancestors, gains, ends[tree.mst_edge_map], self.sharpness)
            return (area[lca - n_leaves] / dissimilarity).mean()
        closest = ((ultrametric - dissimilarity) ** 2).mean()
        if self.loss == "closest":
            return closest
        area = hg.attribute_area(tree)
        smallest_child = hg.accumulate_parallel(tree, area, hg.Accumulators.min)
        lowest = tree.num_vertices() - (self.top_nodes or tree.num_vertices())
        top = torch.from_numpy(np.flatnonzero(lca.numpy() >= max(lowest, n_leaves)))
        size = ultrametric[top] / torch.from_numpy(smallest_child)[lca[top]]
        return closest + self.gamma * size.mean()

    def _fit_component(self, u, v, weights, n_leaves):
        """Linkage matrix of one connected component (local node numbers)."""
        leaf_graph = hg.UndirectedGraph(n_leaves)
        leaf_graph.add_edges(u, v)
        dissimilarity = torch.from_numpy(weights.min() / weights)
        ends = np.stack([u, v], axis=1)
        tree, altitudes = hg.bpt_canonical(leaf_graph, dissimilarity.numpy())
        start = altitudes[hg.attribute_lca_map(tree, leaf_graph=leaf_graph)]       # subdominant ultrametric
        x = torch.tensor(start, dtype=torch.float64, requires_grad=True)
        optimizer = torch.optim.Adam([x], lr=self.lr, amsgrad=True)
        history, best, best_loss = [], x.detach().clone(), np.inf
        for epoch in range(self.n_epochs):
            optimizer.zero_grad()
            values = torch.nn.functional.softplus(x)
            tree, _ = hg.bpt_canonical(leaf_graph, values.detach().numpy())
            loss = self._loss(values, tree, leaf_graph, dissimilarity, ends)
            loss.backward()
            history.append(loss.item())
            if history[-1] < best_loss:
                best_loss, best = history[-1], x.detach().clone()
            optimizer.step()
            if self.early_stop and self._converged(history):
                break
        values = torch.nn.functional.softplus(best).numpy()
        tree, altitudes = hg.bpt_canonical(leaf_graph, values)
        parents = tree.parents().copy()
        parents[-1] = -1
        return Tree.from_parent(parents, n_leaves, altitudes[n_leaves:]).to_linkage(), history

    @staticmethod
    def _converged(history, window: int = 30, tolerance: float = 5e-3) -> bool:
        if len(history) < 2 * window:
            return False
        earlier, recent = np.mean(history[-2 * window:-window]), np.mean(history[-window:])
        scale = abs(max(history) - recent)
        return scale >= 1e-5 and abs(earlier - recent) / scale < tolerance

    def fit(self, graph):
        """Fit the ultrametric of a graph.

        Parameters
        ----------
        graph : array_like, scipy sparse matrix or a graph of :mod:`hc_lib.graphs`, shape (n, n)
            Symmetric non-negative similarities (self-loops are ignored), n >= 2.
        """
        graph = as_loop_free_graph(graph)
        n = graph.n_nodes
        u, v, weights = self._edges(graph)
        adjacency = sparse.coo_matrix((weights, (u, v)), shape=(n, n))
        n_components, labels = csgraph.connected_components(adjacency, directed=False)
        rows, self.history_ = [], []
        for component in range(n_components):
            members = np.flatnonzero(labels == component)
            if members.size == 1:
                continue
            local = np.full(n, -1)
            local[members] = np.arange(members.size)
            inside = labels[u] == component
            if members.size == 2:
                Z, history = np.array([[0.0, 1.0, 0.0, 2.0]]), []
            else:
                Z, history = self._fit_component(local[u[inside]], local[v[inside]], weights[inside], members.size)
            if len(history) > len(self.history_):
                self.history_ = history
            ids = np.concatenate([members, n + sum(len(r) for r in rows) + np.arange(members.size - 1)])
            rows.append(np.column_stack([ids[Z[:, :2].astype(np.int64)], Z[:, 2:]]))
        Z = np.vstack(rows) if rows else np.zeros((0, 4))
        self.n_epochs_run_ = len(self.history_)
        self.tree_ = Tree.from_linkage(join_components(Z, n))
        return self
