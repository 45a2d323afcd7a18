"""NumPy reference of nervo's dropout RNG: Philox4x32-10, vectorized over blocks (uint64 math)."""
import numpy as np

_M = np.uint64(0xFFFFFFFF)


def philox4x32_10(c0, c1, k0, k1):
    """Four uint32 words (as uint64 arrays) for counters (c0, c1, 0, 0), key (k0, k1)."""
    c0 = np.asarray(c0, np.uint64)
    c1 = np.asarray(c1, np.uint64)
    c2 = np.zeros_like(c0)
    c3 = np.zeros_like(c0)
    k0, k1 = np.uint64(k0), np.uint64(k1)
    for r in range(10):
        if r:
            k0 = (k0 + np.uint64(0x9E3779B9)) & _M
            k1 = (k1 + np.uint64(0xBB67AE85)) & _M
        p0 = np.uint64(0xD2511F53) * c0
        p1 = np.uint64(0xCD9E8D57) * c2
        c0, c1, c2, c3 = (p1 >> np.uint64(32)) ^ c1 ^ k0, p1 & _M, (p0 >> np.uint64(32)) ^ c3 ^ k1, p0 & _M
    return c0, c1, c2, c3


def keep_mask(n, p, seed, offset=0):
    e = np.uint64(offset) + np.arange(n, dtype=np.uint64)
    block = e >> np.uint64(2)
    words = philox4x32_10(block & _M, block >> np.uint64(32), seed & 0xFFFFFFFF, seed >> 32)
    u = np.choose((e & np.uint64(3)).astype(np.int64), words) if n else np.zeros(0, np.uint64)
    t = p * 4294967296.0
    thr = (1 << 32) if t >= 4294967296.0 else int(t + 0.5)
    return u >= np.uint64(thr) if thr < (1 << 32) else np.zeros(n, bool)


def dropout(x, p, seed, offset=0):
    keep = keep_mask(x.size, p, seed, offset).reshape(x.shape)
    scale = x.dtype.type(1.0 / (1.0 - p))
    return np.where(keep, x * scale, x.dtype.type(0))
