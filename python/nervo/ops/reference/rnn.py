"""NumPy references of the recurrent kernels (one layer, one direction), written for clarity.

Shapes: x (T, B, I), w_ih (G*H, I), w_hh (G*H, H), biases (G*H,) or None, h0/c0 (B, H),
lengths (B,) or None. Returns the carried hidden states hs (T, B, H) (a padded step t >= lengths[b]
carries the state unchanged) and, for LSTM, the cell states cs. Gate orders follow PyTorch:
LSTM [i f g o], GRU [r z n]. Computed in float64.
"""
import numpy as np

GATES = {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 4, "gru": 3}


def _sig(z):
    return 1.0 / (1.0 + np.exp(-z))


def _order(T, reverse):
    return range(T - 1, -1, -1) if reverse else range(T)


def _active(lengths, t, B):
    if lengths is None:
        return np.ones((B, 1), bool)
    return (t < np.asarray(lengths))[:, None]


def forward(mode, x, w_ih, w_hh, b_ih=None, b_hh=None, h0=None, c0=None, lengths=None, reverse=False):
    x = np.asarray(x, np.float64)
    T, B, _ = x.shape
    H = w_hh.shape[1]
    b_ih = np.zeros(w_ih.shape[0]) if b_ih is None else np.asarray(b_ih, np.float64)
    b_hh = np.zeros(w_hh.shape[0]) if b_hh is None else np.asarray(b_hh, np.float64)
    h = np.zeros((B, H)) if h0 is None else np.asarray(h0, np.float64)
    c = np.zeros((B, H)) if c0 is None else np.asarray(c0, np.float64)
    hs = np.zeros((T, B, H))
    cs = np.zeros((T, B, H))
    for t in _order(T, reverse):
        gx = x[t] @ w_ih.T + b_ih
        gh = h @ w_hh.T + b_hh
        if mode == "lstm":
            i, f, g, o = np.split(gx + gh, 4, axis=1)
            c_new = _sig(f) * c + _sig(i) * np.tanh(g)
            h_new = _sig(o) * np.tanh(c_new)
        elif mode == "gru":
            xr, xz, xn = np.split(gx, 3, axis=1)
            hr, hz, hn = np.split(gh, 3, axis=1)
            r, z = _sig(xr + hr), _sig(xz + hz)
            n = np.tanh(xn + r * hn)
            h_new, c_new = (1 - z) * n + z * h, c
        elif mode == "rnn_tanh":
            h_new, c_new = np.tanh(gx + gh), c
        else:
            h_new, c_new = np.maximum(gx + gh, 0), c
        act = _active(lengths, t, B)
        h = np.where(act, h_new, h)
        c = np.where(act, c_new, c)
        hs[t], cs[t] = h, c
    return hs, (cs if mode == "lstm" else None)


def backward(mode, dhs, x, w_ih, w_hh, b_ih=None, b_hh=None, h0=None, c0=None, lengths=None,
             reverse=False, dcn=None):
    """Gradients (dx, dw_ih, dw_hh, db_ih, db_hh, dh0, dc0) of sum(dhs * hs) + sum(dcn * c_n),
    by recomputing the forward step by step and running it backwards (float64)."""
    x = np.asarray(x, np.float64)
    T, B, _ = x.shape
    H = w_hh.shape[1]
    has_bias = b_ih is not None
    b_ih = np.zeros(w_ih.shape[0]) if b_ih is None else np.asarray(b_ih, np.float64)
    b_hh = np.zeros(w_hh.shape[0]) if b_hh is None else np.asarray(b_hh, np.float64)
    h0 = np.zeros((B, H)) if h0 is None else np.asarray(h0, np.float64)
    c0 = np.zeros((B, H)) if c0 is None else np.asarray(c0, np.float64)
    order = list(_order(T, reverse))
    # forward, keeping what each step needs
    tape = []
    h, c = h0, c0
    for t in order:
        gx = x[t] @ w_ih.T + b_ih
        gh = h @ w_hh.T + b_hh
        tape.append((t, h, c, gx, gh))
        if mode == "lstm":
            i, f, g, o = np.split(gx + gh, 4, axis=1)
            c_new = _sig(f) * c + _sig(i) * np.tanh(g)
            h_new = _sig(o) * np.tanh(c_new)
        elif mode == "gru":
            xr, xz, xn = np.split(gx, 3, axis=1)
            hr, hz, hn = np.split(gh, 3, axis=1)
            r, z = _sig(xr + hr), _sig(xz + hz)
            h_new, c_new = (1 - z) * np.tanh(xn + r * hn) + z * h, c
        elif mode == "rnn_tanh":
            h_new, c_new = np.tanh(gx + gh), c
        else:
            h_new, c_new = np.maximum(gx + gh, 0), c
        act = _active(lengths, t, B)
        h, c = np.where(act, h_new, h), np.where(act, c_new, c)
    dx = np.zeros_like(x)
    dw_ih, dw_hh = np.zeros(w_ih.shape), np.zeros(w_hh.shape)
    db_ih, db_hh = np.zeros(w_ih.shape[0]), np.zeros(w_hh.shape[0])
    dh = np.zeros((B, H))
    dc = np.zeros((B, H)) if dcn is None else np.asarray(dcn, np.float64).copy()
    for t, hp, cp, gx, gh in reversed(tape):
        dh = dh + dhs[t]
        act = _active(lengths, t, B)
        if mode == "lstm":
            i, f, g, o = np.split(gx + gh, 4, axis=1)
            i, f, g, o = _sig(i), _sig(f), np.tanh(g), _sig(o)
            cn = f * cp + i * g
            tc = np.tanh(cn)
            dcc = dc + dh * o * (1 - tc ** 2)
            da = np.concatenate([dcc * g * i * (1 - i), dcc * cp * f * (1 - f), dcc * i * (1 - g ** 2),
                                 dh * tc * o * (1 - o)], axis=1)
            da = np.where(act, da, 0)
            dgx, dgh = da, da
            dh_direct = np.zeros_like(dh)
            dc = np.where(act, dcc * f, dc)
        elif mode == "gru":
            xr, xz, xn = np.split(gx, 3, axis=1)
            hr, hz, hn = np.split(gh, 3, axis=1)
            r, z = _sig(xr + hr), _sig(xz + hz)
            n = np.tanh(xn + r * hn)
            dna = dh * (1 - z) * (1 - n ** 2)
            dra = dna * hn * r * (1 - r)
            dza = dh * (hp - n) * z * (1 - z)
            dgx = np.where(act, np.concatenate([dra, dza, dna], axis=1), 0)
            dgh = np.where(act, np.concatenate([dra, dza, dna * r], axis=1), 0)
            dh_direct = dh * z
        else:
            pre = gx + gh
            d = dh * (1 - np.tanh(pre) ** 2) if mode == "rnn_tanh" else dh * (pre > 0)
            dgx = dgh = np.where(act, d, 0)
            dh_direct = np.zeros_like(dh)
        dx[t] = dgx @ w_ih
        dw_ih += dgx.T @ x[t]
        dw_hh += dgh.T @ hp
        db_ih += dgx.sum(0)
        db_hh += dgh.sum(0)
        dh = np.where(act, dh_direct + dgh @ w_hh, dh)
    return (dx, dw_ih, dw_hh, db_ih if has_bias else None, db_hh if has_bias else None, dh,
            dc if mode == "lstm" else None)
