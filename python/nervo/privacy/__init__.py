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
