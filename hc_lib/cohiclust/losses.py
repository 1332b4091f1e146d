"""The three losses of CoHiClust: CoHiLoss, the balance regulariser R1 and NT-Xent (R2).

Every loss takes the ``2N`` views of a batch stacked as ``[first views; second views]``, so
view ``i`` and view ``i + N`` come from the same image (a positive pair) and every other pair
of distinct views is a negative pair. The full objective of the tree phase is
``CoHiLoss + 2^-T * R1 + NT-Xent`` (Znalezniak et al., ECML PKDD 2023, and its authors' code).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from hc_lib.cohiclust.soft_tree import SQRT_EPS, apply_leaf_mask, depth_from_nodes, level_masses

__all__ = ["LOG_EPS", "pair_masks", "cohi_loss", "r1_regulariser", "nt_xent"]

LOG_EPS = 1e-8
"""Added to the batch-mean masses inside R1's logarithm (finite at one-hot batches)."""


def _check_views(n_views: int) -> int:
    if n_views < 2 or n_views % 2:
        raise ValueError(f"expected 2N >= 2 stacked views (view i and i + N positive), got {n_views} rows")
    return n_views // 2


def pair_masks(n_views: int, *, self_negatives: bool = False, device=None):
    """Boolean ``(2N, 2N)`` masks of the positive and the negative pairs of ``2N`` views.

    >>> positive, negative = pair_masks(4)
    >>> positive.int().tolist()
    [[0, 0, 1, 0], [0, 0, 0, 1], [1, 0, 0, 0], [0, 1, 0, 0]]
    >>> int(negative.sum()), int(pair_masks(4, self_negatives=True)[1].sum())
    (8, 12)
    """
    n = _check_views(n_views)
    index = torch.arange(n_views, device=device)
    positive = index[:, None] == (index[None, :] + n) % n_views
    negative = ~positive
    if not self_negatives:
        negative &= index[:, None] != index[None, :]
    return positive, negative


def _stack_levels(masses_or_levels, leaf_mask) -> torch.Tensor:
    """Every node below the root, levels 1..T side by side, in float32 or wider."""
    if isinstance(masses_or_levels, (list, tuple)):
        levels = list(masses_or_levels)
        if leaf_mask is not None:
            levels[-1] = levels[-1] * leaf_mask.to(levels[-1].device, levels[-1].dtype)
        stacked = torch.cat(levels, dim=1)
    else:
        stacked = apply_leaf_mask(masses_or_levels, leaf_mask)[:, 1:]
    return _at_least_float32(stacked)


def _at_least_float32(x: torch.Tensor) -> torch.Tensor:
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def cohi_loss(masses_or_levels, *, leaf_mask: torch.Tensor | None = None,
              official_self_negatives: bool = False) -> torch.Tensor:
    """CoHiLoss: mean tree similarity of negative pairs minus that of positive pairs.

    The similarity of two views is ``s = sum_{t=1..T} sum_i sqrt(P_t^i(a) P_t^i(b))``, the
    Bhattacharyya coefficients of the level distributions summed over the levels below the
    root (the paper's formula writes the sum over ``t = 0..T-1``, which would
    add the constant root term and leave the leaves out: we follow the authors' code).
    Positive pairs are ``(i, i + N)`` and ``(i + N, i)``; negatives are all other pairs of
    distinct views (the paper averages only over pairs across the two view sets; with all
    ``2N`` views every ordered negative pair appears, as in the authors' code).

    Parameters
    ----------
    masses_or_levels : Tensor (2N, 2^(T+1) - 1) of node masses, or the list of levels 1..T
    leaf_mask : bool Tensor (2^T,), optional
        Pruned leaves (False) have their mass zeroed before the similarity.
    official_self_negatives : bool
        Reproduce a quirk of the official implementation, which builds its negative mask as
        "every pair that is not positive" and so also counts each view paired with itself
        as a negative. Unpruned, a view's self-similarity is the constant ``T``, so the quirk
        only shrinks the weight of the true negatives by ``(2N - 2) / (2N - 1)`` and shifts the
        loss; after pruning the self-similarity is ``T - 1`` plus the view's kept leaf mass,
        so the quirk also pushes mass towards pruned leaves. Off by default.

    Returns
    -------
    Scalar tensor in ``[-T, T]``.

    Examples
    --------
    Two images, depth 1, each view sure of its own leaf and its twin agreeing:

    >>> masses = torch.tensor([[1.0, 1.0, 0.0], [1.0, 0.0, 1.0]] * 2)
    >>> round(float(cohi_loss(masses)), 4)
    -1.0
    >>> round(float(cohi_loss(masses, official_self_negatives=True)), 4)   # 4 of 12 negatives: s = 1
    -0.6667
    """
    stacked = _stack_levels(masses_or_levels, leaf_mask)
    depth_from_nodes(stacked.shape[1] + 1)
    positive, negative = pair_masks(stacked.shape[0], self_negatives=official_self_negatives,
                                    device=stacked.device)
    root = torch.sqrt(stacked.clamp_min(SQRT_EPS))
    similarity = root @ root.T
    return similarity[negative].mean() - similarity[positive].mean()


def r1_regulariser(masses_or_levels, *, leaf_mask: torch.Tensor | None = None) -> torch.Tensor:
    """R1: push every split to send half of the batch each way.

    For every level ``t = 1..T`` and every pair of siblings at that level,
    ``-2^-t (1/2 log Pbar_left + 1/2 log Pbar_right)``, where ``Pbar`` is the mean mass of the
    child over the batch (all ``2N`` views); the terms are **summed** over sibling pairs and
    levels (as the authors' code does; the paper's cross-entropy to ``[1/2, 1/2]`` per node, after Frosst
    & Hinton, whose penalty is also a sum over nodes). The training multiplies it by
    ``beta_1 = 2^-T``. ``LOG_EPS`` is added inside the logarithm.

    With a ``leaf_mask``, sibling pairs with a child that has no kept leaf below it are left
    out (their log-mass would be ``-inf``, and a pruned subtree has nothing to balance).

    Examples
    --------
    A perfectly balanced depth-1 batch: ``-1/2 (1/2 log 1/2 + 1/2 log 1/2) = 1/2 log 2``.

    >>> masses = torch.tensor([[1.0, 1.0, 0.0], [1.0, 0.0, 1.0]], dtype=torch.float64)
    >>> round(float(r1_regulariser(masses)), 6)
    0.346574
    """
    levels = masses_or_levels if isinstance(masses_or_levels, (list, tuple)) else level_masses(masses_or_levels)
    levels = [_at_least_float32(level) for level in levels]
    depth = len(levels)
    alive = None
    if leaf_mask is not None:
        if leaf_mask.shape != (2 ** depth,):
            raise ValueError(f"leaf_mask must have shape ({2 ** depth},), got {tuple(leaf_mask.shape)}")
        alive = leaf_mask.to(levels[0].device)
        levels[-1] = levels[-1] * alive.to(levels[-1].dtype)
    total = levels[0].new_zeros(())
    for t in range(depth, 0, -1):
        mean = levels[t - 1].mean(dim=0).reshape(-1, 2)          # sibling pairs (left, right)
        terms = -0.5 * torch.log(mean + LOG_EPS).sum(dim=1)
        if alive is not None:
            pairs_alive = alive.reshape(-1, 2)
            terms = torch.where(pairs_alive.all(dim=1), terms, torch.zeros_like(terms))
            alive = pairs_alive.any(dim=1)                        # parents with a kept leaf below
        total = total + 2.0 ** -t * terms.sum()
    return total


def nt_xent(z: torch.Tensor, temperature: float = 0.5) -> torch.Tensor:
    """NT-Xent, the SimCLR loss (Chen et al., 2020), over ``2N`` stacked views.

    Cosine similarities divided by ``temperature``; for every view, the cross-entropy of
    picking its twin among the other ``2N - 1`` views, averaged over the ``2N`` views.

    Examples
    --------
    Two images with orthogonal embeddings and identical twins, at temperature 1:
    each view scores ``-log(e / (e + 2))``.

    >>> z = torch.tensor([[1.0, 0.0], [0.0, 1.0]] * 2, dtype=torch.float64)
    >>> round(float(nt_xent(z, temperature=1.0)), 6)
    0.551445
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    if z.ndim != 2:
        raise ValueError(f"z must have shape (2N, d), got {tuple(z.shape)}")
    n = _check_views(z.shape[0])
    z = F.normalize(_at_least_float32(z), dim=1)
    logits = z @ z.T / temperature
    eye = torch.eye(2 * n, dtype=torch.bool, device=z.device)
    logits = logits.masked_fill(eye, float("-inf"))
    target = (torch.arange(2 * n, device=z.device) + n) % (2 * n)
    return F.cross_entropy(logits, target)
