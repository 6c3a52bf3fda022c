"""Capacity planning and cost of service, above :func:`llmxl.estimate`.

From traffic (average and peak requests per second), a request shape (prompt and completion tokens), a
serving engine and latency targets held at a percentile (time to first token, inter-token latency) to
GPUs, dollars per month, dollars per million tokens. Definitions: docs/methodology.md, "Engines and load"
and "Capacity planning and cost of service". Everything uses the `serving` method.

Each configuration is one replica of t·p GPUs under the engine (llmxl.operating.configured): its KV cache
and cap give the sequences it runs at once; the closed-form load model (llmxl.load.queueing) gives, at a
mean concurrency B, the arrival rate λ(B) it serves and the time to first token and inter-token latency at
the percentile. B* is the largest B up to the replica's capacity at which both targets hold; each replica
then takes at most λ(B*) of the peak.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, NamedTuple

import numpy as np

from . import catalog, energy, parallel, prefix, prices
from .checks import RANGES, check_count, check_percentile, check_range
from .disaggregated import mode_note, size_pools
from .errors import InvalidInputError, LlmxlError
from .operating import DEFAULT_PERCENTILE, configured
from .resolve import NODE_GPUS, divisors, released_dtype, resolve_dtype, resolve_engine, resolve_gpu, resolve_model

__all__ = ["Plan", "PlanRow", "plan", "traffic"]


@dataclass(frozen=True)
class PlanRow:
    """One candidate configuration of a plan. Numbers are None where the configuration cannot serve.

    Attributes
    ----------
    engine : The engine profile the row runs under; percentile : the percentile ttft_s and itl_s are at.
    concurrency : B*, the mean concurrency each replica is sized for: the largest up to its capacity at which
        both targets hold (its capacity when there are none).
    max_concurrency : Sequences of prompt + completion tokens the engine runs at once (its KV cache and its cap
        on sequences), before any max_concurrency given.
    requests_per_s : λ(B*), the most one replica takes at the peak [1/s].
    capacity_requests_per_s : λ_max, the most one replica sustains at all [1/s].
    ttft_s, itl_s : Latency at the percentile at B* [s], what the targets are checked against; each replica
        carries at most B* at the peak, so at most these (at concurrency 1 when the target is missed).
    ttft_mean_s, itl_mean_s : Their means at B* [s].
    replicas : ceil(peak / λ(B*)); num_gpus : replicas · tp · dp · pp.
    utilisation, peak_utilisation : average and peak traffic over what the fleet sustains, replicas · λ_max.
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
    engine: str | None = None
    percentile: float | None = None
    concurrency: int | None = None
    max_concurrency: int | None = None
    requests_per_s: float | None = None
    capacity_requests_per_s: float | None = None
    ttft_s: float | None = None
    itl_s: float | None = None
    ttft_mean_s: float | None = None
    itl_mean_s: float | None = None
    replicas: int | None = None
    num_gpus: int | None = None
    utilisation: float | None = None
    peak_utilisation: float | None = None
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
    dp: int = 1
    """Attention data-parallel ranks (llmxl.parallel); a replica is tp · dp · pp GPUs."""
    ep: int = 1
    """Expert-parallel ranks of the MoE layers (1, or tp · dp)."""
    mode: str = "aggregated"
    """"aggregated" (each replica prefills and decodes) or "disaggregated" (a prefill pool and a decode pool,
    xPyD; tp, dp, ep, concurrency, max_concurrency, requests_per_s and capacity_requests_per_s are then the
    decode instance's, replicas x + y and num_gpus x · G_p + y · G_d; llmxl.disaggregated)."""
    prefill_tp: int | None = None
    """A prefill instance's layout (tp, dp, ep; pp as the row's), on a disaggregated row."""
    prefill_dp: int | None = None
    prefill_ep: int | None = None
    prefill_replicas: int | None = None
    """x = ceil(peak / prefill_requests_per_s), prefill instances."""
    prefill_requests_per_s: float | None = None
    """λ_p, the most one prefill instance takes at the peak within the TTFT target [1/s]."""
    prefill_s: float | None = None
    """L1, the time a prefill instance computes one prompt [s]."""
    decode_replicas: int | None = None
    """y = ceil(peak / requests_per_s), decode instances."""
    kv_transfer_s: float | None = None
    """One prompt's KV cache from the prefill to the decode GPUs, latency included [s] (in ttft_s)."""
    kv_transfer_bytes: float | None = None
    kv_link: str | None = None
    """The link the KV cache crosses: "scale-up" or "scale-out"."""

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
    engine, percentile : The engine profile and the percentile the targets hold at.
    prefix_cache_hit : The fraction of each prompt's tokens read from the prefix cache (0: none).
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
    engine: str | None = None
    percentile: float | None = None
    speculative: str | None = None
    """The speculative decoder every row runs (None: none), with its draft tokens and acceptance rate."""
    num_speculative_tokens: int | None = None
    acceptance_rate: float | None = None
    prefix_cache_hit: float = 0.0
    disaggregated: Any = False
    """The fleets planned: False aggregated replicas alone, True disaggregated pools alone, "both" each."""
    mode_note: str | None = None
    """With disaggregated="both": which mode costs less at the target and why, with numbers."""

    @property
    def best(self) -> PlanRow | None:
        return self.rows[0] if self.rows and self.rows[0].reason is None else None

    def to_rows(self) -> list[dict[str, Any]]:
        """Every row as a dict, in order, for CSV or a data frame."""
        return [r.to_dict() for r in self.rows]

    def to_dict(self) -> dict[str, Any]:
        """The inputs, the best row and every row."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "rows"}
        if self.speculative is None:  # a plan without speculative decoding reads as it always has
            for name in ("speculative", "num_speculative_tokens", "acceptance_rate"):
                del out[name]
        if self.disaggregated is False:  # an aggregated plan reads as it always has
            del out["disaggregated"], out["mode_note"]
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


def _miss_reason(ttft: float, itl: float | None, ttft_max: float | None, itl_max: float | None, pct: float) -> str:
    at = f"p{pct:g}"
    misses = []
    if ttft_max is not None and ttft > ttft_max:
        misses.append(
            f"{at} time to first token {ttft:.3g} s exceeds the {ttft_max:g} s target by {ttft - ttft_max:.3g} s"
        )
    if itl_max is not None and itl is not None and itl > itl_max:
        misses.append(f"{at} inter-token latency {itl:.3g} s exceeds the {itl_max:g} s target by {itl - itl_max:.3g} s")
    return "even at concurrency 1, " + " and ".join(misses)


class _Target(NamedTuple):
    """What a plan fixes for every candidate: shape, traffic, targets, cap, efficiencies, engine, percentile."""

    s: int
    n: int
    avg: float
    peak: float
    ttft_max: float | None
    itl_max: float | None
    cap: int | None
    fe: Any
    he: Any
    engine: Any = None
    percentile: float = DEFAULT_PERCENTILE
    spec: Any = None
    """(method, k, acceptance rate) of a speculative decoder, or None."""
    hit: float = 0.0


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


def _pick(sweep: Any, i: int) -> Any:
    """The load model at the i-th concurrency of a sweep, as floats."""
    return type(sweep)(*(float(np.asarray(v)[i]) for v in sweep))


def _candidate(
    model: Any, gpu: Any, tp: int, pp: int, dtype: Any, price: float, target: _Target, dp: int = 1, ep: int = 1
) -> PlanRow:
    """The design load, replicas and cost of one configuration under the plan's engine."""
    s, n, avg, peak, ttft_max, itl_max, max_concurrency, fe, he, engine, pct, spec, hit = target
    sp = dict(zip(("speculative", "num_speculative_tokens", "acceptance_rate"), spec or (), strict=False))
    c = configured(
        model, gpu, tp, pp, dtype, s, n, fe, he, engine, max_concurrency, pct, dp, ep, **sp, prefix_cache_hit=hit
    )
    one = c.one
    head = dict(
        model=one.model,
        gpu=one.gpu,
        tp=one.tp,
        pp=one.pp,
        dp=one.dp,
        ep=one.ep,
        dtype=one.dtype,
        engine=c.replica.engine.id,
        percentile=pct,
        gpu_hour_usd=price,
        max_concurrency=c.fit,
        capacity_requests_per_s=c.capacity_requests_per_s,
    )

    sweep = c.sweep
    if not c.capacity_requests_per_s > 0:  # every B ≥ 1 takes prompts in faster than the replica computes them
        low = _pick(sweep, 0)
        return PlanRow(
            **head,
            ttft_mean_s=low.ttft_s,
            itl_mean_s=low.itl_s,
            reason=(
                f"saturates at every concurrency: a request is {s:,} prompt tokens to {n:,} output tokens, and the "
                f"replica cannot compute prompts as fast as they arrive; use a larger tp or a faster GPU, or price "
                f"prompt-heavy work as a static batch of requests"
            ),
        )
    # B* is the largest B up to the capacity with every B up to it within the targets (latency grows with B)
    ok = np.ones(c.capacity_concurrency, dtype=bool)
    if ttft_max is not None:
        ok &= sweep.ttft_pct_s[: c.capacity_concurrency] <= ttft_max
    if itl_max is not None:
        ok &= sweep.itl_pct_s[: c.capacity_concurrency] <= itl_max
    best = c.capacity_concurrency if ok.all() else int(np.argmin(ok))
    if best == 0:
        low = _pick(sweep, 0)
        itl = low.itl_pct_s
        return PlanRow(
            **head,
            ttft_s=low.ttft_pct_s,
            itl_s=itl,
            ttft_mean_s=low.ttft_s,
            itl_mean_s=low.itl_s,
            reason=_miss_reason(low.ttft_pct_s, itl, ttft_max, itl_max, pct),
        )
    load = _pick(sweep, best - 1)
    rate = float(load.requests_per_s)
    replicas = math.ceil(peak / rate)
    gpus = replicas * one.num_gpus
    monthly = gpus * price * prices.hours_per_month()
    share = float(load.prompt_share)
    usd_prompt, usd_completion, usd_blended = cost_per_1m(share, monthly, avg, s, n)
    sustained = replicas * c.capacity_requests_per_s
    return _finite(
        PlanRow(
            **head,
            concurrency=best,
            requests_per_s=rate,
            ttft_s=float(load.ttft_pct_s),
            itl_s=float(load.itl_pct_s),
            ttft_mean_s=float(load.ttft_s),
            itl_mean_s=float(load.itl_s),
            replicas=replicas,
            num_gpus=gpus,
            utilisation=avg / sustained,
            peak_utilisation=peak / sustained,
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


def _layouts(model_spec: Any, gpu: Any, tps: list[int], tp: Any, dp: Any, ep: Any) -> list[tuple[int, int, int]]:
    """(tp, dp, ep) candidates: dp and ep as given (ep None: tp · dp when dp > 1), or for a MoE model with
    tp, dp and ep all None, the tp candidates and the expert-parallel layouts tp=1, dp=ep=G for G dividing
    the routed experts, up to the GPU's scale-up domain (four 8-GPU domains where the scale-out network is
    known)."""
    if dp is None and ep is None:
        out = [(t, 1, 1) for t in tps]
        if tp is None and model_spec.moe is not None:
            D = parallel.domain_gpus(gpu)
            most = 4 * D if gpu.scaleout_gbs is not None and D < 32 else D
            E = model_spec.moe.num_experts
            out += [(1, G, G) for G in divisors(E) if 1 < G <= most]
        return out
    dps = [1] if dp is None else [check_count(x, "dp") for x in _as_list(dp)]
    if not dps:
        raise InvalidInputError("dp is an empty list; give one or more sizes such as [1, 8], or None", field="dp")
    eps = None if ep is None else [check_count(x, "ep") for x in _as_list(ep)]
    if eps is not None and not eps:
        raise InvalidInputError("ep is an empty list; give one or more sizes such as [1, 8], or None", field="ep")
    out = []
    for t in tps:
        for d in dps:
            for e in eps if eps is not None else [t * d if d > 1 else 1]:
                out.append((t, d, e))
    return out


#: The fields of errors that rule out one candidate configuration (its row then says why) rather than the plan.
_LAYOUT_FIELDS = ("tp", "batch_size", "dtype", "pp", "method", "dp", "ep", "redundant_experts")


def _modes(disaggregated: Any, ttft_max: float | None) -> tuple[str, ...]:
    """The fleets a plan compares: ("aggregated",), ("disaggregated",) or both; refused in one line otherwise."""
    if disaggregated is False:
        return ("aggregated",)
    if disaggregated is not True and disaggregated != "both":
        raise InvalidInputError(
            f"disaggregated={disaggregated!r} is not a choice; give False (aggregated replicas), True "
            "(prefill and decode pools) or 'both' (each, compared)",
            field="disaggregated",
        )
    if ttft_max is None:
        raise InvalidInputError(
            "a disaggregated fleet sizes its prefill pool by the time-to-first-token target; give ttft_s_max "
            "(--ttft, e.g. 1.0) or plan aggregated replicas (disaggregated=False, --disaggregated no)",
            field="ttft_s_max",
        )
    return ("disaggregated",) if disaggregated is True else ("aggregated", "disaggregated")


def _pools(
    model: Any, gpu: Any, pp: int, dtype: Any, price: float, target: _Target, layouts: list[tuple[int, int, int]]
) -> list[PlanRow]:
    """The disaggregated rows of one GPU and dtype: each decode layout with its prefill pool (llmxl.disaggregated)."""
    s, n, avg, peak, ttft_max, itl_max, cap, fe, he, engine, pct, spec, hit = target
    sp = dict(zip(("speculative", "num_speculative_tokens", "acceptance_rate"), spec or (), strict=False))
    instances, rows = [], []
    for t, r, e in layouts:
        try:
            c = configured(model, gpu, t, pp, dtype, s, n, fe, he, engine, cap, pct, r, e, **sp, prefix_cache_hit=hit,
                           capacity=False)  # fmt: skip
        except LlmxlError as exc:
            if exc.field not in _LAYOUT_FIELDS:
                raise
            rows.append(PlanRow(model=model.id, gpu=gpu.id, tp=t, pp=pp, dtype=dtype.id, gpu_hour_usd=price,
                                reason=exc.message, dp=r, ep=e, mode="disaggregated"))  # fmt: skip
            continue
        instances.append(((c.one.tp, c.one.dp, c.one.ep), c))
    one = {layout: c for layout, c in instances}
    for f in size_pools(instances, gpu, s, n, peak, ttft_max, itl_max, pct):
        c = one[f.decode]
        head = dict(
            model=c.one.model, gpu=c.one.gpu, tp=f.decode[0], dp=f.decode[1], ep=f.decode[2], pp=c.one.pp,
            dtype=c.one.dtype, engine=c.replica.engine.id, percentile=pct, gpu_hour_usd=price, mode="disaggregated",
            max_concurrency=f.max_concurrency, concurrency=f.concurrency, ttft_s=f.ttft_s, itl_s=f.itl_s,
            itl_mean_s=f.itl_s, kv_transfer_s=f.kv_transfer_s,
        )  # fmt: skip
        if f.reason is not None:
            rows.append(PlanRow(**head, reason=f.reason))
            continue
        x, y = f.prefill_replicas, f.decode_replicas
        prefill_gpus, decode_gpus = x * f.prefill_gpus, y * f.decode_gpus
        gpus = prefill_gpus + decode_gpus
        monthly = gpus * price * prices.hours_per_month()
        share = prefill_gpus / gpus  # the prefill pool's share of the fleet, of its cost
        usd_prompt, usd_completion, usd_blended = cost_per_1m(share, monthly, avg, s, n)
        sustained = min(x * f.prefill_capacity_requests_per_s, y * f.decode_capacity_requests_per_s)
        rows.append(
            _finite(
                PlanRow(
                    **head,
                    requests_per_s=f.decode_requests_per_s,
                    capacity_requests_per_s=f.decode_capacity_requests_per_s,
                    ttft_mean_s=f.ttft_mean_s,
                    replicas=x + y,
                    num_gpus=gpus,
                    utilisation=avg / sustained,
                    peak_utilisation=peak / sustained,
                    monthly_usd=monthly,
                    usd_per_1m_prompt_tokens=usd_prompt,
                    usd_per_1m_completion_tokens=usd_completion,
                    usd_per_1m_blended=float(usd_blended),
                    prompt_share=share,
                    prefill_tp=f.prefill[0],
                    prefill_dp=f.prefill[1],
                    prefill_ep=f.prefill[2],
                    prefill_replicas=x,
                    prefill_requests_per_s=f.prefill_requests_per_s,
                    prefill_s=f.prefill_s,
                    decode_replicas=y,
                    kv_transfer_bytes=f.kv_transfer_bytes,
                    kv_link=f.kv_link,
                )
            )
        )
    return rows


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
    dp: Any = None,
    ep: Any = None,
    engine: Any = None,
    percentile: Any = DEFAULT_PERCENTILE,
    gpu_hour_usd: Any = None,
    reservation_discount: Any = 0.0,
    owned: Any = None,
    flops_efficiency: Any = None,
    hbm_efficiency: Any = None,
    power_kw: Any = None,
    pue: Any = None,
    grid_g_co2e_per_kwh: Any = None,
    speculative: Any = None,
    num_speculative_tokens: Any = None,
    acceptance_rate: Any = None,
    prefix_cache_hit: Any = 0.0,
    disaggregated: Any = False,
) -> Plan:
    """Every candidate configuration for a traffic and a latency target, and the cheapest that meets it.

    Parameters
    ----------
    model : Catalog name or alias, config.json path, dict or ModelSpec.
    gpus : One GPU or a list of them (names, dicts or GpuSpecs).
    prompt_tokens, completion_tokens : Request shape s and n [tokens].
    requests_per_s : Average traffic [requests/s]; or tokens_per_day [tokens/day], converted with s + n.
    peak_requests_per_s : Peak traffic [requests/s]; or peak_factor (peak / average); default the average.
    ttft_s_max, itl_s_max : Latency targets [s], held at ``percentile`` at the peak; None for no target.
    tp : Tensor-parallel size or a list of them; None tries every divisor of the heads up to 8.
    pp : Pipeline stages.
    dp, ep : Attention data-parallel and expert-parallel ranks (mixture-of-experts models; llmxl.parallel), a
        size or a list; ep None takes tp · dp where dp > 1 (whole experts per GPU). With tp, dp and ep all None,
        a MoE model is also tried in the expert-parallel layouts tp=1, dp=ep=G for every G dividing its routed
        experts up to the GPU's scale-up domain (8 in an HGX node, 72 in an NVL72 rack; four 8-GPU domains when
        the GPU is a system whose scale-out network is known). dp=1, ep=1 plans tp and pp alone.
    dtype : A dtype or a list of them; None takes the precision the model is published in
        (:func:`llmxl.released_dtype`).
    max_concurrency : Cap on sequences in flight per replica, below the engine's own (its max_num_seqs).
    engine : The serving engine: "vllm", "sglang", "tensorrt-llm", an EngineSpec (:func:`llmxl.engine`) or
        "name:flag=value,..." (``"vllm:max_num_seqs=512"``); None the default engine (vLLM).
    percentile : The percentile the latency targets hold at, in (0, 100); default 90.
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
    speculative, num_speculative_tokens, acceptance_rate : A speculative decoder every candidate runs, as
        :func:`llmxl.estimate` takes them (None: none); the Plan records the draft tokens and rate used.
    prefix_cache_hit : Fraction of each prompt's tokens served from the engine's prefix cache, in [0, 1)
        (default 0): prompts compute the rest and the step budget counts only those; the cost per 1M prompt
        tokens is over all of them, cached and computed (docs/methodology.md, "Prefix caching").
    disaggregated : False (default) plans aggregated replicas, each prefilling and decoding; True plans
        disaggregated fleets (xPyD: a prefill pool and a decode pool, each of the candidate layouts, the KV cache
        crossing between them; one row per decode layout, with the prefill layout needing the fewest GPUs); "both"
        plans each, and the Plan's mode_note says which costs less and why (docs/methodology.md, "Disaggregated
        prefill and decode"). Disaggregated fleets need ttft_s_max, which sizes the prefill pool.

    Returns
    -------
    Plan

    Notes
    -----
    Each replica runs under the engine: its KV cache and cap on sequences bound the mean concurrency B to
    the replica's capacity B_max, at which it serves λ_max. B* = the largest B ≤ B_max with TTFT and ITL at
    the percentile within the targets (B_max without targets); replicas = ceil(peak / λ(B*)); utilisation =
    average / (replicas · λ_max), peak_utilisation likewise with the peak. Monthly cost = GPUs · USD per
    GPU-hour · 730; USD per 1M prompt tokens = φ · monthly / prompt tokens per month · 1e6 (φ the prompts'
    share of a replica's time at B*), completion likewise with 1 - φ; blended = (3 prompt + completion) / 4.
    Energy: kWh per month = GPUs · power_kw · PUE · 730; kWh per 1M tokens = that / (prompt + completion
    tokens per month) · 1e6; kg CO2e = kWh · grid intensity / 1000.

    Examples
    --------
    >>> p = plan("llama-3.1-70b", "h100-sxm-80gb", tp=2, dtype="fp8", prompt_tokens=1000,
    ...          completion_tokens=300, requests_per_s=5, peak_requests_per_s=15, ttft_s_max=0.5,
    ...          itl_s_max=0.05, gpu_hour_usd=3.99)
    >>> p.best.engine, p.best.concurrency, p.best.num_gpus, round(p.best.monthly_usd, 1)
    ('vllm', 31, 10, 29127.0)

    Past 31 sequences decoding on average, more than one step in ten carries a prompt and the p90 inter-token
    latency rises above 0.05 s: five replicas of two H100s carry the 15 requests/s of the peak.
    """
    spec = resolve_model(model)
    s = check_count(prompt_tokens, "prompt_tokens")
    n = check_count(completion_tokens, "completion_tokens")
    avg, peak = traffic(s, n, requests_per_s, tokens_per_day, peak_requests_per_s, peak_factor)
    ttft_max = _optional_positive(ttft_s_max, "ttft_s_max", "s", "0.5")
    itl_max = _optional_positive(itl_s_max, "itl_s_max", "s", "0.05")
    cap = None if max_concurrency is None else check_count(max_concurrency, "max_concurrency")
    pct = check_percentile(percentile)
    hit = prefix.check_prefix_cache_hit(prefix_cache_hit)
    modes = _modes(disaggregated, ttft_max)
    eng = resolve_engine(engine)
    p = check_count(pp, "pp")
    prices.check_fraction_below_one(reservation_discount, "reservation_discount")
    gpu_specs = []
    for g in map(resolve_gpu, _as_list(gpus)):  # a GPU named twice (or by two aliases) is one candidate
        if g not in gpu_specs:
            gpu_specs.append(g)
    if not gpu_specs:
        raise InvalidInputError("gpus is empty; give at least one GPU such as 'h100-sxm-80gb'", field="gpus")
    dtypes = _dtype_candidates(spec, dtype)
    from .speculation import resolve_speculative  # pydantic: on first use, so that import llmxl stays light

    choice = resolve_speculative(
        spec.id, speculative, num_speculative_tokens, acceptance_rate, catalog.get_catalog().speculative
    )
    drafting = None if choice is None else (choice.method, choice.k, choice.alpha)
    target = _Target(
        s, n, avg, peak, ttft_max, itl_max, cap, flops_efficiency, hbm_efficiency, eng, pct, drafting, hit
    )  # fmt: skip
    grid = energy.grid_g_co2e_per_kwh(grid_g_co2e_per_kwh)
    bases = prices.price_bases(gpu_specs, gpu_hour_usd, reservation_discount, owned, power_kw, pue)
    tps = _tp_candidates(spec, tp)
    rows: list[PlanRow] = []
    for g, basis in zip(gpu_specs, bases, strict=True):
        price = basis.usd_per_gpu_hour
        layouts = _layouts(spec, g, tps, tp, dp, ep)
        for d in dtypes:
            if "disaggregated" in modes:
                rows += [
                    _with_energy(row, basis, grid, target) for row in _pools(spec, g, p, d, price, target, layouts)
                ]
            if "aggregated" not in modes:
                continue
            for t, r, e in layouts:
                try:
                    row = _candidate(spec, g, t, p, d, price, target, r, e)
                except LlmxlError as exc:
                    if exc.field not in _LAYOUT_FIELDS:
                        raise
                    row = PlanRow(
                        model=spec.id,
                        gpu=g.id,
                        tp=t,
                        pp=p,
                        dtype=d.id,
                        gpu_hour_usd=price,
                        reason=exc.message,
                        dp=r,
                        ep=e,
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
        engine=eng.id,
        percentile=pct,
        speculative=None if choice is None else choice.method,
        num_speculative_tokens=None if choice is None else choice.k,
        acceptance_rate=None if choice is None else choice.alpha,
        prefix_cache_hit=hit,
        disaggregated=disaggregated,
        mode_note=mode_note(rows) if len(modes) == 2 else None,
    )
