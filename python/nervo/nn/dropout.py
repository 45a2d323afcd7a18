"""Dropout layers (active in training mode only)."""
from __future__ import annotations

from nervo import functional as F
from nervo.nn.module import Module

__all__ = ["Dropout", "Dropout1d", "Dropout2d", "AlphaDropout"]


class _Dropout(Module):
    def __init__(self, p=0.5, inplace=False):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"{type(self).__name__}: dropout probability has to be between 0 and "
                             f"1, but got {p}")
        self.p, self.inplace = p, inplace

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"


class Dropout(_Dropout):
    """Zero each element with probability p in training, scaling the rest by 1 / (1 - p)."""

    def forward(self, input):
        return F.dropout(input, self.p, self.training)


class Dropout2d(_Dropout):
    """Zero whole channels of (N, C, H, W) input."""

    def forward(self, input):
        return F.dropout2d(input, self.p, self.training)


class Dropout1d(_Dropout):
    def forward(self, input):
        return F.dropout2d(input.unsqueeze(-1), self.p, self.training).squeeze(-1)


class AlphaDropout(_Dropout):
    def forward(self, input):
        return F.alpha_dropout(input, self.p, self.training)
