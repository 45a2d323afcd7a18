"""Recurrent layers (torch.nn.RNN / LSTM / GRU and their cells): PyTorch's arguments, parameter
names and shapes, state_dict keys, outputs and final states, on nervo's fused kernels.

Each layer and direction is one ``nervo.functional.rnn_layer`` call: the input projection of all
steps as one GEMM, per step one GEMM plus one fused gate/state pass, and the mirror for backward.

Variable-length batches (nervo's equivalent of packed sequences): ``forward(input, hx,
lengths=...)`` or ``mask=`` (B, T) bool prefix mask. Padded outputs are zero and the final states
are those of each row's last valid step, as torch's ``pack_padded_sequence`` gives.
"""
from __future__ import annotations

import math

import numpy as np

from nervo import functional as F
from nervo import ops
from nervo.functional.recurrent import rnn_layer
from nervo.nn import init
from nervo.nn.module import Module, Parameter
from nervo.tensor import Tensor, get_default_dtype

__all__ = ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell",
           "RNNSequenceClassifier"]

_GATES = {"lstm": 4, "gru": 3, "rnn_tanh": 1, "rnn_relu": 1}


def _lengths(lengths, mask, B, T, call):
    if mask is not None:
        if lengths is not None:
            raise ValueError(f"{call}: give lengths or mask, not both")
        m = mask._data if isinstance(mask, Tensor) else np.asarray(mask)
        if m.dtype != np.bool_ or m.shape != (B, T):
            raise ValueError(f"{call}: mask must be a bool (batch, time) = ({B}, {T}) array, got "
                             f"{m.dtype} of shape {m.shape}")
        lengths = m.sum(1)
        if not np.array_equal(m, np.arange(T)[None, :] < lengths[:, None]):
            raise ValueError(f"{call}: mask must be a prefix mask (True for the first lengths[b] "
                             "steps of each row, then False)")
        return lengths.astype(np.int64)
    if lengths is None:
        return None
    ln = lengths._data if isinstance(lengths, Tensor) else np.asarray(lengths)
    if ln.dtype.kind not in "iu" or ln.shape != (B,):
        raise ValueError(f"{call}: lengths must be {B} integers, got {ln.dtype} of shape {ln.shape}")
    if B and (ln.min() < 0 or ln.max() > T):
        raise ValueError(f"{call}: lengths must lie in [0, {T}], got {ln.min()}..{ln.max()}")
    return ln.astype(np.int64)


class RNNBase(Module):
    """Shared body of RNN, LSTM and GRU (torch.nn.RNNBase).

    Args:
        mode: "lstm", "gru", "rnn_tanh" or "rnn_relu".
        input_size, hidden_size, num_layers, bias, batch_first, dropout (between layers, in
        training), bidirectional: as in torch.
        proj_size: LSTM only, as in torch: h_t = W_hr (o_t * tanh(c_t)) with weight_hr_l{k}
            (proj_size, hidden_size); h states and outputs then have proj_size features.
            NOTE: a projected LSTM does not use the fused recurrent kernel: its steps run in
            Python on nervo's GEMM with NumPy gate math, one autograd node per layer and
            direction (fwd+bwd measured at ~1.05x torch's at I128 H256 P64 B32 T64, 1 thread).
    """

    def __init__(self, mode, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, proj_size=0, device=None, dtype=None):
        super().__init__()
        name = type(self).__name__
        if not isinstance(hidden_size, int) or hidden_size <= 0:
            raise ValueError(f"{name}: hidden_size must be a positive int, got {hidden_size!r}")
        if not isinstance(input_size, int) or input_size < 0:
            raise ValueError(f"{name}: input_size must be a non-negative int, got {input_size!r}")
        if not isinstance(num_layers, int) or num_layers <= 0:
            raise ValueError(f"{name}: num_layers must be a positive int, got {num_layers!r}")
        if not (isinstance(dropout, (int, float)) and 0 <= dropout <= 1) or isinstance(dropout, bool):
            raise ValueError(f"{name}: dropout must be a number in [0, 1], got {dropout!r}")
        if not isinstance(proj_size, int) or isinstance(proj_size, bool) or proj_size < 0:
            raise ValueError(f"{name}: proj_size must be a non-negative int, got {proj_size!r}")
        if proj_size and mode != "lstm":
            raise ValueError(f"{name}: proj_size is only supported for LSTM, not {name}")
        if proj_size >= hidden_size:
            raise ValueError(f"{name}: proj_size ({proj_size}) has to be smaller than hidden_size "
                             f"({hidden_size})")
        self.mode = mode
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, float(dropout)
        self.bidirectional, self.proj_size = bidirectional, proj_size
        dt = np.dtype(dtype) if dtype is not None else get_default_dtype()
        G = _GATES[mode]
        D = 2 if bidirectional else 1
        real_hidden = proj_size or hidden_size  # features of h (torch's real_hidden_size)
        self._flat_weights_names = []
        for layer in range(num_layers):
            for d in range(D):
                sfx = f"_l{layer}" + ("_reverse" if d else "")
                in_sz = input_size if layer == 0 else real_hidden * D
                names = [("weight_ih" + sfx, (G * hidden_size, in_sz)),
                         ("weight_hh" + sfx, (G * hidden_size, real_hidden))]
                if bias:
                    names += [("bias_ih" + sfx, (G * hidden_size,)), ("bias_hh" + sfx, (G * hidden_size,))]
                if proj_size:
                    names.append(("weight_hr" + sfx, (proj_size, hidden_size)))
                for n, shape in names:
                    setattr(self, n, Parameter(np.empty(shape, dt)))
                    self._flat_weights_names.append(n)
        self.reset_parameters()

    def reset_parameters(self):
        # torch: every weight and bias ~ U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)).
        s = 1.0 / math.sqrt(self.hidden_size)
        for n in self._flat_weights_names:
            init.uniform_(getattr(self, n), -s, s)

    @property
    def all_weights(self):
        return [getattr(self, n) for n in self._flat_weights_names]

    def _layer_params(self, layer, d):
        sfx = f"_l{layer}" + ("_reverse" if d else "")
        g = lambda n: getattr(self, n + sfx) if self.bias or n.startswith("weight") else None  # noqa: E731
        return g("weight_ih"), g("weight_hh"), g("bias_ih"), g("bias_hh")

    def forward(self, input, hx=None, *, lengths=None, mask=None):
        """Returns (output, h_n) for RNN/GRU and (output, (h_n, c_n)) for LSTM.

        Shape: input (T, B, input_size) [(B, T, input_size) with batch_first] or unbatched
        (T, input_size); hx (num_layers * D, B, hidden_size) (a tuple (h0, c0) for LSTM);
        output (T, B, D * hidden_size).
        """
        name = type(self).__name__
        x = input if isinstance(input, Tensor) else F.basic._t(input)
        lstm = self.mode == "lstm"
        unbatched = x.ndim == 2
        if x.ndim not in (2, 3):
            raise ValueError(f"{name}: input must be 2-D (unbatched) or 3-D, got shape {tuple(x.shape)}")
        if unbatched:
            x = x.unsqueeze(1)
        elif self.batch_first:
            x = x.transpose(0, 1)
        x = x.contiguous()
        T, B, I = x.shape
        if I != self.input_size:
            raise ValueError(f"{name}: input has {I} features but the layer expects input_size="
                             f"{self.input_size} (input shape {tuple(input.shape)})")
        ln = _lengths(lengths, mask, B, T, name)
        D = 2 if self.bidirectional else 1
        H = self.proj_size or self.hidden_size  # features of h
        Hc = self.hidden_size  # features of c
        h0s = c0s = None
        if hx is not None:
            if lstm:
                if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                    raise ValueError(f"{name}: hx must be a tuple (h_0, c_0)")
                h0s, c0s = hx
            else:
                h0s = hx
            for what, t, n in (("h_0", h0s, H), ("c_0", c0s, Hc)):
                want = (self.num_layers * D, n) if unbatched else (self.num_layers * D, B, n)
                if t is not None and tuple(t.shape) != want:
                    raise ValueError(f"{name}: {what} has shape {tuple(t.shape)}, expected {want}")
            if unbatched:
                h0s = h0s.unsqueeze(1)
                c0s = c0s.unsqueeze(1) if c0s is not None else None
        hn, cn = [], []
        layer_in = x
        for layer in range(self.num_layers):
            outs = []
            for d in range(D):
                k = layer * D + d
                h0 = h0s[k] if h0s is not None else None
                c0 = c0s[k] if c0s is not None else None
                if self.proj_size:
                    w_hr = getattr(self, f"weight_hr_l{layer}" + ("_reverse" if d else ""))
                    hs, c_last = _lstm_projected_layer(layer_in, *self._layer_params(layer, d),
                                                       w_hr, h0, c0, ln, bool(d))
                else:
                    hs, c_last = rnn_layer(layer_in, *self._layer_params(layer, d), h0, c0,
                                           mode=self.mode, lengths=ln, reverse=bool(d))
                outs.append(hs)
                if T == 0:
                    hn.append(h0 if h0 is not None else F.basic._plain(np.zeros((B, H), x.dtype)))
                else:
                    hn.append(hs[0 if d else T - 1])
                if lstm:
                    if c_last is None:  # T == 0
                        c_last = c0 if c0 is not None else F.basic._plain(np.zeros((B, Hc), x.dtype))
                    cn.append(c_last)
            out = outs[0] if D == 1 else F.cat(outs, dim=2)
            if self.dropout and self.training and layer < self.num_layers - 1:
                out = F.dropout(out, self.dropout, True)
            layer_in = out
        output = layer_in
        if ln is not None:  # zero the padded outputs, as pad_packed_sequence does
            valid = (np.arange(T)[:, None] < ln[None, :])[..., None].astype(output.dtype)
            output = output * F.basic._plain(valid)
        h_n = F.stack(hn, 0)
        c_n = F.stack(cn, 0) if lstm else None
        if unbatched:
            output = output.squeeze(1)
            h_n = h_n.squeeze(1)
            c_n = c_n.squeeze(1) if lstm else None
        elif self.batch_first:
            output = output.transpose(0, 1)
        return (output, (h_n, c_n)) if lstm else (output, h_n)

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        if self.proj_size:
            s += f", proj_size={self.proj_size}"
        return s


def _autograd_enabled():
    from nervo.autograd import mode
    return mode.enabled


def _sigmoid(z):
    # 1 / (1 + exp(-z)) without overflow warnings: 0.5 tanh(z / 2) + 0.5 (the same function)
    return 0.5 * np.tanh(0.5 * z) + 0.5


def _lstm_projected_layer(x, w_ih, w_hh, b_ih, b_hh, w_hr, h0, c0, lengths, reverse):
    """One LSTM layer with a projection (torch's proj_size), as one autograd node.

    x (T, B, I); w_ih (4H, I); w_hh (4H, P); w_hr (P, H); h0 (B, P), c0 (B, H) or None.
    h_t = W_hr (o_t * tanh(c_t)). Returns (hs, c_n) as rnn_layer does: hs (T, B, P) carried hidden
    states (padded steps carry the state), c_n (B, H) or None when T == 0.

    NOTE: the fused recurrent kernel has no projection; this runs the steps in Python on nervo's
    GEMM (input projection of all steps and every weight gradient as one GEMM each; per step the
    recurrent and projection products) with NumPy for the gate math, and writes backward through
    time by hand, so the whole layer is one autograd node instead of ~20 per step.
    """
    T, B, I = x.shape
    H, P = w_hr.shape[1], w_hr.shape[0]
    xd, wi, wh, wr = x._data, w_ih._data, w_hh._data, w_hr._data
    dt = xd.dtype
    if T == 0:
        return F.basic._plain(np.zeros((0, B, P), dt)), None
    bias = None
    if b_ih is not None:
        bias = b_ih._data + b_hh._data
    h0d = h0._data if h0 is not None else np.zeros((B, P), dt)
    c0d = c0._data if c0 is not None else np.zeros((B, H), dt)
    xp = ops.gemm(xd.reshape(T * B, I), wi, trans_b=True, bias=bias).reshape(T, B, 4 * H)
    act = np.empty((T, B, 4 * H), dt)  # activated gates [i f g o]
    cs = np.empty((T, B, H), dt)
    rs = np.empty((T, B, H), dt)  # o * tanh(c), the projection's input
    hs = np.empty((T, B, P), dt)
    order = range(T - 1, -1, -1) if reverse else range(T)
    h, c = h0d, c0d
    for t in order:
        g = xp[t]
        ops.gemm(h, wh, g, trans_b=True, beta=1.0)  # g += h W_hh^T
        a = act[t]
        a[:, :2 * H] = _sigmoid(g[:, :2 * H])
        a[:, 2 * H:3 * H] = np.tanh(g[:, 2 * H:3 * H])
        a[:, 3 * H:] = _sigmoid(g[:, 3 * H:])
        cn = a[:, H:2 * H] * c + a[:, :H] * a[:, 2 * H:3 * H]
        r = rs[t]
        np.multiply(a[:, 3 * H:], np.tanh(cn), out=r)
        hn = ops.gemm(r, wr, hs[t], trans_b=True)
        if lengths is not None:  # padded step: carry the state unchanged
            m = (t < lengths)[:, None]
            if not m.all():
                hn[...] = np.where(m, hn, h)
                cn = np.where(m, cn, c)
        cs[t] = cn
        h, c = hs[t], cs[t]
    cn_data = cs[0 if reverse else T - 1]
    inputs = (x, w_ih, w_hh, b_ih, b_hh, w_hr, h0, c0)
    if not (_autograd_enabled() and any(v is not None and v.requires_grad for v in inputs)):
        return F.basic._plain(hs), F.basic._plain(cn_data)

    def grads(dhs, dcn):
        dg = np.empty((T, B, 4 * H), dt)  # pre-activation gate gradients
        dhm = np.empty((T, B, P), dt)  # gradient reaching each step's projection output
        dh = np.zeros((B, P), dt)
        dc = np.zeros((B, H), dt) if dcn is None else np.array(dcn, dt)
        for t in reversed(list(order)):
            pos = t if not reverse else T - 1 - t  # processing position
            cp = c0d if pos == 0 else cs[t + 1 if reverse else t - 1]
            a = act[t]
            gi, gf, gg, go = a[:, :H], a[:, H:2 * H], a[:, 2 * H:3 * H], a[:, 3 * H:]
            dht = dhs[t] + dh
            dr = ops.gemm(dht, wr)  # (B, H)
            tc = np.tanh(cs[t])
            dct = dc + dr * go * (1 - tc * tc)
            d = dg[t]
            d[:, :H] = dct * gg * gi * (1 - gi)
            d[:, H:2 * H] = dct * cp * gf * (1 - gf)
            d[:, 2 * H:3 * H] = dct * gi * (1 - gg * gg)
            d[:, 3 * H:] = dr * tc * go * (1 - go)
            dcp = dct * gf
            dhm[t] = dht
            if lengths is not None:
                m = (t < lengths)[:, None]
                if not m.all():  # padded rows: nothing reaches the gates, the state grads pass
                    d[...] = np.where(m, d, 0)
                    dhm[t] = np.where(m, dht, 0)
                    dcp = np.where(m, dcp, dc)
            dh = ops.gemm(d, wh)  # (B, P)
            if lengths is not None and not m.all():
                dh = np.where(m, dh, dht)
            dc = dcp
        dg2, x2 = dg.reshape(T * B, 4 * H), xd.reshape(T * B, I)
        # h_prev of every step, in time order: h0 at the first processed step
        if reverse:
            hp = np.concatenate([hs[1:], h0d[None]], 0)
        else:
            hp = np.concatenate([h0d[None], hs[:-1]], 0)
        out = [ops.gemm(dg2, wi).reshape(T, B, I) if x.requires_grad else None,
               ops.gemm(dg2, x2, trans_a=True),
               ops.gemm(dg2, hp.reshape(T * B, P), trans_a=True)]
        db = dg2.sum(0) if b_ih is not None else None
        out += [db, db, ops.gemm(dhm.reshape(T * B, P), rs.reshape(T * B, H), trans_a=True),
                dh if h0 is not None else None, dc if c0 is not None else None]
        return tuple(out)

    hs_t = F.basic._node(hs, inputs, lambda g: grads(g, None), "LSTMProjectedBackward")
    cn_t = F.basic._node(cn_data, inputs, lambda g: grads(np.zeros_like(hs), g),
                         "LSTMProjectedCellStateBackward")
    return hs_t, cn_t


class RNN(RNNBase):
    """Elman RNN: h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh) (or relu).

    Args: input_size, hidden_size, num_layers=1, nonlinearity='tanh', bias=True,
    batch_first=False, dropout=0.0, bidirectional=False (torch.nn.RNN).

    Example:
        >>> import nervo
        >>> out, h = nervo.nn.RNN(3, 4)(nervo.zeros(5, 2, 3))
        >>> out.shape, h.shape
        ((5, 2, 4), (1, 2, 4))
    """

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False, device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__("rnn_" + nonlinearity, input_size, hidden_size, num_layers, bias,
                         batch_first, dropout, bidirectional, dtype=dtype)


class LSTM(RNNBase):
    """Long short-term memory (torch.nn.LSTM; gates [i f g o]). Returns (output, (h_n, c_n)).

    Example:
        >>> import nervo
        >>> out, (h, c) = nervo.nn.LSTM(3, 4, num_layers=2)(nervo.zeros(5, 2, 3))
        >>> out.shape, h.shape, c.shape
        ((5, 2, 4), (2, 2, 4), (2, 2, 4))
    """

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, proj_size=0, device=None, dtype=None):
        super().__init__("lstm", input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, proj_size, dtype=dtype)


class GRU(RNNBase):
    """Gated recurrent unit (torch.nn.GRU; gates [r z n], n = tanh(W_in x + b_in + r (W_hn h + b_hn))).

    Example:
        >>> import nervo
        >>> out, h = nervo.nn.GRU(3, 4, bidirectional=True)(nervo.zeros(5, 2, 3))
        >>> out.shape, h.shape
        ((5, 2, 8), (2, 2, 4))
    """

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, device=None, dtype=None):
        super().__init__("gru", input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, dtype=dtype)


class RNNCellBase(Module):
    """One step of a recurrent layer (torch.nn.RNNCellBase): weight_ih, weight_hh, bias_ih, bias_hh."""

    def __init__(self, mode, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__()
        name = type(self).__name__
        if not isinstance(hidden_size, int) or hidden_size <= 0:
            raise ValueError(f"{name}: hidden_size must be a positive int, got {hidden_size!r}")
        self.mode, self.input_size, self.hidden_size, self.bias = mode, input_size, hidden_size, bias
        dt = np.dtype(dtype) if dtype is not None else get_default_dtype()
        G = _GATES[mode]
        self.weight_ih = Parameter(np.empty((G * hidden_size, input_size), dt))
        self.weight_hh = Parameter(np.empty((G * hidden_size, hidden_size), dt))
        if bias:
            self.bias_ih = Parameter(np.empty((G * hidden_size,), dt))
            self.bias_hh = Parameter(np.empty((G * hidden_size,), dt))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self):
        s = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -s, s)

    def _step(self, input, hx, cx):
        name = type(self).__name__
        x = input if isinstance(input, Tensor) else F.basic._t(input)
        if x.ndim not in (1, 2):
            raise ValueError(f"{name}: input must be 1-D or 2-D, got shape {tuple(x.shape)}")
        unbatched = x.ndim == 1
        if unbatched:
            x = x.unsqueeze(0)
        if x.shape[1] != self.input_size:
            raise ValueError(f"{name}: input has {x.shape[1]} features but input_size="
                             f"{self.input_size}")
        B = x.shape[0]
        states = []
        for what, t in (("hx", hx), ("cx", cx)):
            if t is not None:
                t = t.unsqueeze(0) if unbatched else t
                if tuple(t.shape) != (B, self.hidden_size):
                    raise ValueError(f"{name}: {what} has shape {tuple(t.shape)}, expected "
                                     f"{(B, self.hidden_size)}")
            states.append(t)
        hs, c = rnn_layer(x.unsqueeze(0), self.weight_ih, self.weight_hh, self.bias_ih,
                          self.bias_hh, states[0], states[1], mode=self.mode)
        h = hs[0]
        if unbatched:
            h = h.squeeze(0)
            c = c.squeeze(0) if c is not None else None
        return h, c

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        return s if self.bias else s + ", bias=False"


class RNNCell(RNNCellBase):
    """h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh) (or relu). Returns h'."""

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None,
                 dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__("rnn_" + nonlinearity, input_size, hidden_size, bias, dtype=dtype)

    def forward(self, input, hx=None):
        return self._step(input, hx, None)[0]


class LSTMCell(RNNCellBase):
    """One LSTM step. forward(input, (h, c)) -> (h', c')."""

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__("lstm", input_size, hidden_size, bias, dtype=dtype)

    def forward(self, input, hx=None):
        h, c = (None, None) if hx is None else hx
        return self._step(input, h, c)


class GRUCell(RNNCellBase):
    """One GRU step. forward(input, h) -> h'."""

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__("gru", input_size, hidden_size, bias, dtype=dtype)

    def forward(self, input, hx=None):
        return self._step(input, hx, None)[0]


class RNNSequenceClassifier(Module):
    """A recurrent sequence classifier (nervo addition, used by ``nervo train --model lstm|gru``):
    the sequence through an LSTM/GRU/RNN (batch_first), its final hidden state (both directions
    when bidirectional) through a Linear layer.

    Input (N, T, F), or images (N, C, H, W) read as H steps of C*W features (Fashion-MNIST: 28
    steps of 28 pixels). Output logits (N, num_classes).

    Example:
        >>> import nervo
        >>> m = nervo.nn.RNNSequenceClassifier("gru", 28, 32, num_classes=10)
        >>> m(nervo.zeros(4, 1, 28, 28)).shape
        (4, 10)
    """

    def __init__(self, mode, input_size, hidden_size=128, num_classes=10, num_layers=1,
                 bidirectional=False, dropout=0.0, dtype=None):
        super().__init__()
        classes = {"lstm": LSTM, "gru": GRU, "rnn": RNN}
        if mode not in classes:
            raise ValueError(f"RNNSequenceClassifier: mode must be one of {sorted(classes)}, got {mode!r}")
        self.mode = mode
        self.rnn = classes[mode](input_size, hidden_size, num_layers=num_layers, batch_first=True,
                                 dropout=dropout, bidirectional=bidirectional, dtype=dtype)
        D = 2 if bidirectional else 1
        from nervo.nn.linear import Linear
        self.fc = Linear(D * hidden_size, num_classes, dtype=dtype)

    def forward(self, x):
        if x.ndim == 4:
            n, c, h, w = x.shape
            x = x.permute(0, 2, 1, 3).reshape(n, h, c * w)
        _, state = self.rnn(x)
        h_n = state[0] if self.mode == "lstm" else state
        D = 2 if self.rnn.bidirectional else 1
        last = h_n[-1] if D == 1 else F.cat([h_n[-2], h_n[-1]], dim=1)
        return self.fc(last)
