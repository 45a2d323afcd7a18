"""nervo: a neural-network library whose hot paths are hand-written C++ kernels.

Floors (each uses only those below): ``nervo.ops`` (NumPy-in/NumPy-out kernels) on top of the
backend (native C++ or numba); Tensor/autograd, ``nervo.nn``, ``nervo.optim`` and the training
tools above. See ``nervo.info()`` for what this installation runs on.
"""
from nervo._version import __version__
from nervo.backend import (
    backend as _backend_name,
    get_isa,
    get_num_threads,
    info,
    set_backend,
    set_isa,
    set_num_threads,
)
from nervo import ops  # noqa: F401
from nervo.tensor import *  # noqa: F401,F403
from nervo.tensor import Tensor, tensor, from_numpy, from_dlpack  # noqa: F401
from nervo.autograd import no_grad, enable_grad, inference_mode, set_grad_enabled, \
    is_grad_enabled, grad  # noqa: F401
from nervo.random import manual_seed, seed, initial_seed, get_rng_state, set_rng_state  # noqa: F401
from nervo import functional  # noqa: F401
from nervo.functional.basic import *  # noqa: F401,F403
from nervo.functional.activation import relu, sigmoid, tanh, softmax, log_softmax  # noqa: F401
from nervo import autograd, nn, optim  # noqa: F401
from nervo.io import save, load  # noqa: F401

__all__ = ["__version__", "info", "set_backend", "set_isa", "get_isa", "set_num_threads",
           "get_num_threads", "ops", "Tensor", "tensor", "from_numpy", "from_dlpack", "no_grad",
           "enable_grad", "inference_mode", "set_grad_enabled", "is_grad_enabled", "grad",
           "manual_seed", "nn", "optim", "functional", "autograd", "save", "load"]


def __getattr__(name):
    # nervo.backend is both the subpackage and, for users, the active backend's name.
    if name == "backend_name":
        return _backend_name()
    raise AttributeError(f"module 'nervo' has no attribute {name!r}")
