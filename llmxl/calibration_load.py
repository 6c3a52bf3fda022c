"""Calibration of runs under load: their estimates under an engine, and the engine settings they inform.

:mod:`llmxl.calibration` fits the `serving` constants of a GPU; this module gives it what concerns the engine:

- :func:`predict_all`: each measured figure of each run as llmxl estimates it (a static batch by
  :func:`llmxl.estimate`; a run at a concurrency or at a rate by :func:`llmxl.operating.operating_point` under the
  engine, a percentile figure by the load model's percentile of the same p);
- :func:`scan_reserve`: the memory reserve ``reserve_gib`` from where the runs at several concurrencies saturate
  the KV cache (the engine runs ``min(C, K)`` of C clients, K the sequences its cache holds; the others wait, so
  throughput flattens and TTFT climbs past K). K is a whole number, so the figures are steps of the reserve:
  the scan evaluates each step once and returns the range of reserves the best step spans, or why the runs
  cannot tell it;
- :func:`override_text`: the engine with the fitted settings as the text every face takes
  (``vllm:front_end_s=0.012,reserve_gib=5.8``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .estimate import estimate
from .measurements import Measurement, metric_percentile
from .operating import DEFAULT_PERCENTILE, configured, operating_point

__all__ = ["ENGINE_CONSTANTS", "ReserveScan", "override_text", "predict_all", "scan_reserve"]

#: The engine settings calibration fits beside the GPU's constants (the engine's settings of the same names).
ENGINE_CONSTANTS = ("front_end_s", "reserve_gib")
_GIB = 1024**3


def config_key(m: Measurement) -> tuple[Any, ...]:
    return (m.model, m.tp, m.pp, m.dtype, m.prompt_tokens, m.completion_tokens)


def _static(m: Measurement, gpu: Any) -> dict[str, float]:
    e = estimate(m.model, gpu, batch_size=m.batch_size, method="serving", tp=m.tp, pp=m.pp, dtype=m.dtype,
                 prompt_tokens=m.prompt_tokens, completion_tokens=m.completion_tokens)  # fmt: skip
    got = {"ttft_s": e.ttft_s, "tpot_s": e.tpot_s, "e2e_s": e.e2e_latency_s, "output_tokens_per_s": e.tokens_per_s}
    return {k: float(got[k]) for k in m.metrics}


def _percentiles(ms: list[Measurement]) -> list[float]:
    """The percentiles these runs' figures are at (the load model's default alone when only means)."""
    found = sorted({p for m in ms for name in m.metrics if (p := metric_percentile(name)[1]) is not None})
    return found or [DEFAULT_PERCENTILE]


def _figures(m: Measurement, j: Any, by_p: Mapping[float, Any]) -> dict[str, float]:
    """The figures ``m`` measured, from operating points at each percentile (entry j where they are arrays)."""
    n = m.completion_tokens
    first = next(iter(by_p.values()))
    ttft, itl, rate = (float(np.asarray(x)[j]) for x in (first.ttft_mean_s, first.itl_mean_s, first.requests_per_s))
    out = {}
    for name in m.metrics:
        base, p = metric_percentile(name)
        if p is None:
            out[name] = {"ttft_s": ttft, "tpot_s": itl, "e2e_s": ttft + (n - 1) * itl,
                         "output_tokens_per_s": rate * n}[name]  # fmt: skip
        else:
            op = by_p[p]  # its ttft_s and itl_s are at its percentile
            out[name] = float(np.asarray(op.ttft_s if base == "ttft_s" else op.itl_s)[j])
    return out


def predict_all(ms: list[Measurement], gpu: Any, engine: Any) -> list[dict[str, float]]:
    """Each run's measured figures as estimated, in the runs' order: the closed loops of one configuration in
    one operating point per percentile over their concurrencies (an array)."""
    out: dict[int, dict[str, float]] = {}
    groups: dict[tuple[Any, ...], list[int]] = {}
    for i, m in enumerate(ms):
        if m.batch_size is not None:
            out[i] = _static(m, gpu)
        elif m.request_rate is not None:
            kw = dict(prompt_tokens=m.prompt_tokens, completion_tokens=m.completion_tokens, tp=m.tp, pp=m.pp,
                      dtype=m.dtype, engine=engine, request_rate=m.request_rate,
                      max_concurrency=m.concurrency)  # fmt: skip
            by_p = {p: operating_point(m.model, gpu, percentile=p, **kw) for p in _percentiles([m])}
            out[i] = _figures(m, (), by_p)
        else:
            groups.setdefault(config_key(m), []).append(i)
    for (model, tp, pp, dtype, s, n), idx in groups.items():
        # operating_point(model, gpu, C, ...) of a closed loop, without the capacity sweep it does not read
        C = np.array([ms[i].concurrency for i in idx], dtype=float)
        c = configured(model, gpu, tp, pp, dtype, s, n, None, None, engine, capacity=False)
        loads = {p: c.replica.closed_loop(s, n, C, c.fit, p) for p in _percentiles([ms[i] for i in idx])}
        for j, i in enumerate(idx):
            out[i] = _load_figures(ms[i], j, loads)
    return [out[i] for i in range(len(ms))]


def _load_figures(m: Measurement, j: int, loads: Mapping[float, Any]) -> dict[str, float]:
    """The figures ``m`` measured, from the closed-loop load model at each percentile (entry j of its arrays)."""
    n = m.completion_tokens
    first = next(iter(loads.values()))
    ttft, itl, rate = (float(np.asarray(x)[j]) for x in (first.ttft_s, first.itl_s, first.requests_per_s))
    out = {}
    for name in m.metrics:
        base, p = metric_percentile(name)
        if p is None:
            out[name] = {"ttft_s": ttft, "tpot_s": itl, "e2e_s": ttft + (n - 1) * itl,
                         "output_tokens_per_s": rate * n}[name]  # fmt: skip
        else:
            load = loads[p]
            out[name] = float(np.asarray(load.ttft_pct_s if base == "ttft_s" else load.itl_pct_s)[j])
    return out


# ---------------------------------------------------------------------------
# The memory reserve, from where the runs saturate


@dataclass(frozen=True)
class ReserveScan:
    """What the scan found: the reserve's range [GiB] and its middle, or why the runs cannot tell it."""

    reserve_gib: float | None
    low_gib: float | None
    high_gib: float | None
    cost: float
    reason: str | None = None
    sequences: dict[str, int] | None = None
    """Sequences of each configuration's requests the cache holds at the fitted reserve."""


@dataclass
class _Config:
    idx: list[int]
    C: np.ndarray
    s: int
    n: int
    label: str
    seqs: int
    """The engine's cap on running sequences (max_num_seqs): K never exceeds it."""
    edges: np.ndarray
    """edges[K - 1]: the largest reserve [GiB] at which the cache holds K sequences, K = 1 .. max C."""
    costs: np.ndarray
    """costs[K - 1]: the squared log error of the configuration's figures with K sequences running at most."""


def _config(ms: list[Measurement], idx: list[int], gpu: Any, engine: Any) -> _Config:
    m0 = ms[idx[0]]
    s, n = m0.prompt_tokens, m0.completion_tokens
    c = configured(m0.model, gpu, m0.tp, m0.pp, m0.dtype, s, n, None, None, engine, capacity=False)
    mem, T = c.replica.memory, c.replica.rates.T
    C = np.array([ms[i].concurrency for i in idx], dtype=float)
    top = int(C.max())
    K = np.arange(1, top + 1, dtype=float)
    # the memory left for the cache is affine in the reserve: slope 1, or the fraction where it applies after
    # the reserve (TensorRT-LLM's free_gpu_memory_fraction of what is free after the weights)
    slope = mem.memory_fraction if engine.memory_basis == "free_after_load" else 1.0
    taken = (
        engine.reserve_gib * _GIB
        if engine.reserve_gib is not None
        else (0.0 if engine.memory_basis == "free_at_start" else mem.reserve_bytes)
    )
    block_bytes = mem.block_size * mem.token_bytes
    blocks_needed = np.ceil(K * mem.blocks_for(T, s + n) - 1e-9)
    edges = (mem.kv_budget_bytes + slope * taken - blocks_needed * block_bytes) / (slope * _GIB)
    cap = np.minimum(K, float(mem.max_num_seqs))[:, None]
    grid = np.broadcast_to(C, (K.size, C.size))
    measured = [ms[i] for i in idx]
    by_p = {p: c.replica.closed_loop(s, n, grid, cap, p) for p in _percentiles(measured)}
    costs = np.zeros(K.size)
    for j, m in enumerate(measured):
        for name, value in m.metrics.items():
            base, p = metric_percentile(name)
            load = by_p[p if p is not None else next(iter(by_p))]
            if p is None:
                pred = {"ttft_s": load.ttft_s, "tpot_s": load.itl_s, "e2e_s": load.ttft_s + (n - 1) * load.itl_s,
                        "output_tokens_per_s": load.requests_per_s * n}[name]  # fmt: skip
            else:
                pred = load.ttft_pct_s if base == "ttft_s" else load.itl_pct_s
            with np.errstate(divide="ignore", invalid="ignore"):
                r = np.log(np.asarray(pred)[:, j]) - math.log(value)
            costs += np.where(np.isfinite(r), r, 3.0) ** 2
    label = f"{m0.model} tp={m0.tp} {s}+{n} tokens"
    return _Config(idx, C, s, n, label, int(mem.max_num_seqs), edges, costs)


def _sequences(cfg: _Config, R: float) -> int:
    """K at reserve R: the most sequences whose blocks fit, at most the engine's cap (and the largest C, beyond
    which no run of this configuration can tell more)."""
    fits = int(np.count_nonzero(cfg.edges >= R))  # edges fall as K grows
    return min(fits, cfg.seqs, cfg.edges.size)


def scan_reserve(ms: list[Measurement], gpu: Any, engine: Any, flag: str) -> ReserveScan:
    """The reserve [GiB] whose cache size best explains the closed-loop runs, at the GPU's and engine's other
    values (``gpu``, ``engine``); the best step's range and its middle, or why the runs cannot tell it."""
    groups: dict[tuple[Any, ...], list[int]] = {}
    for i, m in enumerate(ms):
        if m.batch_size is None and m.request_rate is None:
            groups.setdefault(config_key(m), []).append(i)
    groups = {k: v for k, v in groups.items() if len({ms[i].concurrency for i in v}) >= 2}
    if not groups:
        return ReserveScan(None, None, None, math.inf, "needs runs at two or more concurrencies of one configuration")
    configs = [_config(ms, idx, gpu, engine) for idx in groups.values()]
    top = min(float(c.edges[0]) for c in configs)  # beyond it one configuration holds no sequence at all
    if top <= 0:
        return ReserveScan(None, None, None, math.inf, "the cache holds no sequence even without a reserve")
    points = np.unique(np.concatenate([c.edges[(c.edges > 0) & (c.edges < top)] for c in configs] + [[0.0, top]]))
    # on (points[i], points[i + 1]] every configuration holds the same K: one evaluation per step
    mids = (points[:-1] + points[1:]) / 2
    total = np.zeros(mids.size)
    ks = []
    for c in configs:
        k = np.array([_sequences(c, R) for R in mids])
        ks.append(k)
        total += c.costs[np.maximum(k, 1) - 1]
    best = float(total.min())
    tied = np.flatnonzero(total <= best + 1e-9 * max(best, 1e-12) + 1e-15)
    # the contiguous run of steps around the first best one
    first = int(tied[0])
    last = first
    best_steps = set(tied.tolist())
    while last + 1 < total.size and last + 1 in best_steps:
        last += 1
    low, high = float(points[first]), float(points[last + 1])
    at = (low + high) / 2
    seqs = {c.label: _sequences(c, at) for c in configs}
    if low <= 0:
        unsat = all(_sequences(c, at) >= c.edges.size for c in configs)
        if unsat:
            most = max(configs, key=lambda c: c.edges.size)
            why = (
                f"no run reaches the KV cache's limit: every run (up to concurrency {int(most.C.max())} of "
                f"{most.label}) fits at the best fit, so the runs bound the reserve only from above (at most "
                f"{high:.3g} GiB); a reserve needs runs past the concurrency where throughput flattens"
            )
        else:
            capped = next(c for c in configs if _sequences(c, at) >= c.seqs)
            why = (
                f"the runs flatten at the engine's cap of {capped.seqs} sequences ({flag}), before the KV cache fills: "
                f"they bound the reserve only from above (at most {high:.3g} GiB); give the {flag} they ran with in "
                "the engine, or runs whose cache fills first"
            )
        return ReserveScan(None, None, high, best, why, seqs)
    return ReserveScan(at, low, high, best, None, seqs)


def override_text(engine: Any, base: Any, values: Mapping[str, float]) -> str:
    """``engine`` with ``values`` (fitted settings) as the text every face takes: its id, then each setting
    that differs from the catalog profile ``base`` (what the runs ran with), then the fitted ones."""
    parts: dict[str, str] = {}
    for flag, field in engine.settings.items():
        mine, theirs = getattr(engine, field), getattr(base, field)
        if mine != theirs and mine is not None and field not in values:
            parts[flag] = f"{mine:.6g}" if isinstance(mine, float) else str(mine)
    for name, v in values.items():
        parts[name] = f"{round(v, 9):.6g}"  # 1e-15 s is 0 s
    return engine.id + (":" + ",".join(f"{k}={v}" for k, v in parts.items()) if parts else "")
