"""Privacy accounting for DP-SGD: Renyi differential privacy (RDP) of the sampled Gaussian mechanism.

Vocabulary: ``q`` sampling rate (each example joins a batch independently with probability q,
Poisson sampling), ``sigma`` noise multiplier (noise std / clipping norm), ``T`` steps,
``alpha`` an RDP order (> 1), ``delta`` the target failure probability.

One step of DP-SGD is the sampled Gaussian mechanism (SGM). Its RDP at order ``alpha`` is
``log(A_alpha) / (alpha - 1)`` with ``A_alpha = E_{z ~ N(0, sigma^2)}[(1 - q + q e^{(2z - 1) /
(2 sigma^2)})^alpha]`` (Mironov, Talwar, Zhang 2019, "Renyi Differential Privacy of the Sampled
Gaussian Mechanism", Sec. 3.3): a finite binomial sum for integer alpha, two converging series
with erfc weights for fractional alpha. RDP composes additively over steps, and is converted to
(epsilon, delta)-DP with the bound of Balle et al. 2020 ("Hypothesis testing interpretations and
Renyi DP", Thm. 21), the one Opacus and TF-Privacy use:
``eps = rdp - (log(delta) + log(alpha)) / (alpha - 1) + log((alpha - 1) / alpha)``,
minimized over the orders. ``conversion="classic"`` uses Mironov 2017's
``eps = rdp + log(1 / delta) / (alpha - 1)`` (looser).
"""
from __future__ import annotations

import math

import numpy as np

# Opacus' and TF-Privacy's default orders: fine steps near 1 (needed for large epsilon), then
# integers up to 63 (the optimum for epsilon ~ 0.1..10 at delta ~ 1e-5 lies between 2 and 40).
DEFAULT_ORDERS = tuple([1 + x / 10.0 for x in range(1, 100)] + list(range(12, 64)))

_CONVERSIONS = ("balle2020", "classic")


def _log_add(a: float, b: float) -> float:
    """``log(e^a + e^b)`` without overflow."""
    lo, hi = min(a, b), max(a, b)
    if lo == -math.inf:
        return hi
    return hi + math.log1p(math.exp(lo - hi))


def _log_sub(a: float, b: float) -> float:
    """``log(e^a - e^b)`` for ``a >= b``."""
    if b == -math.inf:
        return a
    if a == b:
        return -math.inf
    if a < b:
        raise ValueError("nervo.privacy: internal error, log of a negative number")
    # a - b may be tiny: expm1 keeps the precision.
    return a + math.log(-math.expm1(b - a))


def _log_erfc(x: float) -> float:
    """``log(erfc(x))``, accurate also where ``erfc`` underflows (x > ~26)."""
    if x < 20.0:
        return math.log(math.erfc(x))
    # Asymptotic expansion: erfc(x) = e^{-x^2} / (x sqrt(pi)) * (1 - 1/(2x^2) + 3/(4x^4) - ...);
    # at x >= 20 the terms shrink by >= 1/400 each, so 5 terms are exact to double precision.
    r = 1.0 / (2.0 * x * x)
    series = 1.0 - r + 3 * r * r - 15 * r ** 3 + 105 * r ** 4
    return -x * x - math.log(x) - 0.5 * math.log(math.pi) + math.log(series)


def _log_a_int(q: float, sigma: float, alpha: int) -> float:
    """``log(A_alpha)`` for integer alpha: ``sum_k C(alpha, k) (1-q)^(alpha-k) q^k e^{(k^2-k)/(2 sigma^2)}``."""
    log_a = -math.inf
    for k in range(alpha + 1):
        term = (math.lgamma(alpha + 1) - math.lgamma(k + 1) - math.lgamma(alpha - k + 1)
                + k * math.log(q) + (alpha - k) * math.log1p(-q)
                + (k * k - k) / (2.0 * sigma * sigma))
        log_a = _log_add(log_a, term)
    return log_a


def _log_a_frac(q: float, sigma: float, alpha: float) -> float:
    """``log(A_alpha)`` for fractional alpha: Mironov et al. 2019, Sec. 3.3, split at
    ``z0 = sigma^2 log(1/q - 1) + 1/2`` into two series ``A = A0 + A1`` summed until both terms
    drop below ``e^-30`` of the running sum's scale. Generalized binomials change sign, so the
    positive and negative parts are accumulated in log space separately."""
    log_a0, log_a1 = -math.inf, -math.inf
    z0 = sigma * sigma * math.log(1.0 / q - 1.0) + 0.5
    log_q, log_1mq = math.log(q), math.log1p(-q)
    i = 0
    while True:
        # Generalized binomial C(alpha, i): sign flips when i - 1 passes alpha.
        coef_log = _log_binom_real(alpha, i)
        coef_positive = _binom_sign(alpha, i) > 0
        j = alpha - i
        log_t0 = coef_log + i * log_q + j * log_1mq
        log_t1 = coef_log + j * log_q + i * log_1mq
        log_e0 = math.log(0.5) + _log_erfc((i - z0) / (math.sqrt(2.0) * sigma))
        log_e1 = math.log(0.5) + _log_erfc((z0 - j) / (math.sqrt(2.0) * sigma))
        log_s0 = log_t0 + (i * i - i) / (2.0 * sigma * sigma) + log_e0
        log_s1 = log_t1 + (j * j - j) / (2.0 * sigma * sigma) + log_e1
        if coef_positive:
            log_a0 = _log_add(log_a0, log_s0)
            log_a1 = _log_add(log_a1, log_s1)
        else:
            log_a0 = _log_sub(log_a0, log_s0)
            log_a1 = _log_sub(log_a1, log_s1)
        i += 1
        if max(log_s0, log_s1) < -30 and i > alpha:
            break
        if i > 100_000:
            raise RuntimeError(f"nervo.privacy: RDP series did not converge (q={q}, sigma={sigma}, "
                               f"alpha={alpha})")
    return _log_add(log_a0, log_a1)


def _binom_sign(alpha: float, i: int) -> int:
    s = 1
    for m in range(i):
        if alpha - m < 0:
            s = -s
    return s


def _log_binom_real(alpha: float, i: int) -> float:
    """``log|C(alpha, i)|`` for real alpha > 0 and integer i >= 0 (lgamma is log|Gamma| for
    negative non-integer arguments too)."""
    return math.lgamma(alpha + 1) - math.lgamma(i + 1) - math.lgamma(alpha - i + 1)


def _rdp_one(q: float, sigma: float, alpha: float) -> float:
    """RDP of one step of the sampled Gaussian mechanism at order alpha."""
    if q == 0:
        return 0.0
    if sigma == 0:
        return math.inf
    if math.isinf(alpha):
        return math.inf
    if q == 1.0:
        return alpha / (2.0 * sigma * sigma)
    if float(alpha).is_integer():
        return _log_a_int(q, sigma, int(alpha)) / (alpha - 1)
    return _log_a_frac(q, sigma, float(alpha)) / (alpha - 1)


def _check_q_sigma(call, sample_rate, noise_multiplier, steps):
    q = float(sample_rate)
    if not (0.0 <= q <= 1.0) or math.isnan(q):
        raise ValueError(f"{call}: sample_rate must be in [0, 1], got {sample_rate}")
    s = float(noise_multiplier)
    if not (s >= 0.0) or math.isinf(s):
        raise ValueError(f"{call}: noise_multiplier must be finite and >= 0, got {noise_multiplier}")
    if int(steps) != steps or steps < 0:
        raise ValueError(f"{call}: steps must be a non-negative integer, got {steps}")
    return q, s, int(steps)


def _check_orders(call, orders):
    arr = np.atleast_1d(np.asarray(orders, dtype=np.float64))
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{call}: orders must be a non-empty 1-D sequence, got shape {arr.shape}")
    if np.any(~(arr > 1.0)):
        raise ValueError(f"{call}: every RDP order must be > 1, got {arr[~(arr > 1.0)].tolist()}")
    return arr


def compute_rdp(sample_rate: float, noise_multiplier: float, steps: int, orders=DEFAULT_ORDERS):
    """RDP of ``steps`` compositions of the sampled Gaussian mechanism, one value per order.

    ``rdp(alpha) = steps * log(A_alpha) / (alpha - 1)``.

    Args:
        sample_rate: ``q``, the Poisson sampling probability of each example per step.
        noise_multiplier: ``sigma``, Gaussian noise std divided by the clipping norm.
        steps: number of steps ``T``.
        orders: RDP orders ``alpha > 1`` (scalar or sequence).
    Returns:
        float64 array like ``orders`` (a float for a scalar order).
    Raises:
        ValueError: q outside [0, 1], sigma < 0, steps < 0, an order <= 1.

    Example:
        >>> round(float(compute_rdp(0.1, 2.0, 10, 5)), 5)   # TF-Privacy's test value 0.07737
        0.07737
    """
    call = "nervo.privacy.compute_rdp"
    q, s, t = _check_q_sigma(call, sample_rate, noise_multiplier, steps)
    arr = _check_orders(call, orders)
    out = np.array([_rdp_one(q, s, a) * t if t else 0.0 for a in arr], np.float64)
    return float(out[0]) if np.ndim(orders) == 0 else out


def rdp_to_epsilon(orders, rdp, delta: float, conversion: str = "balle2020"):
    """``(epsilon, best_order)`` from RDP values: the smallest bound over the orders.

    Raises:
        ValueError: delta outside (0, 1), mismatched lengths, unknown conversion.
    """
    call = "nervo.privacy.rdp_to_epsilon"
    if not (0.0 < float(delta) < 1.0):
        raise ValueError(f"{call}: delta must be in (0, 1), got {delta}")
    if conversion not in _CONVERSIONS:
        raise ValueError(f"{call}: conversion must be one of {_CONVERSIONS}, got {conversion!r}")
    a = _check_orders(call, orders)
    r = np.atleast_1d(np.asarray(rdp, dtype=np.float64))
    if r.shape != a.shape:
        raise ValueError(f"{call}: {a.size} orders but {r.size} RDP values")
    if np.any(np.isnan(r)) or np.any(r < 0):
        raise ValueError(f"{call}: RDP values must be >= 0 and not NaN")
    if conversion == "classic":
        eps = r + math.log(1.0 / delta) / (a - 1)
    else:
        with np.errstate(invalid="ignore"):
            eps = r - (math.log(delta) + np.log(a)) / (a - 1) + np.log((a - 1) / a)
    eps = np.where(np.isnan(eps), np.inf, eps)
    i = int(np.argmin(eps))
    # epsilon is never negative: (0, delta)-DP always holds as a floor of the bound.
    return max(float(eps[i]), 0.0), float(a[i])


def get_privacy_spent(*, sample_rate: float, noise_multiplier: float, steps: int, delta: float,
                      orders=DEFAULT_ORDERS, conversion: str = "balle2020"):
    """``(epsilon, best_order)`` after ``steps`` DP-SGD steps at (sample_rate, noise_multiplier).

    Example:
        >>> eps, _ = get_privacy_spent(sample_rate=0.01, noise_multiplier=4.0, steps=10_000, delta=1e-5)
        >>> eps < 1.26     # Abadi et al. 2016, Sec. 3.1: moments accountant gives eps ~ 1.26
        True
    """
    rdp = compute_rdp(sample_rate, noise_multiplier, steps, orders)
    return rdp_to_epsilon(orders, rdp, delta, conversion)


def get_noise_multiplier(target_epsilon: float, delta: float, sample_rate: float, steps: int, *,
                         orders=DEFAULT_ORDERS, epsilon_tolerance: float = 0.01,
                         conversion: str = "balle2020") -> float:
    """The smallest noise multiplier (within ``epsilon_tolerance``) whose epsilon after ``steps``
    steps at ``sample_rate`` is <= ``target_epsilon``. Bisection on sigma (epsilon falls
    monotonically as sigma grows).

    Raises:
        ValueError: target_epsilon <= 0, or no sigma up to 2^20 reaches it.

    Example:
        >>> s = get_noise_multiplier(3.0, 1e-5, 256 / 60000, 60 * 60000 // 256)
        >>> eps, _ = get_privacy_spent(sample_rate=256 / 60000, noise_multiplier=s,
        ...                            steps=60 * 60000 // 256, delta=1e-5)
        >>> 2.99 <= eps <= 3.0
        True
    """
    call = "nervo.privacy.get_noise_multiplier"
    if not (float(target_epsilon) > 0) or math.isinf(float(target_epsilon)):
        raise ValueError(f"{call}: target_epsilon must be finite and > 0, got {target_epsilon}")
    if not (0.0 < float(delta) < 1.0):
        raise ValueError(f"{call}: delta must be in (0, 1), got {delta}")
    _check_q_sigma(call, sample_rate, 1.0, steps)
    if not (epsilon_tolerance > 0):
        raise ValueError(f"{call}: epsilon_tolerance must be > 0, got {epsilon_tolerance}")

    def eps(sigma):
        return get_privacy_spent(sample_rate=sample_rate, noise_multiplier=sigma, steps=steps,
                                 delta=delta, orders=orders, conversion=conversion)[0]

    lo, hi = 0.0, 10.0
    while eps(hi) > target_epsilon:
        lo, hi = hi, 2 * hi
        if hi > 2.0 ** 20:
            raise ValueError(f"{call}: no noise multiplier reaches epsilon={target_epsilon} at "
                             f"delta={delta}, sample_rate={sample_rate}, steps={steps}")
    e_hi = eps(hi)
    while target_epsilon - e_hi > epsilon_tolerance:
        mid = (lo + hi) / 2
        e_mid = eps(mid)
        if e_mid < target_epsilon:
            hi, e_hi = mid, e_mid
        else:
            lo = mid
        if hi - lo < 1e-9:
            break
    return float(hi)


class RDPAccountant:
    """Tracks the privacy spent by a run of DP-SGD steps (possibly with changing noise or rate).

    ``step(noise_multiplier, sample_rate)`` records one step (consecutive equal steps are merged);
    ``get_epsilon(delta)`` reports the epsilon spent so far.

    Example:
        >>> acc = RDPAccountant()
        >>> for _ in range(100): acc.step(noise_multiplier=1.0, sample_rate=0.01)
        >>> acc.history
        [(1.0, 0.01, 100)]
        >>> 0 < acc.get_epsilon(1e-5) < 2
        True
    """

    def __init__(self, orders=DEFAULT_ORDERS):
        self.orders = tuple(float(a) for a in _check_orders("RDPAccountant", orders))
        self.history: list[tuple[float, float, int]] = []

    def step(self, *, noise_multiplier: float, sample_rate: float, steps: int = 1) -> None:
        q, s, t = _check_q_sigma("RDPAccountant.step", sample_rate, noise_multiplier, steps)
        if self.history and self.history[-1][:2] == (s, q):
            self.history[-1] = (s, q, self.history[-1][2] + t)
        else:
            self.history.append((s, q, t))

    @property
    def steps(self) -> int:
        return sum(t for _, _, t in self.history)

    def rdp(self) -> np.ndarray:
        total = np.zeros(len(self.orders))
        for s, q, t in self.history:
            total += compute_rdp(q, s, t, self.orders)
        return total

    def get_privacy_spent(self, delta: float, conversion: str = "balle2020"):
        """``(epsilon, best_order)``; epsilon is 0 before any step."""
        if not self.history:
            if not (0.0 < float(delta) < 1.0):
                raise ValueError(f"RDPAccountant.get_privacy_spent: delta must be in (0, 1), got {delta}")
            return 0.0, float(self.orders[0])
        return rdp_to_epsilon(self.orders, self.rdp(), delta, conversion)

    def get_epsilon(self, delta: float) -> float:
        return self.get_privacy_spent(delta)[0]

    def state_dict(self) -> dict:
        return {"orders": list(self.orders), "history": [list(h) for h in self.history]}

    def load_state_dict(self, state: dict) -> None:
        orders = tuple(float(a) for a in _check_orders("RDPAccountant.load_state_dict", state["orders"]))
        hist = [(float(s), float(q), int(t)) for s, q, t in state["history"]]
        self.orders, self.history = orders, hist

    def __repr__(self) -> str:
        return f"RDPAccountant(steps={self.steps}, phases={len(self.history)})"
