"""nervo.ops: stateless NumPy-in / NumPy-out kernels, forward and backward.

The embeddable layer: every function takes and returns numpy arrays, runs on the active backend
(native C++ or numba) and validates its arguments with clear errors.
"""
from nervo.ops.act import *  # noqa: F401,F403
from nervo.ops import act  # noqa: F401
from nervo.ops.rnn import *  # noqa: F401,F403
from nervo.ops import rnn  # noqa: F401
from nervo.ops.attn import *  # noqa: F401,F403
from nervo.ops import attn  # noqa: F401
from nervo.ops.gemm import gemm, matmul, peak_gflops  # noqa: F401
