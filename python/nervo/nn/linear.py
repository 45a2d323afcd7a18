"""Linear, Bilinear and Identity layers (torch.nn.Linear etc.: same parameter shapes and keys)."""
from __future__ import annotations

import math

import numpy as np

from nervo import functional as F
from nervo.nn import init
from nervo.nn.module import Module, Parameter
from nervo.tensor import get_default_dtype

__all__ = ["Identity", "Linear", "Bilinear"]


class Identity(Module):
    """Returns its input (arguments are accepted and ignored, as in torch)."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, input):
        return input


class Linear(Module):
    """y = x @ W.T + b, one GEMM with the bias in its epilogue.

    Args:
        in_features, out_features: sizes K and N.
        bias: learn an additive bias (default True).

    Shape: input (*, K) -> (*, N); weight (N, K); bias (N,).

    Example:
        >>> import nervo
        >>> nervo.nn.Linear(3, 2)(nervo.ones(4, 3)).shape
        (4, 2)
    """

    def __init__(self, in_features, out_features, bias=True, device=None, dtype=None):
        super().__init__()
        if in_features < 0 or out_features < 0:
            raise ValueError(f"Linear: in_features and out_features must be >= 0, got "
                             f"{in_features}, {out_features}")
        dt = np.dtype(dtype) if dtype is not None else get_default_dtype()
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        self.weight = Parameter(np.empty((out_features, in_features), dt))
        if bias:
            self.bias = Parameter(np.empty((out_features,), dt))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        # torch's default: kaiming_uniform_(a=sqrt(5)) == U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features) if self.in_features > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input):
        return F.linear(input, self.weight, self.bias)

    def _fused_forward(self, input, activation):
        """act(linear(x)) in one GEMM (used by Sequential)."""
        return F.linear(input, self.weight, self.bias, activation)

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class Bilinear(Module):
    """y = x1 @ W @ x2 + b per output feature. weight (N, K1, K2), bias (N,)."""

    def __init__(self, in1_features, in2_features, out_features, bias=True, device=None,
                 dtype=None):
        super().__init__()
        dt = np.dtype(dtype) if dtype is not None else get_default_dtype()
        self.in1_features, self.in2_features = in1_features, in2_features
        self.out_features = out_features
        self.weight = Parameter(np.empty((out_features, in1_features, in2_features), dt))
        if bias:
            self.bias = Parameter(np.empty((out_features,), dt))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        bound = 1 / math.sqrt(self.in1_features) if self.in1_features > 0 else 0
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input1, input2):
        return F.bilinear(input1, input2, self.weight, self.bias)

    def extra_repr(self):
        return (f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
                f"out_features={self.out_features}, bias={self.bias is not None}")
