"""Pictures of hierarchies: dendrograms (with class colours) and small graph drawings."""
from __future__ import annotations

import matplotlib.pyplot as plt
import networkx as nx
import numpy as np
from scipy.cluster.hierarchy import dendrogram

from hc_lib.graphs import as_graph
from hc_lib.trees import Tree

__all__ = ["class_colours", "plot_dendrogram", "draw_graph"]

# scipy's dendrogram recurses once per level of the linkage; far deeper trees (single linkage on
# thousands of points) overflow the interpreter's stack, so they are drawn down to their last merges
MAX_DRAWN_DEPTH = 400


def _axes(ax, figsize=(6, 3)):
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def class_colours(labels, cmap: str = "tab10") -> np.ndarray:
    """One RGBA colour per entry of ``labels``, the same classes always getting the same colour."""
    _, classes = np.unique(np.asarray(labels), return_inverse=True)
    palette = plt.get_cmap(cmap)
    return palette(classes % palette.N)


def _linkage_depth(Z: np.ndarray) -> int:
    """Merges on the longest path from the root of linkage ``Z`` down to a leaf."""
    n = len(Z) + 1
    depth = np.zeros(2 * n - 1, dtype=np.int64)
    for i, (a, b) in enumerate(Z[:, :2].astype(np.int64).tolist()):
        depth[n + i] = 1 + max(depth[a], depth[b])
    return int(depth[-1])


def _last_clusters(Z: np.ndarray, p: int) -> np.ndarray:
    """For each leaf, the cluster of scipy's ``truncate_mode="lastp"`` drawing that holds it."""
    n = len(Z) + 1
    parent = np.full(2 * n - 1, -1, dtype=np.int64)
    parent[Z[:, 0].astype(np.int64)] = np.arange(n, 2 * n - 1)
    parent[Z[:, 1].astype(np.int64)] = np.arange(n, 2 * n - 1)
    shown = parent >= 2 * n - p      # a child of one of the last p - 1 merges is drawn as a leaf
    cluster = np.arange(2 * n - 1)
    for node in range(2 * n - 3, -1, -1):    # parents have larger indices than their children
        if not shown[node]:
            cluster[node] = cluster[parent[node]]
    return cluster[:n]


def plot_dendrogram(tree: Tree, ax=None, *, labels=None, leaf_names=None, max_leaves: int = 400,
                    heights: str = "given", cmap: str = "tab10"):
    """Draw a tree with scipy's dendrogram; non-binary nodes show as flat chains.

    A tree more than ``MAX_DRAWN_DEPTH`` merges deep (as drawn, with its non-binary nodes as
    chains) is drawn down to its last ``min(max_leaves, MAX_DRAWN_DEPTH)`` clusters, each marked
    with the colour of its most frequent class.

    Parameters
    ----------
    tree : Tree
    ax : matplotlib Axes, optional
    labels : array_like, optional
        A class per leaf: leaves are marked with their class colour under the tree.
    leaf_names : list of str, optional
        Text under each leaf (small trees only).
    max_leaves : int
        Beyond this many leaves the tick labels are hidden.
    heights : {"given", "level"}
        Draw the tree's own heights, or the number of merges below each node (readable
        when the given heights span orders of magnitude).

    Examples
    --------
    >>> chain = Tree.from_parent([5, 5, 6, 7, 8, 6, 7, 8, -1])    # a caterpillar on five leaves
    >>> ax = plot_dendrogram(chain, labels=[0, 0, 1, 1, 1], heights="level")
    >>> ax.get_ylabel()
    'merges below'
    """
    if heights not in ("given", "level"):
        raise ValueError(f"heights must be 'given' or 'level', got {heights!r}")
    ax = _axes(ax)
    Z = (tree if heights == "given" else Tree(tree.parent, tree.n_leaves)).to_linkage()
    if _linkage_depth(Z) > MAX_DRAWN_DEPTH:
        p = min(max_leaves, MAX_DRAWN_DEPTH)
        result = dendrogram(Z, ax=ax, truncate_mode="lastp", p=p, no_labels=True, color_threshold=0,
                            above_threshold_color="0.3")
        members = _last_clusters(Z, p)
    else:
        names = leaf_names if leaf_names is not None else [str(i) for i in range(tree.n_leaves)]
        result = dendrogram(Z, ax=ax, labels=list(names), color_threshold=0, above_threshold_color="0.3",
                            no_labels=tree.n_leaves > max_leaves)
        members = np.arange(tree.n_leaves)
    if labels is not None:
        labels = np.asarray(labels)
        classes, codes = np.unique(labels, return_inverse=True)
        shown = np.asarray(result["leaves"])
        majority = [np.bincount(codes[members == c], minlength=len(classes)).argmax() for c in shown]
        colours = class_colours(labels, cmap)[[np.flatnonzero(codes == k)[0] for k in majority]]
        xs = 5 + 10 * np.arange(len(shown))
        ax.scatter(xs, np.zeros(len(shown)), c=colours, marker="s", s=max(2, 3000 / len(shown)),
                   clip_on=False, zorder=3)
    ax.set_ylabel("height" if heights == "given" else "merges below")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return ax


def draw_graph(adjacency, ax=None, *, labels=None, pos=None, seed: int = 0, with_labels: bool = True,
               cmap: str = "tab10"):
    """Draw a small weighted graph with networkx (edge width ∝ weight), nodes coloured by
    ``labels`` as in :func:`plot_dendrogram`; returns the layout."""
    ax = _axes(ax, figsize=(4, 3))
    graph = nx.from_scipy_sparse_array(as_graph(adjacency).to_sparse())
    if pos is None:
        pos = nx.spring_layout(graph, seed=seed)
    widths = [1.5 * data["weight"] for _, _, data in graph.edges(data=True)]
    colours = class_colours(labels, cmap) if labels is not None else "#8fb3d9"
    nx.draw_networkx(graph, pos=pos, ax=ax, node_color=colours, width=widths, with_labels=with_labels,
                     node_size=350, font_size=9)
    ax.set_axis_off()
    return pos
