"""The cost–interactivity frontier: what a million tokens cost against how fast each user reads them.

For a model, GPUs and a request shape, every configuration (GPU, tp, dtype) is swept over concurrency B;
each point is one replica under the engine taking the traffic λ(B) at which it decodes B on average, priced
and timed with the same arithmetic as :func:`llmxl.plan` (its load model λ(B), TTFT and ITL at the
percentile and their means, φ; its cost per 1M tokens; its energy), so a plan's chosen row lies on its
configuration's curve: the plan's cost per token is the curve's at B* times λ(B*) · replicas / average.
This is the view InferenceX and NVIDIA publish: cost (or throughput per GPU) against output tokens per
second per user. Definitions: docs/methodology.md, "The cost–interactivity frontier".
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from . import energy, prefix, prices
from .checks import check_count, check_percentile
from .errors import DoesNotFitError, InvalidInputError, LlmxlError
from .operating import DEFAULT_PERCENTILE, configured, load_at
from .plan import _as_list, _dtype_candidates, _tp_candidates, cost_per_1m
from .resolve import resolve_engine, resolve_gpu, resolve_model

__all__ = ["POINT_FIELDS", "Frontier", "FrontierPoint", "concurrency_grid", "frontier"]


@dataclass(frozen=True)
class FrontierPoint:
    """One replica of one configuration, fully used at one concurrency.

    Attributes
    ----------
    engine, percentile : The engine profile; the percentile ttft_s and itl_s are at.
    concurrency : B, sequences decoding on the replica on average (up to its capacity B_max).
    ttft_s, itl_s : Time to first token and inter-token latency at the percentile [s].
    itl_mean_s : The mean inter-token latency [s].
    output_tokens_per_s_per_user : 1 / itl_mean_s, completion tokens per second each user reads [1/s].
    output_tokens_per_s : λ(B) n, completion tokens per second of the replica [1/s].
    output_tokens_per_s_per_gpu : output_tokens_per_s / (tp · pp) [1/s].
    requests_per_s : λ(B), requests the replica completes per second [1/s].
    gpu_hour_usd : The GPU's price [USD per GPU-hour] (also as usd_per_gpu_hour in to_dict()).
    usd_per_1m_prompt_tokens, usd_per_1m_completion_tokens, usd_per_1m_blended : Cost of service of the
        replica at that traffic [USD per 1M]: as :func:`llmxl.plan`'s with monthly = tp · pp · price · 730, λ(B).
    prompt_share : φ, the prefill's share of the replica's time.
    kwh_per_1m_tokens, kg_co2e_per_1m_tokens : Energy and emissions per 1M tokens (prompt and completion alike)
        of the replica fully used [kWh, kg CO2e]; None when the GPU's power is unknown.
    pareto : No other point of the frontier gives as many tokens/s per user for less (blended cost).
    """

    model: str
    gpu: str
    tp: int
    pp: int
    dtype: str
    engine: str
    percentile: float
    concurrency: int
    ttft_s: float
    itl_s: float
    itl_mean_s: float
    output_tokens_per_s_per_user: float
    output_tokens_per_s: float
    output_tokens_per_s_per_gpu: float
    requests_per_s: float
    gpu_hour_usd: float
    usd_per_1m_prompt_tokens: float
    usd_per_1m_completion_tokens: float
    usd_per_1m_blended: float
    prompt_share: float
    kwh_per_1m_tokens: float | None
    kg_co2e_per_1m_tokens: float | None
    pareto: bool = False

    @property
    def usd_per_gpu_hour(self) -> float:
        """The GPU's price [USD per GPU-hour] (the same as gpu_hour_usd)."""
        return self.gpu_hour_usd

    def to_dict(self) -> dict[str, Any]:
        """Every field, with usd_per_gpu_hour beside gpu_hour_usd."""
        out: dict[str, Any] = {}
        for name, value in asdict(self).items():
            out[name] = value
            if name == "gpu_hour_usd":
                out["usd_per_gpu_hour"] = value
        return out


POINT_FIELDS = tuple(
    name
    for f in fields(FrontierPoint)
    for name in ((f.name, "usd_per_gpu_hour") if f.name == "gpu_hour_usd" else (f.name,))
)


@dataclass(frozen=True)
class Frontier:
    """Every point of every configuration, and which are Pareto-efficient.

    Attributes
    ----------
    points : Per configuration (in the order tried), points by rising concurrency (:class:`FrontierPoint`).
    unserved : Configurations that cannot serve the request shape, each with why ("h100-sxm-80gb tp=1 bf16: ...").
    grid_g_co2e_per_kwh : Grid intensity the emissions use [g CO2e/kWh].
    prefix_cache_hit : The fraction of each prompt's tokens read from the prefix cache (0: none).
    """

    model: str
    prompt_tokens: int
    completion_tokens: int
    points: tuple[FrontierPoint, ...]
    unserved: tuple[str, ...]
    grid_g_co2e_per_kwh: float
    prefix_cache_hit: float = 0.0

    @property
    def pareto(self) -> tuple[FrontierPoint, ...]:
        """The Pareto-efficient points, fastest per user first (the frontier itself)."""
        return tuple(sorted((p for p in self.points if p.pareto), key=lambda p: -p.output_tokens_per_s_per_user))

    def curve(self, gpu: str, tp: int, dtype: str, pp: int = 1) -> tuple[FrontierPoint, ...]:
        """The points of one configuration, by rising concurrency (gpu and dtype as the points name them)."""
        return tuple(p for p in self.points if (p.gpu, p.tp, p.pp, p.dtype) == (gpu, tp, pp, dtype))

    def to_rows(self) -> list[dict[str, Any]]:
        """Every point as a dict, for CSV or a data frame."""
        return [p.to_dict() for p in self.points]

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "points"}
        out["unserved"] = list(self.unserved)
        out["points"] = self.to_rows()
        return out


def concurrency_grid(largest: int) -> list[int]:
    """1, 2, 3, 4, 6, 8, 12, 16, 24 ... (two points per doubling) up to ``largest``, and ``largest`` itself.

    >>> concurrency_grid(50)
    [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 50]
    """
    out, b = [1], 2
    while b <= largest:
        out.append(b)
        if b + b // 2 <= largest and b >= 2:
            out.append(b + b // 2)
        b *= 2
    if out[-1] != largest:
        out.append(largest)
    return sorted(set(out))


def _pareto(points: list[FrontierPoint]) -> list[FrontierPoint]:
    """The points with ``pareto`` set where no other point has as many tokens/s per user at a lower blended cost."""
    order = sorted(
        range(len(points)), key=lambda i: (-points[i].output_tokens_per_s_per_user, points[i].usd_per_1m_blended)
    )
    efficient = set()
    cheapest = float("inf")  # the lowest cost among points at least as fast
    for i in order:
        if points[i].usd_per_1m_blended < cheapest:
            efficient.add(i)
            cheapest = points[i].usd_per_1m_blended
    return [FrontierPoint(**{**asdict(p), "pareto": True}) if i in efficient else p for i, p in enumerate(points)]


def _curve(
    spec: Any, gpu: Any, tp: int, pp: int, dtype: Any, basis: Any, grid: float, shape: dict[str, Any]
) -> list[FrontierPoint]:
    s, n, cap, wanted, pct = shape["s"], shape["n"], shape["cap"], shape["concurrency"], shape["percentile"]
    c = configured(
        spec, gpu, tp, pp, dtype, s, n, shape["fe"], shape["he"], shape["engine"], cap, prefix_cache_hit=shape["hit"]
    )
    one, top = c.one, c.capacity_concurrency
    B = np.asarray(concurrency_grid(top) if wanted is None else [b for b in wanted if b <= top], dtype=float)
    if B.size == 0:
        raise DoesNotFitError(
            f"every concurrency asked for exceeds the {top} sequences {c.replica.engine.id} sustains on average "
            f"at {s + n} tokens each (its capacity, within the KV cache, its cap and max_concurrency)",
            field="batch_size",
        )
    load = load_at(c, B, pct)
    mu, phi = load.requests_per_s, load.prompt_share
    per_replica = one.tp * one.pp
    monthly = per_replica * basis.usd_per_gpu_hour * prices.hours_per_month()
    usd_in, usd_out, usd_blend = cost_per_1m(phi, monthly, mu, s, n)
    kwh = None if basis.power_kw is None else energy.kwh_per_1m_tokens(per_replica, basis.power_kw, basis.pue, mu, s, n)
    out = []
    for i, b in enumerate(B):
        k = None if kwh is None else float(kwh[i])
        out.append(
            FrontierPoint(
                model=one.model,
                gpu=one.gpu,
                tp=one.tp,
                pp=one.pp,
                dtype=one.dtype,
                engine=c.replica.engine.id,
                percentile=pct,
                concurrency=int(b),
                ttft_s=float(load.ttft_pct_s[i]),
                itl_s=float(load.itl_pct_s[i]),
                itl_mean_s=float(load.itl_s[i]),
                output_tokens_per_s_per_user=float(1 / load.itl_s[i]),
                output_tokens_per_s=float(mu[i] * n),
                output_tokens_per_s_per_gpu=float(mu[i] * n / per_replica),
                requests_per_s=float(mu[i]),
                gpu_hour_usd=basis.usd_per_gpu_hour,
                usd_per_1m_prompt_tokens=float(usd_in[i]),
                usd_per_1m_completion_tokens=float(usd_out[i]),
                usd_per_1m_blended=float(usd_blend[i]),
                prompt_share=float(phi[i]),
                kwh_per_1m_tokens=k,
                kg_co2e_per_1m_tokens=None if k is None else float(energy.kg_co2e_per_1m_tokens(k, grid)),
            )
        )
    return out


def frontier(
    model: Any,
    gpus: Any,
    *,
    prompt_tokens: Any,
    completion_tokens: Any,
    tp: Any = None,
    pp: int = 1,
    dtype: Any = None,
    concurrency: Any = None,
    max_concurrency: Any = None,
    gpu_hour_usd: Any = None,
    reservation_discount: Any = 0.0,
    owned: Any = None,
    power_kw: Any = None,
    pue: Any = None,
    grid_g_co2e_per_kwh: Any = None,
    flops_efficiency: Any = None,
    hbm_efficiency: Any = None,
    engine: Any = None,
    percentile: Any = DEFAULT_PERCENTILE,
    prefix_cache_hit: Any = 0.0,
) -> Frontier:
    """Cost per 1M tokens against output tokens/s per user, over concurrency, for every configuration.

    Parameters
    ----------
    model, gpus, prompt_tokens, completion_tokens, tp, pp, dtype, max_concurrency : As for :func:`llmxl.plan`
        (completion_tokens ≥ 2: tokens/s per user is 1 / inter-token latency).
    concurrency : The mean concurrencies to sweep (whole numbers); None: 1, 2, 3, 4, 6, 8 ... up to the
        replica's capacity under the engine (within max_concurrency). One above it is left out of that curve.
    engine, percentile, prefix_cache_hit : As for :func:`llmxl.plan`.
    gpu_hour_usd, reservation_discount, owned, power_kw, pue, grid_g_co2e_per_kwh : The price basis and the
        energy inputs, as for :func:`llmxl.plan` (one for all GPUs or a dict by GPU name).

    Returns
    -------
    Frontier

    Notes
    -----
    At mean concurrency B a replica of t · p GPUs completes λ(B) requests/s; each user reads 1 / (mean ITL)
    tokens/s. Its cost per 1M prompt tokens is φ · t · p · c · 730 / (λ(B) · 730 · 3600 · s) · 1e6 (completion
    with 1 - φ and n; blended 3 : 1): the plan's cost of service with the fleet one replica and the traffic
    what it completes.
    A point is Pareto-efficient when no other point reads at least as fast per user for a lower blended cost.

    Examples
    --------
    >>> f = frontier("llama-3.1-70b", "h100-sxm-80gb", tp=2, dtype="fp8", prompt_tokens=1000,
    ...              completion_tokens=300, gpu_hour_usd=3.99)
    >>> [(p.concurrency, round(p.output_tokens_per_s_per_user, 1), round(p.usd_per_1m_blended, 3))
    ...  for p in f.points[:3]]
    [(1, 54.6, 10.1), (2, 53.7, 5.129), (3, 52.8, 3.472)]

    Each user reads 45.2 tokens/s alone on the replica, at $12.21 per 1M tokens; at 281 sequences decoding on
    average (the replica's capacity under vLLM) tokens cost $0.226 per 1M and each user reads 8.1 tokens/s:

    >>> p = f.points[-1]
    >>> p.concurrency, round(p.output_tokens_per_s_per_user, 1), round(p.usd_per_1m_blended, 3), p.pareto
    (281, 8.3, 0.22, True)
    """
    spec = resolve_model(model)
    s = check_count(prompt_tokens, "prompt_tokens")
    n = check_count(completion_tokens, "completion_tokens")
    if n < 2:
        raise InvalidInputError(
            "completion_tokens must be ≥ 2 for a frontier: tokens/s per user is 1 / inter-token latency, which one "
            "token does not have",
            field="completion_tokens",
        )
    p = check_count(pp, "pp")
    cap = None if max_concurrency is None else check_count(max_concurrency, "max_concurrency")
    wanted = None if concurrency is None else sorted({check_count(b, "concurrency") for b in _as_list(concurrency)})
    if wanted is not None and not wanted:
        raise InvalidInputError("concurrency is empty; give whole numbers such as 1, 8, 64", field="concurrency")
    prices.check_fraction_below_one(reservation_discount, "reservation_discount")
    gpu_specs = [resolve_gpu(g) for g in _as_list(gpus)]
    if not gpu_specs:
        raise InvalidInputError("gpus is empty; give at least one GPU such as 'h100-sxm-80gb'", field="gpus")
    grid = energy.grid_g_co2e_per_kwh(grid_g_co2e_per_kwh)
    bases = prices.price_bases(gpu_specs, gpu_hour_usd, reservation_discount, owned, power_kw, pue)
    shape = dict(
        s=s,
        n=n,
        cap=cap,
        concurrency=wanted,
        fe=flops_efficiency,
        he=hbm_efficiency,
        engine=resolve_engine(engine),
        percentile=check_percentile(percentile),
        hit=prefix.check_prefix_cache_hit(prefix_cache_hit),
    )
    points: list[FrontierPoint] = []
    unserved: list[str] = []
    for g, basis in zip(gpu_specs, bases, strict=True):
        for d in _dtype_candidates(spec, dtype):
            for t in _tp_candidates(spec, tp):
                try:
                    points += _curve(spec, g, t, p, d, basis, grid, shape)
                except LlmxlError as exc:
                    if exc.field not in ("tp", "batch_size", "dtype", "pp", "method"):
                        raise
                    unserved.append(f"{g.id} tp={t} {d.id}: {exc.message}")
    return Frontier(spec.id, s, n, tuple(_pareto(points)), tuple(unserved), grid, shape["hit"])
