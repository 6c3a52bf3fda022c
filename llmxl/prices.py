"""What a GPU-hour and a million tokens cost: rented, owned, and hosted APIs.

Pure arithmetic and catalog lookups; nothing prints or touches files. Prices of
hosted APIs come from genai-prices' bundled snapshot, llmxl's own
``llmxl/data/api_prices.toml`` and ``[[api_prices]]`` tables of user catalog files
(:mod:`llmxl.api_catalog`), each with its source and date; the month of 730
hours and the 3 : 1 blend are in ``llmxl/data/finance.toml``.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from . import catalog, energy
from .checks import MAX_PRICE_USD, check_range, format_value, number
from .errors import CatalogError, InvalidInputError, UnknownNameError

if TYPE_CHECKING:
    from .specs import ApiPrice, GpuSpec

__all__ = [
    "STALE_AFTER_DAYS",
    "PriceBasis",
    "api_price",
    "api_prices",
    "blended_usd_per_1m",
    "check_fraction_below_one",
    "check_positive",
    "date_text",
    "hours_per_month",
    "owned_gpu_hour_usd",
    "owned_power_kw",
    "per_gpu",
    "price_age_days",
    "price_bases",
    "price_basis",
    "price_is_stale",
    "rented_gpu_hour_usd",
]

#: A price older than this at run time is flagged (llmxl's policy, issue 18): API prices move every few months.
STALE_AFTER_DAYS = 180


def _number(value: Any, field: str) -> float:
    """A finite number (see :func:`llmxl.checks.number`, the one coercion every argument goes through)."""
    v = number(value, field)
    if not math.isfinite(v):
        raise InvalidInputError(f"{field} must be a finite number, got {format_value(v)}", field=field)
    return float(v)


def check_positive(value: Any, field: str, unit: str, example: str) -> float:
    """A finite number > 0, else InvalidInputError naming the field, the value and an example."""
    v = _number(value, field)
    if not v > 0:
        raise InvalidInputError(f"{field} must be > 0 {unit}, got {v:g}; give e.g. {example}", field=field)
    return v


def _non_negative(value: Any, field: str, unit: str, example: str) -> float:
    v = _number(value, field)
    if v < 0:
        raise InvalidInputError(f"{field} must be ≥ 0 {unit}, got {v:g}; give e.g. {example}", field=field)
    return v


def check_fraction_below_one(value: Any, field: str) -> float:
    """A fraction in [0, 1), such as a reservation discount."""
    v = _number(value, field)
    if not 0 <= v < 1:
        raise InvalidInputError(f"{field} must be in [0, 1), got {v:g}; give e.g. 0.3 for 30 % off", field=field)
    return v


def hours_per_month() -> float:
    """Hours in a billing month (730 = 8,760 / 12; llmxl/data/finance.toml)."""
    return catalog.get_catalog().finance.hours_per_month


def owned_gpu_hour_usd(
    purchase_usd: Any,
    years: Any,
    power_kw: Any = None,
    pue: Any = None,
    usd_per_kwh: Any = None,
    other_usd_per_year: Any = 0.0,
    *,
    gpu: Any = None,
) -> float:
    """Cost of one owned GPU for one hour [USD]: depreciation, power and other yearly costs.

    Parameters
    ----------
    purchase_usd : Purchase price of one GPU (its share of the server) [USD].
    years : Depreciation period [years].
    power_kw : Power drawn per GPU (its share of the server) [kW]; None: the serving power of ``gpu`` in the
        catalog (:func:`llmxl.energy.serving_power_kw`), the figure its energy per token uses.
    pue : Power usage effectiveness of the data centre (≥ 1; 1.3 for new sites); None: 1.58, the average
        (llmxl/data/energy.toml).
    usd_per_kwh : Electricity price [USD/kWh].
    other_usd_per_year : Other yearly cost per GPU: hosting, software licences, support [USD].
    gpu : The GPU (a name or a GpuSpec), needed only when power_kw is None.

    Returns
    -------
    float : USD per GPU-hour.

    Notes
    -----
    purchase / (years · 8760) + power · PUE · USD per kWh + other / 8760. Each argument is refused outside
    its physical range (:data:`llmxl.checks.RANGES`): purchase up to $1e9, years in (0, 100], power up to
    1,000 kW, PUE from 1 to 10, electricity up to $1,000/kWh, so the cost is always a finite number.

    Examples
    --------
    An 8-GPU server of $320,000 over 4 years, 10.2 kW at PUE 1.58 and $0.08/kWh, $4,500 licence
    and $375 hosting per GPU per year:

    >>> round(owned_gpu_hour_usd(40_000, 4, 10.2 / 8, 1.58, 0.08, 4_875), 2)
    1.86

    An H100 at its catalog serving power (1.02 kW with its share of the server) and the average PUE:

    >>> round(owned_gpu_hour_usd(30_000, 5, usd_per_kwh=0.08, other_usd_per_year=4_500, gpu="h100-sxm-80gb"), 4)
    1.3276
    """
    purchase = check_range(purchase_usd, "purchase_usd")
    y = check_range(years, "years")
    kw = owned_power_kw(power_kw, gpu)
    p = check_range(energy.conventions().pue if pue is None else pue, "pue")
    if usd_per_kwh is None:
        raise InvalidInputError("usd_per_kwh is missing; give the electricity price such as 0.08", field="usd_per_kwh")
    kwh = check_range(usd_per_kwh, "usd_per_kwh")
    other = check_range(other_usd_per_year, "other_usd_per_year")
    hours_per_year = 12 * hours_per_month()
    cost = purchase / (y * hours_per_year) + kw * p * kwh + other / hours_per_year
    if not cost <= MAX_PRICE_USD:  # within the ranges above it is finite; a price beyond any GPU's is refused
        raise InvalidInputError(
            f"the owned cost works out at ${cost:,.0f} per GPU-hour, more than the ${MAX_PRICE_USD:,.0f} llmxl "
            "accepts; check purchase_usd and years",
            field="years",
        )
    return cost


def owned_power_kw(power_kw: Any, gpu: Any) -> float:
    """The power an owned GPU is charged for [kW]: the given one, else the GPU's catalog serving power."""
    if power_kw is not None:
        return energy.check_power_kw(power_kw)
    if gpu is None:
        raise InvalidInputError(
            "power_kw is missing; give the power per GPU with its share of the server such as 1.0, or the gpu "
            "to take its catalog serving power",
            field="power_kw",
        )
    spec = catalog.get_gpu(gpu) if isinstance(gpu, str) else gpu
    kw = energy.serving_power_kw(spec)
    if kw is None:
        raise InvalidInputError(
            f"gpu {spec.id!r} has no board power in the catalog; give power_kw (kW per GPU with its share of the "
            "server) such as 1.0",
            field="power_kw",
        )
    return kw


def rented_gpu_hour_usd(gpu: GpuSpec, gpu_hour_usd: Any = None, reservation_discount: Any = 0.0) -> float:
    """USD per GPU-hour when renting: the given or catalog on-demand price, less a reservation discount."""
    d = check_fraction_below_one(reservation_discount, "reservation_discount")
    if gpu_hour_usd is None:
        if gpu.usd_per_hour is None:
            raise InvalidInputError(
                f"gpu {gpu.id!r} has no catalog price; give gpu_hour_usd (USD per GPU-hour) or an owned cost",
                field="gpu_hour_usd",
            )
        price = gpu.usd_per_hour
    else:
        price = check_range(gpu_hour_usd, "gpu_hour_usd")
    return price * (1 - d)


def blended_usd_per_1m(prompt_usd_per_1m: Any, completion_usd_per_1m: Any) -> Any:
    """The market's blended price: (3 · prompt + completion) / 4 [USD per 1M tokens]."""
    f = catalog.get_catalog().finance
    wp, wc = f.blend_prompt_weight, f.blend_completion_weight
    return (wp * prompt_usd_per_1m + wc * completion_usd_per_1m) / (wp + wc)


def price_age_days(price: ApiPrice, today: _dt.date | None = None) -> int:
    """Days from the latest date a price is known to hold (``price.checked``) to ``today`` (default: the system date).

    For a genai-prices price that is the date of its snapshot, so every such price turns stale together,
    180 days after the pinned release: the prompt to upgrade the pin (README, "API prices").

    Examples
    --------
    >>> p = api_price("llama-3.3-70b", "together")  # from genai-prices 0.2.3, published 2026-11-10
    >>> p.checked.isoformat(), p.date_basis, price_age_days(p, today=_dt.date(2027, 1, 1))
    ('2026-11-10', 'snapshot', 52)
    """
    return ((today or _dt.date.today()) - price.checked).days


def price_is_stale(price: ApiPrice, today: _dt.date | None = None) -> bool:
    """Whether a price is older than :data:`STALE_AFTER_DAYS` (180) at ``today``: check it before relying on it.

    Examples
    --------
    >>> p = api_price("llama-3.3-70b", "together")
    >>> price_is_stale(p, today=_dt.date(2027, 5, 9)), price_is_stale(p, today=_dt.date(2027, 5, 10))
    (False, True)
    """
    return price_age_days(price, today) > STALE_AFTER_DAYS


def date_text(price: ApiPrice) -> str:
    """A price's date as outputs name it: "2026-11-10 (snapshot)", "... (snapshot; since 2026-10-19)" or
    "2026-11-05 (checked)": the latest date it is known to hold, what that date is, and when it took effect."""
    since = f"; since {price.since.isoformat()}" if price.since is not None and price.since != price.checked else ""
    return f"{price.checked.isoformat()} ({price.date_basis}{since})"


def age_text(price: ApiPrice, today: _dt.date | None = None) -> str:
    """ "2026-11-10 (snapshot)" or "2026-02-02 (checked), 305 days old: check it": a price's date and its flag."""
    days = price_age_days(price, today)
    return f"{date_text(price)}, {days} days old: check it" if days > STALE_AFTER_DAYS else date_text(price)


def api_prices(model: str | None = None, *, today: _dt.date | None = None) -> list[ApiPrice]:
    """Every API price, or those of one model (id or alias), as in force on ``today`` (default: the system date).

    From genai-prices' bundled snapshot where llmxl/data/api_models.toml maps it, llmxl's own
    llmxl/data/api_prices.toml for what genai-prices lacks, and a user catalog's ``[[api_prices]]`` above
    both (:mod:`llmxl.api_catalog`). Sorted by provider, then model.
    """
    from . import api_catalog

    table = api_catalog.price_table(today)
    prices = [table[k] for k in sorted(table)]
    if model is None:
        return prices
    ident = catalog.get_model(model).id
    return [p for p in prices if p.model == ident]


def api_price(model: str, provider: str, *, today: _dt.date | None = None) -> ApiPrice:
    """The price a hosted API charges for a model, as in force on ``today`` (default: the system date).

    Raises :class:`UnknownNameError` naming the providers that serve the model, or the
    models a provider serves, with a did-you-mean; without the pinned genai-prices it says how to get it.

    Examples
    --------
    >>> p = api_price("meta-llama/Llama-3.3-70B-Instruct", "together")
    >>> p.prompt_usd_per_1m, p.completion_usd_per_1m, p.provider_model, p.served_dtype
    (0.88, 0.88, 'meta-llama/Llama-3.3-70B-Instruct-Turbo', 'w8a8e16-fp8')
    >>> date_text(p), p.source_url
    ('2026-11-10 (snapshot)', 'https://www.together.ai/pricing')
    """
    import difflib

    from . import api_catalog

    cat = catalog.get_catalog()
    if not isinstance(provider, str):
        raise catalog.not_a_name("api provider", provider)
    if not provider.strip():
        raise InvalidInputError("api provider is blank; give one such as 'together'", field="api")
    table = api_catalog.price_table(today)
    ident = catalog.get_model(model).id
    key = (provider.strip().lower(), ident)
    hit = table.get(key)
    if hit is not None:
        return hit
    for name in (ident, model if isinstance(model, str) else ident):
        why = cat.broken["api_prices"].get(f"{key[0]}/{catalog.normalise_name(name)}")
        if why is not None:  # a user price that could not be read: said now, never replaced by another
            raise CatalogError(why, field="api")
    status = api_catalog.snapshot_status()
    missing = f" ({status.reason})" if not status.usable else ""
    providers = sorted({p for p, _ in table})
    if key[0] not in providers:
        close = difflib.get_close_matches(key[0], providers, n=3, cutoff=0.5)
        hint = f"did you mean {' or '.join(repr(c) for c in close)}?" if close else f"known: {', '.join(providers)}"
        raise UnknownNameError(f"unknown api provider {provider!r}; {hint}{missing}", field="api")
    serving = sorted(p for p, m in table if m == ident)
    if serving:
        hint = f"providers with a price for it: {', '.join(serving)}"
    else:
        hint = "no provider in the catalog prices it; give the prices as (prompt, completion) USD per 1M"
    raise UnknownNameError(f"api provider {key[0]!r} has no price for {ident}; {hint}{missing}", field="api")


# ---------------------------------------------------------------------------
# The price of each GPU of a plan

_OWNED_ARGS = ("purchase_usd", "years", "power_kw", "pue", "usd_per_kwh", "other_usd_per_year")


def _by_gpu(value: Any, field: str) -> bool:
    """Whether ``value`` maps GPU names to values, rather than being one value (or owned's arguments) for all."""
    return isinstance(value, Mapping) and not (field == "owned" and set(value) & set(_OWNED_ARGS))


def per_gpu(value: Any, gpus: Sequence[Any], field: str) -> list[Any]:
    """``value`` for each of ``gpus``: itself when it is one for all, else its entry by GPU name (None if absent).

    A mapping names GPUs by id or alias (``{"h100-sxm-80gb": 2.0, "b200": 7.0}``); a name that is not among
    ``gpus`` is refused, naming it, so a typo never leaves a GPU at its catalog price unnoticed.
    """
    if not _by_gpu(value, field):
        return [value] * len(gpus)
    index = {catalog.normalise_name(n): g.id for g in gpus for n in (g.id, *g.aliases)}
    found: dict[str, Any] = {}
    for name, v in value.items():
        key = getattr(name, "id", name)
        if not isinstance(key, str):
            raise InvalidInputError(f"{field} maps GPU names to values; got the key {name!r}", field=field)
        ident = index.get(catalog.normalise_name(key))
        if ident is None:
            try:
                ident = index.get(catalog.normalise_name(catalog.get_gpu(key).id))
            except UnknownNameError as exc:
                raise UnknownNameError(f"{field}: {exc.message}", field=field) from None
        if ident is None:
            raise InvalidInputError(
                f"{field} names {key!r}, which is not among the plan's GPUs ({', '.join(g.id for g in gpus)}); "
                "add it to the GPUs or remove it",
                field=field,
            )
        if ident in found:
            raise InvalidInputError(f"{field} names {ident!r} twice; keep one", field=field)
        found[ident] = v
    return [found.get(g.id) for g in gpus]


class PriceBasis(NamedTuple):
    """What one GPU of a plan costs and draws."""

    usd_per_gpu_hour: float
    basis: str
    """Where the price comes from: catalog (the GPU's on-demand price), rented (a given price) or owned."""
    power_kw: float | None
    """Power per GPU with its share of the server [kW]; None when unknown."""
    pue: float


def _given_once(in_owned: Any, in_plan: Any, field: str, gpu_id: str, check: Any) -> float | None:
    a = None if in_owned is None else check(in_owned)
    b = None if in_plan is None else check(in_plan)
    if a is not None and b is not None and a != b:
        raise InvalidInputError(
            f"{field} for {gpu_id} is given twice, {a:g} in owned and {b:g} beside it; give it once", field=field
        )
    return a if a is not None else b


def price_basis(
    gpu: Any,
    gpu_hour_usd: Any = None,
    reservation_discount: Any = 0.0,
    owned: Any = None,
    power_kw: Any = None,
    pue: Any = None,
) -> PriceBasis:
    """The price of one GPU [USD per GPU-hour], its basis, its power and the PUE (each argument for this GPU).

    ``owned`` is a price or the arguments of :func:`llmxl.owned_gpu_hour_usd` (power_kw and pue may be left out:
    then ``power_kw`` here, or the GPU's catalog serving power, and ``pue`` here, or 1.58). The power and PUE
    are those the energy of the plan uses, so an owned price and the energy count the same kilowatts.
    """
    own = dict(owned) if isinstance(owned, Mapping) else {}
    unknown = set(own) - set(_OWNED_ARGS)
    if unknown:
        raise InvalidInputError(
            f"owned has unknown field {sorted(unknown)[0]!r}; use {', '.join(_OWNED_ARGS)}", field="owned"
        )
    kw = _given_once(own.get("power_kw"), power_kw, "power_kw", gpu.id, energy.check_power_kw)
    if kw is None:
        kw = energy.serving_power_kw(gpu)
    u = _given_once(own.get("pue"), pue, "pue", gpu.id, energy.check_pue)
    u = energy.check_pue(energy.conventions().pue) if u is None else u
    if owned is not None:
        if gpu_hour_usd is not None:
            raise InvalidInputError(f"give gpu_hour_usd (rented) or owned for {gpu.id}, not both", field="owned")
        if own:
            missing = [k for k in ("purchase_usd", "years", "usd_per_kwh") if k not in own]
            if missing:
                raise InvalidInputError(
                    f"owned is missing {', '.join(missing)}; give purchase_usd, years and usd_per_kwh (power_kw and "
                    "pue default to the GPU's serving power and the average PUE), or one USD per GPU-hour",
                    field="owned",
                )
            price = owned_gpu_hour_usd(**{**own, "power_kw": kw, "pue": u}, gpu=gpu)
        else:
            price = check_range(owned, "owned")
        return PriceBasis(price, "owned", kw, u)
    price = rented_gpu_hour_usd(gpu, gpu_hour_usd, reservation_discount)
    return PriceBasis(price, "catalog" if gpu_hour_usd is None else "rented", kw, u)


def price_bases(
    gpus: Sequence[Any], gpu_hour_usd: Any, discount: Any, owned: Any, power_kw: Any, pue: Any
) -> list[PriceBasis]:
    """The price basis of each of ``gpus``, from values given for all of them or by GPU name (see :func:`per_gpu`)."""
    rents = per_gpu(gpu_hour_usd, gpus, "gpu_hour_usd")
    owns = per_gpu(owned, gpus, "owned")
    powers = per_gpu(power_kw, gpus, "power_kw")
    return [price_basis(g, rents[i], discount, owns[i], powers[i], pue) for i, g in enumerate(gpus)]
