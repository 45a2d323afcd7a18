"""The Numba backend: every kernel of the native backend, same names and signatures.

Importing this package imports numba; it raises ImportError when numba is missing (the caller
turns that into a message naming the ``nervo[numba]`` extra).
"""
import numba  # noqa: F401  (ImportError here means the extra is missing)

from nervo.backend.numba import act, gemm
from nervo.backend.numba import softmax, loss, dropout, embed, optim
from nervo.backend.numba import conv, pool, norm
from nervo.backend.numba import rnn, attn

KERNELS = {}
for _family in (act, gemm, softmax, loss, dropout, embed, optim, conv, pool, norm, rnn, attn):
    KERNELS.update(_family.KERNELS)
