"""Pictures of hierarchies: dendrograms (with class colours) and small graph drawings."""
from __future__ import annotations

import numpy as np

from hc_lib.graphs import as_graph
from hc_lib.trees import Tree

__all__ = ["class_colours", "plot_dendrogram", "draw_graph"]


def _axes(ax, figsize=(6, 3)):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=figsize)
    return ax


def class_colours(labels, cmap: str = "tab10") -> np.ndarray:
    """One RGBA colour per entry of ``labels``, the same classes always getting the same colour."""
    import matplotlib.pyplot as plt

    _, classes = np.unique(np.asarray(labels), return_inverse=True)
    palette = plt.get_cmap(cmap)
    return palette(classes % palette.N)


def plot_dendrogram(tree: Tree, ax=None, *, labels=None, leaf_names=None, max_leaves: int = 400,
                    heights: str = "given", cmap: str = "tab10"):
    """Draw a tree with scipy's dendrogram; non-binary nodes show as flat chains.

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
    """
    from scipy.cluster.hierarchy import dendrogram

    if heights not in ("given", "level"):
        raise ValueError(f"heights must be 'given' or 'level', got {heights!r}")
    ax = _axes(ax)
    Z = (tree if heights == "given" else Tree(tree.parent, tree.n_leaves)).to_linkage()
    names = leaf_names if leaf_names is not None else [str(i) for i in range(tree.n_leaves)]
    result = dendrogram(Z, ax=ax, labels=list(names), color_threshold=0, above_threshold_color="0.3",
                        no_labels=tree.n_leaves > max_leaves)
    if labels is not None:
        colours = class_colours(labels, cmap)[result["leaves"]]
        xs = 5 + 10 * np.arange(tree.n_leaves)
        ax.scatter(xs, np.zeros(tree.n_leaves), c=colours, marker="s", s=max(2, 3000 / tree.n_leaves),
                   clip_on=False, zorder=3)
    ax.set_ylabel("height" if heights == "given" else "merges below")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return ax


def draw_graph(adjacency, ax=None, *, labels=None, pos=None, seed: int = 0, with_labels: bool = True,
               cmap: str = "tab10"):
    """Draw a small weighted graph with networkx (edge width ∝ weight), nodes coloured by
    ``labels`` as in :func:`plot_dendrogram`; returns the layout."""
    import networkx as nx

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
