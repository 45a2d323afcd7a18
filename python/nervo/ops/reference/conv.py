"""NumPy references of conv2d and its gradients (float64, loops over the filter taps: slow and
obvious). Padding is explicit per side: ((top, bottom), (left, right))."""
import numpy as np


def resolve_padding(padding, kernel, dilation, stride=(1, 1)):
    """torch's padding rules as ((top, bottom), (left, right))."""
    if padding == "valid":
        return ((0, 0), (0, 0))
    if padding == "same":
        out = []
        for k, d in zip(kernel, dilation):
            total = d * (k - 1)
            out.append((total // 2, total - total // 2))
        return tuple(out)
    if isinstance(padding, int):
        padding = (padding, padding)
    return tuple((p, p) for p in padding)


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def _taps(xp, r, s, P, Q, stride, dilation):
    sh, sw = stride
    dh, dw = dilation
    return xp[:, :, r * dh: r * dh + sh * (P - 1) + 1: sh, s * dw: s * dw + sw * (Q - 1) + 1: sw]


def conv2d(x, w, bias=None, stride=1, padding=0, dilation=1, groups=1):
    stride, dilation = _pair(stride), _pair(dilation)
    x = x.astype(np.float64)
    w = w.astype(np.float64)
    N, C, H, W = x.shape
    K, Cg, R, S = w.shape
    pads = resolve_padding(padding, (R, S), dilation)
    xp = np.pad(x, ((0, 0), (0, 0)) + pads)
    Hp, Wp = xp.shape[2:]
    P = (Hp - dilation[0] * (R - 1) - 1) // stride[0] + 1
    Q = (Wp - dilation[1] * (S - 1) - 1) // stride[1] + 1
    Kg = K // groups
    y = np.zeros((N, K, P, Q))
    for g in range(groups):
        xg = xp[:, g * Cg:(g + 1) * Cg]
        wg = w[g * Kg:(g + 1) * Kg]
        for r in range(R):
            for s in range(S):
                # tensordot over c: (n, p, q, k), moved to (n, k, p, q)
                y[:, g * Kg:(g + 1) * Kg] += np.moveaxis(np.tensordot(
                    _taps(xg, r, s, P, Q, stride, dilation), wg[:, :, r, s], axes=([1], [1])), 3, 1)
    if bias is not None:
        y += bias.astype(np.float64).reshape(1, -1, 1, 1)
    return y


def conv2d_backward(dy, x, w, stride=1, padding=0, dilation=1, groups=1):
    """(dx, dw, db) in float64."""
    stride, dilation = _pair(stride), _pair(dilation)
    dy = dy.astype(np.float64)
    x = x.astype(np.float64)
    w = w.astype(np.float64)
    N, C, H, W = x.shape
    K, Cg, R, S = w.shape
    P, Q = dy.shape[2:]
    pads = resolve_padding(padding, (R, S), dilation)
    xp = np.pad(x, ((0, 0), (0, 0)) + pads)
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(w)
    Kg = K // groups
    for g in range(groups):
        xg = xp[:, g * Cg:(g + 1) * Cg]
        dxg = dxp[:, g * Cg:(g + 1) * Cg]
        dyg = dy[:, g * Kg:(g + 1) * Kg]
        wg = w[g * Kg:(g + 1) * Kg]
        for r in range(R):
            for s in range(S):
                _taps(dxg, r, s, P, Q, stride, dilation)[...] += np.moveaxis(np.tensordot(
                    dyg, wg[:, :, r, s], axes=([1], [0])), 3, 1)
                dw[g * Kg:(g + 1) * Kg, :, r, s] = np.tensordot(
                    dyg, _taps(xg, r, s, P, Q, stride, dilation), axes=([0, 2, 3], [0, 2, 3]))
    (t, b), (l, rr) = pads
    dx = dxp[:, :, t:t + H, l:l + W]
    return dx, dw, dy.sum(axis=(0, 2, 3))


def conv_transpose2d(x, w, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """Direct scatter definition: every input pixel adds w * x into the output window."""
    stride, padding, output_padding, dilation = map(_pair, (stride, padding, output_padding, dilation))
    x = x.astype(np.float64)
    w = w.astype(np.float64)
    N, Cin, H, W = x.shape
    _, Coutg, R, S = w.shape
    Cout = Coutg * groups
    Ho = (H - 1) * stride[0] - 2 * padding[0] + dilation[0] * (R - 1) + output_padding[0] + 1
    Wo = (W - 1) * stride[1] - 2 * padding[1] + dilation[1] * (S - 1) + output_padding[1] + 1
    big = np.zeros((N, Cout, Ho + 2 * padding[0] + stride[0] + dilation[0] * R,
                    Wo + 2 * padding[1] + stride[1] + dilation[1] * S))
    Cing = Cin // groups
    for g in range(groups):
        for r in range(R):
            for s in range(S):
                contrib = np.einsum("nchw,co->nohw", x[:, g * Cing:(g + 1) * Cing],
                                    w[g * Cing:(g + 1) * Cing, :, r, s])
                big[:, g * Coutg:(g + 1) * Coutg,
                    r * dilation[0]: r * dilation[0] + stride[0] * (H - 1) + 1: stride[0],
                    s * dilation[1]: s * dilation[1] + stride[1] * (W - 1) + 1: stride[1]] += contrib
    y = big[:, :, padding[0]:padding[0] + Ho, padding[1]:padding[1] + Wo]
    if bias is not None:
        y = y + bias.astype(np.float64).reshape(1, -1, 1, 1)
    return y
