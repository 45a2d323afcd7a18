"""Recurrent layers as differentiable ops on the fused kernels of nervo.ops.rnn.

``rnn_layer`` runs one layer in one direction over a whole (time-major) sequence and records one
autograd node whose backward is one ``ops.rnn_backward`` call (backward through time). The LSTM
final cell state c_n is a second, separate node: it is rarely part of a loss, so the common path
pays nothing for it; when it is, its node runs its own backward-through-time pass with the
gradient entering at c_n (gradients are linear, so the two passes add up to the exact gradient).
"""
from __future__ import annotations

import numpy as np

from nervo import ops
from nervo.autograd import mode as _mode
from nervo.functional.basic import _node, _plain, _t

__all__ = ["rnn_layer"]

# Callbacks f(call) run after every rnn_layer call that records autograd; ``call`` is a dict of
# the call's inputs, saved forward state and output Tensors (nervo.privacy reads per-sample
# gradients from them: the saved states plus the gradients reaching hs / c_n).
observers = []


def _data(t):
    return None if t is None else t._data


def rnn_layer(input, weight_ih, weight_hh, bias_ih=None, bias_hh=None, h0=None, c0=None, *,
              mode="lstm", lengths=None, reverse=False):
    """One recurrent layer over a sequence: returns (hs, c_n).

    Args:
        input: (T, B, I) Tensor, time-major.
        weight_ih, weight_hh, bias_ih, bias_hh: PyTorch-layout parameters (biases both or None).
        h0, c0: (B, H) Tensors or None (zeros); c0 for LSTM only.
        mode: "lstm", "gru", "rnn_tanh" or "rnn_relu".
        lengths: (B,) int array or None: valid steps per row (padded steps carry the state).
        reverse: run t = T-1 .. 0.

    Returns:
        hs: (T, B, H) carried hidden states (h_n is hs[-1], or hs[0] when reverse; padded steps
            are not zeroed). c_n: (B, H) final LSTM cell state, else None.
    """
    x = _t(input)
    xd = x._data
    args = (xd, weight_ih._data, weight_hh._data, _data(bias_ih), _data(bias_hh), _data(h0),
            _data(c0))
    r = ops.rnn_forward(*args, mode=mode, lengths=lengths, reverse=reverse)
    T = xd.shape[0]
    cn_data = None
    if r.cs is not None:
        cn_data = r.cs[0 if reverse else T - 1] if T else r.c0
    inputs = (x, weight_ih, weight_hh, bias_ih, bias_hh, h0, c0)
    need = _mode.enabled and any(t is not None and t.requires_grad for t in inputs)
    if not need:
        return _plain(r.hs), (None if cn_data is None else _plain(cn_data))
    has_bias = bias_ih is not None

    def grads(dhs, dcn):
        g = ops.rnn_backward(dhs, *args[:5], r, dcn=dcn, mode=mode, lengths=lengths,
                             reverse=reverse, need_dx=x.requires_grad)
        return (g.dx, g.dw_ih, g.dw_hh, g.db_ih if has_bias else None,
                g.db_hh if has_bias else None, g.dh0 if h0 is not None else None,
                g.dc0 if c0 is not None else None)

    hs = _node(r.hs, inputs, lambda g: grads(g, None), f"{mode.upper()}Backward")
    cn = None
    if cn_data is not None:
        cn = _node(cn_data, inputs, lambda g: grads(np.zeros_like(r.hs), g), "LSTMCellStateBackward")
    for f in tuple(observers):
        f(dict(x=xd, params=(weight_ih, weight_hh, bias_ih, bias_hh), saved=r, mode=mode,
               lengths=lengths, reverse=reverse, hs=hs, cn=cn))
    return hs, cn
