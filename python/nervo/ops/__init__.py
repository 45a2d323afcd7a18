"""nervo.ops: stateless NumPy-in / NumPy-out kernels, forward and backward.

The embeddable layer: every function takes and returns numpy arrays, runs on the active backend
(native C++ or numba) and validates its arguments with clear errors.
"""
from nervo.ops.act import *  # noqa: F401,F403
from nervo.ops.gemm import gemm, matmul, peak_gflops  # noqa: F401
from nervo.ops.softmax import *  # noqa: F401,F403
from nervo.ops.loss import *  # noqa: F401,F403
from nervo.ops.dropout import *  # noqa: F401,F403
from nervo.ops.embed import *  # noqa: F401,F403
from nervo.ops.optim import *  # noqa: F401,F403
# NOTE: the softmax and dropout modules are shadowed by their functions of the same name here;
# reach the modules through sys.modules["nervo.ops.softmax"] if ever needed.
from nervo.ops import act, loss, embed, optim  # noqa: F401,E402
from nervo.ops.conv import *  # noqa: F401,F403
from nervo.ops import conv  # noqa: F401
from nervo.ops.pool import *  # noqa: F401,F403
from nervo.ops import pool  # noqa: F401
from nervo.ops.norm import *  # noqa: F401,F403
from nervo.ops import norm  # noqa: F401
from nervo.ops.rnn import *  # noqa: F401,F403,E402
from nervo.ops.attn import *  # noqa: F401,F403,E402
from nervo.ops import rnn, attn  # noqa: F401,E402
