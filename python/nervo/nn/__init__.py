"""nervo.nn: layers and models with PyTorch's names, parameter shapes and state_dict keys.

Other families add themselves with one import line each (rnn, transformer).
"""
from nervo.nn.module import Module, Parameter, Buffer  # noqa: F401
from nervo.nn.container import *  # noqa: F401,F403
from nervo.nn.linear import *  # noqa: F401,F403
from nervo.nn.conv import *  # noqa: F401,F403
from nervo.nn.pooling import *  # noqa: F401,F403
from nervo.nn.normalization import *  # noqa: F401,F403
from nervo.nn.activation import *  # noqa: F401,F403
from nervo.nn.dropout import *  # noqa: F401,F403
from nervo.nn.flatten import *  # noqa: F401,F403
from nervo.nn.sparse import *  # noqa: F401,F403
from nervo.nn.loss import *  # noqa: F401,F403
from nervo.nn.residual import *  # noqa: F401,F403
from nervo.nn.rnn import *  # noqa: F401,F403
from nervo.nn.transformer import *  # noqa: F401,F403
from nervo.nn import init, utils  # noqa: F401
from nervo import functional  # noqa: F401

import sys as _sys

_sys.modules[__name__ + ".functional"] = functional
del _sys
