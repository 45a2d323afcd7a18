"""Convolution layers: Conv1d, Conv2d, ConvTranspose2d (torch's parameter shapes, keys, init)."""
from __future__ import annotations

import math

import numpy as np

from nervo import functional as F
from nervo.nn import init
from nervo.nn.module import Module, Parameter
from nervo.tensor import get_default_dtype

__all__ = ["Conv1d", "Conv2d", "ConvTranspose2d"]


def _ntuple(v, n, layer, arg):
    if isinstance(v, (int, np.integer)):
        v = (int(v),) * n
    v = tuple(v)
    if len(v) != n or not all(isinstance(e, (int, np.integer)) for e in v):
        raise ValueError(f"{layer}: {arg} must be an int or a tuple of {n} ints, got {v}")
    return v


class _ConvNd(Module):
    _n = 2
    _transposed = False

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros", device=None, dtype=None,
                 output_padding=0):
        super().__init__()
        name = type(self).__name__
        n = self._n
        if groups <= 0 or in_channels % groups or out_channels % groups:
            raise ValueError(f"{name}: in_channels ({in_channels}) and out_channels "
                             f"({out_channels}) must be divisible by groups ({groups})")
        if padding_mode != "zeros":
            raise NotImplementedError(f"{name}: only padding_mode='zeros' is supported")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = _ntuple(kernel_size, n, name, "kernel_size")
        self.stride = _ntuple(stride, n, name, "stride")
        self.padding = padding if isinstance(padding, str) else _ntuple(padding, n, name, "padding")
        self.dilation = _ntuple(dilation, n, name, "dilation")
        self.output_padding = _ntuple(output_padding, n, name, "output_padding")
        self.groups = groups
        self.padding_mode = padding_mode
        if any(k <= 0 for k in self.kernel_size) or any(s <= 0 for s in self.stride) \
                or any(d <= 0 for d in self.dilation):
            raise ValueError(f"{name}: kernel_size, stride and dilation must be positive")
        dt = np.dtype(dtype) if dtype is not None else get_default_dtype()
        if self._transposed:
            wshape = (in_channels, out_channels // groups) + self.kernel_size
        else:
            wshape = (out_channels, in_channels // groups) + self.kernel_size
        self.weight = Parameter(np.empty(wshape, dt))
        if bias:
            self.bias = Parameter(np.empty((out_channels,), dt))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            if fan_in != 0:
                bound = 1 / math.sqrt(fan_in)
                init.uniform_(self.bias, -bound, bound)

    def extra_repr(self):
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, " \
            f"stride={self.stride}"
        if self.padding != (0,) * self._n:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * self._n:
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * self._n:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s


class Conv2d(_ConvNd):
    """2-D convolution. weight (K, C/groups, R, S), bias (K,).

    Shape: input (N, C, H, W) -> (N, K, Ho, Wo).
    """

    _n = 2

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, device, dtype)

    def forward(self, input):
        return F.conv2d(input, self.weight, self.bias, self.stride, self.padding, self.dilation,
                        self.groups)


class Conv1d(_ConvNd):
    """1-D convolution. weight (K, C/groups, R). Shape: (N, C, L) -> (N, K, Lo)."""

    _n = 1

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, device, dtype)

    def forward(self, input):
        pad = self.padding if isinstance(self.padding, str) else self.padding[0]
        return F.conv1d(input, self.weight, self.bias, self.stride[0], pad, self.dilation[0],
                        self.groups)


class ConvTranspose2d(_ConvNd):
    """Transposed 2-D convolution. weight (C, K/groups, R, S) as in torch, bias (K,)."""

    _n = 2
    _transposed = True

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 output_padding=0, groups=1, bias=True, dilation=1, padding_mode="zeros",
                 device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, device, dtype, output_padding)

    def forward(self, input, output_size=None):
        op = self.output_padding
        if output_size is not None:
            hw = tuple(output_size)[-2:]
            op = tuple(hw[i] - ((input.shape[-2 + i] - 1) * self.stride[i] - 2 * self.padding[i]
                                + self.dilation[i] * (self.kernel_size[i] - 1) + 1)
                       for i in range(2))
        return F.conv_transpose2d(input, self.weight, self.bias, self.stride, self.padding, op,
                                  self.groups, self.dilation)
