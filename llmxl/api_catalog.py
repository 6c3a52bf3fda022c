"""The prices of hosted APIs, from every source: genai-prices' bundled snapshot, llmxl's own file, the user's.

genai-prices (pydantic's catalog of API prices, MIT; the optional extra ``llmxl[genai]``) ships its prices
inside the package. llmxl reads that bundled snapshot, ``genai_prices.data.providers``, and picks each
entry by its exact id as ``llmxl/data/api_models.toml`` maps it to a catalog model. It never starts
genai-prices' updater (``UpdatePrices``, the one part of it that fetches) and does not use its
``calc_price``, which would return whatever snapshot another library in the process installed: a price here
depends only on the installed version and the date it is asked for. genai-prices is imported on the first
API price asked for (it takes about a second), never by ``import llmxl``.

The prices of a model at a provider, in order of precedence: a user catalog file's ``[[api_prices]]``
entry; genai-prices' entry, when the installed version is the one llmxl pins (a snapshot llmxl's mapping was
not checked against could price another endpoint under the same id); llmxl's own
``llmxl/data/api_prices.toml``, which holds only what genai-prices lacks (DeepInfra). Without the pinned
genai-prices the table falls back to the last two, with a one-line :class:`~llmxl.errors.LlmxlWarning` that
says how to get the rest.

Dates: a genai-prices entry is dated by its snapshot (``date_basis = "snapshot"``, the publication date of
the pinned release, recorded beside the pin): it was in the catalog then, which is the latest date it is
known to hold. Where genai-prices says when the price took effect, that is ``since``.
"""

from __future__ import annotations

import datetime as _dt
import threading
import warnings
from decimal import Decimal
from importlib import resources
from typing import TYPE_CHECKING, Any, NamedTuple

from . import catalog
from .errors import CatalogError, LlmxlWarning, UnknownNameError

if TYPE_CHECKING:
    from .specs import ApiModel, ApiPrice

__all__ = ["MAP_FILE", "OWN_FILE", "SnapshotStatus", "api_models", "origin", "price_table", "snapshot_status"]

MAP_FILE = "llmxl/data/api_models.toml"
OWN_FILE = "llmxl/data/api_prices.toml"
_PACKAGE = "genai-prices"
_lock = threading.Lock()
_snapshot: Any = None  # (version, providers by id) of the installed genai-prices, once read


class SnapshotStatus(NamedTuple):
    """Whether llmxl reads genai-prices' snapshot, and why not when it does not."""

    pinned: str
    """The genai-prices version llmxl's mapping is checked against (llmxl/data/api_models.toml)."""
    published: _dt.date
    """The date that release was published: the date of its prices."""
    installed: str | None
    """The installed version; None when genai-prices is not installed."""

    @property
    def usable(self) -> bool:
        return self.installed == self.pinned

    @property
    def reason(self) -> str:
        """Why the snapshot is not read and how to get it; "" when it is."""
        if self.usable:
            return ""
        get = f"pip install 'llmxl[genai]' (genai-prices=={self.pinned})"
        if self.installed is None:
            return f"genai-prices is not installed; for the other providers' prices: {get}"
        return (
            f"genai-prices {self.installed} is installed, but llmxl's mapping is checked against {self.pinned}; "
            f"for the other providers' prices: {get}"
        )


def _map_data() -> dict[str, Any]:
    return catalog._read_toml(resources.files("llmxl") / "data" / "api_models.toml", MAP_FILE)


def snapshot_status() -> SnapshotStatus:
    """The pinned genai-prices version, its date and the installed one (read without importing genai-prices)."""
    from importlib.metadata import PackageNotFoundError, version

    meta = _map_data().get("genai_prices")
    if not isinstance(meta, dict) or not isinstance(meta.get("published"), _dt.date):
        raise CatalogError(f"{MAP_FILE}: [genai_prices] needs version and published (a date); restore them")
    try:
        installed: str | None = version(_PACKAGE)
    except PackageNotFoundError:
        installed = None
    return SnapshotStatus(str(meta.get("version")), meta["published"], installed)


def api_models() -> list[ApiModel]:
    """The mapping of llmxl/data/api_models.toml, validated: one entry per (model, provider), sorted."""
    from pydantic import ValidationError

    from .specs import ApiModel, format_validation_error

    entries = _map_data().get("api_models", [])
    out: list[ApiModel] = []
    seen: set[tuple[str, str]] = set()
    for i, item in enumerate(entries if isinstance(entries, list) else []):
        name = f"{item.get('provider')}/{item.get('model')}" if isinstance(item, dict) else f"entry {i + 1}"
        try:
            entry = ApiModel(**item)
        except ValidationError as exc:
            raise CatalogError(f"{MAP_FILE}: {format_validation_error(exc, 'api model', name)}") from None
        except TypeError as exc:
            raise CatalogError(f"{MAP_FILE}: api model {name!r}: {exc}") from None
        key = (entry.model, entry.provider)
        if key in seen:
            raise CatalogError(f"{MAP_FILE}: {name} is listed twice; keep one")
        if out and (catalog.natural_key(out[-1].model), out[-1].provider) > (catalog.natural_key(key[0]), key[1]):
            raise CatalogError(f"{MAP_FILE}: not sorted: move {name} before {out[-1].provider}/{out[-1].model}")
        seen.add(key)
        out.append(entry)
    return out


def _providers() -> dict[str, Any]:
    """genai-prices' bundled providers by id (imported once; the caller has checked the version)."""
    global _snapshot
    with _lock:
        if _snapshot is None:
            from genai_prices.data import providers  # the bundled data: never data_snapshot or UpdatePrices

            _snapshot = {p.id: p for p in providers}
        return _snapshot


def _usd(value: Any, what: str, notes: list[str]) -> float | None:
    """A genai-prices price [USD per 1M tokens] as a float; a tiered one as its base, the tiers noted."""
    if value is None:
        return None
    tiers = getattr(value, "tiers", None)
    if tiers is not None:
        notes.append(
            f"{what} tiered: {_fmt(value.base)} up to {tiers[0].start:,} prompt tokens, then "
            + ", ".join(f"{_fmt(t.price)} from {t.start:,}" for t in tiers)
        )
        value = value.base
    return round(float(Decimal(value)), 6)  # the data holds a few float artefacts (1.0399999999999998)


def _fmt(value: Any) -> str:
    return f"{round(float(Decimal(value)), 6):g}"


def _hours(c: Any) -> float:
    """Hours a day a time-of-day constraint holds."""
    start = c.start_time.hour + c.start_time.minute / 60
    end = c.end_time.hour + c.end_time.minute / 60
    return (end - start) % 24 or 24.0


def _in_force(info: Any, on: _dt.date, notes: list[str]) -> tuple[Any, _dt.date | None]:
    """The prices of a genai-prices model in force on ``on`` and the date they started (None: undated).

    As genai-prices does, the last entry whose constraint holds wins. A time-of-day price (DeepSeek's
    off-peak discount) depends on the hour, not the date: the price that holds for the larger part of the
    day is the list price and the other is noted.
    """
    prices = info.prices
    if not isinstance(prices, list):
        return prices, None
    daily = [c for c in prices if type(c.constraint).__name__ == "TimeOfDateConstraint"]
    dated = [c for c in prices if c not in daily]
    chosen, start = dated[0] if dated else prices[0], None
    for c in reversed(dated):
        begins = getattr(c.constraint, "start_date", None)
        if begins is None or begins <= on:
            chosen, start = c, begins
            break
    later = sorted((c for c in dated if getattr(c.constraint, "start_date", None) and c.constraint.start_date > on),
                   key=lambda c: c.constraint.start_date)  # fmt: skip
    if later:
        nxt = later[0]
        notes.append(
            f"changes on {nxt.constraint.start_date.isoformat()} to {_fmt(nxt.prices.input_mtok)} / "
            f"{_fmt(nxt.prices.output_mtok)}"
        )
    for c in daily:
        window = f"{c.constraint.start_time:%H:%M}-{c.constraint.end_time:%H:%M} UTC"
        if _hours(c.constraint) > 12:
            notes.append(
                f"list price from {window}; {_fmt(chosen.prices.input_mtok)} / {_fmt(chosen.prices.output_mtok)} "
                "the rest of the day"
            )
            chosen = c
        else:
            notes.append(f"{_fmt(c.prices.input_mtok)} / {_fmt(c.prices.output_mtok)} from {window}")
    return chosen.prices, start


def _genai_price(entry: ApiModel, providers: dict[str, Any], status: SnapshotStatus, on: _dt.date) -> ApiPrice:
    from .specs import ApiPrice

    where = f"{MAP_FILE}: {entry.provider}/{entry.model}"
    provider = providers.get(entry.genai_provider)
    if provider is None:
        raise CatalogError(f"{where}: genai-prices {status.pinned} has no provider {entry.genai_provider!r}; fix it")
    info = next((m for m in provider.models if m.id == entry.genai_model), None)
    if info is None:
        raise CatalogError(
            f"{where}: genai-prices {status.pinned} has no model {entry.genai_model!r} at {provider.id}; fix it"
        )
    notes = [entry.note] if entry.note else []
    price, since = _in_force(info, on, notes)
    prompt = _usd(price.input_mtok, "prompt", notes)
    completion = _usd(price.output_mtok, "completion", notes)
    if prompt is None or completion is None:
        raise CatalogError(f"{where}: genai-prices {status.pinned} gives no prompt and completion price; remove it")
    cached = _usd(price.cache_read_mtok, "cached input", notes)
    if price.cache_write_mtok is not None:
        notes.append(f"cache write {_fmt(getattr(price.cache_write_mtok, 'base', price.cache_write_mtok))}")
    if info.price_variants:
        kinds = sorted({f"{k} {v}" for variant in info.price_variants for k, v in variant.when.items()})
        notes.append(f"also priced for {', '.join(kinds)} (not applied)")
    dtype = None
    if entry.dtype is not None:
        try:
            dtype = catalog.get_dtype(entry.dtype).id
        except UnknownNameError as exc:
            raise CatalogError(f"{where}: {exc.message}") from None
    return ApiPrice(
        provider=entry.provider,
        model=entry.model,
        provider_model=entry.genai_model,
        prompt_usd_per_1m=prompt,
        completion_usd_per_1m=completion,
        cached_input_usd_per_1m=cached,
        source=f"genai-prices {status.pinned} (bundled snapshot): {provider.name}",
        source_url=(provider.pricing_urls or [""])[0],
        checked=max(status.published, since or status.published),
        date_basis="snapshot",
        since=since,
        served_dtype=dtype,
        note="; ".join(notes),
    )


def price_table(today: _dt.date | None = None) -> dict[tuple[str, str], ApiPrice]:
    """Every API price by (provider, model id), as in force on ``today`` (default: the system date).

    Read once per catalog load and date. Warns (:class:`~llmxl.errors.LlmxlWarning`) when the pinned
    genai-prices is not installed, and then holds llmxl's own and the user's prices only.
    """
    on = today or _dt.date.today()
    cat = catalog.get_catalog()
    table = cat.api_tables.get(on)
    if table is not None:
        return table
    own = {k: p for k, p in cat.api_prices.items() if cat.origin.get(("api_prices", f"{k}")) == OWN_FILE}
    user = {k: p for k, p in cat.api_prices.items() if k not in own}
    status = cat.api_tables.get("status") or snapshot_status()
    cat.api_tables["status"] = status
    genai: dict[tuple[str, str], ApiPrice] = {}
    if status.usable:
        providers = _providers()
        for entry in api_models():
            try:
                model = catalog.get_model(entry.model).id
            except UnknownNameError as exc:
                raise CatalogError(f"{MAP_FILE}: {entry.provider}/{entry.model}: {exc.message}") from None
            if model != entry.model:
                raise CatalogError(f"{MAP_FILE}: {entry.provider}/{entry.model}: use the catalog id {model!r}")
            genai[(entry.provider, model)] = _genai_price(entry, providers, status, on)
    else:
        warnings.warn(
            f"API prices are llmxl's own ({', '.join(sorted({p for p, _ in own}))}) and your catalog's only: "
            f"{status.reason}",
            LlmxlWarning,
            stacklevel=3,
        )
    table = {**own, **genai, **user}
    cat.api_tables[on] = table
    return table


def origin(price: ApiPrice) -> str:
    """Where a price of :func:`price_table` comes from: "genai-prices 0.2.3", llmxl's own file, or a user file."""
    cat = catalog.get_catalog()
    if price.date_basis == "snapshot":
        status = cat.api_tables.get("status") or snapshot_status()
        return f"genai-prices {status.pinned}"
    return cat.origin.get(("api_prices", f"{(price.provider, price.model)}"), OWN_FILE)
