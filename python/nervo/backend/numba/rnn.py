"""Numba recurrent kernels (mirror csrc/ops/rnn): rnn_forward / rnn_backward with the native
signatures and the same saved-state layout (ws rows: LSTM [i f g o], GRU [r z n hn], RNN [a];
gate gradients: LSTM [i f g o], GRU [r z hn n]). Mode ids match csrc/ops/rnn/rnn.h."""
import math

import numpy as np
from numba import njit

LSTM, GRU, RNN_TANH, RNN_RELU = 2, 3, 0, 1


@njit(inline="always")
def _sig(x):
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


@njit(cache=True)
def _forward(mode, reverse, x, w_ih, w_hh, bias_x, b_hh, h0, c0, lens, hs, cs, ws):
    T, B, _ = x.shape
    GH, H = w_hh.shape
    w_ihT = np.ascontiguousarray(w_ih.T)
    w_hhT = np.ascontiguousarray(w_hh.T)
    for t in range(T):
        ws[t, :, :GH] = np.dot(x[t], w_ihT) + bias_x
    for s in range(T):
        t = T - 1 - s if reverse else s
        tp = t + 1 if reverse else t - 1
        hp = h0 if s == 0 else hs[tp]
        cp = c0 if s == 0 else cs[tp]
        gh = np.dot(hp, w_hhT) + b_hh
        for b in range(B):
            if t >= lens[b]:
                hs[t, b] = hp[b]
                if mode == LSTM:
                    cs[t, b] = cp[b]
                continue
            g = ws[t, b]
            for j in range(H):
                if mode == LSTM:
                    gi = _sig(g[j] + gh[b, j])
                    gf = _sig(g[H + j] + gh[b, H + j])
                    gg = math.tanh(g[2 * H + j] + gh[b, 2 * H + j])
                    go = _sig(g[3 * H + j] + gh[b, 3 * H + j])
                    c = gf * cp[b, j] + gi * gg
                    g[j], g[H + j], g[2 * H + j], g[3 * H + j] = gi, gf, gg, go
                    cs[t, b, j] = c
                    hs[t, b, j] = go * math.tanh(c)
                elif mode == GRU:
                    r = _sig(g[j] + gh[b, j])
                    z = _sig(g[H + j] + gh[b, H + j])
                    hn = gh[b, 2 * H + j]
                    n = math.tanh(g[2 * H + j] + r * hn)
                    g[j], g[H + j], g[2 * H + j], g[3 * H + j] = r, z, n, hn
                    hs[t, b, j] = n + z * (hp[b, j] - n)
                elif mode == RNN_TANH:
                    hs[t, b, j] = math.tanh(g[j] + gh[b, j])
                else:
                    a = g[j] + gh[b, j]
                    hs[t, b, j] = a if a > 0 else 0.0
                    g[j] = a


@njit(cache=True)
def _backward(mode, reverse, x, w_ih, w_hh, h0, c0, lens, hs, cs, ws, dhs, dcn, want_dx, dx, dw_ih, dw_hh,
              db_ih, db_hh, dh0, dc0):
    T, B, I = x.shape
    GH, H = w_hh.shape
    DW = ws.shape[2]
    dg = np.zeros((T, B, DW), x.dtype)
    dh = np.zeros((B, H), x.dtype)
    dc = dcn.copy()
    for s in range(T - 1, -1, -1):
        t = T - 1 - s if reverse else s
        tp = t + 1 if reverse else t - 1
        hp = h0 if s == 0 else hs[tp]
        cp = c0 if s == 0 else cs[tp]
        for b in range(B):
            if t >= lens[b]:
                for j in range(H):
                    dh[b, j] += dhs[t, b, j]
                continue
            g = ws[t, b]
            d_ = dg[t, b]
            for j in range(H):
                d = dhs[t, b, j] + dh[b, j]
                if mode == LSTM:
                    gi, gf, gg, go = g[j], g[H + j], g[2 * H + j], g[3 * H + j]
                    tc = math.tanh(cs[t, b, j])
                    dcv = dc[b, j] + d * go * (1 - tc * tc)
                    d_[j] = dcv * gg * gi * (1 - gi)
                    d_[H + j] = dcv * cp[b, j] * gf * (1 - gf)
                    d_[2 * H + j] = dcv * gi * (1 - gg * gg)
                    d_[3 * H + j] = d * tc * go * (1 - go)
                    dc[b, j] = dcv * gf
                    dh[b, j] = 0.0
                elif mode == GRU:
                    r, z, n, hn = g[j], g[H + j], g[2 * H + j], g[3 * H + j]
                    dna = d * (1 - z) * (1 - n * n)
                    d_[j] = dna * hn * r * (1 - r)
                    d_[H + j] = d * (hp[b, j] - n) * z * (1 - z)
                    d_[2 * H + j] = dna * r
                    d_[3 * H + j] = dna
                    dh[b, j] = d * z
                elif mode == RNN_TANH:
                    y = hs[t, b, j]
                    d_[j] = d * (1 - y * y)
                    dh[b, j] = 0.0
                else:
                    d_[j] = d if hs[t, b, j] > 0 else 0.0
                    dh[b, j] = 0.0
        dh += np.dot(np.ascontiguousarray(dg[t, :, :GH]), w_hh)
    dh0[:] = dh
    if mode == LSTM:
        dc0[:] = dc
    # weight gradients over all steps
    hprev = np.empty((T, B, H), x.dtype)
    for s in range(T):
        t = T - 1 - s if reverse else s
        tp = t + 1 if reverse else t - 1
        hprev[t] = h0 if s == 0 else hs[tp]
    dg2 = dg.reshape(T * B, DW)
    dgh = np.ascontiguousarray(dg2[:, :GH])
    dw_hh[:] = np.dot(dgh.T, np.ascontiguousarray(hprev.reshape(T * B, H)))
    if mode == GRU:
        dgx = np.empty((T * B, GH), x.dtype)
        dgx[:, :2 * H] = dg2[:, :2 * H]
        dgx[:, 2 * H:] = dg2[:, 3 * H:]
    else:
        dgx = dgh
    x2 = x.reshape(T * B, I)
    dw_ih[:] = np.dot(dgx.T, x2)
    if want_dx:
        dx[:] = np.dot(dgx, w_ih).reshape(T, B, I)
    db_hh[:] = dgh.sum(axis=0)
    db_ih[:] = dgx.sum(axis=0)


def _lens(lengths, T, B):
    return np.full(B, T, np.int64) if lengths is None else lengths


def rnn_forward(mode, reverse, x, w_ih, w_hh, b_ih, b_hh, h0, c0, lengths, hs, cs, ws):
    T, B, _ = x.shape
    GH, H = w_hh.shape
    dt = x.dtype
    zeros = np.zeros(GH, dt)
    bias_x = zeros.copy()
    if b_ih is not None:
        bias_x += b_ih
    b_h = zeros
    if b_hh is not None:
        if mode == GRU:
            b_h = b_hh
        else:
            bias_x += b_hh
    c0_ = c0 if c0 is not None else np.zeros((B, H), dt)
    cs_ = cs if cs is not None else np.empty((T, B, H), dt)
    if T * B * H == 0:
        return
    _forward(mode, bool(reverse), x, w_ih, w_hh, bias_x, b_h, h0, c0_, _lens(lengths, T, B), hs,
             cs_, ws)


def rnn_backward(mode, reverse, x, w_ih, w_hh, b_ih, b_hh, h0, c0, lengths, hs, cs, ws, dhs, dcn,
                 dx, dw_ih, dw_hh, db_ih, db_hh, dh0, dc0):
    T, B, _ = x.shape
    GH, H = w_hh.shape
    dt = x.dtype
    c0_ = c0 if c0 is not None else np.zeros((B, H), dt)
    cs_ = cs if cs is not None else np.zeros((T, B, H), dt)
    dcn_ = dcn if dcn is not None else np.zeros((B, H), dt)
    dc0_ = dc0 if dc0 is not None else np.empty((B, H), dt)
    dbi = db_ih if db_ih is not None else np.empty(GH, dt)
    dbh = db_hh if db_hh is not None else np.empty(GH, dt)
    dx_ = dx if dx is not None else np.empty((0, 0, 0), dt)
    _backward(mode, bool(reverse), x, w_ih, w_hh, h0, c0_, _lens(lengths, T, B), hs, cs_, ws, dhs,
              dcn_, dx is not None, dx_, dw_ih, dw_hh, dbi, dbh, dh0, dc0_)


KERNELS = {"rnn_forward": rnn_forward, "rnn_backward": rnn_backward}
