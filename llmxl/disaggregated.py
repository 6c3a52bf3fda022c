"""Disaggregated prefill/decode fleets for a plan (docs/methodology.md, "Disaggregated prefill and decode").

Each configured instance (llmxl.operating.configured) can serve as a prefill instance or a decode instance
(llmxl.load.disaggregated). :func:`size_pools` pairs every decode layout that meets the ITL target with the
prefill layout that needs the fewest GPUs for the TTFT target, and sizes both pools at the peak:
x = ceil(peak / λ_prefill), y = ceil(peak / λ_decode). What a month of them costs is left to llmxl.plan.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from . import catalog, parallel
from .load import disaggregated as pools
from .serving import kv_cache_bytes

__all__ = ["Pools", "mode_note", "size_pools"]


class Pools(NamedTuple):
    """A prefill pool and a decode pool for one decode layout (None where it cannot serve; ``reason`` says why)."""

    decode: tuple[int, int, int]
    """(tp, dp, ep) of a decode instance."""
    decode_gpus: int
    """GPUs of one decode instance, tp · dp · pp."""
    prefill: tuple[int, int, int] | None = None
    """(tp, dp, ep) of a prefill instance."""
    prefill_gpus: int | None = None
    prefill_replicas: int | None = None
    """x, prefill instances."""
    prefill_requests_per_s: float | None = None
    """λ_p, the most one prefill instance takes at the peak [1/s]."""
    prefill_capacity_requests_per_s: float | None = None
    """1 / L1, what a prefill instance sustains at all [1/s]."""
    prefill_s: float | None = None
    """L1, the time one prompt takes on a prefill instance [s]."""
    decode_replicas: int | None = None
    """y, decode instances."""
    concurrency: int | None = None
    """B*, the sequences each decode instance runs at the peak."""
    max_concurrency: int | None = None
    decode_requests_per_s: float | None = None
    """λ_d = λ(B*) [1/s]."""
    decode_capacity_requests_per_s: float | None = None
    """λ at the decode instance's largest B [1/s]."""
    decode_step_s: float | None = None
    """a(B*), a step of B* decodes [s]."""
    itl_s: float | None = None
    """a(B*) / τ [s], at every percentile."""
    kv_transfer_s: float | None = None
    """One prompt's KV cache from the prefill GPUs to the decode GPUs, latency included [s]."""
    kv_transfer_bytes: float | None = None
    kv_link: str | None = None
    """"scale-up" (a prefill and a decode instance fit in one domain) or "scale-out"."""
    ttft_s: float | None = None
    """f + L1 + wait at the percentile + transfer + a(B*), at λ_p [s]."""
    ttft_mean_s: float | None = None
    reason: str | None = None


def transfer(Tp: Any, Td: Any, s: int, gpu: Any, gp: int, gd: int) -> tuple[float, float, str]:
    """(seconds, bytes, link) of one prompt's KV cache from a prefill instance of terms Tp (gp GPUs) to a decode
    instance of terms Td (gd GPUs): the bytes its data-parallel rank stores, dp · KV(1, s) on each of its tp · pp
    GPUs, over min(tp_p pp_p, tp_d pp_d) links at once; the scale-up link (and the serving constant λ) when
    gp + gd GPUs fit in one domain, else the scale-out network and its latency (llmxl.parallel.link)."""
    senders, receivers = Tp.t * Tp.p, Td.t * Td.p
    prompt = float(kv_cache_bytes(Tp, 1, s)) * Tp.dp * senders
    bw, extra, out = parallel.link(gp + gd, gpu)
    latency = extra if out else catalog.serving_constants(gpu).allreduce_latency_s
    return pools.kv_transfer_s(prompt, senders, receivers, bw, latency), prompt, "scale-out" if out else "scale-up"


def size_pools(
    instances: Sequence[tuple[tuple[int, int, int], Any]],
    gpu: Any,
    s: int,
    n: int,
    peak: float,
    ttft_max: float,
    itl_max: float | None,
    percentile: float,
) -> list[Pools]:
    """One :class:`Pools` per decode layout among ``instances`` ((tp, dp, ep), Configured with capacity=False).

    A decode instance runs B* = the largest B up to its limit with ITL ≤ ``itl_max`` (its limit without a target);
    each prefill layout then has the wait its TTFT leaves, w = Tmax − (f + L1 + transfer + a(B*)), and takes
    λ_p = the rate whose wait at the percentile is w (llmxl.load.disaggregated.prefill_rate); the prefill layout
    of fewest GPUs x · G_p (then fewest per instance, then lowest mean TTFT) is the row's.
    """
    out: list[Pools] = []
    pct = percentile
    for layout, c in instances:
        r, Td = c.replica.rates, c.replica.rates.T
        gd = c.one.num_gpus
        budget = c.replica.memory.max_num_batched_tokens
        top, a, itl, lam = pools.decode_pool(r, s, n, c.top, budget)
        ok = np.ones(top, dtype=bool) if itl_max is None else itl <= itl_max
        best = top if ok.all() else int(np.argmin(ok))
        if best == 0:
            out.append(
                Pools(
                    layout,
                    gd,
                    itl_s=float(itl[0]),
                    max_concurrency=c.fit,
                    reason=f"even one sequence per decode instance, inter-token latency {float(itl[0]):.3g} s exceeds "
                    f"the {itl_max:g} s target by {float(itl[0]) - itl_max:.3g} s",
                )
            )
            continue
        i = best - 1
        step, lam_d, gap = float(a[i]), float(lam[i]), float(itl[i])
        y = math.ceil(peak / lam_d)
        choice: tuple[Any, ...] | None = None
        nearest: tuple[float, float] | None = None  # the lowest TTFT an idle prefill instance gives, and its parts
        for p_layout, pc in instances:
            Tp, f = pc.replica.rates.T, pc.replica.engine.front_end_s
            gp = pc.one.num_gpus
            L1 = pools.prefill_step(pc.replica.rates, s, n, pc.replica.memory.max_num_batched_tokens,
                                    pc.replica.prefix_cache_hit)  # fmt: skip
            X, nbytes, link = transfer(Tp, Td, s, gpu, gp, gd)
            fixed = f + L1 + X + step
            if nearest is None or fixed < nearest[0]:
                nearest = (fixed, X)
            lam_p = pools.prefill_rate(L1, ttft_max - fixed, pct)
            if lam_p <= 0:
                continue
            x = math.ceil(peak / lam_p)
            mean = fixed + pools.prefill_wait_s(lam_p, L1)
            key = (x * gp, gp, mean)
            if choice is None or key < choice[0]:
                ttft = fixed + pools.prefill_wait_pct_s(lam_p, L1, pct)
                choice = (key, p_layout, gp, x, lam_p, L1, X, nbytes, link, ttft, mean)
        if choice is None:
            fixed, X = nearest  # type: ignore[misc]
            out.append(
                Pools(
                    layout,
                    gd,
                    concurrency=best,
                    max_concurrency=c.fit,
                    itl_s=gap,
                    decode_step_s=step,
                    kv_transfer_s=X,
                    ttft_s=fixed,
                    reason=f"even an idle prefill instance, p{pct:g} time to first token {fixed:.3g} s (front end, "
                    f"prefill, KV transfer {X:.3g} s and a decode step) exceeds the {ttft_max:g} s target by "
                    f"{fixed - ttft_max:.3g} s",
                )
            )
            continue
        _, p_layout, gp, x, lam_p, L1, X, nbytes, link, ttft, mean = choice
        out.append(
            Pools(
                decode=layout,
                decode_gpus=gd,
                prefill=p_layout,
                prefill_gpus=gp,
                prefill_replicas=x,
                prefill_requests_per_s=lam_p,
                prefill_capacity_requests_per_s=1 / L1,
                prefill_s=L1,
                decode_replicas=y,
                concurrency=best,
                max_concurrency=c.fit,
                decode_requests_per_s=lam_d,
                decode_capacity_requests_per_s=float(lam.max()),
                decode_step_s=step,
                itl_s=gap,
                kv_transfer_s=X,
                kv_transfer_bytes=nbytes,
                kv_link=link,
                ttft_s=ttft,
                ttft_mean_s=mean,
            )
        )
    return out


def _layout_text(tp: int | None, dp: int | None, ep: int | None) -> str:
    return f"tp={tp}" + (f" dp={dp} ep={ep}" if (dp or 1) > 1 or (ep or 1) > 1 else "")


def mode_note(rows: Sequence[Any]) -> str:
    """Which mode costs less at the target and why: the cheapest row of each (a plan's rows, cheapest first), with
    numbers."""
    best = {
        m: next((r for r in rows if r.mode == m and r.reason is None), None) for m in ("aggregated", "disaggregated")
    }
    agg, dis = best["aggregated"], best["disaggregated"]
    if agg is None and dis is None:
        return "neither aggregated replicas nor disaggregated pools meet the target (each row says why)"
    if dis is None:
        return (
            "only aggregated replicas meet the target: no prefill and decode pools do (each disaggregated row says why)"
        )
    fleet = (
        f"disaggregated {dis.prefill_replicas}P{dis.decode_replicas}D ({dis.prefill_replicas} × "
        f"{_layout_text(dis.prefill_tp, dis.prefill_dp, dis.prefill_ep)} prefill + {dis.decode_replicas} × "
        f"{_layout_text(dis.tp, dis.dp, dis.ep)} decode, {dis.num_gpus} GPUs, ${dis.monthly_usd:,.0f} a month): its "
        f"decode instances run B={dis.concurrency} at an inter-token latency of {dis.itl_s:.4g} s without prefill "
        f"interference, and each prompt's KV cache crosses the {dis.kv_link} link in {dis.kv_transfer_s:.3g} s"
    )
    if agg is None:
        return f"only disaggregated pools meet the target: {fleet}; no aggregated replica does (each row says why)"
    mixed = (
        f"aggregated {agg.replicas} × {_layout_text(agg.tp, agg.dp, agg.ep)} ({agg.num_gpus} GPUs, "
        f"${agg.monthly_usd:,.0f} a month): each replica runs B={agg.concurrency} at a p{agg.percentile:g} "
        f"inter-token latency of {agg.itl_s:.4g} s with prompts in its steps"
    )
    if dis.monthly_usd < agg.monthly_usd:
        return f"disaggregated costs ${agg.monthly_usd - dis.monthly_usd:,.0f} a month less: {fleet}; {mixed}"
    if dis.monthly_usd > agg.monthly_usd:
        return f"aggregated costs ${dis.monthly_usd - agg.monthly_usd:,.0f} a month less: {mixed}; {fleet}"
    return f"both cost the same: {mixed}; {fleet}"
