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

from ..prefix import split
from .steps import Rates, step_time

#: Rounds that settle the rate and the blended cost of a prompt (a fixed count, so formulas can repeat them).
_ROUNDS = 4

__all__ = [
    "ReplicaLoad",
    "at_concurrency",
    "at_rate",
    "capacity",
    "capacity_of",
    "capacity_top",
    "closed_loop",
    "decode_step",
    "first_wave_ttft",
    "gamma_quantile",
    "independent_loop",
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
    r: Rates,
    s: float,
    n: float,
    B: Any,
    *,
    budget: int,
    mixed: bool,
    front_end_s: float,
    percentile: float | None,
    hit: float = 0.0,
    seen: Any = 1.0,
) -> ReplicaLoad:
    """The replica's load model at mean decode concurrency B (a number or an array of them).

    ``budget`` is the engine's token budget of a step; ``percentile`` in (0, 100), or None for the means only
    (the percentiles are then nan). ``seen`` is the share of the arrivals whose prompts land in a decoding
    request's gaps: 1 for an open stream; (C − 1) / C in a closed loop of C clients, whose own prompt is
    computed before its first token, never between its tokens.

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

    With a prefix-cache hit fraction ``hit``, a prompt is u = max((1 − h) s, 1) tokens computed over c = s − u
    read (llmxl.prefix.split): its chunks, the budget and every step above count u; decodes hold all s.
    """
    B = np.asarray(B, dtype=np.float64)
    ctx = s + (n - 1) / 2  # a decoding sequence's mean context
    spec = r.spec
    steps = max(n - 1, 1e-9) if spec is None else max((n - 1) / spec.tau, 1e-9)  # decode steps per request
    u, c = split(s, hit)
    a = _step(r, B, ctx, 0.0, u, c)
    if mixed:
        room = np.maximum(np.floor(budget - (B if spec is None else B * (spec.k + 1))), 1.0)
        full = np.floor(u / room)  # chunks of a whole budget, then the rest
        rest = u - full * room
        L1 = full * _step(r, B, ctx, room, u, c) + np.where(rest > 0, _step(r, B, ctx, rest, u, c), 0.0)
        chunks = full + (rest > 0)
        delta1 = L1 - chunks * a
        # one more prompt in a step adds its own compute: taken without the decodes, whose memory traffic could
        # otherwise hide it under the roofline's max and make latency fall as load grows
        alone = _step(r, 0.0, ctx, float(u), u, c)  # one prompt alone, and what a second adds: numbers, not arrays
        more = _step(r, 0.0, ctx, 2.0 * u, u, c) - alone
        delta = np.where(chunks > 1, delta1, more)
    else:
        L1 = _step(r, 0.0, ctx, float(u), u, c) + 0.0 * B
        delta1 = L1
        delta = _step(r, 0.0, ctx, 2.0 * u, u, c) - L1
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
        k = poisson_quantile(lam * t * seen, p)
        itl_p = np.where(ok, a + np.where(k >= 1, delta1 + (k - 1) * delta, 0.0), np.inf)
    phi = np.clip(B * cost / (steps * t), 0.0, 1.0)
    with np.errstate(invalid="ignore"):  # the mean gap a decoding request sees: its decodes and the prompts of others
        gap = np.where(np.isfinite(t), t - (t - a) * (1 - np.asarray(seen)), t)
    if spec is not None:  # a step yields tau tokens per sequence: the latency between tokens is a step over tau
        return ReplicaLoad(B, t, lam, _out(gap / spec.tau), _out(itl_p / spec.tau), _out(ttft_mean), _out(ttft_p), L1,
                           rho, phi)  # fmt: skip
    return ReplicaLoad(B, t, lam, _out(gap), _out(itl_p), _out(ttft_mean), _out(ttft_p), L1, rho, phi)


def decode_step(r: Rates, s: float, n: float, B: Any) -> Any:
    """a, a step of B decodes alone at their mean context s + (n − 1) / 2 [s]."""
    B = np.asarray(B, dtype=np.float64)
    return _out(_step(r, B, s + (n - 1) / 2, 0.0, s, 0))


def _out(x: Any) -> Any:
    return float(x) if np.ndim(x) == 0 else x


def _step(r: Rates, D: Any, ctx: float, P: Any, s: float, c: float = 0) -> Any:
    """One step of D decodes at context ctx and P prompt tokens of prompts of s tokens computed (attending s/2)
    over c read from the prefix cache (each computed token attends c + (s + 1) / 2; P / s prompts read c each)."""
    T = r.T
    windowed = bool(T.n_window)
    dw = D * min(ctx, T.window) if windowed else None
    if c:
        attend = P * (c + (s + 1) / 2)
        aw = P * min(c + (s + 1) / 2, T.window) if windowed else None
        cached = P / s * c
        cw = P / s * min(c, T.window) if windowed else None
        return step_time(r, D, D * ctx, P, attend, cached, np.minimum(P / s, 1.0), dw, aw, cw, mx=np.maximum)
    attend = P * (s + 1) / 2
    aw = P * min((s + 1) / 2, T.window) if windowed else None
    return step_time(r, D, D * ctx, P, attend, 0.0, np.minimum(P / s, 1.0), dw, aw, 0.0 if windowed else None,
                     mx=np.maximum)  # fmt: skip


def capacity_top(s: float, n: float, cap: int, *, budget: int, mixed: bool, spec: Any = None, hit: float = 0.0) -> int:
    """The largest mean concurrency the engine's limits allow (see :func:`capacity`), at least 1; the budget
    counts the u prompt tokens computed (llmxl.prefix.split).

    With a speculative decoder (``spec``), each decode takes k + 1 tokens of the budget and a request's prompt
    arrives every (n − 1) / τ steps: B (k + 1) + B u τ / (n − 1) ≤ budget."""
    z = 2.326  # the 99th percentile of a standard normal
    top = math.floor(((-z + math.sqrt(z * z + 4 * cap)) / 2) ** 2) if cap > 0 else 0
    if mixed and n > 1:
        u = split(s, hit)[0]
        if spec is None:
            top = min(top, math.floor(budget * (n - 1) / (u + n - 1)))
        else:
            top = min(top, math.floor(budget * (n - 1) / ((spec.k + 1) * (n - 1) + u * spec.tau)))
    return max(top, 1)


def capacity_of(load: ReplicaLoad) -> tuple[int, float]:
    """(B_max, λ_max) from the load model over B = 1, 2, ... capacity_top: the B whose rate is highest
    among those that do not saturate the prompt budget."""
    lam = np.where(np.asarray(load.budget_use) < 1, load.requests_per_s, 0.0)
    best = int(np.argmax(lam))
    return best + 1, float(lam[best])


def capacity(
    r: Rates, s: float, n: float, cap: int, *, budget: int, mixed: bool, hit: float = 0.0
) -> tuple[int, float]:
    """(B_max, λ_max): the largest mean concurrency the replica sustains and the rate it then serves.

    The sequences on a replica fluctuate about their mean B; the engine's cap (sequences that fit in the
    KV cache, and max_num_seqs: ``cap``) must hold their 99th percentile, B + 2.33 √B (a Poisson count).
    Mixed, the decodes and the prompts' tokens must fit the step's budget: B + B s / (n − 1) ≤ budget.
    Past the B at which λ(B) peaks (prompts batched together cost more than they save), more
    concurrency only queues: B_max is at most that B.
    """
    top = capacity_top(s, n, cap, budget=budget, mixed=mixed, spec=r.spec, hit=hit)
    B = np.arange(1, top + 1, dtype=np.float64)
    return capacity_of(
        at_concurrency(r, s, n, B, budget=budget, mixed=mixed, front_end_s=0.0, percentile=None, hit=hit)
    )


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
    hit: float = 0.0,
) -> ReplicaLoad:
    """The load model of a closed loop: C clients, each sending its next request of s and n tokens when its
    last one ends (``vllm bench serve --max-concurrency C`` with its default, equal lengths). C a number or an
    array.

    Equal requests started together stay in lockstep: they finish in the same steps and send their next
    requests together, so prompts arrive in waves. The engine runs C' = min(C, cap) of them (the others queue
    in front of it); each cycle brings W = C' s prompt tokens, computed in steps of R tokens (mixed: the budget
    less the decodes beside them, R = budget − C'; prefill first: the budget), K = W / R steps' worth:

    - a prefill step carries P = min(W, R) prompt tokens, g = P / s prompts, beside the D = C' − g others'
      decodes (mixed; none prefill first): ⌊K⌋ steps L_R = step(D, R) and, for the rest, L_rest; their mean
      Lp = (⌊K⌋ L_R + L_rest) / ⌈K⌉ (one step(D, W) when K ≤ 1);
    - a prompt spans 1 + (⌈K⌉ − 1) / C' of them on average (the ⌈K⌉ − 1 boundaries between steps fall inside
      prompts): TTFT = f + spans · Lp, its p-quantile taking spans at the whole number below or above;
    - a = step(C' decodes); the prompts of a cycle add T = ⌊K⌋ (L_R − a) + (L_rest − a) over decode steps
      (mixed; prefill first the whole steps, ⌊K⌋ L_R + L_rest), of which a request's own spans steps are its
      TTFT; the other groups' fall in its n − 1 gaps: ITL t = a + (T − spans · o) / (n − 1), o = Lp − a
      (mixed) or Lp;
    - λ = C' / (TTFT + (n − 1) t) (Little's law over the loop), B = λ (n − 1) t decoding on average; the
      C − C' clients beyond the engine's cap wait (C − C') / λ more for their first token.

    That is mixed scheduling, where the waves spread into groups of R tokens, one group's prefill per step.
    Prefill first (SGLang), every waiting prompt is computed before the decodes go on, so the wave stays
    whole: :func:`_lockstep`.
    """
    C = np.asarray(C, dtype=np.float64)
    run = np.minimum(C, np.asarray(cap, dtype=np.float64))  # cap may be an array beside C (calibration scans it)
    ctx = s + (n - 1) / 2
    spec = r.spec
    gaps = max(n - 1, 1e-9) if spec is None else max((n - 1) / spec.tau, 1e-9)  # decode steps per request
    p = percentile / 100
    u, c = split(s, hit)  # the cycle's prompt tokens are the u computed of each (prefix caching)
    a = _step(r, run, ctx, 0.0, u, c)
    decoding = run if spec is None else run * (spec.k + 1)
    room = np.maximum(budget - decoding, 1.0) if mixed else np.full_like(run, float(budget))
    W = run * u
    K = W / room
    per = np.minimum(W, room)
    full = np.floor(K)
    rest = W - full * room
    if not mixed:
        return _lockstep(r, u, n, C, run, a, K, per, full, rest, room, ctx, front_end_s, p, c)
    others = np.maximum(run - per / u, 0.0)
    L_room = _step(r, others, ctx, room, u, c)
    L_rest = np.where(rest > 0, _step(r, others, ctx, np.maximum(rest, 1.0), u, c), 0.0)
    T = full * np.maximum(L_room - a, 0.0) + np.where(rest > 0, np.maximum(L_rest - a, 0.0), 0.0)
    steps = np.ceil(K - 1e-12)
    # the mean prefill step: whole-budget steps and the shorter last one (a prompt one token over the budget
    # spans a full step and a step of one token, not two full ones)
    Lp = (full * L_room + np.where(rest > 0, L_rest, 0.0)) / steps
    own, other = np.maximum(Lp - a, 0.0), np.maximum(L_room - a, 0.0)
    spans = 1 + (steps - 1) / run
    t = a + np.maximum(T - spans * own, 0.0) / gaps
    served = front_end_s + spans * Lp
    lam = run / (served + gaps * t)
    extra = (C - run) / lam  # clients beyond the engine's cap queue for a slot
    lo = np.floor(spans + 1e-12)
    ttft_p = front_end_s + (lo + ((spans - lo) > 1 - p)) * Lp + extra
    share = np.minimum(np.maximum(np.ceil(K - 1e-12) - spans, 0.0) / gaps, 1.0)  # gaps holding a prefill step
    itl_p = np.where(share > 1 - p, a + other, a)
    phi = np.clip(T / (spans * Lp + gaps * t), 0.0, 1.0)
    tau = 1.0 if spec is None else spec.tau
    return ReplicaLoad(_out(lam * gaps * t), _out(t), _out(lam), _out(t / tau), _out(itl_p / tau), _out(served + extra),
                       _out(ttft_p), _out(Lp), _out(np.minimum(K / (spans + gaps), 1.0)), _out(phi))  # fmt: skip


def _lockstep(
    r: Rates, s: float, n: float, C: Any, run: Any, a: Any, K: Any, per: Any, full: Any, rest: Any, room: Any,
    ctx: float, f: float, p: float, c: float = 0,
) -> ReplicaLoad:  # fmt: skip
    """closed_loop prefill first: every waiting prompt is computed before the decodes go on, so the wave never
    spreads. A cycle is T = ⌊K⌋ step(0, R) + step(0, rest) of prompts, then n − 1 steps of the C' decodes. The
    prompts complete in the ⌈K⌉ steps in turn: mean TTFT f + (T / K)(K + 1)/2 (f + T when one step holds them
    all), its p-quantile f + (T / K)⌈p K⌉; a request's gaps hold what prefill follows its own, so
    t = a + (T − (TTFT − f)) / (n − 1); λ = C' / (f + T + (n − 1) a)."""
    tau = 1.0 if r.spec is None else r.spec.tau
    gaps = max(n - 1, 1e-9) if r.spec is None else max((n - 1) / tau, 1e-9)  # decode steps per request
    T = full * _step(r, 0.0, ctx, room, s, c) + np.where(rest > 0, _step(r, 0.0, ctx, np.maximum(rest, 1.0), s, c), 0.0)
    one = K <= 1
    per_step = T / np.where(one, 1.0, K)
    done = np.where(one, T, per_step * (K + 1) / 2)
    lam = run / (f + T + gaps * a)
    extra = (C - run) / lam
    t = a + np.maximum(T - done, 0.0) / gaps
    ttft_p = f + np.where(one, T, per_step * np.ceil(p * K - 1e-12)) + extra
    itl_p = np.where(1 / gaps > 1 - p, a + np.maximum(T - done, 0.0), a)  # one long gap per request
    phi = np.clip(T / (T + gaps * a), 0.0, 1.0)
    Lp = _step(r, 0.0, ctx, per, s, c)
    return ReplicaLoad(_out(lam * gaps * t), _out(t), _out(lam), _out(t / tau), _out(itl_p / tau),
                       _out(f + done + extra), _out(ttft_p), _out(Lp), _out(np.minimum(K / (K + gaps), 1.0)),
                       _out(phi))  # fmt: skip


def independent_loop(
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
    hit: float = 0.0,
) -> ReplicaLoad:
    """The load model of a closed loop of C clients whose requests do not keep in step (C a number or an array).

    Where an engine breaks the waves of a closed loop up (vLLM: chunked prefill puts each prompt's chunks
    into steps with other requests' decodes, and the steps' times differ), the clients' requests arrive at
    the engine independently of one another, and many independent clients arrive as a Poisson stream
    (superposition). The loop is then the rate model (:func:`at_concurrency`) at its own rate: the mean
    decode concurrency B(C') is the one at which the requests in the engine, the B decoding and the λ TTFT
    waiting for or computing their first token (Little's law), are the C' = min(C, cap) clients it runs.
    A request finds the engine as the loop of the other C' − 1 clients keeps it (the arrival theorem of
    closed queues): its TTFT is the rate model's at B(C' − 1), so one client alone waits for nothing but its
    prefill; B then solves B + λ(B) TTFT = C', so that C' = λ (TTFT + (n − 1) t) holds. The C − C' beyond the
    cap wait (C − C') / λ more. The count in the engine grows with B, so each B is found by false position.
    A request's gaps hold the prompts of the other C' − 1 clients, not its own: the mean gap between its
    tokens is a + (t − a)(C' − 1)/C', the step t less the share of the prompts that is its own.
    """
    C = np.asarray(C, dtype=np.float64)
    run = np.minimum(C, np.asarray(cap, dtype=np.float64))  # cap may be an array beside C (calibration scans it)
    kw = dict(budget=budget, mixed=mixed, front_end_s=front_end_s, hit=hit)

    def inside(B: Any, ttft: Any) -> Any:
        """B + λ(B) TTFT, the requests in the engine (TTFT the rate model's own at B, or the one given)."""
        ld = at_concurrency(r, s, n, B, percentile=None, **kw)
        with np.errstate(invalid="ignore"):
            return B + np.asarray(ld.requests_per_s) * (np.asarray(ld.ttft_s) if ttft is None else ttft)

    def solve(clients: Any, ttft: Any = None) -> Any:
        """B at which B + λ(B) TTFT = clients: bracketed on a grid of 257 B from 0 to the clients (each its
        own, so an array gives what each number alone gives), then 6 steps of false position (Illinois) inside
        the bracket; saturation (an infinite TTFT) counts as too many."""
        shape = np.shape(clients)
        clients = np.ravel(clients)  # any shape (calibration scans caps beside concurrencies): solved flat, each
        ttft = None if ttft is None else np.ravel(np.broadcast_to(ttft, shape))  # distinct (count, TTFT) once
        keys = clients[:, None] if ttft is None else np.stack([clients, ttft], axis=1)
        keys, back = np.unique(keys, axis=0, return_inverse=True)
        clients = keys[:, 0]
        ttft = None if ttft is None else keys[:, 1]
        grid = clients[:, None] * np.linspace(0.0, 1.0, 257)[None, :]
        at_grid = at_concurrency(r, s, n, grid, percentile=None, **kw)
        own = np.asarray(at_grid.ttft_s) if ttft is None else ttft[:, None]
        with np.errstate(invalid="ignore"):
            g = grid + np.asarray(at_grid.requests_per_s) * own
        g = np.maximum.accumulate(np.nan_to_num(g, nan=np.inf), axis=1)
        last = grid.shape[1] - 1
        idx = np.clip(np.argmax(g >= clients[:, None], axis=1), 1, last)
        idx = np.where(g[:, -1] < clients, last, idx)
        rows = np.arange(idx.size)
        lo, hi = grid[rows, idx - 1], grid[rows, idx]
        flo, fhi = g[rows, idx - 1] - clients, np.minimum(g[rows, idx], 1e300) - clients
        side = np.zeros_like(lo)
        for _ in range(6):
            with np.errstate(invalid="ignore", divide="ignore"):
                mid = np.where(np.isfinite(fhi) & (fhi > flo), lo - flo * (hi - lo) / (fhi - flo), (lo + hi) / 2)
            mid = np.clip(np.nan_to_num(mid, nan=0.0), lo, hi)
            fm = np.nan_to_num(inside(mid, ttft) - clients, nan=np.inf)
            up = fm >= 0
            hi, fhi = np.where(up, mid, hi), np.where(up, fm, fhi)
            lo, flo = np.where(up, lo, mid), np.where(up, flo, fm)
            # Illinois: halve the stale end's value when the same side moves twice
            flo = np.where(up & (side > 0), flo / 2, flo)
            fhi = np.where(~up & (side < 0), fhi / 2, fhi)
            side = np.where(up, 1.0, -1.0)
        return np.where(np.abs(flo) <= np.abs(fhi), lo, hi)[np.ravel(back)].reshape(shape)

    seen = at_concurrency(r, s, n, solve(run - 1.0), percentile=percentile, **kw)
    B = solve(run, np.asarray(seen.ttft_s))  # Little's law over the loop with the TTFT its requests see
    others = (run - 1.0) / run  # a request's own prompt is computed before its first token, not between its tokens
    ld = at_concurrency(r, s, n, B, percentile=percentile, seen=others, **kw)
    # Little's law over the loop with the gaps a request sees: C' = λ (TTFT + (n − 1) ITL); one client alone
    # then runs exactly one request after another
    with np.errstate(invalid="ignore", divide="ignore"):
        lam = run / (np.asarray(seen.ttft_s) + (n - 1) * np.asarray(ld.itl_s))
    extra = (C - run) / lam
    ttft, ttft_p = np.asarray(seen.ttft_s) + extra, np.asarray(seen.ttft_pct_s) + extra
    fields = {k: _out(np.asarray(v)) for k, v in ld._asdict().items()}
    return ld._replace(**fields)._replace(requests_per_s=_out(lam), ttft_s=_out(ttft), ttft_pct_s=_out(ttft_p),
                                          prefill_s=_out(seen.prefill_s))  # fmt: skip


def first_wave_ttft(
    r: Rates, s: float, n: float, C: Any, *, cap: int, budget: int, front_end_s: float, hit: float = 0.0
) -> Any:
    """Mean time to first token of a closed loop's first requests, which all C clients send at once.

    A benchmark starts its clients together (``vllm bench serve --max-concurrency``, AIPerf's profiling phase
    after its warm-up has drained): the engine takes the first C' = min(C, cap) prompts together and computes
    them in steps of its budget before any of them decodes much, the others waiting for a slot; that is the
    wave of :func:`_lockstep` (prefill first), whatever the engine's scheduling.
    """
    kw = dict(cap=cap, budget=budget, mixed=False, front_end_s=front_end_s, percentile=50.0, hit=hit)
    return closed_loop(r, s, n, C, **kw).ttft_s


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
    hit: float = 0.0,
) -> ReplicaLoad | None:
    """The load model at arrival rate λ: the B whose rate it is (bisection; λ grows with B), None when
    even ``top`` (the largest B the replica holds) serves less than λ: the replica saturates."""
    kw = dict(budget=budget, mixed=mixed, front_end_s=front_end_s, hit=hit)
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
