"""The Poincaré ball, as the two hyperbolic learners use it: distances, lowest common
ancestors of leaves, and Riemannian optimisers that keep points inside the ball.

The unit ball with metric ``(2 / (1 - |x|^2))^2 |dx|^2`` (Nickel & Kiela, NeurIPS 2017).
Geodesics through the origin are diameters; every other geodesic is an arc of a circle
orthogonal to the boundary sphere, in the plane spanned by its two ends and the origin.
"""
from __future__ import annotations

import torch

__all__ = ["project", "hyperbolic_norm", "distance", "lca_depth", "BallAdam", "BallSGD"]

EPS = 1e-15


def project(points: torch.Tensor, max_norm: float = 1.0 - 1e-5) -> torch.Tensor:
    """Rescale the points whose Euclidean norm passes ``max_norm`` back onto that sphere.

    >>> project(torch.tensor([[3.0, 4.0], [0.1, 0.0]]), 0.5).tolist()
    [[0.30000001192092896, 0.4000000059604645], [0.10000000149011612, 0.0]]
    """
    norms = points.norm(dim=-1, keepdim=True).clamp_min(EPS)
    return points * torch.clamp(max_norm / norms, max=1.0)


def hyperbolic_norm(points: torch.Tensor) -> torch.Tensor:
    """Hyperbolic distance to the origin, ``2 artanh |x|``."""
    return 2.0 * torch.atanh(points.norm(dim=-1).clamp(max=1.0 - 1e-7))


def distance(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Hyperbolic distance, broadcasting over leading dimensions.

    ``arcosh(1 + 2 |x - y|^2 / ((1 - |x|^2)(1 - |y|^2)))``

    >>> round(float(distance(torch.zeros(2), torch.tensor([0.5, 0.0]))), 6)   # 2 artanh(0.5)
    1.098612
    """
    squared = ((x - y) ** 2).sum(dim=-1)
    denominator = (1.0 - (x ** 2).sum(dim=-1)) * (1.0 - (y ** 2).sum(dim=-1))
    # the tiny offset keeps arcosh differentiable at x = y
    return torch.acosh(1.0 + 2.0 * squared / denominator.clamp_min(EPS) + 1e-12)


def lca_depth(x: torch.Tensor, y: torch.Tensor, radius: torch.Tensor) -> torch.Tensor:
    """Hyperbolic distance from the origin to the geodesic between ``x`` and ``y``.

    This is the depth of the hyperbolic lowest common ancestor of Chami et al. (NeurIPS
    2020): the point of the geodesic closest to the origin. For two points at the same
    Euclidean radius ``rho`` and angle ``theta`` the geodesic lies on the circle orthogonal
    to the boundary centred at distance ``c = (1 + rho^2) / (2 rho cos(theta / 2))`` on their
    bisector, so its closest point has radius ``c - sqrt(c^2 - 1)``. Only the directions of
    ``x`` and ``y`` are read; ``radius`` is their common radius.

    >>> unit = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    >>> depth = lca_depth(unit[[0, 0]], unit[[1, 2]], torch.tensor(0.9))
    >>> bool(depth[0] > 0.5), round(float(depth[1]), 4)     # a right angle, opposite points
    (True, 0.0)
    """
    cosine = (x * y).sum(dim=-1) / (x.norm(dim=-1) * y.norm(dim=-1)).clamp_min(EPS)
    half = torch.sqrt(((1.0 + cosine) / 2.0).clamp(min=1e-12, max=1.0))        # cos(theta / 2)
    centre = (1.0 + radius ** 2) / (2.0 * radius * half)
    closest = 1.0 / (centre + torch.sqrt((centre ** 2 - 1.0).clamp_min(0.0)))  # = c - sqrt(c^2 - 1)
    return 2.0 * torch.atanh(closest.clamp(max=1.0 - 1e-7))


def _squared_norm(vectors: torch.Tensor) -> torch.Tensor:
    """``|v|^2`` over the last axis, kept as an axis of length one.

    Summed column by column: torch's reduction over a short last axis is several times slower
    than a few elementwise additions, and for two columns (HypHC's disc) the result is the same
    to the last bit.
    """
    squared = vectors[..., :1] ** 2
    for column in range(1, vectors.shape[-1]):
        squared = squared + vectors[..., column:column + 1] ** 2
    return squared


def _riemannian(point: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    """Euclidean gradient rescaled by the inverse metric, ``((1 - |x|^2) / 2)^2``."""
    return grad * ((1.0 - (point ** 2).sum(dim=-1, keepdim=True)) ** 2 / 4.0)


class BallSGD:
    """Riemannian SGD in the ball (Nickel & Kiela, NeurIPS 2017): a step along the rescaled
    gradient, then back inside the ball of radius ``max_norm``."""

    def __init__(self, points: torch.Tensor, lr: float, max_norm: float = 1.0 - 1e-5):
        self.points, self.lr, self.max_norm = points, lr, max_norm

    @torch.no_grad()
    def step(self) -> None:
        if self.points.grad is None:
            return
        self.points -= self.lr * _riemannian(self.points, self.points.grad)
        self.points.copy_(project(self.points, self.max_norm))
        self.points.grad = None


class BallAdam:
    """Riemannian Adam (Bécigneul & Ganea, ICLR 2019) on points of the ball.

    Moments of the rescaled gradient, the second one per point with the metric's norm; the
    step is the first-order retraction ``x - lr m / sqrt(v)`` projected into the ball (no
    parallel transport of the moments).
    """

    def __init__(self, points: torch.Tensor, lr: float, betas=(0.9, 0.999), eps: float = 1e-8,
                 max_norm: float = 1.0 - 1e-5):
        self.points, self.lr, self.betas, self.eps, self.max_norm = points, lr, betas, eps, max_norm
        self.first = torch.zeros_like(points)
        self.second = torch.zeros(points.shape[:-1] + (1,), dtype=points.dtype)
        self.steps = 0

    @torch.no_grad()
    def step(self) -> None:
        if self.points.grad is None:
            return
        beta1, beta2 = self.betas
        self.steps += 1
        # the same arithmetic as _riemannian and the metric, with |x|^2 computed once: a step
        # moves every point (the moments do), so on DBLP's 317 080 leaves its cost is the fit's
        conformal = 1.0 - _squared_norm(self.points)
        grad = self.points.grad.mul_(conformal ** 2 / 4.0)
        metric = (2.0 / conformal) ** 2
        self.first.mul_(beta1).add_(grad, alpha=1 - beta1)
        self.second.mul_(beta2).add_(metric.mul_(_squared_norm(grad)), alpha=1 - beta2)
        denominator = (self.second / (1 - beta2 ** self.steps)).sqrt_().add_(self.eps)
        self.points.sub_((self.first / (1 - beta1 ** self.steps)).mul_(self.lr).div_(denominator))
        self.points.copy_(project(self.points, self.max_norm))
        self.points.grad = None
