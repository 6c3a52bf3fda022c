"""Break-even against an API: the smallest average traffic at which self-hosting costs less.

Definitions: docs/methodology.md, "Break-even against an API". Built on :func:`llmxl.plan`: the same
replicas, engine, targets and prices.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from . import prefix, prices
from .checks import RANGES, check_range
from .errors import InvalidInputError
from .plan import PlanRow, _as_list, plan

__all__ = ["Breakeven", "api_monthly_usd", "breakeven"]


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
    cached_prompt_usd_per_1m : The API's price of 1M prompt tokens read from its prompt cache [USD]; None when it
        publishes none (its cache hits are then billed at the prompt price, and ``warnings`` says so).
    prefix_cache_hit : h, the fraction of prompt tokens served from a prefix cache, on both sides: the
        self-hosted engine computes the rest, the API bills h s at its cached price.
    warnings : Things to know about the comparison (tuple of str).
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
    cached_prompt_usd_per_1m: float | None = None
    prefix_cache_hit: float = 0.0
    warnings: tuple[str, ...] = ()

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


def api_monthly_usd(
    requests_per_s: Any,
    prompt_tokens: int,
    completion_tokens: int,
    pin: float,
    pout: float,
    cached: float | None = None,
    hit: float = 0.0,
) -> Any:
    """What an API charges for a month of traffic [USD]: λ · 730 · 3600 · (s Pin' + n Pout) / 1e6, with
    Pin' = (1 − h) Pin + h Pcached the prompt price when a fraction h of prompt tokens are cache hits (Pin where
    the API has no cached price; Pin' = Pin at h = 0)."""
    pin = prefix.api_prompt_usd_per_1m(pin, cached, hit)
    return requests_per_s * prices.hours_per_month() * 3600 * (prompt_tokens * pin + completion_tokens * pout) / 1e6


def _api_prices(model_id: str, api: Any) -> tuple[str, float, float, float | None]:
    if isinstance(api, str):
        p = prices.api_price(model_id, api)
        return p.provider, p.prompt_usd_per_1m, p.completion_usd_per_1m, p.cached_input_usd_per_1m
    items = _as_list(api)
    if len(items) not in (2, 3):
        raise InvalidInputError(
            "api must be a provider name or (prompt, completion[, cached prompt]) USD per 1M tokens, e.g. "
            "(0.88, 0.88) or (0.27, 1.1, 0.07)",
            field="api",
        )
    pin = check_range(items[0], "api prompt price")
    pout = check_range(items[1], "api completion price")
    cached = check_range(items[2], "api cached prompt price") if len(items) == 3 and items[2] is not None else None
    return "at the given prices", pin, pout, cached


def _cache_warnings(name: str, model: str, pin: float, cached: float | None, hit: float) -> tuple[str, ...]:
    if not hit or cached is not None:
        return ()
    return (
        f"the API ({name}) publishes no cached-input price for {model}: its {hit:g} share of cache hits is billed "
        f"at the prompt price, ${pin:g} per 1M; give api=(prompt, completion, cached) (--api PROMPT,COMPLETION,CACHED) "
        "for another",
    )


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

    ``api`` is a provider in the catalog (``"together"``) or (prompt, completion[, cached prompt]) USD per 1M
    tokens. ``plan_options`` are those of :func:`plan` (tp, dtype, targets, prices, ``prefix_cache_hit`` ...): a
    prefix-cache hit fraction h holds on both sides, the API billing h s prompt tokens at its cached-input price
    (at its prompt price, with a warning, when it has none).

    Notes
    -----
    A fleet grows in whole replicas, so the self-hosted cost is a staircase: R · t · p · c · 730 for
    peak traffic up to R μB*. The API costs a · λ with a = 730 · 3600 · (s Pin' + n Pout) / 1e6,
    Pin' = (1 − h) Pin + h Pcached (Pin at h = 0). On step R
    self-hosting is cheaper once a λ > R K (K the cost of one replica); the ratio cost / traffic is smallest
    at full replicas, K · peak_factor / μB*, the same on every step. So self-hosting breaks even at
    λ = K / a on the first step when a · μB* / peak_factor ≥ K, and never otherwise.

    Examples
    --------
    >>> b = breakeven("llama-3.1-70b", "h100-sxm-80gb", tp=2, dtype="fp8", prompt_tokens=1000,
    ...               completion_tokens=300, peak_factor=1.5, api=(0.88, 0.88), ttft_s_max=0.5,
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
    name, pin, pout, cached = _api_prices(p.model, api)
    hit = p.prefix_cache_hit
    more = (cached, hit, _cache_warnings(name, p.model, pin, cached, hit))
    a = float(api_monthly_usd(1.0, p.prompt_tokens, p.completion_tokens, pin, pout, cached, hit))
    best: tuple[float, PlanRow] | None = None
    for row in p.rows:
        if row.reason is not None or a == 0:  # an API that charges nothing is never beaten
            continue
        replica = row.tp * row.dp * row.pp * row.gpu_hour_usd * prices.hours_per_month()  # type: ignore[operator]
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
        return Breakeven(p.model, name, pin, pout, factor, None, None, a, None, reason, *more)
    if best is None:
        feasible = [r for r in p.rows if r.reason is None]
        if not feasible:
            reason = "no configuration meets the target: " + "; ".join(
                sorted({f"{r.gpu} tp={r.tp} {r.dtype}: {r.reason}" for r in p.rows})[:3]
            )
        else:
            r = min(feasible, key=lambda r: r.tp * r.dp * r.pp * r.gpu_hour_usd * factor / r.requests_per_s)  # type: ignore[operator]
            per = r.tp * r.dp * r.pp * r.gpu_hour_usd * prices.hours_per_month() * factor / r.requests_per_s  # type: ignore[operator]
            reason = (
                f"the API costs less at every traffic level: it charges ${a:,.0f} per month for each request/s, "
                f"while self-hosting costs at least ${per:,.0f} ({r.gpu}, tp={r.tp}, {r.dtype}, fully used at "
                f"peak factor {factor:g})"
            )
        return Breakeven(p.model, name, pin, pout, factor, None, None, a, None, reason, *more)
    lam, row = best
    priced = plan(  # the winning configuration priced at the break-even traffic
        model,
        gpu,
        prompt_tokens=p.prompt_tokens,
        completion_tokens=p.completion_tokens,
        requests_per_s=max(lam, RANGES["requests_per_s"][0]),  # a break-even below any traffic planned for
        peak_factor=factor,
        **{**plan_options, "tp": row.tp, "dp": row.dp, "ep": row.ep, "dtype": row.dtype},
    )
    key = (row.gpu, row.tp, row.dp, row.ep, row.dtype, None)
    at = next(r for r in priced.rows if (r.gpu, r.tp, r.dp, r.ep, r.dtype, r.reason) == key)
    return Breakeven(p.model, name, pin, pout, factor, lam, lam * a, a, at, None, *more)
