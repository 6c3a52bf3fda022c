"""One replica of a configuration under a serving engine, at a load: what plans, the frontier and calibration
read (docs/methodology.md, "Engines and load" and "Capacity planning").

:func:`configured` checks a configuration once (the model, GPU, tp, pp, dtype and efficiencies, as
:func:`llmxl.estimate` does) and gives its :class:`llmxl.load.replica.Replica` under an engine;
:func:`operating_point` is the public view: latency and throughput at a mean concurrency or at an arrival
rate, at a percentile, and whether the replica saturates.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .checks import check_concurrencies, check_count, check_percentile, check_range
from .errors import DoesNotFitError, InvalidInputError
from .estimate import estimate
from .load import queueing
from .load.replica import Replica, replica
from .resolve import configuration, decode_scale, prefill_scale, resolve_engine, speculative_terms

__all__ = ["DEFAULT_PERCENTILE", "Configured", "OperatingPoint", "configured", "operating_point"]

#: The percentile latency targets are held at when none is given (p90, as capacity plans usually quote).
DEFAULT_PERCENTILE = 90.0


@dataclass(frozen=True)
class Configured:
    """A checked configuration and its replica under an engine, for one request shape."""

    one: Any
    """The configuration's estimate serving one request (its ids, tp, pp, dtype and efficiencies)."""
    replica: Replica
    fit: int
    """Sequences of s + n tokens the engine runs at once (its KV blocks and its cap on sequences)."""
    top: int
    """The cap a load may reach: ``fit``, or the caller's max_concurrency when smaller."""
    capacity_concurrency: int
    """B_max, the largest mean concurrency the replica sustains (llmxl.load.queueing.capacity)."""
    capacity_requests_per_s: float
    """λ_max, what the replica serves at B_max [1/s]."""
    s: int
    n: int
    sweep: queueing.ReplicaLoad
    """The load model at B = 1, 2, ... up to what the engine's limits allow, at the percentile asked for."""


def configured(
    model: Any,
    gpu: Any,
    tp: Any,
    pp: Any,
    dtype: Any,
    s: int,
    n: int,
    fe: Any,
    he: Any,
    engine: Any,
    max_concurrency: int | None = None,
    percentile: float = DEFAULT_PERCENTILE,
    dp: Any = 1,
    ep: Any = None,
    redundant_experts: Any = 0,
    speculative: Any = None,
    num_speculative_tokens: Any = None,
    acceptance_rate: Any = None,
    prefix_cache_hit: float = 0.0,
    capacity: bool = True,
) -> Configured:
    """Check a configuration (as estimate() does, serving one request) and give its replica under ``engine``.

    Raises DoesNotFitError (field "tp") when the engine leaves no room for one sequence of s + n tokens.
    ``percentile`` is that of the sweep over concurrency the capacity is read from (the capacity does not
    depend on it; a plan reads its targets from the same sweep). ``capacity=False`` skips the sweep and the
    capacity (``sweep`` None, the capacity 0): what a closed loop alone needs (calibration's many evaluations).
    ``speculative``, ``num_speculative_tokens`` and ``acceptance_rate`` as :func:`llmxl.estimate` takes them
    (None: no speculative decoding). ``prefix_cache_hit`` is the fraction h of each prompt's tokens read from
    the prefix cache (checked here; llmxl.prefix).
    """
    if n < 2:
        raise InvalidInputError(
            "completion_tokens must be ≥ 2 for a load: a request of one token has no decoding for an engine to "
            "batch; price prefill-only work with estimate(batch_size=...)",
            field="completion_tokens",
        )
    one = estimate(
        model,
        gpu,
        batch_size=1,
        prompt_tokens=s,
        completion_tokens=n,
        tp=tp,
        pp=pp,
        dtype=dtype,
        flops_efficiency=fe,
        hbm_efficiency=he,
        method="serving",
        dp=dp,
        ep=ep,
        redundant_experts=redundant_experts,
        speculative=speculative,
        num_speculative_tokens=num_speculative_tokens,
        acceptance_rate=acceptance_rate,
        prefix_cache_hit=prefix_cache_hit,
    )
    eng = resolve_engine(engine)
    m, g, _, T, _, _, _ = configuration(model, gpu, one.dtype, one.tp, one.pp, "serving", dp, ep, redundant_experts)
    sp = None
    if speculative is not None:
        T, sp = speculative_terms(m, T, speculative, num_speculative_tokens, acceptance_rate, [])
    r = replica(
        T,
        g,
        float(one.flops_efficiency),
        float(one.hbm_efficiency),
        eng,
        m.max_position_embeddings,
        spec=sp,
        prefix_cache_hit=one.prefix_cache_hit,
        prefill_scale=prefill_scale(g, m),
        decode_scale=decode_scale(g, m),
    )
    fit = r.fit(s, n)
    if fit < 1:
        raise DoesNotFitError(
            f"{eng.id} leaves a KV cache of {r.memory.kv_cache_tokens:,} tokens per GPU on {one.gpu} at tp={one.tp}, "
            f"less than one request of {s + n:,}; use a larger tp, a GPU with more memory or a higher "
            f"{eng.memory_fraction_flag}",
            field="tp",
        )
    top = fit if max_concurrency is None else min(fit, max_concurrency)
    if not capacity:
        return Configured(one, r, fit, top, 0, 0.0, s, n, None)  # type: ignore[arg-type]
    sweep = r.sweep(s, n, top, percentile)
    b_max, lam_max = queueing.capacity_of(sweep)
    return Configured(one, r, fit, top, b_max, lam_max, s, n, sweep)


@dataclass(frozen=True)
class OperatingPoint:
    """One replica under an engine at a load (arrays where concurrency is an array).

    Attributes
    ----------
    engine : The engine profile's id; percentile : the percentile ttft_s and itl_s are at.
    concurrency : C, requests in flight in a closed loop (None at a request rate).
    decode_concurrency : B, sequences decoding on average.
    requests_per_s : λ, requests per second the replica completes [1/s].
    prefill_s : The step that computes one prompt at that load [s].
    decode_step_s : A step of the B decodes alone [s].
    ttft_s, itl_s : Time to first token and inter-token latency at the percentile [s].
    ttft_mean_s, itl_mean_s : Their means [s] (itl_mean_s is the mean step, 1 / tokens per second per user).
    output_tokens_per_s : λ n, completion tokens per second [1/s].
    prompt_share : φ, the share of the replica's time spent on prompts.
    max_concurrency : Sequences of prompt + completion tokens the engine runs at once (KV blocks and its cap).
    kv_cache_tokens : Tokens the engine's KV cache holds per GPU.
    capacity_concurrency, capacity_requests_per_s : B_max and λ_max, the most the replica sustains.
    utilisation : λ / λ_max; at a rate beyond capacity, the rate offered over λ_max (by how much it saturates).
    saturated : The load is beyond what the replica runs at once. At a rate, the replica then serves λ_max at
        B_max and the queue in front of it grows without bound: requests_per_s is λ_max, the time to first token
        inf. In a closed loop of more clients than max_concurrency, the others wait for a slot (in TTFT).
    prefix_cache_hit : The fraction of each prompt's tokens read from the prefix cache (0: none).
    """

    model: str
    gpu: str
    dtype: str
    tp: int
    pp: int
    engine: str
    percentile: float
    concurrency: Any
    decode_concurrency: Any
    requests_per_s: Any
    prefill_s: Any
    decode_step_s: Any
    ttft_s: Any
    ttft_mean_s: Any
    itl_s: Any
    itl_mean_s: Any
    output_tokens_per_s: Any
    prompt_share: Any
    max_concurrency: int
    kv_cache_tokens: int
    capacity_concurrency: int
    capacity_requests_per_s: float
    utilisation: Any
    saturated: Any
    prefix_cache_hit: float = 0.0
    dp: int = 1
    """Attention data-parallel ranks (llmxl.parallel); the replica is tp × dp × pp GPUs."""
    ep: int = 1
    """Expert-parallel ranks of the MoE layers."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_at(c: Configured, B: Any, percentile: float) -> queueing.ReplicaLoad:
    """The closed-form load model of ``c`` at mean concurrency B (a number or an array)."""
    return c.replica.at(c.s, c.n, B, percentile)


def operating_point(
    model: Any,
    gpu: Any,
    concurrency: Any = None,
    *,
    prompt_tokens: Any,
    completion_tokens: Any,
    request_rate: Any = None,
    tp: int = 1,
    pp: int = 1,
    dtype: Any = None,
    engine: Any = None,
    percentile: Any = DEFAULT_PERCENTILE,
    max_concurrency: Any = None,
    num_requests: Any = None,
    flops_efficiency: Any = None,
    hbm_efficiency: Any = None,
    dp: int = 1,
    ep: int | None = None,
    redundant_experts: int = 0,
    speculative: Any = None,
    num_speculative_tokens: Any = None,
    acceptance_rate: Any = None,
    prefix_cache_hit: Any = 0.0,
) -> OperatingPoint:
    """One replica under ``engine`` in a closed loop of C clients (a number or an array) or at an arrival rate.

    Give ``concurrency`` (requests in flight, each client sending its next when the last ends: ``vllm bench
    serve --max-concurrency``) or ``request_rate`` (Poisson arrivals per second), not both. A rate beyond the
    replica's capacity is not an error: the point says it saturates. ``num_requests`` (a closed loop only) is a
    benchmark run's request count (``--num-prompts``): the mean TTFT then counts the run's first wave, its C
    prompts at once (docs/methodology.md, "Engines and load"); without it, the steady state. ``dp``, ``ep`` and
    ``redundant_experts`` lay a mixture-of-experts replica over tp × dp × pp GPUs, as :func:`llmxl.estimate`
    does. ``speculative``, ``num_speculative_tokens`` and ``acceptance_rate`` as :func:`llmxl.estimate` takes
    them: each decode step then verifies k drafts and yields τ tokens per sequence; ITL is a step over τ,
    ``decode_step_s`` a whole verification step. ``prefix_cache_hit`` is the fraction of each prompt's tokens
    served from the engine's prefix cache, in [0, 1) (default 0): prompts compute the rest.

    Examples
    --------
    >>> op = operating_point("llama-3.1-70b", "h100-sxm-80gb", 16, tp=2, dtype="fp8",
    ...                      prompt_tokens=1000, completion_tokens=300)
    >>> op.engine, round(op.requests_per_s, 3), round(op.ttft_s, 4), round(op.itl_mean_s, 4)
    ('vllm', 2.312, 0.1802, 0.0227)

    Sixteen clients, each sending its next request when its last one ends, get 1.964 requests/s through
    one replica of two H100s under vLLM; nine in ten wait at most 0.179 s for their first token (vLLM's
    chunked prefill breaks their waves up, so each prompt waits for the steps of the others in flight). A
    benchmark of 320 requests also counts its first wave, all sixteen prompts at once, in the mean:

    >>> round(operating_point("llama-3.1-70b", "h100-sxm-80gb", 16, tp=2, dtype="fp8", prompt_tokens=1000,
    ...                       completion_tokens=300, num_requests=320).ttft_mean_s, 4)
    0.1841
    """
    s = check_count(prompt_tokens, "prompt_tokens")
    n = check_count(completion_tokens, "completion_tokens")
    pct = check_percentile(percentile)
    cap = None if max_concurrency is None else check_count(max_concurrency, "max_concurrency")
    if (concurrency is None) == (request_rate is None):
        raise InvalidInputError(
            "give the load as concurrency (sequences decoding on average) or as request_rate (requests/s), one of them",
            field="concurrency",
        )
    c = configured(
        model, gpu, tp, pp, dtype, s, n, flops_efficiency, hbm_efficiency, engine, cap, pct, dp, ep, redundant_experts,
        speculative=speculative, num_speculative_tokens=num_speculative_tokens, acceptance_rate=acceptance_rate,
        prefix_cache_hit=prefix_cache_hit,
    )  # fmt: skip
    if concurrency is not None:
        C, _ = check_concurrencies(concurrency)
        load = c.replica.closed_loop(s, n, C, c.fit, pct)
        if num_requests is not None:
            load = _with_first_wave(c, load, C, _run_requests(num_requests, C))
    else:
        if num_requests is not None:
            raise InvalidInputError(
                f"num_requests={num_requests!r} counts a closed loop's run; at a request rate there is no first wave: "
                "leave num_requests out, or give concurrency instead of request_rate",
                field="num_requests",
            )
        rate = check_range(request_rate, "requests_per_s", name="request_rate")
        load = c.replica.at_rate(s, n, rate, pct, c.capacity_concurrency)
        if load is None:  # beyond capacity: it serves λ_max at B_max, and the queue in front grows without bound
            most = load_at(c, c.capacity_concurrency, pct)
            inf = float("inf")
            load = most._replace(ttft_s=inf, ttft_pct_s=inf, budget_use=rate / c.capacity_requests_per_s)
    B = load.concurrency
    lam = load.requests_per_s
    if concurrency is not None:  # a closed loop never overloads the replica: beyond its cap, requests queue
        offered = lam
        saturated = np.asarray(C) > c.fit
    else:
        offered = rate
        saturated = (np.asarray(B) > c.capacity_concurrency) | ~(np.asarray(load.budget_use) < 1)
        saturated = saturated | (rate > c.capacity_requests_per_s)
    saturated = bool(saturated) if np.ndim(saturated) == 0 else saturated
    return OperatingPoint(
        model=c.one.model,
        gpu=c.one.gpu,
        dtype=c.one.dtype,
        tp=c.one.tp,
        pp=c.one.pp,
        engine=c.replica.engine.id,
        percentile=pct,
        concurrency=_out(C) if concurrency is not None else None,
        decode_concurrency=_out(B),
        requests_per_s=_out(lam),
        prefill_s=_out(load.prefill_s),
        decode_step_s=_out(c.replica.decode_step_s(s, n, B)),
        ttft_s=_out(load.ttft_pct_s),
        ttft_mean_s=_out(load.ttft_s),
        itl_s=_out(load.itl_pct_s),
        itl_mean_s=_out(load.itl_s),
        output_tokens_per_s=_out(np.asarray(lam) * n),
        prompt_share=_out(load.prompt_share),
        max_concurrency=c.fit,
        kv_cache_tokens=c.replica.memory.kv_cache_tokens,
        capacity_concurrency=c.capacity_concurrency,
        capacity_requests_per_s=c.capacity_requests_per_s,
        utilisation=_out(np.asarray(offered) / c.capacity_requests_per_s),
        saturated=saturated,
        prefix_cache_hit=c.one.prefix_cache_hit,
        dp=c.one.dp,
        ep=c.one.ep,
    )


def _run_requests(value: Any, C: Any) -> Any:
    """R = num_requests / C, the rounds of a benchmark run (at least one), checked as simulate checks it."""
    return np.maximum(check_count(value, "num_requests") / np.asarray(C, dtype=np.float64), 1.0)


def _with_first_wave(c: Configured, load: queueing.ReplicaLoad, C: Any, rounds: Any) -> queueing.ReplicaLoad:
    """The mean TTFT of a finite run: its first C requests come as one wave, the rest in the steady state."""
    wave = np.asarray(c.replica.first_wave_ttft(c.s, c.n, C, c.fit))
    mean = np.asarray(load.ttft_s) + (wave - np.asarray(load.ttft_s)) / rounds
    return load._replace(ttft_s=_out(np.maximum(mean, np.asarray(load.ttft_s))))


def _out(x: Any) -> Any:
    return float(x) if np.ndim(x) == 0 else np.asarray(x, dtype=np.float64)
