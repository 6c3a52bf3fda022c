"""Capacity planning and cost of service, above :func:`llmxl.estimate`.

From traffic (average and peak requests per second), a request shape (prompt and
completion tokens) and a latency target (time to first token, inter-token
latency) to GPUs, dollars per month, dollars per million tokens and the traffic
at which self-hosting costs less than an API. Definitions: docs/methodology.md,
"Capacity planning and cost of service". Everything uses the `serving` method.

Continuous batching at concurrency B on one replica of t·p GPUs:
T1 = TTFT(b = 1), DB = TPOT(b = B); μB = B / (B T1 + (n - 1) DB) requests/s;
TTFT_B = T1 + DB; ITL_B = DB + B T1 / (n - 1); the prompt's share of GPU time
φ = B T1 / (B T1 + (n - 1) DB).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, NamedTuple

import numpy as np

from . import energy, prices
from .checks import MAX_COUNT, RANGES, check_concurrencies, check_count, check_range
from .errors import DoesNotFitError, InvalidInputError, LlmxlError
from .estimate import estimate
from .resolve import NODE_GPUS, configuration, divisors, released_dtype, resolve_dtype, resolve_gpu, resolve_model

__all__ = ["Breakeven", "OperatingPoint", "Plan", "PlanRow", "breakeven", "operating_point", "plan"]


@dataclass(frozen=True)
class OperatingPoint:
    """One replica under continuous batching at a concurrency (arrays when concurrency is an array).

    Attributes
    ----------
    prefill_s : T1, one prompt's prefill [s].
    decode_step_s : DB, one decode step of B sequences [s].
    requests_per_s : μB, requests one replica completes per second [1/s].
    ttft_s : T1 + DB, time to first token under that load [s].
    itl_s : DB + B T1 / (n - 1), inter-token latency under that load [s]; None when n = 1.
    output_tokens_per_s : μB n, completion tokens per second [1/s].
    prompt_share : φ, the prefill's share of the replica's time.
    max_concurrency : Largest batch whose KV cache fits at prompt + completion tokens.
    """

    model: str
    gpu: str
    dtype: str
    tp: int
    pp: int
    concurrency: Any
    prefill_s: float
    decode_step_s: Any
    requests_per_s: Any
    ttft_s: Any
    itl_s: Any
    output_tokens_per_s: Any
    prompt_share: Any
    max_concurrency: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _alone(model: Any, gpu: Any, tp: Any, pp: Any, dtype: Any, s: int, n: int, fe: Any, he: Any) -> Any:
    """The configuration serving one request: T1 (its TTFT) and the largest batch that fits (checks every input)."""
    return estimate(
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
    )


def _decode_step_s(one: Any, model: Any, gpu: Any, B: Any) -> Any:
    """DB = TPOT(b = B) for the configuration of ``one`` (an estimate at b = 1), B a number or an array.

    Under continuous batching prompts are prefilled one at a time, so only decoding B sequences has to
    fit (B ≤ one.max_batch_size, checked by the caller), not B prompts in one pass as estimate() checks.
    """
    from . import serving

    T = configuration(model, gpu, one.dtype, one.tp, one.pp, "serving")[3]
    F = T.peak_flops * one.flops_efficiency
    M = T.bandwidth_bps * one.hbm_efficiency
    c = one.prompt_tokens + (one.completion_tokens - 1) * 0.5
    if isinstance(B, np.ndarray):
        return sum(serving.forward(T, B, 1, c, F, M, False, np.maximum, np.minimum))  # type: ignore[arg-type]
    return sum(serving.forward(T, B, 1, c, F, M, False))  # type: ignore[arg-type]


def _point(T1: float, DB: Any, B: Any, n: int) -> tuple[Any, Any, Any, Any]:
    """(μB, TTFT_B, ITL_B or None, φ) from T1 and DB."""
    steps = n - 1
    busy = B * T1 + steps * DB
    itl = DB + B * T1 / steps if steps > 0 else None
    return B / busy, T1 + DB, itl, B * T1 / busy


def operating_point(
    model: Any,
    gpu: Any,
    concurrency: Any,
    *,
    prompt_tokens: Any,
    completion_tokens: Any,
    tp: int = 1,
    pp: int = 1,
    dtype: Any = None,
    flops_efficiency: Any = None,
    hbm_efficiency: Any = None,
) -> OperatingPoint:
    """The operating point of one replica at concurrency B (a number or an array of them).

    Examples
    --------
    >>> op = operating_point("llama-3.1-70b", "h100-sxm-80gb", 16, tp=2, dtype="fp8",
    ...                      prompt_tokens=1000, completion_tokens=300)
    >>> round(op.requests_per_s, 3), round(op.ttft_s, 4), round(op.itl_s, 4)
    (1.899, 0.1147, 0.0282)
    """
    s = check_count(prompt_tokens, "prompt_tokens")
    n = check_count(completion_tokens, "completion_tokens")
    one = _alone(model, gpu, tp, pp, dtype, s, n, flops_efficiency, hbm_efficiency)
    B, top = check_concurrencies(concurrency)
    if top > one.max_batch_size:
        raise DoesNotFitError(
            f"concurrency {top:g} exceeds the {int(one.max_batch_size)} sequences whose KV cache fits on "
            f"{one.gpu} at {s + n} tokens each; use at most {int(one.max_batch_size)} or a larger tp",
            field="concurrency",
        )
    DB = _decode_step_s(one, model, gpu, B)
    mu, ttft, itl, phi = _point(one.ttft_s, DB, B, n)
    return OperatingPoint(
        model=one.model,
        gpu=one.gpu,
        dtype=one.dtype,
        tp=one.tp,
        pp=one.pp,
        concurrency=B,
        prefill_s=one.ttft_s,
        decode_step_s=DB,
        requests_per_s=mu,
        ttft_s=ttft,
        itl_s=itl,
        output_tokens_per_s=mu * n,
        prompt_share=phi,
        max_concurrency=int(one.max_batch_size),
    )


@dataclass(frozen=True)
class PlanRow:
    """One candidate configuration of a plan. Numbers are None where the configuration cannot serve.

    Attributes
    ----------
    concurrency : B*, sequences in flight per replica at the operating point.
    max_concurrency : Largest batch that fits at prompt + completion tokens (before any cap).
    requests_per_s : μB*, what one replica sustains [1/s].
    ttft_s, itl_s : Latency under that load [s] (at concurrency 1 when the target is missed).
    replicas : ceil(peak / μB*); num_gpus : replicas · tp · pp.
    utilisation : average / (replicas · μB*).
    gpu_hour_usd : The price of this row's GPU [USD per GPU-hour]; also as ``usd_per_gpu_hour`` (the same value,
        the name its JSON and CSV rows carry beside this one).
    price_basis : Where the price comes from: "catalog" (the GPU's dated on-demand price), "rented" (a given
        rented price) or "owned"; a reservation discount applies to the first two.
    monthly_usd : num_gpus · gpu_hour_usd · 730 [USD].
    usd_per_1m_prompt_tokens, usd_per_1m_completion_tokens, usd_per_1m_blended : Cost of service [USD per 1M].
    power_kw_per_gpu : Power one GPU draws while serving, with its share of the server [kW]; None when the
        GPU has no catalog board power and none was given.
    pue : Power usage effectiveness the energy (and an owned price) counts.
    kwh_per_month : num_gpus · power_kw_per_gpu · pue · 730 [kWh].
    kwh_per_1m_tokens : kwh_per_month over the month's tokens (prompt and completion alike) · 1e6 [kWh].
    kg_co2e_per_1m_tokens : kwh_per_1m_tokens · grid intensity / 1000 [kg CO2e].
    reason : Why it cannot meet the target (which target, by how much); None when it can.
    """

    model: str
    gpu: str
    tp: int
    pp: int
    dtype: str
    concurrency: int | None = None
    max_concurrency: int | None = None
    requests_per_s: float | None = None
    ttft_s: float | None = None
    itl_s: float | None = None
    replicas: int | None = None
    num_gpus: int | None = None
    utilisation: float | None = None
    gpu_hour_usd: float | None = None
    monthly_usd: float | None = None
    usd_per_1m_prompt_tokens: float | None = None
    usd_per_1m_completion_tokens: float | None = None
    usd_per_1m_blended: float | None = None
    prompt_share: float | None = None
    price_basis: str | None = None
    power_kw_per_gpu: float | None = None
    pue: float | None = None
    kwh_per_month: float | None = None
    kwh_per_1m_tokens: float | None = None
    kg_co2e_per_1m_tokens: float | None = None
    reason: str | None = None

    @property
    def usd_per_gpu_hour(self) -> float | None:
        """The price of this row's GPU [USD per GPU-hour] (the same as gpu_hour_usd)."""
        return self.gpu_hour_usd

    def to_dict(self) -> dict[str, Any]:
        """Every field, with usd_per_gpu_hour beside gpu_hour_usd."""
        out: dict[str, Any] = {}
        for name, value in asdict(self).items():
            out[name] = value
            if name == "gpu_hour_usd":
                out["usd_per_gpu_hour"] = value
        return out


ROW_FIELDS = tuple(PlanRow(model="", gpu="", tp=1, pp=1, dtype="").to_dict())


@dataclass(frozen=True)
class Plan:
    """Every candidate configuration (feasible ones first, cheapest first) and the best one.

    Attributes
    ----------
    requests_per_s, peak_requests_per_s : The traffic planned for [1/s].
    rows : Every candidate configuration (:class:`PlanRow`).
    best : The cheapest row that meets the target; None when none does (each row says why).
    grid_g_co2e_per_kwh : Grid carbon intensity the rows' emissions use [g CO2e/kWh].
    """

    model: str
    prompt_tokens: int
    completion_tokens: int
    requests_per_s: float
    peak_requests_per_s: float
    ttft_s_max: float | None
    itl_s_max: float | None
    rows: tuple[PlanRow, ...]
    grid_g_co2e_per_kwh: float | None = None

    @property
    def best(self) -> PlanRow | None:
        return self.rows[0] if self.rows and self.rows[0].reason is None else None

    def to_rows(self) -> list[dict[str, Any]]:
        """Every row as a dict, in order, for CSV or a data frame."""
        return [r.to_dict() for r in self.rows]

    def to_dict(self) -> dict[str, Any]:
        """The inputs, the best row and every row."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "rows"}
        out["best"] = None if self.best is None else self.best.to_dict()
        out["rows"] = self.to_rows()
        return out


# ---------------------------------------------------------------------------
# Inputs


def _optional_positive(value: Any, field: str, unit: str = "", example: str = "") -> float | None:
    """None, or ``value`` within RANGES[field] (``unit`` and ``example`` are in RANGES now)."""
    return None if value is None else check_range(value, field)


def traffic(
    prompt_tokens: int,
    completion_tokens: int,
    requests_per_s: Any = None,
    tokens_per_day: Any = None,
    peak_requests_per_s: Any = None,
    peak_factor: Any = None,
) -> tuple[float, float]:
    """(average, peak) requests per second from the ways people state traffic.

    Both within :data:`llmxl.checks.RANGES` (1e-9 to 1e9 requests/s), so every cost is finite.
    """
    if (requests_per_s is None) == (tokens_per_day is None):
        raise InvalidInputError(
            "give the average traffic as requests_per_s or as tokens_per_day (one of them)", field="requests_per_s"
        )
    if requests_per_s is not None:
        avg = check_range(requests_per_s, "requests_per_s")
    else:
        per_day = check_range(tokens_per_day, "tokens_per_day")
        avg = per_day / 86400 / (prompt_tokens + completion_tokens)
        lo, hi = RANGES["requests_per_s"][:2]
        if not lo <= avg <= hi:
            raise InvalidInputError(
                f"tokens_per_day {per_day:g} is {avg:.3g} requests/s of {prompt_tokens + completion_tokens:,} tokens, "
                f"outside the {lo:g} to {hi:g} requests/s llmxl plans for; give a traffic in that range",
                field="tokens_per_day",
            )
    if peak_requests_per_s is not None and peak_factor is not None:
        raise InvalidInputError("give peak_requests_per_s or peak_factor, not both", field="peak_requests_per_s")
    if peak_requests_per_s is not None:
        peak = check_range(peak_requests_per_s, "peak_requests_per_s")
        if peak < avg:
            raise InvalidInputError(
                f"peak_requests_per_s {peak:g} is below the average {avg:g}; give a peak ≥ the average",
                field="peak_requests_per_s",
            )
    elif peak_factor is not None:
        factor = check_range(peak_factor, "peak_factor")
        peak = avg * factor
        if peak > RANGES["peak_requests_per_s"][1]:
            raise InvalidInputError(
                f"peak_factor {factor:g} makes a peak of {peak:.3g} requests/s, more than the "
                f"{RANGES['peak_requests_per_s'][1]:g} llmxl plans for; give a smaller factor",
                field="peak_factor",
            )
    else:
        peak = avg
    return avg, peak


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Sequence):
        return [value]
    return list(value)


def _with_energy(row: PlanRow, basis: prices.PriceBasis, grid: float, target: _Target) -> PlanRow:
    """The row with its price basis, its power and, when it serves, its energy and emissions."""
    kw, u = basis.power_kw, basis.pue
    extra: dict[str, Any] = dict(price_basis=basis.basis, power_kw_per_gpu=kw, pue=u)
    if kw is not None and row.num_gpus is not None:
        kwh = energy.kwh_per_1m_tokens(row.num_gpus, kw, u, target.avg, target.s, target.n)
        extra.update(
            kwh_per_month=energy.kwh_per_month(row.num_gpus, kw, u),
            kwh_per_1m_tokens=kwh,
            kg_co2e_per_1m_tokens=energy.kg_co2e_per_1m_tokens(kwh, grid),
        )
    return replace(row, **extra)


# ---------------------------------------------------------------------------
# The search


def _miss_reason(ttft: float, itl: float | None, ttft_max: float | None, itl_max: float | None) -> str:
    misses = []
    if ttft_max is not None and ttft > ttft_max:
        misses.append(f"time to first token {ttft:.3g} s exceeds the {ttft_max:g} s target by {ttft - ttft_max:.3g} s")
    if itl_max is not None and itl is not None and itl > itl_max:
        misses.append(f"inter-token latency {itl:.3g} s exceeds the {itl_max:g} s target by {itl - itl_max:.3g} s")
    return "even at concurrency 1, " + " and ".join(misses)


class _Target(NamedTuple):
    """What a plan fixes for every candidate: request shape, traffic, targets, cap and efficiencies."""

    s: int
    n: int
    avg: float
    peak: float
    ttft_max: float | None
    itl_max: float | None
    cap: int | None
    fe: Any
    he: Any


def cost_per_1m(
    prompt_share: Any, monthly_usd: Any, requests_per_s: Any, prompt_tokens: int, completion_tokens: int
) -> Any:
    """(prompt, completion, blended) USD per 1M tokens of a fleet costing ``monthly_usd`` at an average traffic.

    φ · monthly / (λ · 730 · 3600 · s) · 1e6 and (1 - φ) · monthly / (λ · 730 · 3600 · n) · 1e6; blended 3 : 1.
    Numbers or arrays; the plan and the frontier (a replica fully used: λ = μB) price tokens with it.
    """
    seconds = prices.hours_per_month() * 3600
    usd_prompt = prompt_share * monthly_usd / (requests_per_s * seconds * prompt_tokens) * 1e6
    usd_completion = (1 - prompt_share) * monthly_usd / (requests_per_s * seconds * completion_tokens) * 1e6
    return usd_prompt, usd_completion, prices.blended_usd_per_1m(usd_prompt, usd_completion)


def _largest_meeting(ok_at: Any, cap: int) -> int:
    """The largest B in [1, cap] with ``ok_at(B)``, 0 when even B = 1 misses, by bisection over the integers.

    The latency checks are monotone in B (TTFT_B and ITL_B grow with B), so ok_at is true up to B* and false
    beyond: this finds the B* a scan of every B would, in about log2(cap) evaluations.
    """
    if not ok_at(1):
        return 0
    if ok_at(cap):
        return cap
    lo, hi = 1, cap  # ok_at(lo), not ok_at(hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if ok_at(mid):
            lo = mid
        else:
            hi = mid
    return lo


def _candidate(model: Any, gpu: Any, tp: int, pp: int, dtype: Any, price: float, target: _Target) -> PlanRow:
    """The operating point, replicas and cost of one configuration."""
    s, n, avg, peak, ttft_max, itl_max, max_concurrency, fe, he = target
    one = _alone(model, gpu, tp, pp, dtype, s, n, fe, he)
    head = dict(model=one.model, gpu=one.gpu, tp=one.tp, pp=one.pp, dtype=one.dtype, gpu_hour_usd=price)
    fit = int(one.max_batch_size)
    cap = min(fit, MAX_COUNT["concurrency"]) if max_concurrency is None else min(fit, max_concurrency)

    def at(b: int) -> tuple[Any, Any, Any, Any]:  # one-element arrays: the arithmetic of a scan over every B
        B = np.array([b], dtype=float)
        return _point(one.ttft_s, _decode_step_s(one, model, gpu, B), B, n)

    def ok_at(b: int) -> bool:
        _, ttft, itl, _ = at(b)
        return (ttft_max is None or bool(ttft[0] <= ttft_max)) and (
            itl_max is None or itl is None or bool(itl[0] <= itl_max)
        )

    best = _largest_meeting(ok_at, cap) if cap >= 1 else 0
    if best == 0:
        _, ttft, itl, _ = at(1)
        return PlanRow(
            **head,
            concurrency=None,
            max_concurrency=fit,
            ttft_s=float(ttft[0]),
            itl_s=None if itl is None else float(itl[0]),
            reason=_miss_reason(float(ttft[0]), None if itl is None else float(itl[0]), ttft_max, itl_max),
        )
    mu, ttft, itl, phi = at(best)
    rate = float(mu[0])
    replicas = math.ceil(peak / rate)
    gpus = replicas * one.tp * one.pp
    monthly = gpus * price * prices.hours_per_month()
    share = float(phi[0])
    usd_prompt, usd_completion, usd_blended = cost_per_1m(share, monthly, avg, s, n)
    return _finite(
        PlanRow(
            **head,
            concurrency=best,
            max_concurrency=fit,
            requests_per_s=rate,
            ttft_s=float(ttft[0]),
            itl_s=None if itl is None else float(itl[0]),
            replicas=replicas,
            num_gpus=gpus,
            utilisation=avg / (replicas * rate),
            monthly_usd=monthly,
            usd_per_1m_prompt_tokens=usd_prompt,
            usd_per_1m_completion_tokens=usd_completion,
            usd_per_1m_blended=float(usd_blended),
            prompt_share=share,
        )
    )


def _finite(row: PlanRow) -> PlanRow:
    """``row``, whose every figure is a finite number; a guarantee the input ranges keep (else refused)."""
    for name in ROW_FIELDS:
        value = getattr(row, name)
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidInputError(
                f"{name} of {row.gpu} tp={row.tp} is not a finite number; check the model's and the GPU's figures",
                field="gpu",
            )
    return row


def _tp_candidates(model_spec: Any, tp: Any) -> list[int]:
    if tp is None:
        return [d for d in divisors(model_spec.num_attention_heads) if d <= NODE_GPUS]
    tps = [check_count(t, "tp") for t in _as_list(tp)]
    if not tps:
        raise InvalidInputError(
            "tp is an empty list; give one or more sizes such as [1, 2, 4], or None for all", field="tp"
        )
    return tps


def _dtype_candidates(model_spec: Any, dtype: Any) -> list[Any]:
    """The dtypes a plan tries: those given, else the precision the model is published in."""
    return [resolve_dtype(d) for d in _as_list(dtype)] or [released_dtype(model_spec)[0]]


def plan(
    model: Any,
    gpus: Any,
    *,
    prompt_tokens: Any,
    completion_tokens: Any,
    requests_per_s: Any = None,
    tokens_per_day: Any = None,
    peak_requests_per_s: Any = None,
    peak_factor: Any = None,
    ttft_s_max: Any = None,
    itl_s_max: Any = None,
    tp: Any = None,
    pp: int = 1,
    dtype: Any = None,
    max_concurrency: Any = None,
    gpu_hour_usd: Any = None,
    reservation_discount: Any = 0.0,
    owned: Any = None,
    flops_efficiency: Any = None,
    hbm_efficiency: Any = None,
    power_kw: Any = None,
    pue: Any = None,
    grid_g_co2e_per_kwh: Any = None,
) -> Plan:
    """Every candidate configuration for a traffic and a latency target, and the cheapest that meets it.

    Parameters
    ----------
    model : Catalog name or alias, config.json path, dict or ModelSpec.
    gpus : One GPU or a list of them (names, dicts or GpuSpecs).
    prompt_tokens, completion_tokens : Request shape s and n [tokens].
    requests_per_s : Average traffic [requests/s]; or tokens_per_day [tokens/day], converted with s + n.
    peak_requests_per_s : Peak traffic [requests/s]; or peak_factor (peak / average); default the average.
    ttft_s_max, itl_s_max : Latency targets [s]; None for no target.
    tp : Tensor-parallel size or a list of them; None tries every divisor of the heads up to 8.
    pp : Pipeline stages.
    dtype : A dtype or a list of them; None takes the precision the model is published in
        (:func:`llmxl.released_dtype`).
    max_concurrency : Cap on sequences in flight per replica (a serving engine's max_num_seqs).
    gpu_hour_usd : Rented price [USD per GPU-hour]: one number for every GPU, or a dict by GPU name
        (``{"h100-sxm-80gb": 2.0, "b200": 7.0}``; a GPU it leaves out keeps its catalog price, a name that is not
        among ``gpus`` is refused). None: each GPU's catalog price.
    reservation_discount : Fraction off the rented price, in [0, 1).
    owned : Owned cost instead of rent: USD per GPU-hour, or the arguments of :func:`llmxl.owned_gpu_hour_usd`
        as a dict (power_kw and pue may be left out: the GPU's serving power and ``pue`` then apply); one for
        every GPU, or a dict by GPU name (a GPU it leaves out is rented).
    power_kw : Power per GPU with its share of the server [kW], one number or a dict by GPU name; None: each
        GPU's catalog serving power (:func:`llmxl.energy.serving_power_kw`). Owned prices use the same figure.
    pue : Power usage effectiveness of the data centre; None: 1.58, the industry average (Uptime 2023).
    grid_g_co2e_per_kwh : Grid carbon intensity [g CO2e/kWh], or a region ("world", "us", "eu27"); None: world,
        445 (IEA 2024).

    Returns
    -------
    Plan

    Notes
    -----
    B* = the largest B ≤ the largest batch that fits (and ≤ max_concurrency) with TTFT_B ≤ ttft_s_max and
    ITL_B ≤ itl_s_max; replicas = ceil(peak / μB*); monthly cost = GPUs · USD per GPU-hour · 730;
    USD per 1M prompt tokens = φ · monthly / prompt tokens per month · 1e6, completion likewise with 1 - φ;
    blended = (3 prompt + completion) / 4. Energy: kWh per month = GPUs · power_kw · PUE · 730; kWh per 1M
    tokens = that / (prompt + completion tokens per month) · 1e6; kg CO2e = kWh · grid intensity / 1000.

    Examples
    --------
    >>> p = plan("llama-3.1-70b", "h100-sxm-80gb", tp=2, dtype="fp8", prompt_tokens=1000,
    ...          completion_tokens=300, requests_per_s=5, peak_requests_per_s=15, ttft_s_max=0.5,
    ...          itl_s_max=0.05, gpu_hour_usd=3.99)
    >>> p.best.concurrency, p.best.num_gpus, round(p.best.monthly_usd, 1)
    (78, 6, 17476.2)
    """
    spec = resolve_model(model)
    s = check_count(prompt_tokens, "prompt_tokens")
    n = check_count(completion_tokens, "completion_tokens")
    avg, peak = traffic(s, n, requests_per_s, tokens_per_day, peak_requests_per_s, peak_factor)
    ttft_max = _optional_positive(ttft_s_max, "ttft_s_max", "s", "0.5")
    itl_max = _optional_positive(itl_s_max, "itl_s_max", "s", "0.05")
    cap = None if max_concurrency is None else check_count(max_concurrency, "max_concurrency")
    p = check_count(pp, "pp")
    prices.check_fraction_below_one(reservation_discount, "reservation_discount")
    gpu_specs = [resolve_gpu(g) for g in _as_list(gpus)]
    if not gpu_specs:
        raise InvalidInputError("gpus is empty; give at least one GPU such as 'h100-sxm-80gb'", field="gpus")
    dtypes = _dtype_candidates(spec, dtype)
    target = _Target(s, n, avg, peak, ttft_max, itl_max, cap, flops_efficiency, hbm_efficiency)
    grid = energy.grid_g_co2e_per_kwh(grid_g_co2e_per_kwh)
    bases = prices.price_bases(gpu_specs, gpu_hour_usd, reservation_discount, owned, power_kw, pue)
    tps = _tp_candidates(spec, tp)
    rows: list[PlanRow] = []
    for g, basis in zip(gpu_specs, bases, strict=True):
        price = basis.usd_per_gpu_hour
        for d in dtypes:
            for t in tps:
                try:
                    row = _candidate(spec, g, t, p, d, price, target)
                except LlmxlError as exc:
                    if exc.field not in ("tp", "batch_size", "dtype", "pp", "method"):
                        raise
                    row = PlanRow(
                        model=spec.id, gpu=g.id, tp=t, pp=p, dtype=d.id, gpu_hour_usd=price, reason=exc.message
                    )
                rows.append(_with_energy(row, basis, grid, target))
    # Feasible rows cheapest first; then those that fit but miss the target, nearest first; then those that do not fit.
    rows.sort(
        key=lambda r: (r.reason is not None, r.ttft_s is None, r.monthly_usd or 0.0, r.num_gpus or 0, r.ttft_s or 0.0)
    )
    return Plan(
        model=spec.id,
        prompt_tokens=s,
        completion_tokens=n,
        requests_per_s=avg,
        peak_requests_per_s=peak,
        ttft_s_max=ttft_max,
        itl_s_max=itl_max,
        rows=tuple(rows),
        grid_g_co2e_per_kwh=grid,
    )


# ---------------------------------------------------------------------------
# Break-even against an API


@dataclass(frozen=True)
class Breakeven:
    """The smallest average traffic at which self-hosting costs less than an API.

    Attributes
    ----------
    requests_per_s : Break-even average traffic [requests/s]: the costs are equal there and self-hosting
        costs less above it; None when self-hosting never costs less.
    monthly_usd : Both costs at the break-even (they are equal there) [USD per month].
    api_usd_per_request_per_s : What the API charges per month for 1 request/s of average traffic [USD].
    row : The configuration that breaks even first (:class:`PlanRow`, priced at that traffic).
    reason : Why there is no break-even; None when there is one.
    """

    model: str
    api: str
    prompt_usd_per_1m: float
    completion_usd_per_1m: float
    peak_factor: float
    requests_per_s: float | None
    monthly_usd: float | None
    api_usd_per_request_per_s: float
    row: PlanRow | None
    reason: str | None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["row"] = None if self.row is None else self.row.to_dict()
        return out


#: What breakeven() finds or fixes itself: giving one of these is refused, never merged.
_BREAKEVEN_OWN = {
    "requests_per_s": "breakeven finds the average traffic itself; leave requests_per_s out",
    "tokens_per_day": "breakeven finds the average traffic itself; leave tokens_per_day out",
    "peak_requests_per_s": "breakeven fixes the peak as peak_factor × the average; give peak_factor instead",
    "model": "give the model as the first argument",
    "gpus": "give the GPU(s) as the second argument",
}


def _check_breakeven_options(options: Mapping[str, Any]) -> None:
    """Refuse an option of breakeven() that plan() does not take, or one breakeven sets itself."""
    import difflib
    import inspect

    known = set(inspect.signature(plan).parameters) - set(_BREAKEVEN_OWN)
    for key in options:
        if key in _BREAKEVEN_OWN:
            raise InvalidInputError(f"{key} is not an option of breakeven: {_BREAKEVEN_OWN[key]}", field=key)
        if key not in known:
            close = difflib.get_close_matches(key, sorted(known), n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"use {', '.join(sorted(known))}"
            raise InvalidInputError(f"breakeven has no option {key!r}; {hint}", field=key)


def api_monthly_usd(requests_per_s: Any, prompt_tokens: int, completion_tokens: int, pin: float, pout: float) -> Any:
    """What an API charges for a month of traffic [USD]: λ · 730 · 3600 · (s Pin + n Pout) / 1e6."""
    return requests_per_s * prices.hours_per_month() * 3600 * (prompt_tokens * pin + completion_tokens * pout) / 1e6


def _api_prices(model_id: str, api: Any) -> tuple[str, float, float]:
    if isinstance(api, str):
        p = prices.api_price(model_id, api)
        return p.provider, p.prompt_usd_per_1m, p.completion_usd_per_1m
    items = _as_list(api)
    if len(items) != 2:
        raise InvalidInputError(
            "api must be a provider name or (prompt, completion) USD per 1M tokens, e.g. (0.88, 0.88)", field="api"
        )
    pin = check_range(items[0], "api prompt price")
    pout = check_range(items[1], "api completion price")
    return "at the given prices", pin, pout


def breakeven(
    model: Any,
    gpu: Any,
    *,
    prompt_tokens: Any,
    completion_tokens: Any,
    api: Any,
    peak_factor: Any = 1.0,
    **plan_options: Any,
) -> Breakeven:
    """The smallest average traffic at which self-hosting costs less than an API, at a fixed peak/average.

    ``api`` is a provider in the catalog (``"together"``) or (prompt, completion) USD per 1M tokens.
    ``plan_options`` are those of :func:`plan` (tp, dtype, targets, prices ...).

    Notes
    -----
    A fleet grows in whole replicas, so the self-hosted cost is a staircase: R · t · p · c · 730 for
    peak traffic up to R μB*. The API costs a · λ with a = 730 · 3600 · (s Pin + n Pout) / 1e6. On step R
    self-hosting is cheaper once a λ > R K (K the cost of one replica); the ratio cost / traffic is smallest
    at full replicas, K · peak_factor / μB*, the same on every step. So self-hosting breaks even at
    λ = K / a on the first step when a · μB* / peak_factor ≥ K, and never otherwise.

    Examples
    --------
    >>> b = breakeven("llama-3.1-70b", "h100-sxm-80gb", tp=2, dtype="fp8", prompt_tokens=1000,
    ...               completion_tokens=300, peak_factor=2, api=(0.88, 0.88), ttft_s_max=0.5,
    ...               itl_s_max=0.05, gpu_hour_usd=3.99)
    >>> round(b.requests_per_s, 4), round(b.monthly_usd, 1), b.row.num_gpus
    (1.9376, 5825.4, 2)

    At a peak three times the average, one replica is never busy enough to beat the API:

    >>> breakeven("llama-3.1-70b", "h100-sxm-80gb", tp=2, dtype="fp8", prompt_tokens=1000,
    ...           completion_tokens=300, peak_factor=3, api=(0.88, 0.88), ttft_s_max=0.5,
    ...           itl_s_max=0.05, gpu_hour_usd=3.99).requests_per_s is None
    True

    Below that traffic the API is cheaper; above it, one replica is (to six digits, from 1.93766 requests/s on).
    """
    factor = check_range(peak_factor, "peak_factor")
    _check_breakeven_options(plan_options)
    p = plan(
        model,
        gpu,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        requests_per_s=1.0,
        peak_factor=factor,
        **plan_options,
    )
    name, pin, pout = _api_prices(p.model, api)
    a = float(api_monthly_usd(1.0, p.prompt_tokens, p.completion_tokens, pin, pout))
    best: tuple[float, PlanRow] | None = None
    for row in p.rows:
        if row.reason is not None or a == 0:  # an API that charges nothing is never beaten
            continue
        replica = row.tp * row.pp * row.gpu_hour_usd * prices.hours_per_month()  # type: ignore[operator]
        if replica == 0:
            raise InvalidInputError(
                f"{row.gpu} costs $0 per GPU-hour: self-hosting is then free and costs less than the API at any "
                "traffic; give the real price (gpu_hour_usd or owned) for a break-even",
                field="gpu_hour_usd",
            )
        if a * row.requests_per_s / factor >= replica and (best is None or replica / a < best[0]):  # type: ignore[operator]
            best = (replica / a, row)
    if best is None and a == 0:
        reason = "the API charges nothing at these prices; self-hosting never costs less"
        return Breakeven(p.model, name, pin, pout, factor, None, None, a, None, reason)
    if best is None:
        feasible = [r for r in p.rows if r.reason is None]
        if not feasible:
            reason = "no configuration meets the target: " + "; ".join(
                sorted({f"{r.gpu} tp={r.tp} {r.dtype}: {r.reason}" for r in p.rows})[:3]
            )
        else:
            r = min(feasible, key=lambda r: r.tp * r.pp * r.gpu_hour_usd * factor / r.requests_per_s)  # type: ignore[operator]
            per = r.tp * r.pp * r.gpu_hour_usd * prices.hours_per_month() * factor / r.requests_per_s  # type: ignore[operator]
            reason = (
                f"the API costs less at every traffic level: it charges ${a:,.0f} per month for each request/s, "
                f"while self-hosting costs at least ${per:,.0f} ({r.gpu}, tp={r.tp}, {r.dtype}, fully used at "
                f"peak factor {factor:g})"
            )
        return Breakeven(p.model, name, pin, pout, factor, None, None, a, None, reason)
    lam, row = best
    priced = plan(  # the winning configuration priced at the break-even traffic
        model,
        gpu,
        prompt_tokens=p.prompt_tokens,
        completion_tokens=p.completion_tokens,
        requests_per_s=max(lam, RANGES["requests_per_s"][0]),  # a break-even below any traffic planned for
        peak_factor=factor,
        **{**plan_options, "tp": row.tp, "dtype": row.dtype},
    )
    at = next(r for r in priced.rows if (r.gpu, r.tp, r.dtype, r.reason) == (row.gpu, row.tp, row.dtype, None))
    return Breakeven(p.model, name, pin, pout, factor, lam, lam * a, a, at, None)
