"""The closed-form load model of a replica (docs/methodology.md, "Load"): what plans and workbooks use.

Requests arrive as a Poisson stream at λ per second, each with s prompt and n completion tokens. In the
steady state a replica decodes B sequences on average; everything follows from B:

- mixed scheduling (vLLM, TensorRT-LLM): each step carries the B decodes and, on average, the prompt
  tokens that arrived meanwhile, P = B s / (n − 1) (λ s tokens per second, a step every t seconds, and
  B = λ (n − 1) t since each request decodes for n − 1 steps). The mean step t = step(B, P) is then
  explicit, and λ = B / ((n − 1) t). The mean inter-token latency is t.
- prefill first (SGLang): decode steps of B sequences, t_d = step(B, 0), stop for prefill steps;
  each prompt costs T1 = step(0, s), so λ = B / ((n − 1) t_d + B T1) and the mean inter-token latency is
  t_d / (1 − λ T1).

Time to first token: the front-end time f, the wait until the next step starts (a step in progress is
uniformly through its time), the wait for prefill capacity (an M/D/1 queue whose server is the prompt
budget: utilisation ρ, mean wait ρ x / (2 (1 − ρ)), waiting with probability ρ, exponentially beyond),
and the step that computes the prompt. A percentile p of the sum takes each part at p.

The same model, term for term, is what the plan workbook writes as formulas. Pure arithmetic on floats
or numpy arrays of B.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from .steps import Rates, step_time

#: Rounds that settle the rate and the blended cost of a prompt (a fixed count, so formulas can repeat them).
_ROUNDS = 4
#: Most steps the closed loop's root search takes (it ends when the bracket is within 1e-10 of C).
_CLOSED_LOOP_STEPS = 100

__all__ = [
    "ReplicaLoad",
    "at_concurrency",
    "at_rate",
    "capacity",
    "capacity_of",
    "capacity_top",
    "closed_loop",
    "decode_step",
    "gamma_quantile",
    "normal_quantile",
    "poisson_quantile",
]


class ReplicaLoad(NamedTuple):
    """A replica decoding B sequences on average (each field a float or an array like B)."""

    concurrency: Any
    """B, sequences decoding on average."""
    step_s: Any
    """Mean time of a step [s]."""
    requests_per_s: Any
    """λ, the arrival rate at which the replica decodes B on average [1/s]."""
    itl_s: Any
    """Mean inter-token latency [s]."""
    itl_pct_s: Any
    """Inter-token latency at the percentile asked for [s]."""
    ttft_s: Any
    """Mean time to first token [s]."""
    ttft_pct_s: Any
    """Time to first token at the percentile asked for [s]."""
    prefill_s: Any
    """The step that computes a prompt [s]."""
    budget_use: Any
    """ρ, the share of the prompt budget (or, prefill first, of the replica's time) prompts take."""
    prompt_share: Any
    """φ, the share of the replica's time spent on prompts (the cost split of prompt and completion)."""


def normal_quantile(p: Any) -> Any:
    """z with Φ(z) = p, p in (0, 1): Acklam's rational approximation (relative error below 1.2e-9).

    Written with logarithms, square roots and one comparison per branch, so the plan workbook computes it
    with the same arithmetic.
    """
    p = np.asarray(p, dtype=np.float64)
    a = (-3.969683028665376e01, 2.209460984245205e02, -2.759285104469687e02, 1.383577518672690e02,
         -3.066479806614716e01, 2.506628277459239e00)  # fmt: skip
    b = (-5.447609879822406e01, 1.615858368580409e02, -1.556989798598866e02, 6.680131188771972e01,
         -1.328068155288572e01)  # fmt: skip
    c = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e00, -2.549732539343734e00,
         4.374664141464968e00, 2.938163982698783e00)  # fmt: skip
    d = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00, 3.754408661907416e00)
    low = 0.02425
    q = p - 0.5
    r = q * q
    central = (
        (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5])
        * q
        / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
    )
    tail_p = np.minimum(p, 1 - p)
    u = np.sqrt(-2 * np.log(np.maximum(tail_p, 1e-300)))
    tail = (((((c[0] * u + c[1]) * u + c[2]) * u + c[3]) * u + c[4]) * u + c[5]) / (
        (((d[0] * u + d[1]) * u + d[2]) * u + d[3]) * u + 1
    )
    z = np.where(tail_p < low, np.where(p < 0.5, tail, -tail), central)
    return float(z) if z.ndim == 0 else z


#: Most prompts one step is counted to carry, in the quantile of the prompts per step.
POISSON_TERMS = 24


def poisson_quantile(mu: Any, p: float) -> Any:
    """The smallest k with P(N ≤ k) ≥ p for N ~ Poisson(mu), counted up to POISSON_TERMS (a fixed number of
    terms, each the one before × mu / k, so the plan workbook repeats it as formulas)."""
    mu = np.asarray(mu, dtype=np.float64)
    term = np.exp(-np.minimum(mu, 700.0))
    cdf = term.copy()
    k = np.zeros_like(mu)
    for j in range(1, POISSON_TERMS + 1):
        below = cdf < p
        if not below.any():  # every count found: the remaining terms change nothing
            break
        k = k + below
        term = term * mu / j
        cdf = cdf + term
    return k


def gamma_quantile(mean: Any, var: Any, p: float) -> Any:
    """The p-quantile of a gamma distribution of this mean and variance (Wilson–Hilferty; within 4 % at
    shapes down to 0.35, within 1 % above 1, for p from 0.5 to 0.99)."""
    mean = np.asarray(mean, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        k = np.where(var > 0, mean * mean / np.maximum(var, 1e-300), np.inf)
        w = 1 / (9 * k)
        c = np.maximum(1 - w + normal_quantile(p) * np.sqrt(w), 0.0)
        q = np.where(np.isfinite(k), mean * c**3, mean)
    return float(q) if q.ndim == 0 else q


def at_concurrency(
    r: Rates, s: float, n: float, B: Any, *, budget: int, mixed: bool, front_end_s: float, percentile: float | None
) -> ReplicaLoad:
    """The replica's load model at mean decode concurrency B (a number or an array of them).

    ``budget`` is the engine's token budget of a step; ``percentile`` in (0, 100), or None for the means only
    (the percentiles are then nan).

    Notes
    -----
    a = step(B decodes); L1 = the step that computes one prompt (mixed: step(B, s), or its chunks of what
    the budget leaves beside the decodes; prefill first: step(0, s)); Δ1 = what the prompt adds (L1 − a,
    mixed; L1, prefill first) and Δ = what one more prompt adds to a step (step(0, 2s) − step(0, s)). The mean gap
    between tokens t = a + B Δ1 / (n − 1); the rate λ = B / ((n − 1) t).

    Time to first token = f + L1 + X, X the wait: for the step in progress (an arrival lands in a step
    uniformly through its time) and for the prompts batched into its own step. Steps form a chain:
    L = a + Δ N, N ~ Poisson(λ L of the step before), so with ρ = λ Δ, E[L] = a / (1 − ρ) and
    Var L = Δ² λ E[L] / (1 − ρ²). Taking L as gamma, the step an arrival lands in is length-biased, and
    X = U ℓ + Δ Poisson(λ ℓ): E[X] = E_b[ℓ] (1/2 + ρ), E[X²] = E_b[ℓ²] (1/3 + ρ + ρ²) + Δ² λ E_b[ℓ]. X's
    percentile is that of a gamma of this mean and variance (Wilson–Hilferty); an idle replica (no sequence
    decoding, no prompt computing: probability exp(−(B + λ L1))) starts a prompt at once. ρ ≥ 1 saturates: inf.
    """
    B = np.asarray(B, dtype=np.float64)
    ctx = s + (n - 1) / 2  # a decoding sequence's mean context
    steps = max(n - 1, 1e-9)
    a = _step(r, B, ctx, 0.0, s)
    if mixed:
        room = np.maximum(np.floor(budget - B), 1.0)
        full = np.floor(s / room)  # chunks of a whole budget, then the rest
        rest = s - full * room
        L1 = full * _step(r, B, ctx, room, s) + np.where(rest > 0, _step(r, B, ctx, rest, s), 0.0)
        chunks = full + (rest > 0)
        delta1 = L1 - chunks * a
        # one more prompt in a step adds its own compute: taken without the decodes, whose memory traffic could
        # otherwise hide it under the roofline's max and make latency fall as load grows
        alone = _step(r, 0.0, ctx, float(s), s)  # one prompt alone, and what a second adds: numbers, not arrays
        more = _step(r, 0.0, ctx, 2.0 * s, s) - alone
        delta = np.where(chunks > 1, delta1, more)
    else:
        L1 = _step(r, 0.0, ctx, float(s), s) + 0.0 * B
        delta1 = L1
        delta = _step(r, 0.0, ctx, 2.0 * s, s) - L1
    # a prompt batched behind another adds Δ rather than Δ1: the mean cost per prompt blends them by the
    # share of prompts that are not first in their step, 1 − P(N ≥ 1) / E[N] with N ~ Poisson(μ),
    # μ = λ a / (1 − λ Δ); λ and μ depend on each other: a few rounds settle them
    cost = delta1
    for _ in range(_ROUNDS):
        t = a + B * cost / steps
        lam = B / (steps * t)
        with np.errstate(divide="ignore", invalid="ignore"):
            mu = np.where(lam * delta < 1, lam * a / np.maximum(1 - lam * delta, 1e-12), np.inf)
            later = np.where(mu > 1e-9, 1 - (1 - np.exp(-mu)) / np.maximum(mu, 1e-300), mu / 2)
        cost = delta1 + np.maximum(delta - delta1, 0.0) * later
    t = a + B * cost / steps
    lam = B / (steps * t)
    rho = lam * delta
    with np.errstate(divide="ignore", invalid="ignore"):
        ok = rho < 1
        rs = np.where(ok, rho, 0.5)
        m = a / (1 - rs)
        v = delta * delta * lam * m / (1 - rs * rs)
        theta = np.where(v > 0, v / m, 0.0)
        k = np.where(v > 0, m / np.maximum(theta, 1e-300), np.inf)
        eb1 = np.where(v > 0, (k + 1) * theta, m)
        eb2 = np.where(v > 0, (k + 1) * (k + 2) * theta * theta, m * m)
        # an arrival waits only when the replica is busy: with probability 1 − exp(−(B + λ L1)), the chance
        # that a sequence is decoding or a prompt computing (a Poisson count of them)
        busy = 1 - np.exp(-(B + lam * L1))
        mean_x = busy * eb1 * (0.5 + rs)
        var_x = busy * (eb2 * (1 / 3 + rs + rs * rs) + delta * delta * lam * eb1) - mean_x * mean_x
    ttft_mean = np.where(ok, front_end_s + L1 + mean_x, np.inf)
    if percentile is None:
        ttft_p = itl_p = np.full_like(ttft_mean, np.nan)
    else:
        p = percentile / 100
        with np.errstate(divide="ignore", invalid="ignore"):
            ttft_p = np.where(ok, front_end_s + L1 + gamma_quantile(mean_x, var_x, p), np.inf)
        # a gap between two tokens is one step: a, lengthened by the k prompts it computes (Δ1 the first, Δ each
        # further one), k the prompts that arrived during a step, Poisson of mean λ t
        k = poisson_quantile(lam * t, p)
        itl_p = np.where(ok, a + np.where(k >= 1, delta1 + (k - 1) * delta, 0.0), np.inf)
    phi = np.clip(B * cost / (steps * t), 0.0, 1.0)
    return ReplicaLoad(B, t, lam, t, _out(itl_p), _out(ttft_mean), _out(ttft_p), L1, rho, phi)


def decode_step(r: Rates, s: float, n: float, B: Any) -> Any:
    """a, a step of B decodes alone at their mean context s + (n − 1) / 2 [s]."""
    B = np.asarray(B, dtype=np.float64)
    return _out(_step(r, B, s + (n - 1) / 2, 0.0, s))


def _out(x: Any) -> Any:
    return float(x) if np.ndim(x) == 0 else x


def _step(r: Rates, D: Any, ctx: float, P: Any, s: float) -> Any:
    """One step of D decodes at context ctx and P prompt tokens of prompts of s tokens (attending s/2)."""
    T = r.T
    attend = P * (s + 1) / 2
    windowed = bool(T.n_window)
    dw = D * min(ctx, T.window) if windowed else None
    aw = P * min((s + 1) / 2, T.window) if windowed else None
    return step_time(r, D, D * ctx, P, attend, 0.0, np.minimum(P / s, 1.0), dw, aw, 0.0 if windowed else None,
                     mx=np.maximum)  # fmt: skip


def capacity_top(s: float, n: float, cap: int, *, budget: int, mixed: bool) -> int:
    """The largest mean concurrency the engine's limits allow (see :func:`capacity`), at least 1."""
    z = 2.326  # the 99th percentile of a standard normal
    top = math.floor(((-z + math.sqrt(z * z + 4 * cap)) / 2) ** 2) if cap > 0 else 0
    if mixed and n > 1:
        top = min(top, math.floor(budget * (n - 1) / (s + n - 1)))
    return max(top, 1)


def capacity_of(load: ReplicaLoad) -> tuple[int, float]:
    """(B_max, λ_max) from the load model over B = 1, 2, ... capacity_top: the B whose rate is highest
    among those that do not saturate the prompt budget."""
    lam = np.where(np.asarray(load.budget_use) < 1, load.requests_per_s, 0.0)
    best = int(np.argmax(lam))
    return best + 1, float(lam[best])


def capacity(r: Rates, s: float, n: float, cap: int, *, budget: int, mixed: bool) -> tuple[int, float]:
    """(B_max, λ_max): the largest mean concurrency the replica sustains and the rate it then serves.

    The sequences on a replica fluctuate about their mean B; the engine's cap (sequences that fit in the
    KV cache, and max_num_seqs: ``cap``) must hold their 99th percentile, B + 2.33 √B (a Poisson count).
    Mixed, the decodes and the prompts' tokens must fit the step's budget: B + B s / (n − 1) ≤ budget.
    Past the B at which λ(B) peaks (prompts batched together cost more than they save), more
    concurrency only queues: B_max is at most that B.
    """
    top = capacity_top(s, n, cap, budget=budget, mixed=mixed)
    B = np.arange(1, top + 1, dtype=np.float64)
    return capacity_of(at_concurrency(r, s, n, B, budget=budget, mixed=mixed, front_end_s=0.0, percentile=None))


def closed_loop(
    r: Rates,
    s: float,
    n: float,
    C: Any,
    *,
    cap: int,
    budget: int,
    mixed: bool,
    front_end_s: float,
    percentile: float,
) -> ReplicaLoad:
    """The load model of a closed loop: C clients, each sending its next request when the last one ends (what
    ``vllm bench serve --max-concurrency C`` runs). C a number or an array.

    Every request is in flight from its send to its last token, so C = B + λ TTFT (Little's law over the
    requests not yet decoding), λ(B) the open model's at mean decode concurrency B. A request arrives to find
    the other C − 1 clients' requests (the arrival theorem of closed queueing networks): its time to first
    token is the open model's at B (C − 1) / C, so one client alone waits for nothing but its own prefill. B
    solves this over [0, min(C, cap)] (a bracketing search, to 1e-10 of C): the engine runs at most ``cap``
    sequences, and past it the others queue, each waiting (C − B − λ TTFT) / λ more.
    """
    C = np.asarray(C, dtype=np.float64)
    kw = dict(budget=budget, mixed=mixed, front_end_s=front_end_s)
    seen = (C - 1) / C

    def both(B: Any, pct: float | None) -> tuple[ReplicaLoad, ReplicaLoad]:
        # the loads at B and at B (C − 1) / C, in one evaluation over both
        B = np.broadcast_to(B, C.shape)
        two = at_concurrency(r, s, n, np.concatenate([B.ravel(), (B * seen).ravel()]), percentile=pct, **kw)
        k = B.size
        return (
            ReplicaLoad(*(np.asarray(v)[:k].reshape(C.shape) for v in two)),
            ReplicaLoad(*(np.asarray(v)[k:].reshape(C.shape) for v in two)),
        )

    top = np.minimum(C, float(cap))

    def excess(B: Any) -> Any:  # requests in flight at B beyond C: rises with B; inf where B saturates
        load, arriving = both(B, None)
        with np.errstate(invalid="ignore"):
            f = B + load.requests_per_s * arriving.ttft_s - C
        return np.where(np.isnan(f), np.inf, f)

    # the root of excess over [0, top]: the step B − excess(B) = C − λ TTFT (requests decoding are those in flight
    # less those waiting for a first token), taken while it stays inside the bracket; else regula falsi with
    # the Illinois step (bisection where a side is inf). The root stays bracketed, as in a bisection.
    lo, hi = np.zeros_like(top), top.copy()
    f_lo, f_hi = -C + 0.0 * top, excess(top)
    bound = f_hi < 0  # even B = top holds fewer than C in flight: the engine runs top, the rest queue
    f_hi = np.where(bound, 1.0, f_hi)
    x, f = hi, f_hi
    side = np.zeros_like(top)  # which end moved last: -1 lo, 1 hi
    tol = 1e-10 * np.maximum(C, 1.0)
    for _ in range(_CLOSED_LOOP_STEPS):
        # each element stops on its own, so an array of loads gives what each load alone gives
        active = ~((hi - lo <= tol) | bound)
        if not active.any():
            break
        with np.errstate(invalid="ignore", divide="ignore"):
            step = x - f
            falsi = np.where(np.isfinite(f_hi), (lo * f_hi - hi * f_lo) / (f_hi - f_lo), (lo + hi) / 2)
        x = np.where((step > lo) & (step < hi), step, np.where((falsi > lo) & (falsi < hi), falsi, (lo + hi) / 2))
        f = excess(x)
        found = active & (np.abs(f) <= tol)
        over = active & ~found & (f >= 0)
        under = active & ~found & ~(f >= 0)
        # Illinois: an end kept twice in a row has its value halved, so the next step moves it too
        f_lo = np.where(over & (side == 1), f_lo / 2, f_lo)
        f_hi = np.where(under & (side == -1), f_hi / 2, f_hi)
        hi, f_hi = np.where(over | found, x, hi), np.where(over, f, f_hi)
        lo, f_lo = np.where(under | found, x, lo), np.where(under, f, f_lo)
        side = np.where(over, 1.0, np.where(under, -1.0, side))
    hi = np.where(bound, top, hi)
    load, arriving = both(hi, percentile)
    # engine-bound: at B = cap the requests in flight fall short of C; the rest wait in the queue before it
    lam = load.requests_per_s
    short = np.isfinite(arriving.ttft_s) & (hi >= top * (1 - 1e-9))
    with np.errstate(invalid="ignore"):
        extra = np.where(short, np.maximum(C - hi - lam * arriving.ttft_s, 0.0) / lam, 0.0)
    return load._replace(
        ttft_s=_out(arriving.ttft_s + extra), ttft_pct_s=_out(arriving.ttft_pct_s + extra), prefill_s=arriving.prefill_s
    )


def at_rate(
    r: Rates,
    s: float,
    n: float,
    rate: float,
    *,
    budget: int,
    mixed: bool,
    front_end_s: float,
    percentile: float,
    top: float,
) -> ReplicaLoad | None:
    """The load model at arrival rate λ: the B whose rate it is (bisection; λ grows with B), None when
    even ``top`` (the largest B the replica holds) serves less than λ: the replica saturates."""
    kw = dict(budget=budget, mixed=mixed, front_end_s=front_end_s)
    hi = float(top)
    if float(at_concurrency(r, s, n, hi, percentile=None, **kw).requests_per_s) < rate:
        return None
    lo = 0.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if float(at_concurrency(r, s, n, mid, percentile=None, **kw).requests_per_s) < rate:
            lo = mid
        else:
            hi = mid
    return at_concurrency(r, s, n, hi, percentile=percentile, **kw)
