"""Prefill and decode pools of a disaggregated fleet (docs/methodology.md, "Disaggregated prefill and decode").

A disaggregated fleet (xPyD) runs prompts on x prefill instances and decodes on y decode instances, each an
engine instance of its own layout; every prompt's KV cache crosses from the prefill GPUs to the decode GPUs.

- A prefill instance computes prompts only: one prompt takes L1 = step(0, u) (u the tokens it computes, in
  chunks of the step's token budget when longer), and prompts queue for it as an M/D/1 queue of service L1:
  ρ = λ L1, a mean wait ρ L1 / (2 (1 − ρ)), waiting with probability ρ and exponentially beyond, so the wait at
  percentile p is 0 when ρ ≤ 1 − p, else θ ln(ρ / (1 − p)) with θ = L1 / (2 (1 − ρ)). Engines batch prompts that
  wait together, which saves a step's fixed cost per prompt batched; the queue here does not count that saving.
- A decode instance runs B decodes and no prompt chunks: its step a(B) = step(B, 0) is the inter-token latency
  (over τ with a speculative decoder), at every percentile, and it serves λ = B τ / ((n − 1) a(B)).
- The KV transfer of one prompt: the bytes the prefill instance stores for s tokens (every GPU of the
  data-parallel rank that holds the sequence), sent by its GPUs and received by the decode rank's GPUs in
  parallel, over the link their GPUs share, plus its latency.

Pure arithmetic on floats, beside the closed-form load model (llmxl.load.queueing).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..prefix import split
from .queueing import _step, capacity_top

__all__ = [
    "decode_pool",
    "kv_transfer_s",
    "prefill_rate",
    "prefill_step",
    "prefill_wait_pct_s",
    "prefill_wait_s",
]

#: Bisection steps that settle the prefill utilisation at a wait (ρ to 2^-80 of [1 − p, 1)).
_BISECTIONS = 80


def prefill_step(r: Any, s: float, n: float, budget: int, hit: float = 0.0) -> float:
    """L1, the time a prefill instance computes one prompt alone [s]: its u computed tokens (llmxl.prefix.split)
    in steps of at most ``budget`` tokens, step(0, budget) for each whole budget and step(0, rest) for the rest."""
    u, c = split(s, hit)
    ctx = s + (n - 1) / 2
    full = math.floor(u / budget)
    rest = u - full * budget
    whole = full * float(_step(r, 0.0, ctx, float(budget), u, c)) if full else 0.0
    return whole + (float(_step(r, 0.0, ctx, float(rest), u, c)) if rest > 0 else 0.0)


def prefill_wait_s(rate: float, L1: float) -> float:
    """Mean wait of a prompt for a prefill instance, M/D/1 of service L1: ρ L1 / (2 (1 − ρ)), ρ = λ L1 [s]."""
    rho = rate * L1
    return math.inf if rho >= 1 else rho * L1 / (2 * (1 - rho))


def prefill_wait_pct_s(rate: float, L1: float, percentile: float) -> float:
    """The wait at ``percentile``: 0 when ρ ≤ 1 − p, else L1 / (2 (1 − ρ)) · ln(ρ / (1 − p)) [s]."""
    rho, q = rate * L1, 1 - percentile / 100
    if rho >= 1:
        return math.inf
    return 0.0 if rho <= q else L1 / (2 * (1 - rho)) * math.log(rho / q)


def prefill_rate(L1: float, wait_s: float, percentile: float) -> float:
    """The largest arrival rate at which a prefill instance's wait at ``percentile`` is at most ``wait_s`` [1/s]:
    ρ by bisection on [1 − p, 1) (the wait grows with ρ), over L1; 0 when ``wait_s`` is negative."""
    if wait_s < 0:
        return 0.0
    q = 1 - percentile / 100
    lo, hi = q, 1.0
    for _ in range(_BISECTIONS):
        mid = (lo + hi) / 2
        if L1 / (2 * (1 - mid)) * math.log(mid / q) <= wait_s:
            lo = mid
        else:
            hi = mid
    return lo / L1


def decode_pool(r: Any, s: float, n: float, cap: int, budget: int) -> tuple[int, Any, Any, Any]:
    """A decode instance at B = 1 ... B_top: (B_top, a(B) [s], ITL(B) [s], λ(B) [1/s]) as arrays over B.

    B_top is the largest mean concurrency its sequences allow (B + 2.33 √B ≤ ``cap``, llmxl.load.queueing.
    capacity_top) with every decode's k + 1 tokens within the step's ``budget``; a(B) = step(B decodes, no
    prompt), ITL = a / τ, λ = B τ / ((n − 1) a)."""
    tau, v = (1.0, 1) if r.spec is None else (r.spec.tau, r.spec.k + 1)
    top = max(min(capacity_top(s, n, cap, budget=budget, mixed=False), budget // v), 1)
    B = np.arange(1, top + 1, dtype=np.float64)
    a = np.asarray(_step(r, B, s + (n - 1) / 2, 0.0, s, 0), dtype=np.float64)
    return top, a, a / tau, B * tau / (max(n - 1, 1e-9) * a)


def kv_transfer_s(prompt_bytes: float, senders: int, receivers: int, link_bps: float, latency_s: float) -> float:
    """Seconds to move one prompt's KV cache of ``prompt_bytes`` from ``senders`` GPUs to ``receivers`` GPUs:
    prompt_bytes / (min(senders, receivers) · link) + latency (each GPU's link carries its share at once)."""
    return prompt_bytes / (min(senders, receivers) * link_bps) + latency_s
