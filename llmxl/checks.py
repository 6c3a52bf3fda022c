"""The input checks every face shares: counts, efficiencies, prices and methods, with their limits.

Each check takes what a caller may pass (Python or numpy numbers, numeric text) and returns a clean
value, or raises :class:`InvalidInputError` / :class:`UnknownNameError` with a one-line message that
names the field, the value and the fix. No catalog, no arithmetic: these sit below everything else.
"""

from __future__ import annotations

import math
import numbers
from decimal import Decimal
from typing import Any

import numpy as np

from .errors import InvalidInputError, UnknownNameError

__all__ = [
    "MAX_ARRAY_ELEMENTS",
    "MAX_COUNT",
    "MAX_PRICE_USD",
    "METHODS",
    "MIN_EFFICIENCY",
    "RANGES",
    "as_number",
    "check_concurrencies",
    "check_count",
    "check_efficiency",
    "check_method",
    "check_percentile",
    "check_price",
    "check_range",
    "number",
]

METHODS = ("standard", "reference", "serving")


def format_value(value: Any) -> str:
    """A value as a message shows it: short, whatever it is (never a 400-digit number or a whole range)."""
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        return repr(value)
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value) if abs(value) < 10**16 else f"{Decimal(value):.3e}"
    if isinstance(value, str):
        return repr(value) if len(value) <= 60 else repr(value[:57]) + "…"
    if isinstance(value, (list, tuple, dict, set, frozenset)):
        return f"a {type(value).__name__} of {len(value):,}"
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape}"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "…"


#: Largest array (broadcast shape) a workload may have: 10 million scenarios, about 80 MB per result array.
MAX_ARRAY_ELEMENTS = 10_000_000


def number(value: Any, field: str, *, arrays: bool = False) -> Any:
    """The one coercion of a public numeric argument: a Python int or float, or (``arrays``) an ndarray.

    Accepts Python and numpy numbers, Decimals and Fractions, and numeric text (the command line passes
    text); with ``arrays``, also lists, tuples and arrays of them (float64). Refuses booleans, None,
    complex numbers, containers where one number is asked for, masked arrays with masked entries and
    arrays above :data:`MAX_ARRAY_ELEMENTS`, with a message naming ``field`` and the value given.
    A negative zero comes back as 0.0, so no price reads "$-0.00".
    """
    t = type(value)
    if t is float:
        return value + 0.0
    if t is int:
        return value
    if isinstance(value, (bool, np.bool_)):
        raise InvalidInputError(f"{field} must be a number, got {value} (a true/false value)", field=field)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) + 0.0
    if isinstance(value, str):
        return _from_text(value, field)
    if value is None:
        raise InvalidInputError(f"{field} is missing; give a number", field=field)
    if isinstance(value, (list, tuple, np.ndarray)):
        if not arrays:
            raise InvalidInputError(f"{field} must be a single number, got {format_value(value)}", field=field)
        return _array(value, field)
    if isinstance(value, numbers.Real):  # Decimal is not a numbers.Real, Fraction is
        return _real(value, field)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise InvalidInputError(f"{field} must be a finite number, got Decimal({str(value)!r})", field=field)
        return _real(value, field)
    if isinstance(value, (complex, np.complexfloating)):
        raise InvalidInputError(f"{field} must be a real number, got the complex number {value}", field=field)
    raise InvalidInputError(
        f"{field} must be a number, got {format_value(value)} ({type(value).__name__})", field=field
    )


def _real(value: Any, field: str) -> float:
    try:
        return float(value) + 0.0
    except OverflowError:  # an int, Fraction or Decimal beyond float: as large as a float goes
        return math.inf if value > 0 else -math.inf


def _from_text(value: str, field: str) -> float:
    text = value.strip()
    if not text:
        raise InvalidInputError(f"{field} is blank; give a number", field=field)
    try:
        v = float(text)
    except ValueError:
        raise InvalidInputError(f"{field} must be a number, got {format_value(value)}", field=field) from None
    return v + 0.0


def _array(value: Any, field: str) -> Any:
    if isinstance(value, np.ma.MaskedArray):
        masked = int(np.count_nonzero(np.ma.getmaskarray(value)))
        if masked:
            raise InvalidInputError(
                f"{field} is a masked array with {masked:,} masked entries; fill them (np.ma.filled) or "
                "leave them out (.compressed()): llmxl never computes a masked entry",
                field=field,
            )
        value = np.ma.getdata(value)
    if isinstance(value, np.ndarray) and value.size > MAX_ARRAY_ELEMENTS:
        raise InvalidInputError(_too_many(field, value.size), field=field)
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError):
        raise InvalidInputError(f"{field} must be a number or a rectangular array of numbers", field=field) from None
    if arr.size > MAX_ARRAY_ELEMENTS:
        raise InvalidInputError(_too_many(field, arr.size), field=field)
    kind = arr.dtype.kind
    if kind == "b":
        raise InvalidInputError(f"{field} must hold numbers, got booleans", field=field)
    if kind == "c":
        raise InvalidInputError(f"{field} must hold real numbers, got complex numbers", field=field)
    if kind in "mM":
        raise InvalidInputError(f"{field} must hold numbers, got dates or times", field=field)
    if kind == "O":
        try:
            flat = [_real(number(v, field), field) for v in arr.ravel().tolist()]
        except InvalidInputError:
            raise InvalidInputError(f"{field} must hold numbers only; found a non-numeric entry", field=field) from None
        arr = np.array(flat, dtype=np.float64).reshape(arr.shape)
    elif kind not in "iuf":
        try:
            arr = np.char.strip(arr.astype(str)).astype(np.float64)
        except (ValueError, TypeError):
            raise InvalidInputError(f"{field} must hold numbers only; found a non-numeric entry", field=field) from None
    arr = arr.astype(np.float64, copy=False) + 0.0
    if arr.ndim == 0:
        return arr.item()
    if arr.size == 0:
        raise InvalidInputError(f"{field} is an empty array; give at least one number", field=field)
    return arr


def _too_many(field: str, size: int) -> str:
    return (
        f"{field} has {size:,} entries, more than the {MAX_ARRAY_ELEMENTS:,} llmxl computes in one call; "
        "split the workload"
    )


def as_number(value: Any, field: str) -> Any:
    """A Python number from a scalar, or an ndarray of float64 from an array-like (see :func:`number`)."""
    return number(value, field, arrays=True)


#: Largest accepted counts: beyond any real deployment, small enough that no arithmetic overflows.
#: Sequences in flight (concurrency) go as high as a prompt's tokens: a plan's search stops there.
MAX_COUNT = {
    "batch_size": 10**7,
    "prompt_tokens": 10**9,
    "completion_tokens": 10**9,
    "concurrency": 10**9,
    "max_concurrency": 10**9,
}
_MAX_OTHER_COUNT = 10**6  # tp, pp and other counts
MIN_EFFICIENCY = 1e-4
MAX_PRICE_USD = 1e6

#: Physical ranges of money, traffic and targets: (lowest, highest, unit, example). Within them every
#: monetary result (monthly cost, cost per 1M tokens, break-even) is a finite number; outside, refused.
#: A lowest of 0 with ``positive`` below means "more than 0".
RANGES: dict[str, tuple[float, float, str, str]] = {
    "requests_per_s": (1e-9, 1e9, "requests/s", "5"),
    "peak_requests_per_s": (1e-9, 1e9, "requests/s", "15"),
    "tokens_per_day": (1e-9, 1e18, "tokens/day", "1e9"),
    "peak_factor": (1.0, 1e6, "(peak / average)", "3"),
    "ttft_s_max": (0.0, 1e6, "s", "0.5"),
    "itl_s_max": (0.0, 1e6, "s", "0.05"),
    "gpu_hour_usd": (0.0, MAX_PRICE_USD, "USD per GPU-hour", "2.21"),
    "owned": (0.0, MAX_PRICE_USD, "USD per GPU-hour", "1.85"),
    "purchase_usd": (0.0, 1e9, "USD", "30000"),
    "years": (0.0, 100.0, "years", "5"),
    "power_kw": (0.0, 1e3, "kW", "1.0"),
    "pue": (1.0, 10.0, "", "1.3 (new sites) or 1.58 (average)"),
    "usd_per_kwh": (0.0, 1e3, "USD/kWh", "0.08"),
    "grid_g_co2e_per_kwh": (0.0, 1e4, "g CO2e/kWh", "445 (world, IEA 2024)"),
    "other_usd_per_year": (0.0, 1e9, "USD", "4500"),
    "api prompt price": (0.0, MAX_PRICE_USD, "USD per 1M tokens", "0.88"),
    "api completion price": (0.0, MAX_PRICE_USD, "USD per 1M tokens", "0.88"),
    "api cached prompt price": (0.0, MAX_PRICE_USD, "USD per 1M tokens", "0.22"),
}
#: Fields that must be more than their lowest (0 s of latency, 0 years of depreciation are no answer).
POSITIVE = frozenset({"requests_per_s", "peak_requests_per_s", "tokens_per_day", "ttft_s_max", "itl_s_max", "years"})


def check_range(value: Any, field: str, *, name: str | None = None) -> float:
    """One finite number within ``RANGES[field]``, else InvalidInputError naming ``name`` (default ``field``)."""
    lo, hi, unit, example = RANGES[field]
    label = name or field
    v = number(value, label)
    unit = f" {unit}" if unit else ""
    shown = format_value(v)
    if field in POSITIVE and not v > 0:
        raise InvalidInputError(f"{label} must be > 0{unit}, got {shown}; give e.g. {example}", field=label)
    if not v >= lo and field not in POSITIVE:
        raise InvalidInputError(f"{label} must be ≥ {lo:g}{unit}, got {shown}; give e.g. {example}", field=label)
    if not lo <= v <= hi:
        raise InvalidInputError(
            f"{label} must be from {lo:g} to {hi:g}{unit}, got {shown}; give e.g. {example}", field=label
        )
    return float(v)


def count_message(field: str, value: Any) -> str:
    top = MAX_COUNT.get(field.split("[")[0], _MAX_OTHER_COUNT)
    return f"{field} must be a whole number from 1 to {top:,}, got {format_value(value)}"


def check_count(value: Any, field: str) -> int:
    """One whole number ≥ 1 (ints, whole floats, numeric text), else InvalidInputError naming ``field``."""
    top = MAX_COUNT.get(field, _MAX_OTHER_COUNT)
    if type(value) is int and 1 <= value <= top:
        return value
    v = number(value, field)
    if isinstance(v, float):
        if v.is_integer() and 1 <= v <= top:
            return int(v)
    elif 1 <= v <= top:
        return int(v)
    raise InvalidInputError(count_message(field, v), field=field)


def check_concurrencies(value: Any) -> tuple[Any, float]:
    """(B, its largest value) for a concurrency: one whole number, or a float array of whole numbers, each from
    1 to MAX_COUNT['concurrency']. Lists and arrays go through :func:`number`: booleans, text, complex, ragged and
    masked entries are refused, never read as 1."""
    if not isinstance(value, (list, tuple, np.ndarray)):
        B = check_count(value, "concurrency")
        return B, B
    arr = as_number(value, "concurrency")
    if not isinstance(arr, np.ndarray):
        arr = np.array([arr], dtype=float)
    good = (arr >= 1) & (arr <= MAX_COUNT["concurrency"]) & (np.floor(arr) == arr)
    if not np.all(good):
        raise InvalidInputError(count_message("concurrency", float(arr[~good].ravel()[0])), field="concurrency")
    return arr, float(np.max(arr))


def check_percentile(value: Any, field: str = "percentile") -> float:
    """A percentile strictly between 0 and 100 (what a latency target is held at), else InvalidInputError."""
    v = number(value, field)
    if not 0 < v < 100:
        raise InvalidInputError(
            f"{field} must be between 0 and 100 (exclusive), got {format_value(v)}; give e.g. 90 for p90 or 50 "
            "for the median",
            field=field,
        )
    return float(v)


def efficiency_message(field: str, value: Any) -> str:
    return f"{field} must be in [{MIN_EFFICIENCY:g}, 1], got {format_value(value)}; give a fraction of peak such as 0.7"


def check_efficiency(value: Any, field: str) -> float:
    """One fraction in [0.0001, 1], else InvalidInputError naming ``field``."""
    v = number(value, field)
    if not MIN_EFFICIENCY <= v <= 1.0:
        raise InvalidInputError(efficiency_message(field, v), field=field)
    return float(v)


def check_price(value: Any) -> float | None:
    """A price ≥ 0 in USD per GPU-hour, or None; else InvalidInputError."""
    if value is None:
        return None
    v = number(value, "gpu_hour_usd")
    if not 0 <= v <= MAX_PRICE_USD:
        raise InvalidInputError(price_message(v), field="gpu_hour_usd")
    return float(v)


def check_method(value: Any) -> str:
    """'serving', 'standard' or 'reference' (any case; blank means serving), else UnknownNameError."""
    if type(value) is str and (value == "standard" or value == "reference" or value == "serving"):
        return value
    if isinstance(value, str):
        m = value.strip().lower()
        if m in METHODS:
            return m
        if not m:
            return "serving"
    raise UnknownNameError(
        f"unknown method {value!r}; use 'serving' (the default; what a serving engine measures), 'standard' "
        "(llm-analysis's roofline; dense models) or 'reference' (reproduces the published table)",
        field="method",
    )


def price_message(price: Any) -> str:
    return (
        f"gpu_hour_usd must be a price from 0 to {MAX_PRICE_USD:,.0f}, got {format_value(price)}; "
        "give USD per GPU per hour such as 2.21"
    )
