"""The soft binary tree of CoHiClust, as tensor functions.

A complete binary tree of depth ``T`` is stored in heap order: node ``u`` has children
``2u + 1`` (left) and ``2u + 2`` (right), the root is ``0``, level ``t`` holds the nodes
``2^t - 1 .. 2^(t+1) - 2`` and the ``2^T`` leaves are the last level. The network outputs
``p_left`` (N, 2^T - 1), the probability of going left at every internal node; the mass of a
node is the product of the branch probabilities on its path, so every level is a probability
distribution over its ``2^t`` nodes (Znalezniak et al., ECML PKDD 2023).

Everything here is vectorised over nodes (a loop over the ``T`` levels only) and works on
any device and dtype. Pruned leaves are described by a boolean ``leaf_mask`` over the ``2^T``
leaves; their mass is zeroed, never given back to the other leaves.
"""
from __future__ import annotations

import numpy as np
import torch

from hc_lib.trees import Tree

__all__ = ["SQRT_EPS", "depth_from_internal", "depth_from_nodes", "node_masses", "level_masses",
           "leaf_masses", "apply_leaf_mask", "bhattacharyya", "tree_similarity", "full_leaf_mask",
           "prune_lowest_leaf", "heap_tree", "leaf_to_tree_leaf"]

SQRT_EPS = 1e-12
"""Floor under the masses before a square root: ``d sqrt(p) / dp`` is infinite at 0."""


def _depth_from_count(count: int, what: str) -> int:
    depth = int(np.log2(count + 1)) if count > 0 else 0
    if count < 1 or 2 ** depth - 1 != count:
        raise ValueError(f"{what} must be 2^k - 1 for some k >= 1 (a complete binary tree), got {count}")
    return depth


def depth_from_internal(n_internal: int) -> int:
    """Depth ``T`` of the tree with ``n_internal = 2^T - 1`` internal nodes.

    >>> depth_from_internal(15)
    4
    """
    return _depth_from_count(int(n_internal), "the number of internal nodes")


def depth_from_nodes(n_nodes: int) -> int:
    """Depth ``T`` of the tree with ``n_nodes = 2^(T+1) - 1`` nodes.

    >>> depth_from_nodes(7)
    2
    """
    return _depth_from_count(int(n_nodes), "the number of nodes") - 1


def node_masses(p_left: torch.Tensor) -> torch.Tensor:
    """Probability of reaching every node of the tree.

    Parameters
    ----------
    p_left : Tensor, shape (N, 2^T - 1)
        Probability of taking the left branch at every internal node, heap order.

    Returns
    -------
    Tensor, shape (N, 2^(T+1) - 1)
        Mass of every node in heap order; the root has mass 1 and each level sums to 1.

    Examples
    --------
    >>> node_masses(torch.tensor([[0.25, 0.5, 1.0]])).tolist()
    [[1.0, 0.25, 0.75, 0.125, 0.125, 0.75, 0.0]]
    """
    if p_left.ndim != 2:
        raise ValueError(f"p_left must have shape (N, 2^T - 1), got {tuple(p_left.shape)}")
    depth = depth_from_internal(p_left.shape[1])
    n = p_left.shape[0]
    level = torch.ones(n, 1, dtype=p_left.dtype, device=p_left.device)
    levels = [level]
    for t in range(depth):
        p = p_left[:, 2 ** t - 1: 2 ** (t + 1) - 1]
        # children of the i-th node of level t are nodes 2i (left) and 2i + 1 of level t + 1
        level = torch.stack([level * p, level * (1 - p)], dim=2).reshape(n, 2 ** (t + 1))
        levels.append(level)
    return torch.cat(levels, dim=1)


def level_masses(masses: torch.Tensor, depth: int | None = None) -> list[torch.Tensor]:
    """Split node masses into the ``T`` levels below the root.

    Returns a list of tensors ``(N, 2^t)`` for ``t = 1..T``.

    >>> [level.tolist() for level in level_masses(torch.tensor([[1.0, 0.25, 0.75]]))]
    [[[0.25, 0.75]]]
    """
    found = depth_from_nodes(masses.shape[-1])
    if depth is not None and depth != found:
        raise ValueError(f"masses have {masses.shape[-1]} nodes: depth {found}, not {depth}")
    return [masses[..., 2 ** t - 1: 2 ** (t + 1) - 1] for t in range(1, found + 1)]


def leaf_masses(masses: torch.Tensor) -> torch.Tensor:
    """The last level of ``masses``: ``(N, 2^T)`` leaf probabilities."""
    depth = depth_from_nodes(masses.shape[-1])
    return masses[..., 2 ** depth - 1:]


def apply_leaf_mask(masses: torch.Tensor, leaf_mask: torch.Tensor | None) -> torch.Tensor:
    """Zero the mass of pruned leaves (``leaf_mask`` False); other nodes are unchanged.

    The removed mass is not redistributed, so the leaf level may sum to less than 1.
    """
    if leaf_mask is None:
        return masses
    depth = depth_from_nodes(masses.shape[-1])
    if leaf_mask.shape != (2 ** depth,):
        raise ValueError(f"leaf_mask must have shape ({2 ** depth},), got {tuple(leaf_mask.shape)}")
    keep = torch.ones(masses.shape[-1], dtype=masses.dtype, device=masses.device)
    keep[2 ** depth - 1:] = leaf_mask.to(device=masses.device, dtype=masses.dtype)
    return masses * keep


def _safe_sqrt(p: torch.Tensor) -> torch.Tensor:
    return torch.sqrt(p.clamp_min(SQRT_EPS))


def bhattacharyya(p: torch.Tensor, q: torch.Tensor | None = None) -> torch.Tensor:
    """Pairwise Bhattacharyya coefficients ``sum_i sqrt(p_i q_i)``.

    Parameters
    ----------
    p : Tensor, shape (N, K)
    q : Tensor, shape (M, K), optional (defaults to ``p``)

    Returns
    -------
    Tensor, shape (N, M)
        Masses below ``SQRT_EPS`` count as ``SQRT_EPS`` so that gradients stay finite at
        one-hot distributions.

    Examples
    --------
    >>> p = torch.tensor([[0.5, 0.5], [1.0, 0.0]], dtype=torch.float64)
    >>> bhattacharyya(p).round(decimals=3).tolist()
    [[1.0, 0.707], [0.707, 1.0]]
    """
    q = p if q is None else q
    if p.ndim != 2 or q.ndim != 2 or p.shape[1] != q.shape[1]:
        raise ValueError(f"p and q must be (N, K) and (M, K), got {tuple(p.shape)} and {tuple(q.shape)}")
    return _safe_sqrt(p) @ _safe_sqrt(q).T


def tree_similarity(masses: torch.Tensor, other: torch.Tensor | None = None, *,
                    from_p_left: bool = False) -> torch.Tensor:
    """CoHiClust similarity ``s = sum_{t=1..T} s_t``, ``s_t`` the Bhattacharyya coefficient
    of the level-``t`` distributions.

    All levels at once: the sum over levels of ``sqrt(p) . sqrt(q)`` is one dot product over
    the concatenated levels, i.e. over every node but the root.

    Parameters
    ----------
    masses, other : Tensor, shape (N, 2^(T+1) - 1) and (M, 2^(T+1) - 1)
        Node masses (or ``p_left`` of shape (N, 2^T - 1) with ``from_p_left=True``).

    Returns
    -------
    Tensor, shape (N, M), values in ``[0, T]``.

    Examples
    --------
    >>> masses = node_masses(torch.tensor([[1.0, 1.0, 0.5], [0.0, 0.5, 0.0]]))
    >>> tree_similarity(masses).round(decimals=3).tolist()
    [[2.0, 0.0], [0.0, 2.0]]
    """
    if from_p_left:
        masses = node_masses(masses)
        other = None if other is None else node_masses(other)
    depth_from_nodes(masses.shape[-1])
    other = masses if other is None else other
    if other.shape[-1] != masses.shape[-1]:
        raise ValueError(f"both trees must have the same depth, got {masses.shape[-1]} and {other.shape[-1]} nodes")
    return bhattacharyya(masses[:, 1:], other[:, 1:])


# ---------------------------------------------------------------------- pruning
def full_leaf_mask(depth: int, device=None) -> torch.Tensor:
    """All ``2^depth`` leaves kept."""
    if int(depth) < 1:
        raise ValueError(f"depth must be at least 1, got {depth}")
    return torch.ones(2 ** int(depth), dtype=torch.bool, device=device)


def prune_lowest_leaf(leaf_mask: torch.Tensor, leaf_mass: torch.Tensor) -> torch.Tensor:
    """Remove the kept leaf with the lowest mean mass.

    Parameters
    ----------
    leaf_mask : bool Tensor, shape (L,)
        Leaves still in the tree.
    leaf_mass : Tensor, shape (L,) or (N, L)
        Mean mass of every leaf over the data (a batch of leaf probabilities is averaged).

    Returns
    -------
    A new mask with one more leaf removed (the input is not modified).

    Examples
    --------
    >>> mask = torch.tensor([True, True, False, True])
    >>> prune_lowest_leaf(mask, torch.tensor([0.4, 0.3, 0.0, 0.3])).tolist()
    [True, False, False, True]
    """
    if leaf_mass.ndim == 2:
        leaf_mass = leaf_mass.float().mean(dim=0)
    if leaf_mask.ndim != 1 or leaf_mass.shape != leaf_mask.shape:
        raise ValueError(f"leaf_mask and leaf_mass must both have shape (L,), got "
                         f"{tuple(leaf_mask.shape)} and {tuple(leaf_mass.shape)}")
    kept = int(leaf_mask.sum())
    if kept <= 1:
        raise ValueError(f"cannot prune: {kept} leaf left, a tree needs at least one")
    scores = torch.where(leaf_mask.to(leaf_mass.device), leaf_mass.float(),
                         torch.tensor(float("inf"), device=leaf_mass.device))
    new_mask = leaf_mask.clone()
    new_mask[int(torch.argmin(scores))] = False    # first index among ties
    return new_mask


def _kept_positions(depth: int, kept_leaves) -> np.ndarray:
    depth = int(depth)
    if depth < 1:
        raise ValueError(f"depth must be at least 1, got {depth}")
    if isinstance(kept_leaves, torch.Tensor):
        kept_leaves = kept_leaves.detach().cpu().numpy()
    kept = np.asarray(kept_leaves)
    if kept.dtype == bool:
        if kept.shape != (2 ** depth,):
            raise ValueError(f"a leaf mask for depth {depth} must have {2 ** depth} entries, got {kept.shape}")
        kept = np.flatnonzero(kept)
    kept = np.unique(kept.astype(np.int64))
    if kept.size and (kept[0] < 0 or kept[-1] >= 2 ** depth):
        raise ValueError(f"leaf indices must lie in [0, {2 ** depth - 1}]")
    if kept.size < 2:
        raise ValueError(f"a tree needs at least 2 kept leaves, got {kept.size}")
    return kept


def leaf_to_tree_leaf(depth: int, kept_leaves) -> np.ndarray:
    """For each of the ``2^depth`` heap leaves, its leaf in :func:`heap_tree` (``-1`` if pruned).

    >>> leaf_to_tree_leaf(2, [True, False, True, True]).tolist()
    [0, -1, 1, 2]
    """
    kept = _kept_positions(depth, kept_leaves)
    mapping = np.full(2 ** int(depth), -1, dtype=np.int64)
    mapping[kept] = np.arange(kept.size)
    return mapping


def heap_tree(depth: int, kept_leaves) -> Tree:
    """The hierarchy over the kept leaves, as a :class:`~hc_lib.trees.Tree`.

    Internal nodes with no kept leaf below are dropped and those left with a single child are
    spliced out. Tree leaf ``j`` is the ``j``-th kept heap leaf in increasing order (see
    :func:`leaf_to_tree_leaf`); heights are ``T`` minus the level of the heap node.

    Parameters
    ----------
    depth : int
    kept_leaves : bool array of shape (2^depth,) or array of leaf indices in ``[0, 2^depth)``

    Examples
    --------
    >>> tree = heap_tree(2, [True, True, False, True])      # ((0, 1), 2)
    >>> tree.parent.tolist(), tree.heights.tolist()
    ([3, 3, 4, 4, -1], [1.0, 2.0])
    """
    kept = _kept_positions(depth, kept_leaves)
    depth = int(depth)
    n_internal = 2 ** depth - 1
    n_kept = kept.size
    heap_leaves = np.arange(2 ** depth)
    dropped = np.setdiff1d(heap_leaves, kept)
    # our numbering: kept leaves, then the heap's internal nodes, then the dropped leaves
    index_of_heap = np.empty(2 ** (depth + 1) - 1, dtype=np.int64)
    index_of_heap[:n_internal] = n_kept + np.arange(n_internal)
    index_of_heap[n_internal + kept] = np.arange(n_kept)
    index_of_heap[n_internal + dropped] = n_kept + n_internal + np.arange(dropped.size)
    heap_nodes = np.arange(1, 2 ** (depth + 1) - 1)
    parent = np.full(index_of_heap.size, -1, dtype=np.int64)
    parent[index_of_heap[heap_nodes]] = index_of_heap[(heap_nodes - 1) // 2]
    level = np.floor(np.log2(np.arange(n_internal) + 1))
    heights = np.concatenate([depth - level, np.zeros(dropped.size)])
    return Tree.from_parent(parent, n_kept, heights, prune=True)
