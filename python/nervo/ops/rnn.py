"""Recurrent kernels (Elman RNN tanh/relu, LSTM, GRU): one layer, one direction, a whole sequence.

``rnn_forward`` runs the input projection of every step as one GEMM, then per step one GEMM for the
hidden projection and one fused pass for the gate nonlinearities and the state update.
``rnn_backward`` is the mirror (backward through time), with the weight gradients computed as one
GEMM each over all steps. Layouts and gate orders are PyTorch's (``nn.LSTM.weight_ih_l0`` etc.):

* x (T, B, I) time-major; w_ih (G*H, I); w_hh (G*H, H); b_ih, b_hh (G*H,) or None, with
  G = 1 (rnn_tanh, rnn_relu), 4 (lstm, gates [i f g o]), 3 (gru, gates [r z n]).
* h0, c0 (B, H) or None (zeros); lengths (B,) ints in [0, T] or None: the sequence of row b has
  lengths[b] valid steps; at a padded step the state is carried unchanged, so the final state is
  that of the last valid step (PyTorch's packed-sequence semantics). Padded outputs are *not*
  zeroed here (the layer does that).
* reverse=True processes t = T-1 .. 0 (the backward direction of a bidirectional layer); the
  final state is then hs[0].

Example:
    >>> import numpy as np, nervo.ops as ops
    >>> x = np.zeros((5, 2, 3), np.float32)
    >>> w_ih, w_hh = np.zeros((16, 3), np.float32), np.zeros((16, 4), np.float32)
    >>> r = ops.rnn_forward(x, w_ih, w_hh, mode="lstm")
    >>> r.hs.shape, r.cs.shape
    ((5, 2, 4), (5, 2, 4))
"""
from __future__ import annotations

from typing import NamedTuple, Optional

import numpy as np

from nervo.backend import K
from nervo.ops._check import float_array, fmt_shape

__all__ = ["rnn_forward", "rnn_backward", "RNNForward", "RNNGrads", "RNN_MODES"]

# Mode ids of csrc/ops/rnn/rnn.h, and each mode's gate count.
RNN_MODES = {"rnn_tanh": 0, "rnn_relu": 1, "lstm": 2, "gru": 3}
_GATES = {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 4, "gru": 3}
_WS_UNITS = {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 4, "gru": 4}


class RNNForward(NamedTuple):
    hs: np.ndarray            # (T, B, H) carried hidden states
    cs: Optional[np.ndarray]  # (T, B, H) LSTM cell states, else None
    ws: np.ndarray            # saved for backward (gate activations)
    h0: np.ndarray            # the initial states actually used (zeros when None was given)
    c0: Optional[np.ndarray]


class RNNGrads(NamedTuple):
    dx: Optional[np.ndarray]
    dw_ih: np.ndarray
    dw_hh: np.ndarray
    db_ih: Optional[np.ndarray]
    db_hh: Optional[np.ndarray]
    dh0: np.ndarray
    dc0: Optional[np.ndarray]


def _mode(mode, call):
    if mode not in RNN_MODES:
        raise ValueError(f"{call}: mode must be one of {sorted(RNN_MODES)}, got {mode!r}")
    return mode


def _check(call, mode, x, w_ih, w_hh, b_ih, b_hh, h0, c0, lengths):
    x = float_array(x, call, "x")
    if x.ndim != 3:
        raise ValueError(f"{call}: x must be 3-D (T, B, input_size), got shape {fmt_shape(x.shape)}")
    T, B, I = x.shape
    w_ih = float_array(w_ih, call, "w_ih", x.dtype)
    w_hh = float_array(w_hh, call, "w_hh", x.dtype)
    G = _GATES[mode]
    if w_hh.ndim != 2 or w_hh.shape[0] != G * w_hh.shape[1]:
        raise ValueError(f"{call}: w_hh must have shape ({G}*hidden_size, hidden_size) for {mode}, "
                         f"got {fmt_shape(w_hh.shape)}")
    H = w_hh.shape[1]
    if w_ih.shape != (G * H, I):
        raise ValueError(f"{call}: w_ih has shape {fmt_shape(w_ih.shape)}, expected "
                         f"{fmt_shape((G * H, I))} (x has input_size {I}, hidden_size {H})")
    if (b_ih is None) != (b_hh is None):
        raise ValueError(f"{call}: give both b_ih and b_hh or neither")
    if b_ih is not None:
        b_ih = float_array(b_ih, call, "b_ih", x.dtype)
        b_hh = float_array(b_hh, call, "b_hh", x.dtype)
        for name, b in (("b_ih", b_ih), ("b_hh", b_hh)):
            if b.shape != (G * H,):
                raise ValueError(f"{call}: {name} has shape {fmt_shape(b.shape)}, expected ({G * H},)")
    if h0 is None:
        h0 = np.zeros((B, H), x.dtype)
    else:
        h0 = float_array(h0, call, "h0", x.dtype)
        if h0.shape != (B, H):
            raise ValueError(f"{call}: h0 has shape {fmt_shape(h0.shape)}, expected {fmt_shape((B, H))}")
    if mode == "lstm":
        if c0 is None:
            c0 = np.zeros((B, H), x.dtype)
        else:
            c0 = float_array(c0, call, "c0", x.dtype)
            if c0.shape != (B, H):
                raise ValueError(f"{call}: c0 has shape {fmt_shape(c0.shape)}, expected {fmt_shape((B, H))}")
    else:
        c0 = None
    if lengths is not None:
        lengths = np.asarray(lengths)
        if lengths.dtype.kind not in "iu" or lengths.shape != (B,):
            raise ValueError(f"{call}: lengths must be {B} integers (one per batch row), got "
                             f"{lengths.dtype} array of shape {fmt_shape(lengths.shape)}")
        if B and (lengths.min() < 0 or lengths.max() > T):
            raise ValueError(f"{call}: lengths must lie in [0, {T}], got min {lengths.min()}, "
                             f"max {lengths.max()}")
        lengths = np.ascontiguousarray(lengths, np.int64)
    return x, w_ih, w_hh, b_ih, b_hh, h0, c0, lengths


def rnn_forward(x, w_ih, w_hh, b_ih=None, b_hh=None, h0=None, c0=None, *, mode="lstm",
                lengths=None, reverse=False) -> RNNForward:
    """One recurrent layer over a whole sequence.

    Args:
        x: (T, B, I) float32/float64, time-major.
        w_ih, w_hh, b_ih, b_hh: PyTorch-layout parameters (biases both or neither).
        h0, c0: (B, H) initial states, or None for zeros (c0: LSTM only).
        mode: "lstm", "gru", "rnn_tanh" or "rnn_relu".
        lengths: (B,) valid steps per row, or None.
        reverse: run from the last step to the first.

    Returns:
        RNNForward(hs, cs, ws, h0, c0): hs (T, B, H) carried hidden states; cs cell states (LSTM).

    Raises:
        ValueError: shapes that do not fit, unknown mode, lengths out of [0, T].
        TypeError: non-float or mixed dtypes.
    """
    call = "nervo.ops.rnn_forward"
    mode = _mode(mode, call)
    x, w_ih, w_hh, b_ih, b_hh, h0, c0, lengths = _check(call, mode, x, w_ih, w_hh, b_ih, b_hh, h0,
                                                        c0, lengths)
    T, B, _ = x.shape
    H = w_hh.shape[1]
    hs = np.empty((T, B, H), x.dtype)
    cs = np.empty((T, B, H), x.dtype) if mode == "lstm" else None
    ws = np.empty((T, B, _WS_UNITS[mode] * H), x.dtype)
    K["rnn_forward"](RNN_MODES[mode], bool(reverse), x, w_ih, w_hh, b_ih, b_hh, h0, c0, lengths,
                     hs, cs, ws)
    return RNNForward(hs, cs, ws, h0, c0)


def rnn_backward(dhs, x, w_ih, w_hh, b_ih, b_hh, saved: RNNForward, *, dcn=None, mode="lstm",
                 lengths=None, reverse=False, need_dx=True) -> RNNGrads:
    """Backward through time of :func:`rnn_forward`.

    Args:
        dhs: (T, B, H) gradient of the loss with respect to ``saved.hs`` (add the gradient of the
            final state h_n at hs[-1], or hs[0] when reverse, before calling).
        x, w_ih, w_hh, b_ih, b_hh, mode, lengths, reverse: as given to the forward.
        saved: the forward's return value.
        dcn: (B, H) gradient with respect to the final cell state (LSTM), or None.
        need_dx: False skips the input gradient's GEMM (dx is then None).

    Returns:
        RNNGrads(dx, dw_ih, dw_hh, db_ih, db_hh, dh0, dc0), each overwritten (not accumulated);
        db_* are None without biases, dc0 is None except for LSTM.
    """
    call = "nervo.ops.rnn_backward"
    mode = _mode(mode, call)
    x, w_ih, w_hh, b_ih, b_hh, h0, c0, lengths = _check(call, mode, x, w_ih, w_hh, b_ih, b_hh,
                                                        saved.h0, saved.c0, lengths)
    T, B, _ = x.shape
    H = w_hh.shape[1]
    dhs = float_array(dhs, call, "dhs", x.dtype)
    if dhs.shape != (T, B, H):
        raise ValueError(f"{call}: dhs has shape {fmt_shape(dhs.shape)}, expected {fmt_shape((T, B, H))}")
    if dcn is not None:
        dcn = float_array(dcn, call, "dcn", x.dtype)
        if dcn.shape != (B, H):
            raise ValueError(f"{call}: dcn has shape {fmt_shape(dcn.shape)}, expected {fmt_shape((B, H))}")
    if saved.hs.shape != (T, B, H) or saved.ws.shape != (T, B, _WS_UNITS[mode] * H):
        raise ValueError(f"{call}: saved forward state does not match x and the weights")
    dx = np.empty_like(x) if need_dx else None
    dw_ih = np.empty_like(w_ih)
    dw_hh = np.empty_like(w_hh)
    db_ih = None if b_ih is None else np.empty_like(b_ih)
    db_hh = None if b_hh is None else np.empty_like(b_hh)
    dh0 = np.empty((B, H), x.dtype)
    dc0 = np.empty((B, H), x.dtype) if mode == "lstm" else None
    K["rnn_backward"](RNN_MODES[mode], bool(reverse), x, w_ih, w_hh, b_ih, b_hh, h0, c0, lengths,
                      saved.hs, saved.cs, saved.ws, dhs, dcn, dx, dw_ih, dw_hh, db_ih, db_hh, dh0,
                      dc0)
    return RNNGrads(dx, dw_ih, dw_hh, db_ih, db_hh, dh0, dc0)
