"""nervo.functional (also importable as nervo.nn.functional): every differentiable op.

Tensor math (``basic``), activations and softmax, linear/conv/pool/norm layers, dropout,
embedding and losses, with torch.nn.functional's names and argument order. Each op records one
autograd node and calls one ``nervo.ops`` kernel each way where a kernel exists.
"""
from nervo.functional.basic import *  # noqa: F401,F403
from nervo.functional.activation import *  # noqa: F401,F403
from nervo.functional.linear import *  # noqa: F401,F403
from nervo.functional.conv import *  # noqa: F401,F403
from nervo.functional.pool import *  # noqa: F401,F403
from nervo.functional.norm import *  # noqa: F401,F403
from nervo.functional.dropout import *  # noqa: F401,F403
from nervo.functional.loss import *  # noqa: F401,F403
from nervo.functional.recurrent import *  # noqa: F401,F403
from nervo.functional.attention import *  # noqa: F401,F403
from nervo.functional.basic import to, contiguous, getitem  # noqa: F401


def _bind_more_methods():
    from nervo.tensor import Tensor
    from nervo.functional import activation as A
    for name in ("relu", "sigmoid", "tanh", "softmax", "log_softmax", "relu_"):
        setattr(Tensor, name, getattr(A, name))


_bind_more_methods()
del _bind_more_methods
