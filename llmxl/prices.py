"""What a GPU-hour and a million tokens cost: rented, owned, and hosted APIs.

Pure arithmetic and catalog lookups; nothing prints or touches files. Prices of
hosted APIs live in ``llmxl/data/api_prices.toml`` (and ``[[api_prices]]``
tables of user catalog files), each with its source and the date it was read;
the month of 730 hours and the 3 : 1 blend are in ``llmxl/data/finance.toml``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from . import catalog
from .checks import MAX_PRICE_USD, check_range, format_value, number
from .errors import CatalogError, InvalidInputError, UnknownNameError

if TYPE_CHECKING:
    from .specs import ApiPrice, GpuSpec

__all__ = [
    "api_price",
    "api_prices",
    "blended_usd_per_1m",
    "check_fraction_below_one",
    "check_positive",
    "hours_per_month",
    "owned_gpu_hour_usd",
    "rented_gpu_hour_usd",
]


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
    power_kw: Any,
    pue: Any,
    usd_per_kwh: Any,
    other_usd_per_year: Any = 0.0,
) -> float:
    """Cost of one owned GPU for one hour [USD]: depreciation, power and other yearly costs.

    Parameters
    ----------
    purchase_usd : Purchase price of one GPU (its share of the server) [USD].
    years : Depreciation period [years].
    power_kw : Power drawn per GPU (its share of the server) [kW].
    pue : Power usage effectiveness of the data centre (≥ 1; 1.3 for new sites, 1.58 on average).
    usd_per_kwh : Electricity price [USD/kWh].
    other_usd_per_year : Other yearly cost per GPU: hosting, software licences, support [USD].

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
    """
    purchase = check_range(purchase_usd, "purchase_usd")
    y = check_range(years, "years")
    kw = check_range(power_kw, "power_kw")
    p = check_range(pue, "pue")
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


def api_prices(model: str | None = None) -> list[ApiPrice]:
    """Every API price in the catalog, or those of one model (id or alias)."""
    cat = catalog.get_catalog()
    prices = list(cat.api_prices.values())
    if model is None:
        return prices
    ident = catalog.get_model(model).id
    return [p for p in prices if p.model == ident]


def api_price(model: str, provider: str) -> ApiPrice:
    """The price a hosted API charges for a model.

    Raises :class:`UnknownNameError` naming the providers that serve the model, or the
    models a provider serves, with a did-you-mean.

    Examples
    --------
    >>> p = api_price("meta-llama/Llama-3.3-70B-Instruct", "together")
    >>> p.prompt_usd_per_1m, p.completion_usd_per_1m, p.checked.isoformat()
    (0.88, 0.88, '2025-07-03')
    """
    import difflib

    cat = catalog.get_catalog()
    if not isinstance(provider, str):
        raise catalog.not_a_name("api provider", provider)
    if not provider.strip():
        raise InvalidInputError("api provider is blank; give one such as 'together'", field="api")
    ident = catalog.get_model(model).id
    key = (provider.strip().lower(), ident)
    hit = cat.api_prices.get(key)
    if hit is not None:
        return hit
    for name in (ident, model if isinstance(model, str) else ident):
        why = cat.broken["api_prices"].get(f"{key[0]}/{catalog.normalise_name(name)}")
        if why is not None:  # a user price that could not be read: said now, never replaced by another
            raise CatalogError(why, field="api")
    providers = sorted({p for p, _ in cat.api_prices})
    if key[0] not in providers:
        close = difflib.get_close_matches(key[0], providers, n=3, cutoff=0.5)
        hint = f"did you mean {' or '.join(repr(c) for c in close)}?" if close else f"known: {', '.join(providers)}"
        raise UnknownNameError(f"unknown api provider {provider!r}; {hint}", field="api")
    serving = sorted(p for p, m in cat.api_prices if m == ident)
    if serving:
        hint = f"providers with a price for it: {', '.join(serving)}"
    else:
        hint = "no provider in the catalog prices it; give the prices as (prompt, completion) USD per 1M"
    raise UnknownNameError(f"api provider {key[0]!r} has no price for {ident}; {hint}", field="api")
