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

__all__ = ["__version__", "info", "set_backend", "set_isa", "get_isa", "set_num_threads",
           "get_num_threads", "ops"]


def __getattr__(name):
    # nervo.backend is both the subpackage and, for users, the active backend's name.
    if name == "backend_name":
        return _backend_name()
    raise AttributeError(f"module 'nervo' has no attribute {name!r}")
