"""Residual networks: a generic ``Residual`` wrapper and ResNet's ``BasicBlock``.

A small ResNet for 28x28 or 32x32 images in a few lines::

    net = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
        nn.BasicBlock(16, 16), nn.BasicBlock(16, 32, stride=2), nn.BasicBlock(32, 64, stride=2),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))
"""
from __future__ import annotations

from nervo import functional as F
from nervo.nn.container import Sequential
from nervo.nn.conv import Conv2d
from nervo.nn.linear import Identity
from nervo.nn.module import Module
from nervo.nn.normalization import BatchNorm2d

__all__ = ["Residual", "BasicBlock"]


class Residual(Module):
    """y = fn(x) + shortcut(x) (shortcut defaults to the identity).

    State-dict keys: ``fn.*`` and, when given, ``shortcut.*``.
    """

    def __init__(self, fn, shortcut=None):
        super().__init__()
        self.fn = fn
        self.shortcut = shortcut

    def forward(self, input):
        s = input if self.shortcut is None else self.shortcut(input)
        return self.fn(input) + s


class BasicBlock(Module):
    """ResNet's basic block (He et al. 2016): conv3x3-BN-ReLU-conv3x3-BN, plus the shortcut
    (identity, or a strided 1x1 conv + BN when the shape changes), then ReLU.

    Keys match torchvision's BasicBlock: conv1, bn1, conv2, bn2, downsample.0, downsample.1.
    """

    expansion = 1

    def __init__(self, in_planes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = BatchNorm2d(planes)
        self.conv2 = Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = BatchNorm2d(planes)
        if downsample is None and (stride != 1 or in_planes != planes):
            downsample = Sequential(Conv2d(in_planes, planes, 1, stride, bias=False),
                                    BatchNorm2d(planes))
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return F.relu(out + identity)


del Identity
