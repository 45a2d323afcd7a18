"""Differential privacy: an RDP accountant for the sampled Gaussian mechanism, and DP-SGD.

``get_privacy_spent`` / ``get_noise_multiplier`` / :class:`RDPAccountant` answer "how much privacy
does this training run spend" (NumPy only). DP-SGD (per-sample gradients, clipping, noise,
Poisson sampling) wraps a model and optimizer with :func:`make_private`.
"""
from nervo.privacy.accountant import (
    DEFAULT_ORDERS,
    RDPAccountant,
    compute_rdp,
    get_noise_multiplier,
    get_privacy_spent,
    rdp_to_epsilon,
)

__all__ = ["DEFAULT_ORDERS", "RDPAccountant", "compute_rdp", "get_noise_multiplier",
           "get_privacy_spent", "rdp_to_epsilon"]
_ENGINE = ("DPDataLoader", "DPOptimizer", "make_private", "per_sample_gradients",
           "replace_batchnorm")
__all__ += list(_ENGINE)


def __getattr__(name):
    # DP-SGD needs nervo.nn; the accountant does not. Import the engine on first use so that
    # ``nervo.privacy.get_privacy_spent`` stays a NumPy-only import.
    if name in _ENGINE:
        from nervo.privacy import engine
        return getattr(engine, name)
    raise AttributeError(f"module 'nervo.privacy' has no attribute {name!r}")
