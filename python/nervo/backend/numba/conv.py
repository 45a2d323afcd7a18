"""Numba convolution kernels (mirror csrc/ops/conv): im2col/col2im in Numba, the GEMMs in NumPy
(BLAS), batches processed in chunks so the column buffer stays bounded. Same names and signatures
as the native conv2d_forward / conv2d_backward."""
import numpy as np
from numba import njit, prange

# Elements of column buffer per chunk of images (32 MiB of float32).
_COL_BUDGET = 8 * 1024 * 1024


@njit(parallel=True, nogil=True, cache=True)
def _im2col(x, n0, col, sh, sw, ph, pw, dh, dw):
    # x (N, C, H, W); col (B, C, R, S, P, Q) from images n0 .. n0 + B
    B, C, R, S, P, Q = col.shape
    H, W = x.shape[2], x.shape[3]
    for bc in prange(B * C):
        b = bc // C
        c = bc % C
        for r in range(R):
            for s in range(S):
                for p in range(P):
                    ih = p * sh - ph + r * dh
                    if ih < 0 or ih >= H:
                        for q in range(Q):
                            col[b, c, r, s, p, q] = 0
                    else:
                        for q in range(Q):
                            iw = q * sw - pw + s * dw
                            col[b, c, r, s, p, q] = x[n0 + b, c, ih, iw] if 0 <= iw < W else 0


@njit(parallel=True, nogil=True, cache=True)
def _col2im(col, dx, n0, sh, sw, ph, pw, dh, dw):
    # dx[n0 + b] = sum of col entries that read each input position (dx zeroed by the caller)
    B, C, R, S, P, Q = col.shape
    H, W = dx.shape[2], dx.shape[3]
    for bc in prange(B * C):
        b = bc // C
        c = bc % C
        for r in range(R):
            for s in range(S):
                for p in range(P):
                    ih = p * sh - ph + r * dh
                    if ih < 0 or ih >= H:
                        continue
                    for q in range(Q):
                        iw = q * sw - pw + s * dw
                        if 0 <= iw < W:
                            dx[n0 + b, c, ih, iw] += col[b, c, r, s, p, q]


def _chunk(C, R, S, P, Q):
    return max(1, _COL_BUDGET // max(1, C * R * S * P * Q))


def conv2d_forward(x, w, bias, y, sh, sw, ph, pw, dh, dw, groups, act):
    N, C, H, W = x.shape
    K, Cg, R, S = w.shape
    P, Q = y.shape[2], y.shape[3]
    if y.size == 0:
        return
    G, Kg = groups, K // groups
    wg = w.reshape(G, Kg, Cg * R * S)
    B = _chunk(C, R, S, P, Q)
    col = np.empty((min(B, N), C, R, S, P, Q), x.dtype)
    for n0 in range(0, N, B):
        nb = min(B, N - n0)
        c = col[:nb]
        _im2col(x, n0, c, sh, sw, ph, pw, dh, dw)
        yv = y[n0:n0 + nb].reshape(nb, G, Kg, P * Q)
        np.matmul(wg[None], c.reshape(nb, G, Cg * R * S, P * Q), out=yv)
    if bias is not None:
        y += bias.reshape(1, K, 1, 1)
    if act == 1:
        y[y < 0] = 0  # NaN stays, like torch.relu


def conv2d_backward(dy, x, w, dx, dw, db, sh, sw, ph, pw, dh, dil_w, groups):
    N, C, H, W = x.shape
    K, Cg, R, S = w.shape
    P, Q = dy.shape[2], dy.shape[3]
    G, Kg = groups, K // groups
    CRS = Cg * R * S
    if db is not None:
        db[...] = dy.sum(axis=(0, 2, 3), dtype=np.float64)
    if dx is not None:
        dx[...] = 0
    if dw is not None:
        dw[...] = 0
    if N == 0 or P * Q == 0 or (dx is None and dw is None):
        return
    wg = w.reshape(G, Kg, CRS)
    B = _chunk(C, R, S, P, Q)
    col = np.empty((min(B, N), C, R, S, P, Q), x.dtype)
    dwg = None if dw is None else dw.reshape(G, Kg, CRS)
    for n0 in range(0, N, B):
        nb = min(B, N - n0)
        c = col[:nb]
        cg = c.reshape(nb, G, CRS, P * Q)
        dyg = dy[n0:n0 + nb].reshape(nb, G, Kg, P * Q)
        if dw is not None:
            _im2col(x, n0, c, sh, sw, ph, pw, dh, dil_w)
            dwg += np.matmul(dyg, cg.transpose(0, 1, 3, 2)).sum(axis=0)
        if dx is not None:
            np.matmul(wg.transpose(0, 2, 1)[None], dyg, out=cg)
            _col2im(c, dx, n0, sh, sw, ph, pw, dh, dil_w)


KERNELS = {"conv2d_forward": conv2d_forward, "conv2d_backward": conv2d_backward}
