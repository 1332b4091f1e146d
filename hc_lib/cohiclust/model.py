"""The CoHiClust network: a backbone, the tree head and the SimCLR projection head.

Backbones are torchvision ResNets (random initialisation, ``fc`` removed), with the CIFAR
stem (3x3 stride-1 first convolution, no max-pool) for small images, and a small CNN for CPU
runs. Any number of input channels is accepted (one for MNIST-like data).
"""
from __future__ import annotations

import torch
import torchvision
from torch import nn

from hc_lib.cohiclust.soft_tree import node_masses

__all__ = ["BACKBONES", "make_backbone", "SmallCNN", "TreeHead", "ProjectionHead", "CoHiClustNet"]

BACKBONES = ("small-cnn", "resnet18", "resnet34", "resnet50")


class SmallCNN(nn.Module):
    """Four 3x3 convolutions with batch norm and ReLU, doubling the channels from ``width``
    and halving the resolution at each step (from ``stem_stride`` on), then global average
    pooling: a backbone a CPU trains in minutes on 28x28 or 32x32 images.

    >>> SmallCNN(in_channels=1)(torch.zeros(2, 1, 28, 28)).shape
    torch.Size([2, 256])
    """

    def __init__(self, in_channels: int = 3, width: int = 32, stem_stride: int = 2):
        super().__init__()
        channels = [in_channels, width, 2 * width, 4 * width, 8 * width]
        layers = []
        for index, (c_in, c_out) in enumerate(zip(channels[:-1], channels[1:])):
            layers += [nn.Conv2d(c_in, c_out, 3, stride=stem_stride if index == 0 else 2, padding=1, bias=False),
                       nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.out_features = channels[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


def make_backbone(name: str, in_channels: int = 3, *, cifar_stem: bool = True) -> tuple[nn.Module, int]:
    """A randomly initialised backbone and the size ``D`` of its feature vector.

    Parameters
    ----------
    name : "small-cnn", "resnet18", "resnet34" or "resnet50"
    in_channels : 3 for colour images, 1 for MNIST-like data
    cifar_stem : for ResNets, replace the 7x7 stride-2 convolution and the max-pool with a
        3x3 stride-1 convolution (for 32x32 images, as in the paper); with ``False`` the
        ImageNet stem is kept (and only its channel count adapted).
    """
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; choose one of {', '.join(BACKBONES)}")
    if in_channels < 1:
        raise ValueError(f"in_channels must be positive, got {in_channels}")
    if name == "small-cnn":
        net = SmallCNN(in_channels)
        return net, net.out_features
    net = getattr(torchvision.models, name)(weights=None)
    if cifar_stem:
        net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
        net.maxpool = nn.Identity()
    elif in_channels != 3:
        net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
    features = net.fc.in_features
    net.fc = nn.Identity()
    return net, features


class TreeHead(nn.Module):
    """``Linear(D, 2^T - 1)`` and a sigmoid: the probability of going left at every internal
    node of a depth-``T`` tree, in heap order.

    >>> TreeHead(8, depth=3)(torch.zeros(2, 8)).shape
    torch.Size([2, 7])
    """

    def __init__(self, in_features: int, depth: int):
        super().__init__()
        if int(depth) < 1:
            raise ValueError(f"depth must be at least 1, got {depth}")
        self.depth = int(depth)
        self.linear = nn.Linear(in_features, 2 ** self.depth - 1)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        # sigmoid in float32 even under autocast: products of many half-precision
        # probabilities lose the small masses that pruning ranks
        return torch.sigmoid(self.linear(h).float())


class ProjectionHead(nn.Module):
    """SimCLR head ``Linear(D, hidden, no bias) - BN - ReLU - Linear(hidden, out)``.

    >>> ProjectionHead(8)(torch.zeros(4, 8)).shape
    torch.Size([4, 128])
    """

    def __init__(self, in_features: int, hidden: int = 512, out_features: int = 128):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_features, hidden, bias=False), nn.BatchNorm1d(hidden),
                                 nn.ReLU(inplace=True), nn.Linear(hidden, out_features))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.net(h)


class CoHiClustNet(nn.Module):
    """Backbone ``g``, tree head ``pi`` and projection head ``phi``.

    Parameters
    ----------
    backbone : one of :data:`BACKBONES`
    depth : depth ``T`` of the tree (``2^T`` leaves)
    in_channels : image channels
    cifar_stem : see :func:`make_backbone`
    projection : "mlp" (the paper's two-layer projection head) or "identity" (NT-Xent on the
        backbone features, as the paper's appendix says it did for MNIST and F-MNIST)

    ``forward(x)`` returns ``(p_left, z)``: ``(B, 2^T - 1)`` left-branch probabilities and
    ``(B, 128)`` projections; :meth:`masses` gives the node masses.

    Examples
    --------
    >>> net = CoHiClustNet("small-cnn", depth=2, in_channels=1)
    >>> p_left, z = net(torch.zeros(3, 1, 28, 28))
    >>> p_left.shape, z.shape, net.masses(torch.zeros(3, 1, 28, 28)).shape
    (torch.Size([3, 3]), torch.Size([3, 128]), torch.Size([3, 7]))
    """

    def __init__(self, backbone: str = "resnet18", depth: int = 4, in_channels: int = 3, *,
                 cifar_stem: bool = True, projection: str = "mlp"):
        super().__init__()
        if projection not in ("mlp", "identity"):
            raise ValueError(f"projection must be 'mlp' or 'identity', got {projection!r}")
        self.backbone, features = make_backbone(backbone, in_channels, cifar_stem=cifar_stem)
        self.tree_head = TreeHead(features, depth)
        self.projection = ProjectionHead(features) if projection == "mlp" else nn.Identity()
        self.depth = int(depth)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.backbone(x)
        return self.tree_head(h), self.projection(h)

    def masses(self, x: torch.Tensor) -> torch.Tensor:
        """Node masses ``(B, 2^(T+1) - 1)`` of a batch (heap order)."""
        return node_masses(self.tree_head(self.backbone(x)))
