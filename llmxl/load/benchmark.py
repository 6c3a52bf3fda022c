"""The benchmark's side of a simulation: what ``vllm bench serve`` sends (prompt and completion lengths, send
times) and what it reports (:class:`SimulationResult`, means and percentiles); llmxl.load.simulate runs the
engine between the two.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

__all__ = ["SimulationResult", "arrivals", "lengths"]


@dataclass(frozen=True)
class SimulationResult:
    """What a benchmark run of the configuration would print (times in seconds, rates per second).

    Attributes
    ----------
    ttft_s, ttft_p50_s, ttft_p90_s, ttft_p99_s : Time to first token: mean, median, 90th and 99th
        percentile over requests, as the client measures it (front-end time included) [s].
    tpot_s ... : Time per output token of each request, (E2E − TTFT) / (n − 1) [s].
    itl_s ... : Inter-token latency, every gap between two tokens of a request [s].
    e2e_s ... : End-to-end latency of a request [s].
    requests_per_s, output_tokens_per_s, total_tokens_per_s : Completed requests, generated tokens and
        all tokens (prompt and generated) per second over the run's duration.
    duration_s : From the first request sent to the last one finished [s].
    peak_concurrency : Most sequences running on the engine at once.
    mean_concurrency : Requests on the engine (waiting, prefilling or decoding), averaged over the run.
    kv_cache_peak_fraction : Largest share of the KV cache in use.
    preemptions : Sequences the engine evicted (and recomputed) for lack of KV cache.
    steps : Engine steps the run took.
    """

    model: str
    gpu: str
    dtype: str
    engine: str
    tp: int
    pp: int
    num_requests: int
    prompt_tokens: float
    completion_tokens: float
    max_concurrency: int | None
    request_rate: float
    duration_s: float
    requests_per_s: float
    output_tokens_per_s: float
    total_tokens_per_s: float
    ttft_s: float
    ttft_p50_s: float
    ttft_p90_s: float
    ttft_p99_s: float
    tpot_s: float
    tpot_p50_s: float
    tpot_p90_s: float
    tpot_p99_s: float
    itl_s: float
    itl_p50_s: float
    itl_p90_s: float
    itl_p99_s: float
    e2e_s: float
    e2e_p50_s: float
    e2e_p90_s: float
    e2e_p99_s: float
    peak_concurrency: int
    mean_concurrency: float
    kv_cache_peak_fraction: float
    preemptions: int
    steps: int
    kv_cache_tokens: int
    max_num_seqs: int
    max_num_batched_tokens: int
    capacity_requests_per_s: float
    """The most requests per second the replica sustains (llmxl.load.queueing.capacity)."""
    saturated: bool
    """True when requests were sent faster than that: queues grow for as long as the run lasts."""
    warnings: tuple[str, ...] = field(default=())
    prefix_cache_hit: float = 0.0
    """The fraction of each prompt's tokens read from the prefix cache (0: none)."""
    dp: int = 1
    """Attention data-parallel ranks (llmxl.parallel); the replica is tp × dp × pp GPUs."""
    ep: int = 1
    """Expert-parallel ranks of the MoE layers."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _percentiles(values: np.ndarray, weights: np.ndarray | None = None) -> tuple[float, float, float, float]:
    """(mean, p50, p90, p99) of values, each weighted when weights are given (as numpy's 'linear' when not)."""
    if values.size == 0:
        return (math.nan,) * 4
    if weights is None:
        p50, p90, p99 = np.percentile(values, (50, 90, 99))
        return float(values.mean()), float(p50), float(p90), float(p99)
    order = np.argsort(values, kind="stable")
    v, w = values[order], weights[order]
    cum = np.cumsum(w)
    total = cum[-1]
    out = [float(np.dot(v, w) / total)]
    for p in (50, 90, 99):
        out.append(float(v[min(np.searchsorted(cum, total * p / 100, side="left"), v.size - 1)]))
    return out[0], out[1], out[2], out[3]


def lengths(mean: float, range_ratio: float, n: int, rng: np.random.Generator) -> np.ndarray:
    """Whole lengths uniform in [mean (1 − r), mean (1 + r)], as vllm bench serve's random dataset draws them."""
    if range_ratio == 0:
        return np.full(n, int(mean), dtype=np.int64)
    low = max(1, int(mean * (1 - range_ratio)))
    high = max(low, int(mean * (1 + range_ratio)))
    return rng.integers(low, high + 1, size=n, dtype=np.int64)


def arrivals(n: int, request_rate: float, burstiness: float, rng: np.random.Generator) -> np.ndarray:
    """Send times of n requests: all at 0 for an infinite rate, else gamma gaps (Poisson at burstiness 1)."""
    if math.isinf(request_rate):
        return np.zeros(n)
    gaps = rng.gamma(shape=burstiness, scale=1.0 / (request_rate * burstiness), size=n)
    gaps[0] = 0.0  # the first request goes at once, as the benchmark sends it
    return np.cumsum(gaps)
