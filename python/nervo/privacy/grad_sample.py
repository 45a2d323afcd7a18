"""Per-sample gradients of a model's parameters, from each layer's saved input and output gradient.

A forward hook on every supported layer keeps the layer's input ``x``; a hook on the layer's
output tensor keeps the gradient ``g`` of the loss w.r.t. that output during ``backward()``.
Every supported layer's parameter gradient is a sum over samples of a per-sample term built
from ``(x_n, g_n)``, so the per-sample gradients, their norms, and any per-sample weighted sum of
them come from one batched computation over ``(x, g)``, never a loop over samples.

Vocabulary: ``N`` samples in the batch, ``T`` positions per sample that share the weight (time
steps for a sequence Linear, output pixels ``L = Ho * Wo`` for a convolution, tokens for an
Embedding), ``I`` / ``O`` a weight's input / output width. A convolution is a Linear on its
unfolded input: ``x`` -> ``U`` (N, L, C*R*S) and weight (K, C*R*S), per group.

The central object is a linear "canonical record": ``X`` (N, T, I), ``G`` (N, T, O), whose
per-sample weight gradient is ``G_n^T X_n`` (O, I). For it:

* norms: ``||G_n^T X_n||_F^2 = sum((X_n X_n^T) * (G_n G_n^T))`` ("ghost" norm, cost T^2 (I + O),
  no (O, I) array per sample; for T = 1 it is ``|g_n|^2 |x_n|^2``), or materialize the (N, O, I)
  per-sample gradients (cost T I O) when that is cheaper;
* a weighted sum ``sum_n c_n G_n^T X_n`` is one GEMM ``(c * G)^T X`` over all N*T rows.

Calling a layer several times in one forward (weight sharing) concatenates its records along T,
which is exactly the per-sample sum of the contributions.

Recurrent layers (RNN / LSTM / GRU and their cells) are records of the same kind: each
``rnn_layer`` call (one layer, one direction) saves its input ``x`` (T, N, I), its hidden
states and gate activations; the gradients reaching its outputs (``dhs``, ``dcn``) are caught
during ``backward()``. :func:`gate_grads` runs backward through time over the saved state
(vectorized over the batch, one (N, G*H) x (G*H, H) GEMM per step) to get the per-step gate
gradients ``dg`` (T, N, G*H); then ``dW_ih`` is the record ``(x, dg_x)`` and ``dW_hh`` the record
``(h_prev, dg_h)``, each over the T steps, and the biases are ``sum_t dg``.
"""
from __future__ import annotations

import numpy as np

from nervo import nn
from nervo import ops


def _mm(a, b):
    """``a @ b`` (2-D or batched 3-D, any strides) on nervo's GEMM kernel.

    NOTE: not numpy.matmul: right after nervo's OpenMP kernels have run, OpenBLAS's threaded
    GEMM (NumPy's) competes with the OpenMP workers still spinning, and its batched products of
    many small matrices became 40-100x slower on the 2-core development VM (a 256-sample conv
    per-sample gradient: 4 s instead of 0.04 s). Other dtypes fall back to NumPy.
    """
    if a.dtype == b.dtype and a.dtype in (np.float32, np.float64):
        return ops.matmul(a, b)
    return np.matmul(a, b)

# Layer types with a per-sample rule; subclasses count too.
SUPPORTED = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Embedding, nn.LayerNorm, nn.GroupNorm,
             nn.RNN, nn.LSTM, nn.GRU, nn.RNNCell, nn.LSTMCell, nn.GRUCell)
RECURRENT = (nn.RNNBase, nn.RNNCellBase)


class PerSample:
    """One parameter's per-sample gradients, possibly in factored form.

    ``norm_sq()`` -> (N,) squared L2 norms, ``weighted_sum(c)`` -> ``sum_n c_n grad_n`` (the
    parameter's shape), ``materialize()`` -> (N, *shape).
    """

    def norm_sq(self) -> np.ndarray:
        raise NotImplementedError

    def weighted_sum(self, c: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def materialize(self) -> np.ndarray:
        raise NotImplementedError


class Dense(PerSample):
    """Per-sample gradients held as an (N, *shape) array."""

    def __init__(self, full: np.ndarray, shape):
        self.full = full
        self.shape = tuple(shape)

    def norm_sq(self):
        f = self.full.reshape(self.full.shape[0], -1)
        return np.einsum("ni,ni->n", f, f, dtype=np.float64)

    def weighted_sum(self, c):
        f = self.full.reshape(self.full.shape[0], -1)
        return _mm(c.astype(f.dtype)[None], f)[0].reshape(self.shape)

    def materialize(self):
        return self.full.reshape((self.full.shape[0],) + self.shape)


class Outer(PerSample):
    """Per-sample ``G_n^T X_n`` with X (N, T, I), G (N, T, O), reshaped to ``shape``.

    Norms use the ghost identity when ``T^2 (I + O) < T I O`` (or T == 1), else the per-sample
    gradients are materialized once (and reused by ``weighted_sum``).
    """

    def __init__(self, X: np.ndarray, G: np.ndarray, shape):
        self.X, self.G, self.shape = X, G, tuple(shape)
        self._full = None

    def _ghost(self) -> bool:
        N, T, I = self.X.shape
        O = self.G.shape[2]
        return T == 1 or T * T * (I + O) < T * I * O

    def materialize(self):
        if self._full is None:
            # (N, O, T) @ (N, T, I): one batched GEMM.
            self._full = _mm(self.G.transpose(0, 2, 1), self.X)
        return self._full.reshape((self.X.shape[0],) + self.shape)

    def norm_sq(self):
        X, G = self.X, self.G
        if X.shape[1] == 1:
            x, g = X[:, 0, :], G[:, 0, :]
            return (np.einsum("ni,ni->n", x, x, dtype=np.float64)
                    * np.einsum("no,no->n", g, g, dtype=np.float64))
        if self._ghost():
            xx = _mm(X, X.transpose(0, 2, 1))
            gg = _mm(G, G.transpose(0, 2, 1))
            return np.einsum("nst,nst->n", xx, gg, dtype=np.float64)
        f = self.materialize().reshape(X.shape[0], -1)
        return np.einsum("ni,ni->n", f, f, dtype=np.float64)

    def weighted_sum(self, c):
        if self._full is not None:
            f = self._full.reshape(self._full.shape[0], -1)
            return _mm(c.astype(f.dtype)[None], f)[0].reshape(self.shape)
        N, T, I = self.X.shape
        O = self.G.shape[2]
        if self.X.flags.c_contiguous and I < O:   # scale the narrower factor
            Xc = self.X * c.astype(self.X.dtype)[:, None, None]
            G = self.G if self.G.flags.c_contiguous else np.ascontiguousarray(self.G)
            return _mm(G.reshape(N * T, O).T, Xc.reshape(N * T, I)).reshape(self.shape)
        Gc = self.G * c.astype(self.G.dtype)[:, None, None]
        if self.X.flags.c_contiguous:
            return _mm(Gc.reshape(N * T, -1).T, self.X.reshape(N * T, I)).reshape(self.shape)
        # X is a transposed view (convolution columns): sum the per-sample products instead.
        return _mm(Gc.transpose(0, 2, 1), self.X).sum(axis=0).reshape(self.shape)


class Blocks(PerSample):
    """A parameter made of independent row blocks (grouped convolution): one part per group."""

    def __init__(self, parts, shape):
        self.parts, self.shape = parts, tuple(shape)

    def norm_sq(self):
        return sum(p.norm_sq() for p in self.parts)

    def weighted_sum(self, c):
        return np.concatenate([p.weighted_sum(c).reshape(-1) for p in self.parts]).reshape(self.shape)

    def materialize(self):
        n = self.parts[0].X.shape[0]
        return np.concatenate([p.materialize().reshape(n, -1) for p in self.parts],
                              axis=1).reshape((n,) + self.shape)


class Rows(PerSample):
    """Embedding: sample n's gradient adds ``G[n, t]`` to row ``idx[n, t]`` of a (V, D) table."""

    def __init__(self, idx: np.ndarray, G: np.ndarray, shape):
        self.idx, self.G, self.shape = idx, G, tuple(shape)   # idx (N, T) int64, G (N, T, D)

    def norm_sq(self):
        N, T = self.idx.shape
        V, D = self.shape
        if N * T == 0:
            return np.zeros(N)
        keys = (np.arange(N, dtype=np.int64)[:, None] * V + self.idx).reshape(-1)
        uniq, inv = np.unique(keys, return_inverse=True)
        S = np.zeros((uniq.shape[0], D), np.float64)
        np.add.at(S, inv.reshape(-1), self.G.reshape(-1, D))
        return np.bincount(uniq // V, weights=np.einsum("kd,kd->k", S, S), minlength=N)

    def weighted_sum(self, c):
        V, D = self.shape
        out = np.zeros((V, D), self.G.dtype)
        Gc = self.G * c.astype(self.G.dtype)[:, None, None]
        np.add.at(out, self.idx.reshape(-1), Gc.reshape(-1, D))
        return out

    def materialize(self):
        N, T = self.idx.shape
        out = np.zeros((N,) + self.shape, self.G.dtype)
        for t in range(T):  # T scatter-adds over all samples at once (no per-sample loop)
            np.add.at(out, (np.arange(N), self.idx[:, t]), self.G[:, t])
        return out


# -- unfolding a convolution input ------------------------------------------------------------

def _pair(v, n):
    return (int(v),) * n if np.isscalar(v) or isinstance(v, (int, np.integer)) else tuple(int(e) for e in v)


def _conv_padding(module, xd, n):
    """Symmetric padding per spatial dim ("same" resolved the way torch does: total k-1, extra
    on the right)."""
    k = module.kernel_size
    d = _pair(module.dilation, n)
    p = module.padding
    if isinstance(p, str):
        if p == "valid":
            return [(0, 0)] * n
        tot = [d[i] * (k[i] - 1) for i in range(n)]
        return [(t // 2, t - t // 2) for t in tot]
    p = _pair(p, n)
    return [(pi, pi) for pi in p]


def unfold(module, xd: np.ndarray) -> np.ndarray:
    """im2col of a Conv1d/Conv2d input: (N, C, *spatial) -> (N, L, C * prod(kernel)), the
    columns ordered like ``weight.reshape(K, -1)``.

    Returned as a transposed view of a contiguous (N, C * prod(kernel), L) array, filled by one
    strided slice copy per kernel offset (prod(kernel) copies of (N, C, L) each, with unit-stride
    inner loops), which is several times faster than gathering windows sample by sample.
    """
    n = xd.ndim - 2
    k = tuple(module.kernel_size)
    st = _pair(module.stride, n)
    dl = _pair(module.dilation, n)
    if getattr(module, "padding_mode", "zeros") != "zeros":
        raise ValueError(f"nervo.privacy: {type(module).__name__} with padding_mode="
                         f"{module.padding_mode!r} has no per-sample rule (only 'zeros')")
    pads = _conv_padding(module, xd, n)
    xp = np.pad(xd, [(0, 0), (0, 0)] + pads) if any(a or b for a, b in pads) else xd
    N, C = xd.shape[:2]
    out_sp = tuple((xp.shape[2 + i] - dl[i] * (k[i] - 1) - 1) // st[i] + 1 for i in range(n))
    cols = np.empty((N, C) + k + out_sp, xd.dtype)
    for offs in np.ndindex(*k):
        src = tuple(slice(o * d, o * d + (m - 1) * s + 1, s)
                    for o, d, m, s in zip(offs, dl, out_sp, st))
        cols[(slice(None), slice(None)) + offs] = xp[(slice(None), slice(None)) + src]
    L = int(np.prod(out_sp))
    return cols.reshape(N, C * int(np.prod(k)), L).transpose(0, 2, 1)


# -- per-layer rules: (module, [(x, g), ...], scale) -> {param_name: PerSample} --------------

def _cat(arrs, axis=1):
    return arrs[0] if len(arrs) == 1 else np.concatenate(arrs, axis=axis)


def _linear(module, recs, scale):
    Xs, Gs = [], []
    for x, g in recs:
        N = x.shape[0]
        Xs.append(x.reshape(N, -1, x.shape[-1]))
        Gs.append(g.reshape(N, -1, g.shape[-1]) * g.dtype.type(scale))
    X, G = _cat(Xs), _cat(Gs)
    out = {}
    if module.weight.requires_grad:
        out["weight"] = Outer(X, G, module.weight.shape)
    if module.bias is not None and module.bias.requires_grad:
        out["bias"] = Dense(G.sum(axis=1), module.bias.shape)
    return out


def _conv(module, recs, scale):
    groups = int(module.groups)
    K = module.out_channels
    Us, Gs = [], []
    for x, g in recs:
        N = x.shape[0]
        Us.append(unfold(module, x))
        Gs.append((g.reshape(N, K, -1) * g.dtype.type(scale)).transpose(0, 2, 1))   # (N, L, K)
    U, G = _cat(Us), _cat(Gs)
    out = {}
    if module.weight.requires_grad:
        if groups == 1:
            out["weight"] = Outer(U, G, module.weight.shape)
        else:
            cg = U.shape[2] // groups
            kg = K // groups
            parts = [Outer(U[:, :, i * cg:(i + 1) * cg], np.ascontiguousarray(G[:, :, i * kg:(i + 1) * kg]),
                           (kg, cg)) for i in range(groups)]
            out["weight"] = Blocks(parts, module.weight.shape)
    if module.bias is not None and module.bias.requires_grad:
        out["bias"] = Dense(G.sum(axis=1), module.bias.shape)
    return out


def _embedding(module, recs, scale):
    if getattr(module, "scale_grad_by_freq", False):
        raise ValueError("nervo.privacy: Embedding(scale_grad_by_freq=True) scales gradients by "
                         "token counts over the whole batch, which mixes samples; set it to False")
    idxs, Gs = [], []
    D = module.embedding_dim
    for x, g in recs:
        N = x.shape[0] if x.ndim else 1
        idx = np.asarray(x, dtype=np.int64).reshape(N, -1)
        G = (g.reshape(N, -1, D) * g.dtype.type(scale))
        if module.padding_idx is not None:
            G = G * (idx != module.padding_idx)[:, :, None]
        idxs.append(idx)
        Gs.append(G)
    if not module.weight.requires_grad:
        return {}
    return {"weight": Rows(_cat(idxs), _cat(Gs), module.weight.shape)}


def _layer_norm(module, recs, scale):
    ns = tuple(module.normalized_shape)
    k = len(ns)
    ws, bs = [], []
    for x, g in recs:
        N = x.shape[0]
        axes = tuple(range(x.ndim - k, x.ndim))
        xf = x.astype(np.float64)
        mu = xf.mean(axis=axes, keepdims=True)
        var = xf.var(axis=axes, keepdims=True)
        xhat = ((xf - mu) / np.sqrt(var + module.eps)).astype(x.dtype)
        gs = g * g.dtype.type(scale)
        mid = tuple(range(1, x.ndim - k))
        ws.append((gs * xhat).sum(axis=mid) if mid else gs * xhat)
        bs.append(gs.sum(axis=mid) if mid else gs)
    out = {}
    if getattr(module, "weight", None) is not None and module.weight.requires_grad:
        out["weight"] = Dense(sum(ws), ns)
    if getattr(module, "bias", None) is not None and module.bias.requires_grad:
        out["bias"] = Dense(sum(bs), ns)
    return out


def _group_norm(module, recs, scale):
    # gw_n[c] = sum_l g * xhat = rstd_ng * (sum_l g x - mu_ng * sum_l g) for c in group g: two
    # per-channel reductions and per-group statistics, without forming xhat (N, C, L).
    Gn = module.num_groups
    ws, bs = [], []
    for x, g in recs:
        N, C = x.shape[:2]
        xr = x.reshape(N, Gn, -1)
        L = xr.shape[2]
        mu = xr.mean(axis=2, dtype=np.float64)
        msq = np.einsum("ngl,ngl->ng", xr, xr, dtype=np.float64) / max(L, 1)
        rstd = 1.0 / np.sqrt(np.maximum(msq - mu * mu, 0.0) + module.eps)
        gs = g.reshape(N, C, -1)
        sgx = np.einsum("ncl,ncl->nc", gs, x.reshape(N, C, -1), dtype=np.float64)
        sg = gs.sum(axis=2, dtype=np.float64)
        per = C // Gn
        mu_c, rstd_c = np.repeat(mu, per, axis=1), np.repeat(rstd, per, axis=1)
        ws.append((rstd_c * (sgx - mu_c * sg) * scale).astype(x.dtype))
        bs.append((sg * scale).astype(x.dtype))
    out = {}
    if getattr(module, "weight", None) is not None and module.weight.requires_grad:
        out["weight"] = Dense(sum(ws), (module.num_channels,))
    if getattr(module, "bias", None) is not None and module.bias.requires_grad:
        out["bias"] = Dense(sum(bs), (module.num_channels,))
    return out


# -- recurrent layers -------------------------------------------------------------------------

class RNNRecord:
    """One ``rnn_layer`` call of a hooked recurrent module: ``sfx`` names its parameters
    (``weight_ih`` + sfx, ...), the rest is what the call saved and, after backward, the
    gradients that reached its hidden states (``dhs``, (T, N, H)) and final cell state (``dcn``)."""

    __slots__ = ("sfx", "x", "saved", "mode", "lengths", "reverse", "w_hh", "dhs", "dcn")

    def __init__(self, sfx, x, saved, mode, lengths, reverse, w_hh):
        self.sfx, self.x, self.saved, self.mode = sfx, x, saved, mode
        self.lengths, self.reverse, self.w_hh = lengths, reverse, w_hh
        self.dhs = self.dcn = None

    @property
    def done(self):
        return self.dhs is not None or self.dcn is not None


def gate_grads(mode, w_hh, saved, dhs, dcn=None, lengths=None, reverse=False, *,
               batch_first=False) -> np.ndarray:
    """Per-step gate gradients of one recurrent layer, (T, N, W) in the kernel's layout
    (csrc/ops/rnn/rnn.h): LSTM [i f g o] and RNN [a] are the gradients of the gate
    pre-activations (the same for the x- and h-projections); GRU [r z hn n]: columns [0, 3H) are
    the gradient of the h-projection ``W_hh h + b_hh``, columns [0, 2H) + [3H, 4H) that of the
    x-projection ``W_ih x + b_ih``.

    Backward through time over the saved forward state ``saved`` (an ``ops.RNNForward``) with
    ``dhs`` (T, N, H) the gradient reaching the hidden states and ``dcn`` (N, H) the one reaching
    the final LSTM cell state; padded steps (``lengths``) pass gradients through unchanged and
    get zero gate gradients. The same arithmetic as the kernel's backward, vectorized over the
    batch: per step a few elementwise passes and one (N, G*H) x (G*H, H) GEMM.
    ``batch_first=True`` returns a C-contiguous (N, T, W) array instead (no transposed copy).
    """
    hs, cs, ws = saved.hs, saved.cs, saved.ws
    T, N, H = hs.shape
    dt = hs.dtype
    lstm, gru = mode == "lstm", mode == "gru"
    GH = w_hh.shape[0]
    dg = np.empty((N, T, ws.shape[2]) if batch_first else (T, N, ws.shape[2]), dt)
    dh = np.zeros((N, H), dt)
    dc = None
    if lstm:
        dc = np.zeros((N, H), dt) if dcn is None else np.array(dcn, dt)
    if dhs is None:
        dhs = np.zeros((T, N, H), dt)
    one = dt.type(1)
    w = np.asarray(w_hh, dt)
    steps = range(T) if reverse else range(T - 1, -1, -1)   # the forward's order, reversed
    with np.errstate(all="ignore"):   # padded rows may hold unactivated scratch; masked below
        for t in steps:
            first = t == (T - 1 if reverse else 0)
            tp = t + 1 if reverse else t - 1
            out = dg[:, t] if batch_first else dg[t]
            d = dhs[t] + dh
            dh_direct = None
            if lstm:
                gi, gf, gg, go = (ws[t, :, k * H:(k + 1) * H] for k in range(4))
                cp = saved.c0 if first else cs[tp]
                tc = np.tanh(cs[t])
                dcv = d * go * (one - tc * tc) + dc
                out[:, :H] = dcv * gg * gi * (one - gi)
                out[:, H:2 * H] = dcv * cp * gf * (one - gf)
                out[:, 2 * H:3 * H] = dcv * gi * (one - gg * gg)
                out[:, 3 * H:] = d * tc * go * (one - go)
                dc_new = dcv * gf
            elif gru:
                r, z, nn_, hn = (ws[t, :, k * H:(k + 1) * H] for k in range(4))
                hp = saved.h0 if first else hs[tp]
                dna = d * (one - z) * (one - nn_ * nn_)
                out[:, :H] = dna * hn * r * (one - r)
                out[:, H:2 * H] = d * (hp - nn_) * z * (one - z)
                out[:, 2 * H:3 * H] = dna * r
                out[:, 3 * H:] = dna
                dh_direct = d * z
            elif mode == "rnn_tanh":
                y = hs[t]
                out[...] = d * (one - y * y)
            else:   # rnn_relu
                out[...] = np.where(hs[t] > 0, d, dt.type(0))
            act = None
            if lengths is not None:
                act = t < lengths
                if act.all():
                    act = None
                else:
                    out[~act] = 0
            dh_new = _mm(out[:, :GH], w)
            if dh_direct is not None:
                dh_new += dh_direct
            if act is None:
                dh = dh_new
                if lstm:
                    dc = dc_new
            else:
                dh = np.where(act[:, None], dh_new, d)
                if lstm:
                    dc = np.where(act[:, None], dc_new, dc)
    return dg


def _recurrent(module, recs, scale):
    """Per-sample gradients of a recurrent module from its ``RNNRecord`` s (one per layer,
    direction and call); records of the same parameters (calls of a cell in a loop, or of the
    module several times) concatenate along time."""
    by = {}
    for rec in recs:
        if not rec.done:
            continue
        h0, hs = rec.saved.h0, rec.saved.hs
        T, N, H = hs.shape
        GH = rec.w_hh.shape[0]
        dg = gate_grads(rec.mode, rec.w_hh, rec.saved, rec.dhs, rec.dcn, rec.lengths,
                        rec.reverse, batch_first=True)             # (N, T, W)
        if scale != 1.0:
            dg *= dg.dtype.type(scale)
        hprev = np.empty((N, T, H), hs.dtype)                       # the state each step read
        if T:
            if rec.reverse:
                hprev[:, :T - 1] = hs[1:].transpose(1, 0, 2)
                hprev[:, T - 1] = h0
            else:
                hprev[:, 1:] = hs[:-1].transpose(1, 0, 2)
                hprev[:, 0] = h0
        d = by.setdefault(rec.sfx, {"X": [], "dg": [], "Hp": [], "gru": rec.mode == "gru",
                                    "H": H, "GH": GH})
        d["X"].append(np.ascontiguousarray(rec.x.transpose(1, 0, 2)))
        d["dg"].append(dg)
        d["Hp"].append(hprev)
    out = {}
    for sfx, d in by.items():
        dg, H, GH = _cat(d["dg"]), d["H"], d["GH"]
        X = _cat(d["X"])
        Gh = dg[:, :, :GH]      # gradient of the h-projection (all of dg for LSTM / RNN)
        w_ih, w_hh = getattr(module, "weight_ih" + sfx), getattr(module, "weight_hh" + sfx)
        b_ih = getattr(module, "bias_ih" + sfx, None)
        b_hh = getattr(module, "bias_hh" + sfx, None)
        if w_ih.requires_grad:
            if d["gru"]:   # x-projection gradient: columns [0, 2H) (r, z) and [3H, 4H) (n)
                I = X.shape[2]
                out["weight_ih" + sfx] = Blocks([Outer(X, dg[:, :, :2 * H], (2 * H, I)),
                                                 Outer(X, dg[:, :, 3 * H:], (H, I))], w_ih.shape)
            else:
                out["weight_ih" + sfx] = Outer(X, Gh, w_ih.shape)
        if w_hh.requires_grad:
            out["weight_hh" + sfx] = Outer(_cat(d["Hp"]), Gh, w_hh.shape)
        if b_ih is not None and b_ih.requires_grad:
            gb = Gh.sum(axis=1)
            if d["gru"]:
                gb[:, 2 * H:] = dg[:, :, 3 * H:].sum(axis=1)
            out["bias_ih" + sfx] = Dense(gb, b_ih.shape)
        if b_hh is not None and b_hh.requires_grad:
            out["bias_hh" + sfx] = Dense(Gh.sum(axis=1), b_hh.shape)
    return out


def recurrent_suffixes(module):
    """``{suffix: weight_hh Parameter}`` of a recurrent module (one entry per layer and
    direction; ``""`` for a cell)."""
    if isinstance(module, nn.RNNCellBase):
        return {"": module.weight_hh}
    D = 2 if module.bidirectional else 1
    return {f"_l{k}" + ("_reverse" if d else ""): getattr(module, f"weight_hh_l{k}" + ("_reverse" if d else ""))
            for k in range(module.num_layers) for d in range(D)}


def rule_for(module):
    """The per-sample rule for ``module``, or None."""
    if isinstance(module, RECURRENT):
        return _recurrent
    if isinstance(module, nn.Linear):
        return _linear
    if isinstance(module, (nn.Conv1d, nn.Conv2d)):
        return _conv
    if isinstance(module, nn.Embedding):
        return _embedding
    if isinstance(module, nn.LayerNorm):
        return _layer_norm
    if isinstance(module, nn.GroupNorm):
        return _group_norm
    return None
