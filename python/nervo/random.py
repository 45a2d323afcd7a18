"""The global random state: parameter initialization, dropout masks, random tensors.

One NumPy ``Generator`` (PCG64) seeded by :func:`manual_seed`. Kernels that draw random numbers
(dropout) take a 64-bit seed drawn from it, so a seed fixes every mask. nervo's stream differs
from torch's: the same seed gives different numbers in the two frameworks (tests that compare
with torch copy weights instead).
"""
from __future__ import annotations

import numpy as np

__all__ = ["manual_seed", "seed", "initial_seed", "get_rng_state", "set_rng_state", "generator"]

_DEFAULT_SEED = 67280421310721
_state = {"seed": _DEFAULT_SEED, "gen": np.random.Generator(np.random.PCG64(_DEFAULT_SEED))}


def manual_seed(seed: int):
    """Seed nervo's global generator (torch.manual_seed). Returns the generator."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"nervo.manual_seed: seed must be an int, got {type(seed).__name__}")
    seed = int(seed) & 0xFFFF_FFFF_FFFF_FFFF
    _state["seed"] = seed
    _state["gen"] = np.random.Generator(np.random.PCG64(seed))
    return _state["gen"]


def seed() -> int:
    """Seed from OS entropy; returns the seed used."""
    s = int(np.random.SeedSequence().entropy) & 0xFFFF_FFFF_FFFF_FFFF
    manual_seed(s)
    return s


def initial_seed() -> int:
    return _state["seed"]


def generator() -> np.random.Generator:
    """The global generator (changes identity on every manual_seed)."""
    return _state["gen"]


def get_rng_state() -> dict:
    """A copy of the generator's state (a plain dict; JSON-serializable)."""
    return {"seed": _state["seed"], "bit_generator": _state["gen"].bit_generator.state}


def set_rng_state(state: dict) -> None:
    gen = np.random.Generator(np.random.PCG64())
    gen.bit_generator.state = state["bit_generator"]
    _state["seed"] = state.get("seed", _state["seed"])
    _state["gen"] = gen


def next_seed() -> int:
    """A 63-bit seed for a kernel that draws its own random numbers (dropout)."""
    return int(_state["gen"].integers(0, 2**63 - 1))
